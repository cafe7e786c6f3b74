package ipv4

import (
	"net/netip"

	"github.com/dpstack/dpstack/mbuf"
	"github.com/dpstack/dpstack/stack/header"
	"github.com/dpstack/dpstack/stack/route"
	"github.com/dpstack/dpstack/stat"
)

// parseDrops maps a header.ParseIPv4 failure to its drop reason.
var parseDrops = [header.NumIPv4Errors]stat.DropReason{
	header.IPv4TooShort:    stat.DropIPTruncated,
	header.IPv4BadVersion:  stat.DropIPBadVersion,
	header.IPv4BadIHL:      stat.DropIPBadIHL,
	header.IPv4BadTotalLen: stat.DropIPBadTotalLen,
}

// Input receives one IPv4 packet (ip_rcv, ip_rcv_finish, ip_local_deliver).
// b's data starts at the IPv4 header; the Ethernet header has been pulled.
// Input owns b: it hands it to the protocol's handler with the data at the
// transport header, or drops it, counted under its reason. Every header
// check is a silent discard (RFC 1122 §3.2.1); a protocol nobody handles
// draws a protocol unreachable (SendError).
func (l *Layer) Input(b *mbuf.Buf) {
	l.stats.InReceives.Inc()
	// A frame the port scattered over several mbufs (jumbo frames in
	// small buffers) has its headers in the first.
	ip, perr := header.ParseIPv4Chain(b.Bytes(), b.Len())
	if perr != header.IPv4OK {
		l.stats.InHdrErrors.Inc()
		l.dev.Drop(b, parseDrops[perr])
		return
	}
	if !l.checksumOK(b, ip) {
		l.stats.InHdrErrors.Inc()
		l.dev.Drop(b, stat.DropIPBadChecksum)
		return
	}
	// RFC 1122 §3.2.1.7 lets a host deliver a datagram whatever its TTL (it
	// only forbids sending TTL 0), and Linux does not look at TTL on local
	// delivery. dpstack drops TTL 0 on receipt anyway: no conforming sender
	// emits it (RFC 1812 §5.3.1 and RFC 1122 §3.2.1.7 forbid it), so such a
	// packet is malformed or crafted.
	if ip.TTL() == 0 {
		l.stats.InHdrErrors.Inc()
		l.dev.Drop(b, stat.DropIPTTLZero)
		return
	}
	dk := l.rt.AddrKind4(ip.DstUint32())
	if dk == 0 && !l.mcAccept(b, ip) {
		return
	}
	// A packet another core handed over had its source checked there,
	// or is the host's own looped multicast (from one of our addresses,
	// as ip_mc_finish_output's copy arrives with its route already set).
	if !l.handedIn && l.badSource(ip.SrcUint32(), dk) {
		l.stats.InAddrErrors.Inc()
		l.dev.Drop(b, stat.DropIPBadSource)
		return
	}
	// Options before fragments: only a first fragment carries Record
	// Route and Timestamp (RFC 791 §3.1: not copied), and each fragment
	// is checked as it comes, as Linux does before reassembly. A packet
	// handed over by another core had them checked and filled in there.
	if ip.HeaderLen() > header.IPv4MinLen && !l.handedIn && !l.rcvOptions(b, ip) {
		return
	}
	if ip.IsFragment() {
		// RFC 791 §3.2, RFC 815 (reasm.go): delivery waits for the
		// whole datagram, which comes back as an mbuf chain.
		var whole bool
		if b, ip, whole = l.defrag(b, ip); !whole {
			return
		}
	}
	h := l.protos[ip.Protocol()]
	if h == nil {
		// RFC 1122 §3.2.2.1: a host SHOULD say protocol unreachable.
		l.SendError(ip, header.ICMPv4DestUnreachable, header.ICMPv4ProtoUnreachable, 0)
		l.stats.InUnknownProtos.Inc()
		l.dev.Drop(b, stat.DropIPUnknownProtocol)
		return
	}
	// Cut the link padding off the tail (Ethernet pads to 60 bytes; a
	// reassembled chain has none) and strip the IP header: the handler
	// sees the transport segment only.
	if b.Segments() == 1 {
		b.Trim(len(ip))
	} else {
		b.TrimChain(int(ip.TotalLen()))
	}
	b.Pull(ip.HeaderLen())
	l.stats.InDelivers.Inc()
	h(b, ip)
}

// limitedBroadcast is 255.255.255.255 (RFC 919 §7, RFC 1122 §3.2.1.3 (c)).
var limitedBroadcast = netip.AddrFrom4([4]byte{255, 255, 255, 255})

// checksumOK reports whether the header checksum is correct, trusting the
// port when it checked it (RTE_MBUF_F_RX_IP_CKSUM_GOOD / _BAD) and summing
// in software otherwise. RTE_MBUF_F_RX_IP_CKSUM_NONE (both bits) means the
// port verified the header's integrity while the field itself may be stale
// (DPDK's definition), so it counts as good. Unknown (no bit) means the
// port did not look.
func (l *Layer) checksumOK(b *mbuf.Buf, ip header.IPv4) bool {
	switch b.OlFlags() & mbuf.RxIPCksumMask {
	case mbuf.RxIPCksumGood, mbuf.RxIPCksumMask:
		return true
	case mbuf.RxIPCksumBad:
		return false
	}
	return ip.IsChecksumValid()
}

// badSource reports whether src must not appear as the source of a
// received datagram (RFC 1122 §3.2.1.3; Linux ip_route_input_slow's
// "martian source"): a multicast or broadcast address (limited, or the
// directed broadcast of one of our subnets), a loopback address ({127,
// any}, which must not appear outside a host), or "this host" 0.0.0.0,
// which is allowed only to a broadcast destination (a host that does not
// know its address yet, e.g. a DHCP client, RFC 1122 §3.2.1.3 (a)). One of
// our own addresses as source is also refused, as Linux does with its
// default accept_local=0: it is a reflection or a spoof. src is the
// address as a big-endian uint32, dst the destination's kind.
func (l *Layer) badSource(src uint32, dst route.AddrKind) bool {
	switch {
	case src>>28 == 0xe: // 224.0.0.0/4 (RFC 5771)
		return true
	case src>>24 == 127: // 127.0.0.0/8 (RFC 1122 §3.2.1.3 (g))
		return true
	case src == 0:
		return dst&route.AddrBroadcast == 0
	}
	// The limited broadcast is AddrBroadcast too.
	return l.rt.AddrKind4(src) != 0
}
