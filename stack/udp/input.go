package udp

import (
	"github.com/dpstack/dpstack/mbuf"
	"github.com/dpstack/dpstack/stack/header"
	"github.com/dpstack/dpstack/stack/ipv4"
	"github.com/dpstack/dpstack/stack/route"
	"github.com/dpstack/dpstack/stat"
)

// Input receives a UDP datagram (udp_rcv, __udp4_lib_rcv), registered with
// IPv4 as protocol 17. b's data starts at the UDP header and may be a
// chain (a reassembled datagram); ip is its IPv4 header. Input owns b.
//
// Length must be at least the header and at most the IP payload (RFC 768;
// a shorter Length cuts the payload, as Linux's pskb_trim_rcsum does).
// The checksum is verified unless it is zero, which means the sender
// computed none (RFC 768; RFC 1122 §4.1.3.4). The datagram goes to the
// socket that lookup picks, whole, onto its receive queue; a socket whose
// receive buffer is full drops it (UDP_MIB_RCVBUFERRORS). A port nobody
// has on this core goes to the core that has it, to Config.Unclaimed,
// or draws a port unreachable (RFC 1122 §4.1.3.1). A datagram to a broadcast or
// multicast address goes to every socket of the core that matches it.
func (p *Proto) Input(b *mbuf.Buf, ip header.IPv4) {
	if b.SegLen() < header.UDPLen {
		p.inError(b, stat.DropUDPBadLength)
		return
	}
	uh := header.UDP(b.Bytes()[:header.UDPLen])
	ulen := int(uh.Length())
	if ulen < header.UDPLen || ulen > b.Len() {
		p.inError(b, stat.DropUDPBadLength)
		return
	}
	saddr, daddr := ip.SrcUint32(), ip.DstUint32()
	sport, dport := uh.SrcPort(), uh.DstPort()
	s := p.lookup(saddr, daddr, sport, dport)
	if s == nil && (p.handOn(b, ip, saddr, daddr, sport, dport) || p.unclaimed != nil && p.unclaimed(b)) {
		return
	}
	if ulen < b.Len() && !b.Trim(ulen) {
		// A chain longer than its Length: reassembled fragments
		// with more data than the datagram says it has.
		p.inError(b, stat.DropUDPBadLength)
		return
	}
	if !checksumOK(b, uh, saddr, daddr, ulen) {
		p.stats.InCsumErrors.Inc()
		p.inError(b, stat.DropUDPBadChecksum)
		return
	}
	if s == nil {
		p.stats.NoPorts.Inc()
		p.ip.SendError(ip, header.ICMPv4DestUnreachable, header.ICMPv4PortUnreachable, 0)
		p.drop(b, stat.DropUDPNoSocket)
		return
	}
	b.Pull(header.UDPLen)
	c := cbOf(b)
	c.saddr, c.sport = saddr, sport
	if daddr>>28 == 0xe || p.rt.AddrKind4(daddr)&route.AddrBroadcast != 0 {
		p.deliverAll(b, saddr, daddr, sport, dport)
		return
	}
	p.queue(s, b)
}

// queue puts datagram b, its data at the payload, on s's receive queue
// and wakes its reader, or drops it when the receive buffer is full.
func (p *Proto) queue(s *Sock, b *mbuf.Buf) {
	if !s.QueueRcv(b) {
		p.stats.RcvbufErrors.Inc()
		p.inError(b, stat.DropUDPRcvBuf)
		return
	}
	p.stats.InDatagrams.Inc()
	s.DataReady()
}

// deliverAll gives a datagram sent to a broadcast or multicast address to
// every socket of the core that matches it (__udp4_lib_mcast_deliver;
// RFC 1122 §4.1.3.5 leaves it to the sockets bound to the port): a clone
// each, sharing the data, and the datagram itself to the last. A socket
// whose clone cannot be had (no mbuf) misses it, counted as a receive
// buffer error, as Linux counts a failed skb_clone. A multicast datagram
// goes only to the sockets whose filter takes it (ip_mc_sf_allow); when
// none does it is dropped, counted in udp_ignored_multi.
func (p *Proto) deliverAll(b *mbuf.Buf, saddr, daddr uint32, sport, dport uint16) {
	mcast := daddr>>28 == 0xe
	var last *Sock
	for _, s := range p.binds[dport].socks {
		if s.score(saddr, daddr, sport) == 0 || mcast && !s.mcAllow(daddr, saddr) {
			continue
		}
		if last != nil {
			if m := b.CloneFrom(p.dev.Cache); m != nil {
				p.queue(last, m)
			} else {
				p.stats.RcvbufErrors.Inc()
				p.stats.InErrors.Inc()
			}
		}
		last = s
	}
	if last == nil {
		p.stats.IgnoredMulti.Inc()
		p.drop(b, stat.DropUDPNoMember)
		return
	}
	p.queue(last, b)
}

// handOn gives a datagram for a port this core has no socket on to a core
// that has one (ARCHITECTURE.md §3), as an IPv4 packet again, and reports
// whether it did: not on a host of one core, not for a datagram another
// core handed here, not when no core has the port.
func (p *Proto) handOn(b *mbuf.Buf, ip header.IPv4, saddr, daddr uint32, sport, dport uint16) bool {
	if p.ports == nil || p.handedIn {
		return false
	}
	core := p.ports.owner(dport, p.core, flowHash(saddr, daddr, sport, dport, 0))
	if core < 0 {
		return false
	}
	b.Push(ip.HeaderLen())
	if !p.handoff(b, core) {
		p.drop(b, stat.DropHandoffFull)
		return true
	}
	p.stats.Handoffs.Inc()
	return true
}

// inError drops a datagram counted in udp_in_errors.
func (p *Proto) inError(b *mbuf.Buf, r stat.DropReason) {
	p.stats.InErrors.Inc()
	p.drop(b, r)
}

// checksumOK verifies the checksum of the datagram in b, ulen bytes from
// saddr to daddr (udp4_csum_init, udp_lib_checksum_complete): a zero
// field was never computed and passes (RFC 768); the port's verdict is
// trusted where it gave one (RTE_MBUF_F_RX_L4_CKSUM_GOOD, or _NONE: data
// verified, field not); a datagram that still asks for its checksum to be
// filled in (RTE_MBUF_F_TX_UDP_CKSUM) came from a dpstack host over a ring
// pair that offers the offload, and holds only the pseudo header's sum
// (as tcp's checksumOK says); otherwise every segment is summed.
func checksumOK(b *mbuf.Buf, uh header.UDP, saddr, daddr uint32, ulen int) bool {
	if uh.Checksum() == 0 {
		return true
	}
	if good, known := b.L4Checksum(mbuf.TxUDPCksum); known {
		return good
	}
	sum := header.PseudoHeaderSum4(saddr, daddr, header.IPProtoUDP, uint16(ulen))
	return header.Fold(ipv4.ChainSum(b, 0)+sum) == 0
}
