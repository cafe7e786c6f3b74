package kernel

import (
	"net"

	"github.com/dpstack/dpstack/perf/harness"
)

// UDP is kernel UDP between two sockets on 127.0.0.1.
type UDP struct {
	harness.PacketScenarios
	name string
}

// NewUDP returns the kernel's UDP system, its row named name.
func NewUDP(name string) *UDP {
	return &UDP{harness.PacketScenarios{Packets: packets{}}, name}
}

// Name implements harness.UDPSystem.
func (u *UDP) Name() string { return u.name }

// Close implements harness.UDPSystem.
func (*UDP) Close() error { return nil }

type packets struct{}

func (packets) ServerPacket() (harness.PacketConn, error) { return listenUDP() }

func (packets) ClientPacket() (harness.PacketConn, error) { return listenUDP() }

func listenUDP() (*net.UDPConn, error) {
	return net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
}
