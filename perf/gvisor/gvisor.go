// Package gvisor is gVisor's netstack talking to itself: two stacks in
// this process joined by in-memory channel link endpoints, with goroutines
// moving packets between them (dropping a seeded share of them when asked),
// and gonet giving net.Conn values. The stacks are set up as runsc sets up
// a sandbox's: SACK and receive-buffer auto-tuning on.
package gvisor

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"sync"

	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/adapters/gonet"
	"gvisor.dev/gvisor/pkg/tcpip/header"
	"gvisor.dev/gvisor/pkg/tcpip/link/channel"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv4"
	"gvisor.dev/gvisor/pkg/tcpip/stack"
	"gvisor.dev/gvisor/pkg/tcpip/transport/tcp"

	"github.com/dpstack/dpstack/perf/harness"
)

const (
	nic       = 1
	mtu       = 1500
	queueSize = 4096 // packets each link endpoint holds before it drops
)

var (
	serverAddr = tcpip.AddrFrom4([4]byte{198, 18, 0, 1})
	clientAddr = tcpip.AddrFrom4([4]byte{198, 18, 0, 2})
)

// System is two netstacks joined by a pair of channel endpoints.
type System struct {
	harness.ConnScenarios
	*link
	name string
}

// link is a server stack and a client stack whose channel endpoints
// goroutines (the pumps) join.
type link struct {
	server, client *stack.Stack
	cancel         context.CancelFunc
	pumps          sync.WaitGroup
}

// New sets up the two stacks and starts the pumps; the link drops each
// packet with probability loss, from a generator seeded with seed.
func New(name string, loss float64, seed uint64) (*System, error) {
	l, err := newLink(newTCPStack, loss, seed)
	if err != nil {
		return nil, err
	}
	sys := &System{link: l, name: name}
	sys.ConnScenarios = harness.ConnScenarios{Conns: sys, Segments: sys.segments}
	return sys, nil
}

// newLink makes the two stacks with newStack and starts the pumps.
func newLink(newStack func() (*stack.Stack, error), loss float64, seed uint64) (*link, error) {
	l := &link{}
	srvEP, cliEP := channel.New(queueSize, mtu, ""), channel.New(queueSize, mtu, "")
	var err error
	if l.server, err = newHost(newStack, srvEP, serverAddr); err != nil {
		return nil, err
	}
	if l.client, err = newHost(newStack, cliEP, clientAddr); err != nil {
		l.server.Close()
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	l.cancel = cancel
	l.pumps.Go(func() { pump(ctx, srvEP, cliEP, loss, rand.New(rand.NewPCG(seed, 1))) })
	l.pumps.Go(func() { pump(ctx, cliEP, srvEP, loss, rand.New(rand.NewPCG(seed, 2))) })
	return l, nil
}

// newTCPStack is a stack with TCP, set up as runsc sets it up.
func newTCPStack() (*stack.Stack, error) {
	s := stack.New(stack.Options{
		NetworkProtocols:   []stack.NetworkProtocolFactory{ipv4.NewProtocol},
		TransportProtocols: []stack.TransportProtocolFactory{tcp.NewProtocol},
	})
	sack := tcpip.TCPSACKEnabled(true)
	moderate := tcpip.TCPModerateReceiveBufferOption(true)
	for _, opt := range []tcpip.SettableTransportProtocolOption{&sack, &moderate} {
		if err := s.SetTransportProtocolOption(tcp.ProtocolNumber, opt); err != nil {
			s.Close()
			return nil, fmt.Errorf("gvisor: option %T: %s", opt, err)
		}
	}
	return s, nil
}

// newHost makes a stack with newStack and gives it a NIC on ep with addr.
func newHost(newStack func() (*stack.Stack, error), ep *channel.Endpoint, addr tcpip.Address) (*stack.Stack, error) {
	s, err := newStack()
	if err != nil {
		return nil, err
	}
	if err := s.CreateNIC(nic, ep); err != nil {
		s.Close()
		return nil, fmt.Errorf("gvisor: create NIC: %s", err)
	}
	pa := tcpip.ProtocolAddress{Protocol: ipv4.ProtocolNumber, AddressWithPrefix: tcpip.AddressWithPrefix{Address: addr, PrefixLen: 24}}
	if err := s.AddProtocolAddress(nic, pa, stack.AddressProperties{}); err != nil {
		s.Close()
		return nil, fmt.Errorf("gvisor: add address: %s", err)
	}
	s.SetRouteTable([]tcpip.Route{{Destination: header.IPv4EmptySubnet, NIC: nic}})
	return s, nil
}

// pump moves the packets one stack sends to the other stack's input, as
// a wire would, dropping each with probability loss.
func pump(ctx context.Context, from, to *channel.Endpoint, loss float64, rng *rand.Rand) {
	for {
		pkt := from.ReadContext(ctx)
		if pkt == nil {
			return
		}
		if loss > 0 && rng.Float64() < loss {
			pkt.DecRef()
			continue
		}
		in := stack.NewPacketBuffer(stack.PacketBufferOptions{Payload: pkt.ToBuffer()})
		pkt.DecRef()
		to.InjectInbound(ipv4.ProtocolNumber, in)
		in.DecRef()
	}
}

// Name implements harness.System.
func (s *System) Name() string { return s.name }

// Listen implements harness.Conns.
func (s *System) Listen() (net.Listener, error) {
	return gonet.ListenTCP(s.server, tcpip.FullAddress{NIC: nic, Addr: serverAddr}, ipv4.ProtocolNumber)
}

// Dial implements harness.Conns.
func (s *System) Dial(ctx context.Context, addr net.Addr) (net.Conn, error) {
	ta, ok := addr.(*net.TCPAddr)
	if !ok {
		return nil, fmt.Errorf("gvisor: dial %v: not a TCP address", addr)
	}
	return gonet.DialContextTCP(ctx, s.client, tcpip.FullAddress{NIC: nic, Addr: serverAddr, Port: uint16(ta.Port)}, ipv4.ProtocolNumber)
}

func (s *System) segments() uint64 {
	return s.server.Stats().TCP.SegmentsSent.Value() + s.client.Stats().TCP.SegmentsSent.Value()
}

// Close implements harness.System.
func (s *System) Close() error { return s.close() }

// close stops the pumps and closes the stacks.
func (l *link) close() error {
	l.cancel()
	l.pumps.Wait()
	l.client.Close()
	l.server.Close()
	return nil
}
