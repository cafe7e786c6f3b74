package gvisor

import (
	"net"
	"net/netip"

	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/adapters/gonet"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv4"
	"gvisor.dev/gvisor/pkg/tcpip/stack"
	"gvisor.dev/gvisor/pkg/tcpip/transport/udp"

	"github.com/dpstack/dpstack/perf/harness"
)

// UDP is two netstacks with UDP joined by a pair of channel endpoints,
// as System joins them for TCP.
type UDP struct {
	harness.PacketScenarios
	*link
	name string
}

// NewUDP sets up the two stacks and starts the pumps (a link that loses
// nothing).
func NewUDP(name string) (*UDP, error) {
	l, err := newLink(newUDPStack, 0, 1)
	if err != nil {
		return nil, err
	}
	u := &UDP{link: l, name: name}
	u.PacketScenarios = harness.PacketScenarios{Packets: u}
	return u, nil
}

func newUDPStack() (*stack.Stack, error) {
	return stack.New(stack.Options{
		NetworkProtocols:   []stack.NetworkProtocolFactory{ipv4.NewProtocol},
		TransportProtocols: []stack.TransportProtocolFactory{udp.NewProtocol},
	}), nil
}

// Name implements harness.UDPSystem.
func (u *UDP) Name() string { return u.name }

// Close implements harness.UDPSystem.
func (u *UDP) Close() error { return u.close() }

// ServerPacket implements harness.Packets.
func (u *UDP) ServerPacket() (harness.PacketConn, error) { return bindUDP(u.server, serverAddr) }

// ClientPacket implements harness.Packets.
func (u *UDP) ClientPacket() (harness.PacketConn, error) { return bindUDP(u.client, clientAddr) }

func bindUDP(s *stack.Stack, addr tcpip.Address) (harness.PacketConn, error) {
	c, err := gonet.DialUDP(s, &tcpip.FullAddress{NIC: nic, Addr: addr}, nil, ipv4.ProtocolNumber)
	if err != nil {
		return nil, err
	}
	return packetConn{c}, nil
}

// packetConn gives gonet's UDPConn the AddrPort calls through its
// net.Addr ones, which is what gonet offers.
type packetConn struct{ *gonet.UDPConn }

func (c packetConn) ReadFromUDPAddrPort(b []byte) (int, netip.AddrPort, error) {
	n, addr, err := c.ReadFrom(b)
	if err != nil {
		return n, netip.AddrPort{}, err
	}
	return n, addr.(*net.UDPAddr).AddrPort(), nil
}

func (c packetConn) WriteToUDPAddrPort(b []byte, addr netip.AddrPort) (int, error) {
	return c.WriteTo(b, net.UDPAddrFromAddrPort(addr))
}
