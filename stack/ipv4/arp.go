package ipv4

import (
	"net/netip"

	"github.com/dpstack/dpstack/mbuf"
	"github.com/dpstack/dpstack/stack/header"
	"github.com/dpstack/dpstack/stack/netdev"
	"github.com/dpstack/dpstack/stat"
)

// arpFrameLen is the ARP payload this layer sends: the 28-byte packet
// padded with zeros to the 46 bytes of a minimum Ethernet frame (ETH_ZLEN
// 60 without the header), so that no port has to pad and no stale bytes
// of a reused mbuf go out.
const arpFrameLen = 60 - header.EthernetLen

// ARPInput receives one ARP packet (arp_rcv, arp_process). b's data starts
// at the ARP packet; ARPInput owns b.
//
// It follows RFC 826 "Packet Reception": a packet that is not IPv4 over
// Ethernet, or whose operation or sender hardware address is invalid, is
// dropped (stat.DropARPMalformed). When the target protocol address is one
// of ours, the sender is entered in the neighbour table (confirmed by a
// reply, merely learnt from a request) and a request is answered in place,
// in the same mbuf, to the requester's MAC. When it is not, an existing
// entry for the sender is refreshed (RFC 826's merge flag: gratuitous ARPs
// land here) and the packet is dropped (stat.DropARPOtherTarget).
//
// An ARP probe (sender protocol address 0.0.0.0, RFC 5227 §2.1.1) for one
// of our addresses is answered but not learnt, as Linux does. A packet from
// another host that claims one of our addresses as its sender is an address
// conflict (RFC 5227 §2.4): it is counted (arp_in_conflicts) and consumed,
// unanswered and not learnt; defending the address (a broadcast
// announcement, §2.4 (b)) is left to the operator (SendGratuitousARP).
func (l *Layer) ARPInput(b *mbuf.Buf) {
	a, ok := header.ParseARP(b.Bytes())
	if !ok || !a.IsValidIPv4Ethernet() {
		l.dev.Drop(b, stat.DropARPMalformed)
		return
	}
	op := a.Op()
	sha, spa, tpa := a.SenderMAC(), a.SenderIP(), a.TargetIP()
	if (op != header.ARPRequest && op != header.ARPReply) || sha.IsMulticast() || sha.IsZero() ||
		spa.IsMulticast() || spa == limitedBroadcast || l.rt.IsBroadcast(spa) || tpa.IsMulticast() {
		l.dev.Drop(b, stat.DropARPMalformed)
		return
	}
	if op == header.ARPRequest {
		l.stats.ARPInRequests.Inc()
	} else {
		l.stats.ARPInReplies.Inc()
	}
	if sha == l.dev.MAC {
		// Our own frame, looped back by the link: nothing to learn.
		l.dev.Free(b)
		return
	}
	if l.rt.IsLocal(spa) {
		l.stats.ARPInConflicts.Inc()
		l.dev.Free(b)
		return
	}
	nt := l.rt.Neighbours()
	learn := !spa.IsUnspecified()
	if !l.rt.IsLocal(tpa) {
		if learn && nt.Lookup(spa) != nil {
			l.learn(spa, sha, false)
		}
		l.dev.Drop(b, stat.DropARPOtherTarget)
		return
	}
	if learn {
		l.learn(spa, sha, op == header.ARPReply)
	}
	if op != header.ARPRequest {
		l.dev.Free(b)
		return
	}
	// Answer in place: the requester becomes the target and we the
	// sender of the looked-up address (RFC 826: swap, fill in our
	// hardware address, set the opcode to reply).
	a.Encode(header.ARPReply, l.dev.MAC, tpa, sha, spa)
	b.SetOlFlags(0)
	padARP(b)
	l.stats.ARPOutReplies.Inc()
	l.dev.XmitEther(b, sha, header.EtherTypeARP)
}

// padARP makes b's data exactly arpFrameLen bytes: the ARP packet and zero
// padding. When the tailroom is too short it leaves b at its length.
func padARP(b *mbuf.Buf) {
	n := b.Len()
	switch {
	case n > arpFrameLen:
		b.Trim(arpFrameLen)
	case n < arpFrameLen:
		if b.Put(arpFrameLen-n) == nil {
			return
		}
	}
	clear(b.Bytes()[header.ARPLen:])
}

// solicit sends an ARP request for target to dst (arp_solicit): the
// neighbour table calls it, with the broadcast address to resolve and with
// the cached MAC to re-confirm a stale entry. The sender protocol address
// is our address on target's subnet, or the device's first (Linux
// inet_select_addr; RFC 826 leaves the choice open). Out of mbufs,
// it counts stat.DropNoMbuf and sends nothing; the neighbour table retries.
func (l *Layer) solicit(dev *netdev.Device, target netip.Addr, dst header.MAC) {
	src := l.rt.SelectSrc(dev, target)
	if !src.IsValid() {
		return
	}
	b := dev.Alloc()
	if b == nil {
		dev.Drops.Inc(stat.DropNoMbuf)
		return
	}
	p := b.Put(arpFrameLen)
	if p == nil {
		dev.Drop(b, stat.DropNoHeadroom)
		return
	}
	clear(p)
	// RFC 5227 §2.1.1: a request's target hardware address is ignored and
	// should be zero; a unicast re-confirmation names its target, as
	// Linux's arp_solicit does.
	var tha header.MAC
	if !dst.IsBroadcast() {
		tha = dst
	}
	header.ARP(p).Encode(header.ARPRequest, dev.MAC, src, tha, target)
	l.stats.ARPOutRequests.Inc()
	dev.XmitEther(b, dst, header.EtherTypeARP)
}

// SendGratuitousARP announces each of our addresses with one broadcast ARP
// request whose sender and target protocol addresses are both that address
// and whose target hardware address is zero: an ARP Announcement (RFC 5227
// §2.3, §3), so that neighbours with a stale entry for it update their
// caches. Out of mbufs, it counts stat.DropNoMbuf and skips the address.
func (l *Layer) SendGratuitousARP() {
	for _, p := range l.rt.LocalAddrs() {
		a := p.Addr()
		if !a.Is4() || a.IsLoopback() {
			continue
		}
		b := l.dev.Alloc()
		if b == nil {
			l.dev.Drops.Inc(stat.DropNoMbuf)
			continue
		}
		f := b.Put(arpFrameLen)
		if f == nil {
			l.dev.Drop(b, stat.DropNoHeadroom)
			continue
		}
		clear(f)
		header.ARP(f).Encode(header.ARPRequest, l.dev.MAC, a, header.MAC{}, a)
		l.stats.ARPOutRequests.Inc()
		l.stats.ARPOutGratuitous.Inc()
		l.dev.XmitEther(b, header.BroadcastMAC, header.EtherTypeARP)
	}
}
