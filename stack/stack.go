// Package stack is one core's network stack and the host that runs a port
// on a set of cores. A Stack takes the frames of its core's rx queue,
// checks the Ethernet header and dispatches by ethertype (Linux's
// packet_type / ptype_base) to ARP and IPv4, which hands TCP segments to
// the core's TCP; the layers below it answer through the core's device.
package stack

import (
	"net/netip"
	"syscall"

	"github.com/dpstack/dpstack/lcore"
	"github.com/dpstack/dpstack/mbuf"
	"github.com/dpstack/dpstack/stack/header"
	"github.com/dpstack/dpstack/stack/ipv4"
	"github.com/dpstack/dpstack/stack/netdev"
	"github.com/dpstack/dpstack/stack/route"
	"github.com/dpstack/dpstack/stack/sock"
	"github.com/dpstack/dpstack/stack/tcp"
	"github.com/dpstack/dpstack/stack/udp"
	"github.com/dpstack/dpstack/stat"
)

// PacketHandler takes a frame whose data starts after the Ethernet header;
// it owns the mbuf.
type PacketHandler func(b *mbuf.Buf)

type packetType struct {
	etherType uint16
	fn        PacketHandler
}

// Stack is one core's stack. All of it belongs to its loop's core.
type Stack struct {
	core   int
	loop   *lcore.Loop
	dev    *netdev.Device
	exc    *exception // the kernel exception path, or nil (exception.go); read per frame, beside dev
	routes *route.Table
	ip     *ipv4.Layer
	tcp    *tcp.Proto
	udp    *udp.Proto
	ptypes []packetType
	inetsw sock.Switch
}

// newStack builds the stack of core (of cores) on dev, driven by loop,
// with the routes in rt. ic, tc and uc carry the host-wide parts of IPv4's
// configuration (accept_source_route, the reassembly timeout), TCP's (the
// flow directory and its handoff, RSS steering) and UDP's (the port
// directory); newStack fills in the rest.
func newStack(core, cores int, loop *lcore.Loop, dev *netdev.Device, rt *route.Table, ic ipv4.Config, tc tcp.Config, uc udp.Config) *Stack {
	s := &Stack{core: core, loop: loop, dev: dev, routes: rt}
	ic.Dev, ic.Routes, ic.Clock, ic.Cores, ic.Wheel, ic.Core = dev, rt, loop.Clock(), cores, loop.Wheel(), core
	// Fragments go to the core that reassembles their datagram through
	// the same inboxes as TCP's handoffs (ARCHITECTURE.md §3).
	ic.Handoff = tc.Handoff
	s.ip = ipv4.New(ic)
	tc.IP, tc.Routes, tc.Dev, tc.Wheel, tc.Clock, tc.Core = s.ip, rt, dev, loop.Wheel(), loop.Clock(), core
	s.tcp = tcp.New(tc)
	loop.BeforeOutput(s.tcp.TurnDone)
	s.ip.RegisterProtocol(header.IPProtoTCP, s.tcp.Input)
	s.ip.RegisterErrorHandler(header.IPProtoTCP, s.tcp.Err)
	s.ip.Linearize(header.IPProtoTCP)
	s.inetsw.Register(sock.Protosw{Type: syscall.SOCK_STREAM, Protocol: syscall.IPPROTO_TCP,
		Create: func() sock.ProtoOps { return s.tcp.NewSock() }})
	// UDP shares TCP's memory account: the core's sockets hold one
	// share of the pool between them.
	uc.IP, uc.Routes, uc.Dev, uc.Mem, uc.Core, uc.Handoff = s.ip, rt, dev, s.tcp.Mem(), core, tc.Handoff
	uc.Stamp = loop.StampRx
	s.udp = udp.New(uc)
	s.ip.RegisterProtocol(header.IPProtoUDP, s.udp.Input)
	s.ip.RegisterErrorHandler(header.IPProtoUDP, s.udp.Err)
	s.inetsw.Register(sock.Protosw{Type: syscall.SOCK_DGRAM, Protocol: syscall.IPPROTO_UDP,
		Create: func() sock.ProtoOps { return s.udp.NewSock() }})
	s.RegisterPacketType(header.EtherTypeARP, s.ip.ARPInput)
	s.RegisterPacketType(header.EtherTypeIPv4, s.ip.Input)
	return s
}

