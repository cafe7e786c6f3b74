package dpstack

import (
	"net/netip"

	"github.com/dpstack/dpstack/api"
	"github.com/dpstack/dpstack/perf/harness"
)

// UDPBlocking is dpstack's blocking UDP sockets (api.UDPConn) between two
// hosts.
type UDPBlocking struct {
	harness.PacketScenarios
	*pair
	name string
}

// NewUDPBlocking opens the pair of hosts.
func NewUDPBlocking(name string, o Options) (*UDPBlocking, error) {
	p, err := newPair(o)
	if err != nil {
		return nil, err
	}
	u := &UDPBlocking{pair: p, name: name}
	u.PacketScenarios = harness.PacketScenarios{Packets: u}
	return u, nil
}

// Name implements harness.UDPSystem.
func (u *UDPBlocking) Name() string { return u.name }

// Close implements harness.UDPSystem.
func (u *UDPBlocking) Close() error { return u.close() }

// ServerPacket implements harness.Packets: a port of the server host's
// choosing.
func (u *UDPBlocking) ServerPacket() (harness.PacketConn, error) {
	return api.ListenUDP(u.server, "udp4", netip.AddrPortFrom(serverAddr.Addr(), 0))
}

// ClientPacket implements harness.Packets.
func (u *UDPBlocking) ClientPacket() (harness.PacketConn, error) {
	return api.ListenUDP(u.client, "udp4", netip.AddrPortFrom(clientAddr.Addr(), 0))
}
