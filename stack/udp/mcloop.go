package udp

import (
	"math/bits"
	"net/netip"

	"github.com/dpstack/dpstack/mbuf"
	"github.com/dpstack/dpstack/stack/header"
	"github.com/dpstack/dpstack/stack/netdev"
	"github.com/dpstack/dpstack/stat"
)

// mcLoops reports whether a datagram s sends to the group daddr also goes
// to the host's own sockets: IP_MULTICAST_LOOP on (Linux's mc_loop, on by
// default) and the group joined on this host, as ip_mc_output loops a
// copy only where the device is a member (ip_check_mc_rcu).
func (s *Sock) mcLoops(daddr uint32) bool {
	return !s.mc.loopOff && s.proto.ip.Multicast().Joined(daddr)
}

// mcLoopback gives the host's own sockets a copy of the datagram in b,
// which s is sending from src:sport to the group daddr:dport with tos and
// ttl (b's data at its UDP header, its checksum done): Linux's
// ip_mc_output clone that ip_mc_finish_output sends through
// dev_loopback_xmit back into the receive path. The member sockets of
// this core take theirs at once (deliverAll, as a received datagram);
// every other core that has sockets on dport gets its copy as an IPv4
// packet through its inbox, as a received datagram handed over
// (ARCHITECTURE.md §3), and its sockets' filters decide there. A copy is
// data of its own, not a clone: a callback handler may write into the
// view it gets while b still waits for the transmit. A copy that cannot
// be had (no mbuf) is counted as a receive buffer error, as a failed
// clone in deliverAll is; one another core's inbox refuses is dropped
// (handoff_full). It allocates nothing.
func (s *Sock) mcLoopback(b *mbuf.Buf, src, dst netip.Addr, daddr uint32, dport uint16, tos, ttl uint8) {
	p := s.proto
	saddr := header.AddrU32(src)
	if p.binds[dport] != nil {
		if c := p.copyDatagram(b); c != nil {
			c.Pull(header.UDPLen)
			cb := cbOf(c)
			cb.saddr, cb.sport = saddr, s.lport
			p.deliverAll(c, saddr, daddr, s.lport, dport)
		}
	}
	if p.ports == nil {
		return
	}
	for m := p.ports.others(dport, p.core); m != 0; m &= m - 1 {
		c := p.copyDatagram(b)
		if c == nil {
			continue
		}
		hdr := c.Push(header.IPv4MinLen)
		if hdr == nil {
			p.drop(c, stat.DropNoHeadroom)
			continue
		}
		ip := header.IPv4(hdr)
		ip.Encode(header.IPv4Fields{TOS: tos, TotalLen: uint16(c.Len()), TTL: ttl,
			Protocol: header.IPProtoUDP, Src: src, Dst: dst})
		ip.SetChecksumFull()
		if !p.handoff(c, bits.TrailingZeros64(m)) {
			p.drop(c, stat.DropHandoffFull)
			continue
		}
		p.stats.Handoffs.Inc()
	}
}

// copyDatagram copies the datagram in b, every segment, into mbufs of
// this core's, with this turn's receive time; the copy keeps b's UDP
// checksum offload flag, which tells UDP input that the checksum field
// holds only the pseudo header's sum (checksumOK). nil, counted, when the
// pool runs out.
func (p *Proto) copyDatagram(b *mbuf.Buf) *mbuf.Buf {
	c := copySegments(b, p.dev)
	if c == nil {
		p.stats.RcvbufErrors.Inc()
		p.stats.InErrors.Inc()
		return nil
	}
	c.SetOlFlags(b.OlFlags() & mbuf.TxL4Mask)
	if p.stamp != nil {
		p.stamp(c) // received now, as netif_rx stamps it
	}
	return c
}

// copySegments copies the data of b's segments into a fresh chain of
// dev's mbufs; nil when the pool runs out.
func copySegments(b *mbuf.Buf, dev *netdev.Device) *mbuf.Buf {
	head := copyIn(b.Bytes(), dev)
	for seg := b.Next(); seg != nil && head != nil; seg = seg.Next() {
		t := copyIn(seg.Bytes(), dev)
		if t == nil || !head.Chain(t) {
			if t != nil {
				dev.Free(t)
			}
			dev.Free(head)
			return nil
		}
	}
	return head
}