// Socket creates a socket of the core (socket(2)): family AF_INET, type
// and protocol as the transports registered them (SOCK_STREAM with
// IPPROTO_TCP or 0 for TCP, SOCK_DGRAM with IPPROTO_UDP or 0 for UDP). It runs on the core.
func (s *Stack) Socket(family, typ, protocol int) (sock.ProtoOps, error) {
	return s.inetsw.Create(family, typ, protocol)
}

// RegisterPacketType makes fn receive the frames of etherType
// (dev_add_pack). A second handler for the same type replaces the first.
func (s *Stack) RegisterPacketType(etherType uint16, fn PacketHandler) {
	for i := range s.ptypes {
		if s.ptypes[i].etherType == etherType {
			s.ptypes[i].fn = fn
			return
		}
	}
	s.ptypes = append(s.ptypes, packetType{etherType, fn})
}

// Input takes a burst from the core's rx queue (netif_receive_skb for each
// frame), stamping each packet with its receive time as it takes it
// (lcore.Loop.StampRx, __net_timestamp). It owns the packets.
func (s *Stack) Input(pkts []*mbuf.Buf) {
	s.tcp.BurstStart()
	if s.exc != nil {
		s.inputExcept(pkts)
	} else {
		for _, b := range pkts {
			s.loop.StampRx(b)
			s.dev.Stats.RxFrames.Inc()
			s.receive(b)
		}
	}
	s.tcp.BurstEnd()
}

// handedIn takes a burst of packets that other cores handed over (the
// loop's inbox): IPv4 packets of connections this core owns, datagrams
// for UDP ports this core has, or fragments of datagrams this core
// reassembles, with their data at the IPv4 header. It owns the packets.
func (s *Stack) handedIn(pkts []*mbuf.Buf) {
	s.ip.SetHandedIn(true)
	s.tcp.BurstStart()
	for _, b := range pkts {
		// A chain (a reassembled datagram, a scattered jumbo frame)
		// goes through IPv4 input as any packet: its header is in the
		// first segment. A fragment came here for reassembly, not for
		// a connection: TCP may hand the whole segment on to its owner.
		p := b.Bytes()
		whole := len(p) < header.IPv4MinLen || !header.IPv4(p).IsFragment()
		s.tcp.SetHandedIn(whole)
		s.udp.SetHandedIn(whole)
		s.ip.Input(b)
	}
	s.tcp.BurstEnd()
	s.ip.SetHandedIn(false)
	s.tcp.SetHandedIn(false)
	s.udp.SetHandedIn(false)
}

// receive checks the Ethernet header and dispatches by ethertype.
func (s *Stack) receive(b *mbuf.Buf) {
	if b.Len() < header.EthernetLen || b.SegLen() < header.EthernetLen {
		s.dev.Drop(b, stat.DropEthTruncated)
		return
	}
	eth := header.Ethernet(b.Bytes())
	if dst := eth.Dst(); dst != s.dev.MAC && !dst.IsBroadcast() && !dst.IsIPv4Multicast() {
		// IPv4 multicast frames go on to IPv4, which takes the groups the
		// host joined (ipv4.MCHost.Joined); the port's filter keeps most
		// others out already.
		s.dev.Drop(b, stat.DropEthOtherHost)
		return
	}
	etherType, hl := eth.EtherType(), header.EthernetLen
	if s.dev.VLAN != 0 {
		if etherType, hl = s.vlanInput(b, eth); hl == 0 {
			return
		}
	}
	for i := range s.ptypes {
		if s.ptypes[i].etherType == etherType {
			b.Pull(hl)
			s.ptypes[i].fn(b)
			return
		}
	}
	s.dev.Drop(b, stat.DropUnknownEtherType)
}

