package ipv4

import (
	"net/netip"

	"github.com/dpstack/dpstack/mbuf"
	"github.com/dpstack/dpstack/stack/header"
	"github.com/dpstack/dpstack/stack/netdev"
	"github.com/dpstack/dpstack/stack/route"
	"github.com/dpstack/dpstack/stat"
)

// maxTotalLen is the largest IPv4 datagram: Total Length is 16 bits
// (RFC 791 §3.1).
const maxTotalLen = 65535

// Output sends the transport segment in b as one IPv4 datagram
// (ip_queue_xmit / ip_build_and_send_pkt) from src to daddr over dst, the
// route the caller looked up. It pushes a 20-byte header without options:
// Identification from the core's counter, DF set (TCP does not want its
// segments fragmented: RFC 1191 path MTU discovery is its business), the
// given TOS and TTL (0 means DefaultTTL: a host must not send TTL 0,
// RFC 1122 §3.2.1.7). The header checksum is left to the port when the
// device offers TxIPv4Cksum, summed in software otherwise. The packet then
// goes to dst.Output, which resolves the neighbour and pushes the Ethernet
// header.
//
// Output owns b. A datagram larger than the route's MTU is dropped
// (stat.DropFrameTooBig), as is one without room for the header
// (stat.DropNoHeadroom).
func (l *Layer) Output(b *mbuf.Buf, dst *route.Dst, proto uint8, src, daddr netip.Addr, tos uint8, ttl uint8) {
	l.output(b, dst, proto, src, daddr, tos, ttl, header.IPv4FlagDF, nil)
}

// OutputOptions is Output with the IP options opts after the fixed header
// (ip_options_build): a socket's IP_OPTIONS, checked by
// header.ParseIPv4Options, padded to a multiple of 4 and at most
// header.IPv4MaxOptionsLen bytes, which the caller keeps. The header grows
// by their length, which counts against the route's MTU as the data does.
func (l *Layer) OutputOptions(b *mbuf.Buf, dst *route.Dst, proto uint8, src, daddr netip.Addr, tos, ttl uint8, opts []byte) {
	l.output(b, dst, proto, src, daddr, tos, ttl, header.IPv4FlagDF, opts)
}

// OutputDatagram is Output without DF, for datagram transports (UDP with
// IP_PMTUDISC_DONT, ip_make_skb's path): a datagram larger than the
// route's MTU leaves as fragments (fragment.go, RFC 791 §3.2), up to the
// 65,535 bytes of Total Length. b may be a chain of segments.
func (l *Layer) OutputDatagram(b *mbuf.Buf, dst *route.Dst, proto uint8, src, daddr netip.Addr, tos, ttl uint8) {
	l.output(b, dst, proto, src, daddr, tos, ttl, 0, nil)
}

// output is OutputOptions with the IP flags to send (DF or none). Without
// DF, a datagram larger than the route's MTU is sent as fragments
// (fragment).
func (l *Layer) output(b *mbuf.Buf, dst *route.Dst, proto uint8, src, daddr netip.Addr, tos, ttl, flags uint8, opts []byte) {
	l.stats.OutRequests.Inc()
	dev := dst.Dev
	if dev == nil {
		dev = l.dev
	}
	mtu := dst.MTU
	if mtu <= 0 || mtu > dev.MTU {
		mtu = dev.MTU
	}
	hl := header.IPv4MinLen + len(opts)
	tl := b.Len() + hl
	if tl > mtu && flags&header.IPv4FlagDF != 0 && !tsoFits(b, dev, hl, mtu) || tl > maxTotalLen {
		l.stats.OutDiscards.Inc()
		dev.Drop(b, stat.DropFrameTooBig)
		return
	}
	p := b.Push(hl)
	if p == nil {
		l.stats.OutDiscards.Inc()
		dev.Drop(b, stat.DropNoHeadroom)
		return
	}
	if ttl == 0 {
		ttl = DefaultTTL
	}
	ip := header.IPv4(p[:hl])
	ip.Encode(header.IPv4Fields{
		TOS:      tos,
		TotalLen: uint16(tl),
		ID:       l.ipID,
		Flags:    flags,
		TTL:      ttl,
		Protocol: proto,
		Src:      src,
		Dst:      daddr,
	})
	if len(opts) > 0 {
		ip.SetHeaderLen(hl)
		copy(ip[header.IPv4MinLen:], opts)
		l.stats.OutOptions.Inc()
	}
	l.ipID++
	if seg := b.TSOSegSize(); seg > 0 {
		// Each piece the port cuts takes the next ID
		// (ip_select_ident_segs).
		l.ipID += uint16((b.Len()-hl-b.TxL4Len()+seg-1)/seg - 1)
	} else if tl > mtu {
		l.fragment(b, dst, dev, mtu)
		return
	}
	headerChecksum(b, dev, ip)
	dst.Output(b)
}

// headerChecksum fills in the checksum of ip, the IP header at the start
// of b, or leaves it to the port when dev offers TxIPv4Cksum.
func headerChecksum(b *mbuf.Buf, dev *netdev.Device, ip header.IPv4) {
	var ol uint64
	if dev.Features.Has(netdev.TxIPv4Cksum) {
		// The port fills the checksum; the field stays zero.
		ol = mbuf.TxIPv4 | mbuf.TxIPCksum
	} else {
		ip.SetChecksumFull()
	}
	if ol != 0 || b.OlFlags()&(mbuf.TxTCPCksum|mbuf.TxUDPCksum) != 0 {
		// Any checksum offload needs TX_IPV4 and the l2/l3 lengths, the
		// transport's L4 offload included (DPDK rte_mbuf_core.h).
		b.SetTxOffload(dev.HardHeaderLen, ip.HeaderLen(), b.TxL4Len(), ol|mbuf.TxIPv4)
	}
}

// tsoFits reports whether b, a transport segment under an IP header of hl
// bytes, is a TSO packet whose pieces each fit mtu and what dev's TSO
// cuts to (netdev.Device.TSOMTU): the port sends those, not b (Linux's
// skb_gso_validate_network_len). A piece too large would be refused by
// the port and hold up its queue.
func tsoFits(b *mbuf.Buf, dev *netdev.Device, hl, mtu int) bool {
	seg := b.TSOSegSize()
	if dev.TSOMTU > 0 {
		mtu = min(mtu, dev.TSOMTU)
	}
	return seg > 0 && hl+b.TxL4Len()+seg <= mtu
}
