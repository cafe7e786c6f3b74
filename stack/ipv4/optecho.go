package ipv4

import (
	"encoding/binary"
	"net/netip"

	"github.com/dpstack/dpstack/stack/header"
	"github.com/dpstack/dpstack/stack/route"
)

// echoOptions builds in l.optBuf the options of the reply to datagram ip,
// whose options rcvOptions described in l.rxOpt (ip_options_echo, with
// the fill-in that ip_options_build does for the reply). RFC 1122
// §3.2.2.6 asks that an Echo Reply return the request's Record Route and
// Timestamp, and §3.2.1.8 (c) that a reply to a source-routed datagram
// follow the route reversed:
//
//   - Record Route and Timestamp are copied as they arrived, our entry
//     included, and get one more entry for the reply's leaving this host
//     when the request got one on arrival and there is still room: the
//     hop's way in and way out, as a router records both and as Linux
//     answers.
//   - A source route becomes the recorded hops in reverse order, ending at
//     the request's source; its first hop is where the reply goes first.
//     A first recorded hop equal to the source is left out, so that the
//     return route is well formed even when the source recorded itself
//     (RFC 1122 §3.2.1.8 (c); Linux does the same).
//   - Router Alert and options this host does not know are not returned.
//
// It returns the options, padded with End of Option List to a multiple of
// 4, and the reply's first hop (the request's source without a source
// route). The result fits in header.IPv4MaxOptionsLen: each option is
// returned once, none longer than it came. ok is false when the options
// would go out malformed (a route whose length is not 3 plus a multiple
// of 4, its pointer now inside its last, partial slot): then, as Linux's
// ip_options_echo fails, no reply is sent.
func (l *Layer) echoOptions(ip header.IPv4) (opts []byte, first netip.Addr, ok bool) {
	in := &l.rxOpt
	if in.hdr != &ip[0] {
		// Not the header rcvOptions last saw (a datagram put together
		// from fragments): its options are read afresh, and nothing is
		// added to them.
		o, bad := header.ParseIPv4Options(ip.Options())
		if bad != 0 {
			return nil, ip.Src(), false
		}
		l.rxOpt = rxOptions{IPv4Options: o, hdr: &ip[0]}
	}
	self := [4]byte(ip[16:20]) // the reply's source: an Echo to a broadcast gets no reply
	n := 0
	if in.RR != 0 {
		opt := option(ip, in.RR)
		r := l.optBuf[n : n+len(opt)]
		copy(r, opt)
		if in.rrAdded {
			recordRoute(r, self)
		}
		n += len(opt)
	}
	if in.TS != 0 {
		opt := option(ip, in.TS)
		r := l.optBuf[n : n+len(opt)]
		copy(r, opt)
		if in.tsStamped {
			l.stampTimestamp(r, self)
		}
		n += len(opt)
	}
	first = ip.Src()
	if in.SRR != 0 {
		k, hop := l.reverseRoute(l.optBuf[n:], option(ip, in.SRR), [4]byte(ip[12:16]))
		if k > 0 {
			first = hop
			n += k
		}
	}
	for ; n%4 != 0; n++ {
		l.optBuf[n] = header.IPOptionEOL
	}
	if _, bad := header.ParseIPv4Options(l.optBuf[:n]); bad != 0 {
		return nil, first, false
	}
	return l.optBuf[:n], first, true
}

// reverseRoute writes into d the source route that takes a reply back
// along the route the option opt recorded, ending at src, the request's
// source. It returns the option's length and the reply's first hop (the
// last hop recorded), or 0 when the route recorded no hop. The last
// entries, when they name this host (rcvSourceRoute passed over them),
// are not hops of the way back.
func (l *Layer) reverseRoute(d, opt []byte, src [4]byte) (int, netip.Addr) {
	const slots = 3 // the first address follows type, length and pointer
	end := min(int(opt[2]), len(opt)+1) - 1
	hops := (end - slots) / 4
	for hops > 0 && l.rt.AddrKind4(binary.BigEndian.Uint32(opt[slots+4*(hops-1):]))&route.AddrLocal != 0 {
		hops--
	}
	if hops < 1 {
		return 0, netip.Addr{}
	}
	last := slots + 4*(hops-1)
	first := netip.AddrFrom4([4]byte(opt[last : last+4]))
	j := slots
	for i := hops - 2; i >= 0; i-- {
		hop := opt[slots+4*i : slots+4*i+4]
		if i == 0 && [4]byte(hop) == src {
			break
		}
		copy(d[j:], hop)
		j += 4
	}
	copy(d[j:], src[:])
	j += 4
	d[0], d[1], d[2] = opt[0], uint8(j), slots+1
	return j, first
}
