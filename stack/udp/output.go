package udp

import (
	"fmt"
	"syscall"

	"github.com/dpstack/dpstack/mbuf"
	"github.com/dpstack/dpstack/stack/header"
	"github.com/dpstack/dpstack/stack/ipv4"
	"github.com/dpstack/dpstack/stack/netdev"
	"github.com/dpstack/dpstack/stack/route"
	"github.com/dpstack/dpstack/stat"
)

// MaxPayload is the largest datagram's data: 65,535 bytes of IPv4 less
// its 20-byte header and UDP's 8 (RFC 768, RFC 791 §3.1).
const MaxPayload = 65535 - header.IPv4MinLen - header.UDPLen

// sendTo sends p as one datagram to daddr:dport (udp_sendmsg): the route,
// SO_BROADCAST for a broadcast destination (EACCES without it, as
// Linux), an ephemeral port for an unbound socket (inet_autobind), then
// the data copied into an mbuf, or a chain of them past one segment's
// room. EMSGSIZE above MaxPayload, ENOBUFS when the pool is empty
// (counted in udp_sndbuf_errors). It allocates nothing on success.
func (s *Sock) sendTo(p []byte, daddr uint32, dport uint16) (int, error) {
	if len(p) > MaxPayload {
		return 0, fmt.Errorf("udp: send %d bytes: %w", len(p), syscall.EMSGSIZE)
	}
	if dport == 0 {
		return 0, fmt.Errorf("udp: send to port 0: %w", syscall.EINVAL)
	}
	d, err := s.route(daddr)
	if err != nil {
		return 0, fmt.Errorf("udp: send to %v: %w", header.U32Addr(daddr), err)
	}
	if d.Broadcast && !s.broadcast {
		return 0, fmt.Errorf("udp: send to %v: broadcast without SO_BROADCAST: %w", header.U32Addr(daddr), syscall.EACCES)
	}
	if err := s.autobind(); err != nil {
		return 0, err
	}
	b := copyIn(p, s.devOf(d))
	if b == nil {
		s.proto.stats.SndbufErrors.Inc()
		return 0, fmt.Errorf("udp: send: no mbuf: %w", syscall.ENOBUFS)
	}
	s.xmit(b, d, daddr, dport)
	return len(p), nil
}

// autobind gives an unbound socket an ephemeral port on the wildcard
// address (inet_autobind).
func (s *Sock) autobind() error {
	if s.bucket != nil {
		return nil
	}
	if err := s.proto.bindPort(s, 0, 0); err != nil {
		return err
	}
	s.Local = sockAddr(0, s.lport)
	return nil
}

// devOf is the device a datagram along d leaves by.
func (s *Sock) devOf(d *route.Dst) *netdev.Device {
	if d.Dev != nil {
		return d.Dev
	}
	return s.proto.dev
}

// copyIn copies p into a fresh packet (ip_append_data): one mbuf while it
// fits, a chain of them beyond; nil when the pool runs out.
func copyIn(p []byte, dev *netdev.Device) *mbuf.Buf {
	head := dev.Alloc()
	if head == nil {
		return nil
	}
	n := copy(head.Put(min(len(p), head.Tailroom())), p)
	for n < len(p) {
		seg := dev.Alloc()
		if seg == nil {
			dev.Free(head)
			return nil
		}
		n += copy(seg.Put(min(len(p)-n, seg.Tailroom())), p[n:])
		head.Chain(seg)
	}
	return head
}

// xmit pushes the UDP header onto the datagram in b and sends it to
// daddr:dport along d (udp_send_skb): the checksum is always computed
// (RFC 1122 §4.1.3.4 has it on by default), by the port where it offers
// the offload, and a checksum that comes out 0 is sent as all ones (RFC
// 768). A datagram to a group leaves with IP_MULTICAST_TTL rather than
// IP_TTL (RFC 1112 §6.1), and, with IP_MULTICAST_LOOP, its copy goes to
// the host's own member sockets (mcLoopback). IPv4 sends it without DF, so
// that a datagram over the MTU leaves in fragments.
func (s *Sock) xmit(b *mbuf.Buf, d *route.Dst, daddr uint32, dport uint16) {
	p := s.proto
	n := b.Len() + header.UDPLen
	hdr := b.Push(header.UDPLen)
	if hdr == nil {
		p.drop(b, stat.DropNoHeadroom)
		return
	}
	uh := header.UDP(hdr[:header.UDPLen])
	uh.Encode(s.lport, dport, uint16(n))
	src := d.Src
	if s.laddr != 0 {
		src = header.U32Addr(s.laddr)
	}
	dst := header.U32Addr(daddr)
	sum := header.PseudoHeaderSum(src, dst, header.IPProtoUDP, uint16(n))
	if s.devOf(d).Features.Has(netdev.TxUDPCksum) {
		uh.SetChecksum(^header.Fold(sum))
		b.SetOlFlags(b.OlFlags() | mbuf.TxUDPCksum)
	} else {
		c := header.Fold(ipv4.ChainSum(b, 0) + sum)
		if c == 0 {
			c = 0xffff
		}
		uh.SetChecksum(c)
	}
	ttl := s.ttl
	if d.Multicast {
		ttl = s.mcTTL()
		if s.mcLoops(daddr) {
			s.mcLoopback(b, src, dst, daddr, dport, s.tos, ttl)
		}
	}
	p.stats.OutDatagrams.Inc()
	p.ip.OutputDatagram(b, d, header.IPProtoUDP, src, dst, s.tos, ttl)
}
