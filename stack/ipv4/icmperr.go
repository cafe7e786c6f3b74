package ipv4

import (
	"encoding/binary"

	"github.com/dpstack/dpstack/stack/header"
	"github.com/dpstack/dpstack/stack/route"
)

// icmpErrorMax is the largest ICMP error datagram: the quote is cut so
// that the whole fits in 576 bytes, the datagram every host must accept
// (RFC 1812 §4.3.2.3; Linux's icmp_send does the same).
const icmpErrorMax = 576

// IP precedence and TOS bits of an ICMP error (RFC 1812 §4.3.2.5, Linux's
// IPTOS_PREC_INTERNETCONTROL and IPTOS_TOS_MASK): Internetwork Control,
// with the offending datagram's TOS bits.
const (
	tosPrecInternetControl = 0xc0
	tosMask                = 0x1e
)

// SendError sends an ICMP error of type typ and code about the datagram
// whose IPv4 header starts ip (icmp_send): ip is a view from that header
// to as much of the datagram as is at hand (the first segment of an
// mbuf); info is the message's second word (the pointer of a Parameter
// Problem in its top byte, the next-hop MTU of a Fragmentation Needed in
// its low 16 bits), zero for the others. The caller keeps the datagram.
//
// Nothing is sent, and the call is counted where it matters, when RFC 1122
// §3.2.2 forbids an error: about an ICMP error, about a datagram sent to a
// broadcast or multicast address, about a fragment other than the first,
// or about a datagram whose source does not name a single host (zero,
// loopback, broadcast, multicast or class E). Dropped too are errors over
// the rate limits: a bucket per destination and one for the core
// (RFC 1812 §4.3.2.8), for the types Linux limits (icmp_ratemask:
// Destination Unreachable other than Fragmentation Needed, Source Quench,
// Time Exceeded, Parameter Problem).
//
// The error goes from the address the datagram was sent to, as RFC 1122
// §3.2.2 asks, with precedence Internetwork Control, and quotes the
// datagram's header and as much of its data as fits in 576 bytes. It
// carries no IP options.
//
// Unlike Linux, which answers only a datagram received as a link-layer
// unicast (skb->pkt_type), the check is on IP addresses alone: the
// Ethernet destination is gone by the time the transports decide.
func (l *Layer) SendError(ip header.IPv4, typ, code uint8, info uint32) {
	if !l.errorAllowed(ip) {
		return
	}
	if limited(typ, code) {
		now := *l.clock
		if !l.globalBucket.allow(now, l.globalLimit) {
			l.stats.ICMPOutRateLimitGlobal.Inc()
			return
		}
		if !l.hosts.allow(ip.SrcUint32(), now, l.hostLimit) {
			l.stats.ICMPOutRateLimitHost.Inc()
			return
		}
	}
	tos := ip.TOS()&tosMask | tosPrecInternetControl
	l.fl = route.Flow4{Dst: ip.Src(), Src: ip.Dst(), Proto: header.IPProtoICMP, TOS: tos}
	rd, err := l.rt.Lookup(&l.fl)
	if err != nil {
		l.stats.OutNoRoutes.Inc()
		return
	}
	room := icmpErrorMax
	if rd.MTU > 0 {
		room = min(room, rd.MTU)
	}
	quote := min(len(ip), room-header.IPv4MinLen-header.ICMPv4MinLen)
	m := l.dev.Alloc()
	if m == nil {
		l.stats.ICMPOutErrors.Inc()
		return
	}
	p := m.Put(header.ICMPv4MinLen + quote)
	if p == nil {
		l.stats.ICMPOutErrors.Inc()
		l.dev.Free(m)
		return
	}
	msg := header.ICMPv4(p)
	msg.SetType(typ)
	msg.SetCode(code)
	binary.BigEndian.PutUint32(msg[4:8], info)
	copy(msg[header.ICMPv4MinLen:], ip[:quote])
	msg.SetChecksumFull()

	l.stats.ICMPOutMsgs.Inc()
	switch typ {
	case header.ICMPv4DestUnreachable:
		l.stats.ICMPOutDestUnreachs.Inc()
	case header.ICMPv4TimeExceeded:
		l.stats.ICMPOutTimeExcds.Inc()
	case header.ICMPv4ParamProblem:
		l.stats.ICMPOutParmProbs.Inc()
	}
	src := ip.Dst()
	if !l.rt.IsLocal(src) {
		src = rd.Src
	}
	l.output(m, rd, header.IPProtoICMP, src, ip.Src(), tos, DefaultTTL, 0, nil)
}

// errorAllowed applies RFC 1122 §3.2.2's list of datagrams that must not
// draw an ICMP error.
func (l *Layer) errorAllowed(ip header.IPv4) bool {
	if ip.IsNonFirstFragment() {
		return false
	}
	dst := ip.DstUint32()
	if dst>>28 == 0xe || l.rt.AddrKind4(dst)&route.AddrBroadcast != 0 {
		return false
	}
	src := ip.SrcUint32()
	switch {
	case src == 0, src>>24 == 127, src>>28 >= 0xe: // this host, loopback, multicast and class E (RFC 1122 §3.2.1.3)
		return false
	case l.rt.AddrKind4(src)&route.AddrBroadcast != 0:
		return false
	}
	if ip.Protocol() == header.IPProtoICMP {
		data := ip[ip.HeaderLen():]
		// An ICMP error about an ICMP error could loop between two
		// hosts; a datagram too short to show its type is judged one.
		if len(data) < 1 || header.ICMPv4IsError(data[0]) {
			return false
		}
	}
	return true
}

// limited reports whether errors of typ and code are rate-limited, as
// Linux's default icmp_ratemask (0x1818) says; Fragmentation Needed never
// is, so that path MTU discovery is not slowed (icmpv4_mask_allow).
func limited(typ, code uint8) bool {
	switch typ {
	case header.ICMPv4DestUnreachable:
		return code != header.ICMPv4FragNeeded
	case header.ICMPv4SourceQuench, header.ICMPv4TimeExceeded, header.ICMPv4ParamProblem:
		return true
	}
	return false
}
