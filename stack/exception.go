package stack

import (
	"encoding/binary"
	"fmt"
	"strconv"
	"strings"
	"syscall"

	"github.com/dpstack/dpstack/dpdk"
	"github.com/dpstack/dpstack/lcore"
	"github.com/dpstack/dpstack/mbuf"
	"github.com/dpstack/dpstack/stack/header"
	"github.com/dpstack/dpstack/stack/route"
	"github.com/dpstack/dpstack/stat"
)

// Exception is the kernel exception path: a second port whose other end is
// a kernel interface (a net_tap, DPDK's replacement for KNI), which
// carries what the stack does not consume to the kernel and what the
// kernel sends out of the host's port. The kernel interface has the
// host's MAC (Open gives the port the host's address), so the kernel can
// hold the host's IP address: sshd answers on port 22 of the address on
// which dpstack serves 80.
type Exception struct {
	// Port is the exception port, attached and stopped. Open configures
	// it with a queue pair per core on the host's pool and the host's MTU
	// and MAC; Close closes it.
	Port *dpdk.Port
	// Policy says which received frames go to the kernel.
	Policy *ExceptionPolicy
}

// ExceptionPolicy says which frames the port receives go to the kernel
// rather than to the stack. Whatever it says, frames the stack cannot take
// go to the kernel: a link-layer protocol with no handler (IPv6, LLDP) and
// an IP protocol other than ICMP, IGMP, TCP and UDP to the host's address.
// A policy is read by every core and must not change once the host runs.
type ExceptionPolicy struct {
	// Auto sends to the kernel every TCP segment that no connection or
	// listener of the host claims, and every UDP datagram for a port no
	// socket has, instead of the RST or port unreachable that would
	// answer them.
	Auto bool
	// ARP gives every ARP frame to the kernel, and a copy to the stack,
	// which needs the answers to its own requests: both resolve their
	// neighbours, and both answer for the address they share, with the
	// same MAC. Without it the kernel sees no ARP at all.
	ARP bool
	// ICMP gives the kernel every ICMP message to the host's address but
	// the errors (header.ICMPv4IsError), which stay with the stack that
	// may own the flow they quote: the kernel answers pings.
	ICMP bool
	// ports has a bit per TCP and UDP port whose segments and datagrams
	// go to the kernel whatever the stack has on them.
	ports [1 << 16 / 64]uint64
}

// ParseExceptionPorts reads a port list, "22,9100-9200" (single ports and
// inclusive ranges, comma-separated), or "auto" (ExceptionPolicy.Auto),
// into a policy; "" is a policy with no port.
func ParseExceptionPorts(list string) (*ExceptionPolicy, error) {
	p := &ExceptionPolicy{}
	if list == "auto" {
		p.Auto = true
		return p, nil
	}
	if list == "" {
		return p, nil
	}
	for _, f := range strings.Split(list, ",") {
		lo, hi, isRange := strings.Cut(strings.TrimSpace(f), "-")
		a, errA := strconv.ParseUint(lo, 10, 16)
		b, errB := a, error(nil)
		if isRange {
			b, errB = strconv.ParseUint(hi, 10, 16)
		}
		if errA != nil || errB != nil || a == 0 || b < a {
			return nil, fmt.Errorf("stack: exception ports %q: %q is not a port 1-65535 or a range lo-hi: %w", list, f, syscall.EINVAL)
		}
		p.AddPorts(uint16(a), uint16(b))
	}
	return p, nil
}

// AddPorts sends the TCP and UDP ports lo to hi (inclusive) to the kernel.
func (p *ExceptionPolicy) AddPorts(lo, hi uint16) {
	for port := uint32(lo); port <= uint32(hi); port++ {
		p.ports[port/64] |= 1 << (port % 64)
	}
}

// Port reports whether segments and datagrams to port go to the kernel
// whatever the stack has on it.
func (p *ExceptionPolicy) Port(port uint16) bool { return p.ports[port/64]&(1<<(port%64)) != 0 }

// ExceptionStats count one core's exception path.
type ExceptionStats struct {
	ToKernel    stat.Counter `stat:"kni_to_kernel"`   // frames given to the kernel
	FromKernel  stat.Counter `stat:"kni_from_kernel"` // frames the kernel sent, out of the port
	TCPToKernel stat.Counter `stat:"tcp_to_kernel"`   // TCP segments among ToKernel
	UDPToKernel stat.Counter `stat:"udp_to_kernel"`   // UDP datagrams among ToKernel
}

// exception is one core's end of the exception path.
type exception struct {
	policy *ExceptionPolicy
	tx     *lcore.TxBatch // the core's tx queue on the exception port
	// rx is the frame that receive is dispatching, while the stack may
	// still give it to the kernel whole (Auto): an unfragmented IPv4
	// packet to the host's MAC; rxOff is its headroom at the Ethernet
	// header. Everything else the stack is given (a packet another core
	// handed over, a reassembled datagram) finds rx nil or another mbuf.
	rx    *mbuf.Buf
	rxOff int
	stats ExceptionStats
}

