package ipv4

import (
	"github.com/dpstack/dpstack/mbuf"
	"github.com/dpstack/dpstack/stack/header"
	"github.com/dpstack/dpstack/stack/route"
	"github.com/dpstack/dpstack/stat"
)

// ecnMask is the ECN field of the TOS byte (RFC 3168 §5).
const ecnMask = 0x03

// icmpInput receives an ICMP message (icmp_rcv): b's data starts at the
// ICMP header. Echo is answered; Destination Unreachable, Time Exceeded
// and Parameter Problem go to the quoted transport (icmpUnreach). The
// rest is counted by type and dropped (stat.DropICMPUnhandledType): echo
// replies (no ping sockets yet), timestamps; Source Quench, which RFC 6633
// §3 says hosts MUST ignore; Redirect, which a host MAY ignore (RFC 1122
// §3.2.2.2 says it SHOULD follow them; dpstack's routes are configured,
// not learnt, as on a Linux host with accept_redirects=0).
func (l *Layer) icmpInput(b *mbuf.Buf, ip header.IPv4) {
	l.stats.ICMPInMsgs.Inc()
	icmp, ok := header.ParseICMPv4(b.Bytes())
	if !ok {
		l.stats.ICMPInErrors.Inc()
		l.dev.Drop(b, stat.DropICMPTruncated)
		return
	}
	// RFC 792: the checksum covers the whole message. No port offloads
	// ICMP checksums, so it is always summed here.
	if !icmpChecksumOK(b, icmp) {
		l.stats.ICMPInCsumErrors.Inc()
		l.stats.ICMPInErrors.Inc()
		l.dev.Drop(b, stat.DropICMPBadChecksum)
		return
	}
	switch icmp.Type() {
	case header.ICMPv4Echo:
		l.icmpEcho(b, ip, icmp)
		return
	case header.ICMPv4DestUnreachable:
		l.stats.ICMPInDestUnreachs.Inc()
		l.icmpUnreach(b, ip, icmp)
		return
	case header.ICMPv4TimeExceeded:
		l.stats.ICMPInTimeExcds.Inc()
		l.icmpUnreach(b, ip, icmp)
		return
	case header.ICMPv4ParamProblem:
		l.stats.ICMPInParmProbs.Inc()
		l.icmpUnreach(b, ip, icmp)
		return
	case header.ICMPv4EchoReply:
		l.stats.ICMPInEchoReps.Inc()
	case header.ICMPv4SourceQuench:
		l.stats.ICMPInSrcQuenchs.Inc()
	case header.ICMPv4Redirect:
		l.stats.ICMPInRedirects.Inc()
	case header.ICMPv4Timestamp:
		l.stats.ICMPInTimestamps.Inc()
	case header.ICMPv4TimestampReply:
		l.stats.ICMPInTimestampReps.Inc()
	}
	l.dev.Drop(b, stat.DropICMPUnhandledType)
}

// icmpEcho answers an Echo with an Echo Reply (RFC 792 "Echo or Echo Reply
// Message"; RFC 1122 §3.2.2.6), built in place in the request's mbuf: the
// type becomes 0 with the checksum updated incrementally (RFC 1624 §3),
// identifier, sequence and data stay as they are, and a new IP header is
// pushed from the request's destination (the specific-destination address,
// as §3.2.2.6 requires) back to its source. Nothing is allocated.
//
// An Echo to a broadcast or multicast address is ignored (RFC 1122
// §3.2.2.6 allows it), as Linux does with its default
// icmp_echo_ignore_broadcasts=1, to not be a smurf amplifier.
//
// The request's Record Route and Timestamp are returned, and a source
// route reversed (echoOptions; RFC 1122 §3.2.2.6): the reply's header is
// then longer than 20 bytes, and it goes first to the route's first hop.
//
// As on Linux's ICMP replies, DF is clear; the TOS is the request's DSCP
// with the ECN field cleared, since ICMP is not an ECN-capable transport
// (RFC 3168 §5).
func (l *Layer) icmpEcho(b *mbuf.Buf, ip header.IPv4, icmp header.ICMPv4) {
	l.stats.ICMPInEchos.Inc()
	if l.rt.AddrKind4(ip.DstUint32())&route.AddrBroadcast != 0 || ip.DstUint32()>>28 == 0xe {
		l.stats.ICMPInErrors.Inc()
		l.dev.Drop(b, stat.DropICMPBroadcastEcho)
		return
	}
	src, dst := ip.Src(), ip.Dst()
	tos := ip.TOS() &^ ecnMask
	// The options are built before the reply's header is pushed over the
	// request's.
	var opts []byte
	hop := src
	if ip.HeaderLen() > header.IPv4MinLen {
		var ok bool
		if opts, hop, ok = l.echoOptions(ip); !ok {
			l.dev.Drop(b, stat.DropIPBadOptions)
			return
		}
	}

	// The first 16-bit word is Type and Code: only Type changes, 8 -> 0.
	code := uint16(icmp.Code())
	icmp.SetChecksum(header.ChecksumUpdate16(icmp.Checksum(),
		uint16(header.ICMPv4Echo)<<8|code, uint16(header.ICMPv4EchoReply)<<8|code))
	icmp.SetType(header.ICMPv4EchoReply)

	l.fl = route.Flow4{Dst: hop, Src: dst, Proto: header.IPProtoICMP, TOS: tos}
	rd, err := l.rt.Lookup(&l.fl)
	if err != nil {
		l.stats.OutNoRoutes.Inc()
		l.dev.Drop(b, stat.DropNoRoute)
		return
	}
	// The mbuf came from rx: clear its rx offload flags before it goes
	// out, so that the driver sees only what output sets.
	b.SetOlFlags(0)
	l.stats.ICMPOutMsgs.Inc()
	l.stats.ICMPOutEchoReplies.Inc()
	l.output(b, rd, header.IPProtoICMP, dst, hop, tos, DefaultTTL, 0, opts)
}
