package api_test

import (
	"net"
	"net/netip"

	"github.com/dpstack/dpstack/api"
	"github.com/dpstack/dpstack/stack"
)

// handleQuote stands for the application's use of a market-data packet.
func handleQuote([]byte) {}

// A market-data receiver on a blocking socket: it joins the feed's group
// for the exchange's packets only (source-specific, for an SSM feed) and
// reads quotes until the socket is closed. The README's UDP section shows
// this code.
func ExampleUDPConn_JoinSourceSpecificGroup() {
	var st *stack.Host // opened and started (stack.Open, Host.Start)

	c, err := api.ListenUDP(st, "udp", netip.MustParseAddrPort("0.0.0.0:31000"))
	if err != nil {
		return
	}
	feed := &net.UDPAddr{IP: net.IPv4(239, 18, 1, 1)}
	exchange := &net.UDPAddr{IP: net.IPv4(198, 18, 0, 1)}
	if err := c.JoinSourceSpecificGroup(nil, feed, exchange); err != nil {
		c.Close()
		return
	}
	buf := make([]byte, 1500)
	for {
		n, _, err := c.ReadFromUDPAddrPort(buf)
		if err != nil {
			break
		}
		handleQuote(buf[:n])
	}
	c.Close() // leaves the group: IGMP tells the switch
}

// quotes is a market-data handler: it reads each quote in the packet's
// own bytes, on the core that received it.
type quotes struct{}

func (quotes) Datagram(c *api.CUDPConn, data []byte, from netip.AddrPort) { handleQuote(data) }
func (quotes) Error(c *api.CUDPConn, err error)                           {}

// A market-data receiver on callback sockets, one per core: every core
// joins the group and hands its datagrams to the handler with no copy and
// no handoff. The README's UDP section shows this code.
func ExampleCUDPListener_JoinGroup() {
	var st *stack.Host // opened and started (stack.Open, Host.Start)

	ln, err := api.ListenUDPCallback(st, ":31000", quotes{})
	if err != nil {
		return
	}
	if err := ln.JoinGroup(nil, &net.UDPAddr{IP: net.IPv4(239, 18, 1, 1)}); err != nil {
		ln.Close()
		return
	}
	// ... until the application is done:
	ln.Close()
}
