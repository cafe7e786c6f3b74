package ipv4

import (
	"encoding/binary"
	"time"

	"github.com/dpstack/dpstack/mbuf"
	"github.com/dpstack/dpstack/stack/header"
	"github.com/dpstack/dpstack/stack/route"
	"github.com/dpstack/dpstack/stat"
)

// rcvOptions checks and processes the options of datagram ip, addressed
// to this host, whose mbuf is b (ip_rcv_options, with ip_options_compile
// and ip_options_rcv_srr). It reports whether the datagram goes on; when
// it does not, b has been dropped and counted.
//
//   - A malformed option list draws a Parameter Problem pointing at the
//     bad octet (RFC 1122 §3.2.1.8, §3.2.2.5) and is dropped.
//   - A source-routed datagram is dropped unless Config.AcceptSourceRoute
//     is set, as Linux does with its default accept_source_route=0 (RFC
//     1122 §3.2.1.8 (c) wants a host to be able to be a route's final
//     destination; source routes are a spoofing tool, so both refuse them
//     by default). With it, this host must be the route's end: entries
//     that name one of our addresses are passed over, and a route that
//     goes on to another host draws a Source Route Failed, the error RFC
//     1122 §3.3.5 gives for a source route that cannot be forwarded, as a
//     host does not forward.
//   - Record Route and Timestamp get our address and time where they have
//     room (RFC 791 §3.1), and a full Timestamp its overflow count, as
//     Linux fills them for the datagrams it delivers. The header checksum
//     is summed again.
//
// The route a source-routed datagram recorded stays in its header: an
// echo reply sends it back reversed (echoOptions); the transports do not
// keep it for their replies, which follow the routing table.
func (l *Layer) rcvOptions(b *mbuf.Buf, ip header.IPv4) bool {
	o, bad := header.ParseIPv4Options(ip.Options())
	if bad != 0 {
		l.stats.InHdrErrors.Inc()
		l.stats.InBadOptions.Inc()
		l.SendError(ip, header.ICMPv4ParamProblem, 0, uint32(bad)<<24)
		l.dev.Drop(b, stat.DropIPBadOptions)
		return false
	}
	if o.SRR != 0 && !l.rcvSourceRoute(ip, o.SRR) {
		l.stats.InSourceRouteDrops.Inc()
		l.dev.Drop(b, stat.DropIPSourceRoute)
		return false
	}
	l.rxOpt = rxOptions{IPv4Options: o, hdr: &ip[0]}
	if o.SRR == 0 && o.RR == 0 && o.TS == 0 {
		return true
	}
	addr := l.specDst(ip)
	if o.RR != 0 && recordRoute(option(ip, o.RR), addr) {
		l.rxOpt.rrAdded = true
		l.stats.InRecordRoutes.Inc()
	}
	if o.TS != 0 {
		opt := option(ip, o.TS)
		switch {
		case int(opt[2]) > len(opt):
			// Full: count ourselves in the overflow octet, unless the
			// addresses are prespecified (RFC 791 §3.1).
			if opt[3]&0x0f != header.IPOptionTSPrespec {
				opt[3] += 0x10 // ParseIPv4Options refused a count of 15
				l.stats.InTimestampOverflows.Inc()
			}
		case l.stampTimestamp(opt, addr):
			l.rxOpt.tsStamped = true
			l.stats.InTimestamps.Inc()
		}
	}
	ip.SetChecksumFull() // the options changed, or a source route's pointer did
	return true
}

// SetHandedIn tells l whether the packets Input gets from now on were
// handed over by another core (the host sets it around its inbox): their
// options were checked and filled in by the core that received them, and
// a Record Route or Timestamp must not get this host's entry twice.
func (l *Layer) SetHandedIn(on bool) { l.handedIn = on }

// rxOptions is what rcvOptions learnt of the options of the datagram
// being delivered (Linux keeps it in IPCB(skb)->opt): where they are, and
// whether this host added its entry to the Record Route and the
// Timestamp. hdr is the first octet of the header it describes: it is
// valid for that header while the datagram's handler runs.
type rxOptions struct {
	header.IPv4Options
	hdr       *byte
	rrAdded   bool
	tsStamped bool
}