// inputExcept is Input for a host with an exception path: each frame
// meets the policy before the stack sees it. It is a loop of its own so
// that a host without one runs Input's loop as it was, for a check per
// burst: under callgrind, BenchmarkDispatchTCP's receive, IPv4 and TCP
// input run the same instructions per packet as before the exception
// path existed.
func (s *Stack) inputExcept(pkts []*mbuf.Buf) {
	for _, b := range pkts {
		s.loop.StampRx(b)
		s.dev.Stats.RxFrames.Inc()
		if b.SegLen() >= header.EthernetLen {
			if b = s.except(b); b == nil {
				continue
			}
		}
		s.receive(b) // which drops a frame too short
	}
	s.exc.rx = nil // freed by now, or in other hands
}

// except gives frame b, its Ethernet header checked, to the kernel when
// the policy says so, and returns the frame the stack goes on with: b, a
// copy of b (ARP), or nil when the kernel took b. It reads the frame as it
// came, before the stack checks any of it: the kernel checks what it
// takes. A frame the stack goes on with may still reach the kernel
// (unclaimed).
func (s *Stack) except(b *mbuf.Buf) *mbuf.Buf {
	x := s.exc
	x.rx = nil
	f := b.Bytes()
	eth := header.Ethernet(f)
	ours := eth.Dst() == s.dev.MAC
	switch eth.EtherType() {
	case header.EtherTypeIPv4:
	case header.EtherTypeARP:
		if !x.policy.ARP {
			return b
		}
		return s.arpToBoth(b)
	default:
		// A link layer the stack does not speak: IPv6 (with its
		// multicast neighbour discovery), LLDP ...
		if !ours && !eth.Dst().IsMulticast() {
			return b
		}
		s.toKernel(b, 0)
		return nil
	}
	// The header in the first segment is all the policy reads (the
	// data may go on in a chain): the kernel checks the rest.
	ip := header.IPv4(f[header.EthernetLen:])
	if !ours || len(ip) < header.IPv4MinLen || ip.Version() != 4 || ip.HeaderLen() < header.IPv4MinLen ||
		ip.HeaderLen() > len(ip) || ip.IsFragment() || s.routes.AddrKind4(ip.DstUint32())&route.AddrLocal == 0 {
		// Broadcasts, multicasts and fragments are the stack's, and
		// so is a header it will drop.
		return b
	}
	hl := ip.HeaderLen()
	switch proto := ip.Protocol(); proto {
	case header.IPProtoTCP, header.IPProtoUDP:
		if len(ip) >= hl+4 && x.policy.Port(binary.BigEndian.Uint16(ip[hl+2:])) {
			s.toKernel(b, proto)
			return nil
		}
	case header.IPProtoICMP:
		if x.policy.ICMP && len(ip) > hl && !header.ICMPv4IsError(ip[hl]) {
			s.toKernel(b, proto)
			return nil
		}
	case header.IPProtoIGMP:
	default:
		s.toKernel(b, proto)
		return nil
	}
	x.rx, x.rxOff = b, b.Headroom()
	return b
}

// unclaimed gives the kernel a TCP segment or UDP datagram that no socket
// of the host claims (tcp.Config.Unclaimed, udp.Config.Unclaimed), its
// data at the transport header, when the policy is Auto and b is the
// frame being received as it came (except): its Ethernet and IP headers
// are still in the headroom, pulled but unchanged, and are pushed back.
func (s *Stack) unclaimed(b *mbuf.Buf, proto uint8) bool {
	x := s.exc
	if !x.policy.Auto || b != x.rx {
		return false
	}
	x.rx = nil
	b.Push(b.Headroom() - x.rxOff)
	s.toKernel(b, proto)
	return true
}

// toKernel queues frame b, of IP protocol proto (0: not IP), on the
// core's exception queue, zero copy: the mbuf as it came off the port.
// A full queue drops it, counted.
func (s *Stack) toKernel(b *mbuf.Buf, proto uint8) {
	x := s.exc
	if !x.tx.Enqueue(b) {
		s.dev.Drop(b, stat.DropKNITxFull)
		return
	}
	x.stats.ToKernel.Inc()
	switch proto {
	case header.IPProtoTCP:
		x.stats.TCPToKernel.Inc()
	case header.IPProtoUDP:
		x.stats.UDPToKernel.Inc()
	}
}

// arpToBoth gives ARP frame b to the kernel and returns a copy for the
// stack's ARP (ExceptionPolicy.ARP). ARP is rare and its frames small:
// this is the one copy the exception path makes. Without an mbuf for the
// copy the stack misses the frame, counted as no_mbuf, and nil is
// returned.
func (s *Stack) arpToBoth(b *mbuf.Buf) *mbuf.Buf {
	c := s.dev.Alloc()
	if c != nil {
		if p := c.Put(b.SegLen()); p != nil {
			copy(p, b.Bytes())
		} else {
			s.dev.Free(c)
			c = nil
		}
	}
	if c == nil {
		s.dev.Drops.Inc(stat.DropNoMbuf)
	}
	s.toKernel(b, 0)
	return c
}

// fromKernel takes a burst the kernel sent on the exception interface and
// sends each frame out of the host's port unchanged, zero copy (the
// exception queue's rx, lcore.Loop.AddRx).
func (s *Stack) fromKernel(pkts []*mbuf.Buf) {
	for _, b := range pkts {
		s.exc.stats.FromKernel.Inc()
		s.dev.Xmit(b)
	}
}
