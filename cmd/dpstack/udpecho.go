package main

import (
	"net/netip"

	"github.com/dpstack/dpstack/api"
)

// udpEchoService echoes datagrams (RFC 862, "UDP Based Echo Service") on
// the core that received them, from inside the handler: in place
// (SendBuffer, CommitTo) when the datagram fits one mbuf, by copy when
// it was reassembled from fragments. A datagram that cannot be answered
// (no mbuf, no route) is not.
type udpEchoService struct{}

func (udpEchoService) Datagram(c *api.CUDPConn, data []byte, from netip.AddrPort) {
	if room, err := c.SendBuffer(len(data)); err == nil {
		copy(room, data)
		c.CommitTo(len(data), from)
		return
	}
	_, _ = c.WriteTo(data, from)
}

// Error does not concern an unconnected socket: none are reported to it.
func (udpEchoService) Error(*api.CUDPConn, error) {}