// rcvSourceRoute decides on a datagram with the source route option at
// offset at (ip_options_rcv_srr, for a host): it reports whether the
// datagram may be delivered here.
func (l *Layer) rcvSourceRoute(ip header.IPv4, at uint8) bool {
	if !l.acceptSourceRoute {
		return false
	}
	opt := option(ip, at)
	// The option holds at most 9 addresses (RFC 791 §3.1: 40 octets).
	for ptr := int(opt[2]); ptr+3 <= len(opt); ptr += 4 {
		if l.rt.AddrKind4(binary.BigEndian.Uint32(opt[ptr-1:]))&route.AddrLocal == 0 {
			l.SendError(ip, header.ICMPv4DestUnreachable, header.ICMPv4SourceRouteFail, 0)
			return false
		}
		opt[2] += 4
	}
	return true
}

// recordRoute writes addr into the Record Route option opt where its
// pointer says and moves the pointer on (RFC 791 §3.1 "Record Route"). It
// reports false, changing nothing, when a whole address does not fit.
func recordRoute(opt []byte, addr [4]byte) bool {
	ptr := int(opt[2])
	if ptr+3 > len(opt) {
		return false
	}
	copy(opt[ptr-1:], addr[:])
	opt[2] += 4
	return true
}

// stampTimestamp writes this host's entry, for address addr, into the
// Timestamp option opt where its pointer says (the timestamp half of
// ip_options_compile; RFC 791 §3.1 "Internet Timestamp"): our time, after
// our address when the flag asks for it, or after the prespecified
// address when that address is ours. It reports false, changing nothing,
// when the entry is not ours to write or does not fit; a flag RFC 791
// does not define is left alone, as Linux does.
func (l *Layer) stampTimestamp(opt []byte, addr [4]byte) bool {
	ptr := int(opt[2])
	flag := opt[3] & 0x0f
	slot := 8
	if flag == header.IPOptionTSOnly {
		slot = 4
	}
	if ptr+slot-1 > len(opt) {
		return false
	}
	switch flag {
	case header.IPOptionTSOnly:
		binary.BigEndian.PutUint32(opt[ptr-1:], l.msSinceMidnight())
	case header.IPOptionTSAndAddr:
		copy(opt[ptr-1:], addr[:])
		binary.BigEndian.PutUint32(opt[ptr+3:], l.msSinceMidnight())
	case header.IPOptionTSPrespec:
		if l.rt.AddrKind4(binary.BigEndian.Uint32(opt[ptr-1:]))&route.AddrLocal == 0 {
			return false // another module's turn
		}
		binary.BigEndian.PutUint32(opt[ptr+3:], l.msSinceMidnight())
	default:
		return false
	}
	opt[2] += uint8(slot)
	return true
}

// option returns the option that starts at offset at of ip's header, as
// far as its length octet says (checked by header.ParseIPv4Options).
func option(ip header.IPv4, at uint8) []byte {
	return ip[at : int(at)+int(ip[at+1])]
}

// specDst is the address this host records in a datagram's options
// (fib_compute_spec_dst): the address the datagram was sent to when it is
// one of ours, else (a broadcast) the source of our route back to the
// sender.
func (l *Layer) specDst(ip header.IPv4) [4]byte {
	if l.rt.AddrKind4(ip.DstUint32())&route.AddrLocal != 0 {
		return [4]byte(ip[16:20])
	}
	l.fl = route.Flow4{Dst: ip.Src(), Proto: ip.Protocol()}
	if rd, err := l.rt.Lookup(&l.fl); err == nil && rd.Src.Is4() {
		return rd.Src.As4()
	}
	return [4]byte(ip[16:20])
}

// msSinceMidnight is the time of an Internet Timestamp: milliseconds
// since midnight UT (RFC 791 §3.1; Linux's inet_current_timestamp). The
// wall clock is the turn's clock plus the offset taken when the layer was
// built, so a step of the system clock afterwards is not seen.
func (l *Layer) msSinceMidnight() uint32 {
	const day = int64(24 * time.Hour)
	ns := (int64(*l.clock) + l.realOffset) % day
	if ns < 0 {
		ns += day
	}
	return uint32(ns / int64(time.Millisecond))
}