// vlanInput takes the 802.1Q tag of a frame on a device on a VLAN
// (vlan_do_receive): the tag the port stripped into the mbuf, or the one
// in the frame, which the Pull of the whole header then takes off in
// place. It returns the frame's EtherType and header length, or 0 for
// the length when it dropped the frame: untagged, of another VLAN, or too
// short for its tag.
func (s *Stack) vlanInput(b *mbuf.Buf, eth header.Ethernet) (etherType uint16, hl int) {
	var tci uint16
	switch {
	case b.OlFlags()&mbuf.RxVLANStrip != 0:
		tci, etherType, hl = b.VLANTCI(), eth.EtherType(), header.EthernetLen
	case eth.EtherType() != header.EtherTypeVLAN:
		s.dev.Drop(b, stat.DropVLANUntagged)
		return 0, 0
	case b.SegLen() < header.EthernetVLANLen:
		s.dev.Drop(b, stat.DropEthTruncated)
		return 0, 0
	default:
		tci, etherType, hl = eth.VLANTCI(), eth.VLANEtherType(), header.EthernetVLANLen
	}
	if tci&header.VLANIDMask != s.dev.VLAN {
		s.dev.Drop(b, stat.DropVLANOther)
		return 0, 0
	}
	return etherType, hl
}

// VisitCounters calls fn with each of the core's counters by its stat
// name: the device's, the loop's, IPv4's, TCP's, UDP's, socket memory's,
// the routes', the neighbours' and the exception path's (what the metrics
// export and `dpstack stats` prints). Counters are read without the
// core's help: a value may lag its core by a turn.
func (s *Stack) VisitCounters(fn func(name string, v uint64)) {
	stat.Visit(&s.dev.Stats, fn)
	stat.Visit(s.loop.Stats(), fn)
	stat.Visit(s.ip.Stats(), fn)
	stat.Visit(s.tcp.Stats(), fn)
	stat.Visit(s.udp.Stats(), fn)
	stat.Visit(&s.tcp.Mem().Stats, fn)
	stat.Visit(s.routes.Stats(), fn)
	stat.Visit(s.routes.Neighbours().Stats(), fn)
	if s.exc != nil {
		stat.Visit(&s.exc.stats, fn)
	}
}

// VisitHistograms calls fn with each of the core's histograms by its
// stat name: TCP's RTT of closing connections and the loop's delivery
// delay.
func (s *Stack) VisitHistograms(fn func(name string, h *stat.Histogram)) {
	stat.VisitHistograms(s.tcp.Stats(), fn)
	stat.VisitHistograms(s.loop.Stats(), fn)
}

// VisitGauges calls fn with each of the core's levels by its stat name:
// socket memory's and IPv4's (reassembly).
func (s *Stack) VisitGauges(fn func(name string, v int64)) {
	stat.VisitGauges(&s.tcp.Mem().Stats, fn)
	stat.VisitGauges(s.ip.Stats(), fn)
}

// Core is the index of the stack's core on its host.
func (s *Stack) Core() int { return s.core }

// Loop is the poll loop that drives the stack.
func (s *Stack) Loop() *lcore.Loop { return s.loop }

// Device is the core's device.
func (s *Stack) Device() *netdev.Device { return s.dev }

// Routes is the core's routing table.
func (s *Stack) Routes() *route.Table { return s.routes }

// IPv4 is the core's IPv4 layer, where transports register.
func (s *Stack) IPv4() *ipv4.Layer { return s.ip }

// TCP is the core's TCP.
func (s *Stack) TCP() *tcp.Proto { return s.tcp }

// UDP is the core's UDP.
func (s *Stack) UDP() *udp.Proto { return s.udp }

// flushNeighbours forgets every neighbour, freeing the packets that wait
// for resolution (at shutdown).
func (s *Stack) flushNeighbours() {
	nt := s.routes.Neighbours()
	var addrs []netip.Addr
	nt.Each(func(n *route.Neighbour) { addrs = append(addrs, n.Addr()) })
	for _, a := range addrs {
		nt.Delete(a)
	}
}
