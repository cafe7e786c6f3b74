package ipv4

import (
	"github.com/dpstack/dpstack/mbuf"
	"github.com/dpstack/dpstack/stack/header"
	"github.com/dpstack/dpstack/stat"
)

// mcInit gives the Layer its host's membership and IGMP (Config.MC): the
// Layer of core 0 speaks IGMP for the host.
func (l *Layer) mcInit(cfg Config) {
	l.mc = cfg.MC
	if l.mc == nil {
		l.mc = NewMCHost(nil, nil)
	}
	if cfg.Core == 0 || cfg.MC == nil {
		l.mc.speaker = l
	}
	l.igmpInit(cfg)
	l.protos[header.IPProtoIGMP] = l.igmpInput
}

// mcAccept decides on a datagram to none of our addresses (ip_rcv_finish
// with ip_route_input_mc and ip_check_mc_rcu): a multicast datagram to a
// group some socket of the host joined, or to all-systems, goes on to its
// protocol; one to another group is dropped, and a unicast datagram to
// another host too, since a host does not forward (RFC 1122 §3.2.1.3,
// §3.3.4.2). It reports whether b goes on; otherwise b is dropped.
func (l *Layer) mcAccept(b *mbuf.Buf, ip header.IPv4) bool {
	d := ip.DstUint32()
	if d>>28 != 0xe {
		l.stats.InAddrErrors.Inc()
		l.dev.Drop(b, stat.DropIPOtherHost)
		return false
	}
	if !l.mc.Joined(d) {
		l.dev.Drop(b, stat.DropIPMcastNotJoined)
		return false
	}
	l.stats.InMcastPkts.Inc()
	return true
}

// Multicast is the host's multicast membership, which the Layer shares
// with the other cores' Layers.
func (l *Layer) Multicast() *MCHost { return l.mc }
