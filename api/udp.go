package api

import (
	"context"
	"net"
	"net/netip"
	"syscall"

	"github.com/dpstack/dpstack/stack/sock"
)

// isUDP reports whether network names UDP: "udp", "udp4", or "udp6",
// which the stack does not serve.
func isUDP(network string) bool {
	return network == "udp" || network == "udp4" || network == "udp6"
}

// checkUDPNetwork accepts "udp" and "udp4"; "udp6" is EAFNOSUPPORT and
// anything else a net.UnknownNetworkError.
func checkUDPNetwork(network string) error {
	switch network {
	case "udp", "udp4":
		return nil
	case "udp6":
		return syscall.EAFNOSUPPORT
	}
	return net.UnknownNetworkError(network)
}

// ListenPacket opens a UDP socket bound to address ("198.18.0.2:9000",
// ":9000" for every local address, port 0 for an ephemeral one) on
// network "udp" or "udp4" through h, as net.ListenPacket does; the conn
// is a *UDPConn. It belongs to one of h's cores, taken in turn; datagrams
// that reach another core are handed to it (ARCHITECTURE.md §3).
// ListenUDPGroup opens one socket per core instead, so that none are.
func ListenPacket(h Host, network, address string) (net.PacketConn, error) {
	if err := checkUDPNetwork(network); err != nil {
		return nil, &net.OpError{Op: "listen", Net: network, Err: errnoOr(err, "socket")}
	}
	laddr, err := parseAddr(address, true)
	if err != nil {
		return nil, &net.OpError{Op: "listen", Net: network, Err: errnoOr(err, "bind")}
	}
	c, err := ListenUDP(h, network, laddr)
	if err != nil {
		return nil, err // no typed nil in the interface
	}
	return c, nil
}

// ListenUDP is ListenPacket with the address parsed, returning the
// concrete type (net.ListenUDP).
func ListenUDP(h Host, network string, laddr netip.AddrPort) (*UDPConn, error) {
	if err := checkUDPNetwork(network); err != nil {
		return nil, &net.OpError{Op: "listen", Net: network, Err: errnoOr(err, "socket")}
	}
	c, err := newUDPConn(h, h.NextCore(), laddr, netip.AddrPort{})
	if err != nil {
		return nil, &net.OpError{Op: "listen", Net: network, Addr: udpAddr(laddr), Err: errnoOr(err, "bind")}
	}
	return c, nil
}

// ListenUDPGroup opens one UDP socket per core of h, all bound to laddr
// with SO_REUSEPORT: a group per core, so that a datagram is read on the
// core that received it and never handed over (ARCHITECTURE.md §3); on a
// core the group's datagrams spread over its members by flow. The conns
// are in core order. A port of 0 picks one ephemeral port for all.
func ListenUDPGroup(h Host, network string, laddr netip.AddrPort) ([]*UDPConn, error) {
	if err := checkUDPNetwork(network); err != nil {
		return nil, &net.OpError{Op: "listen", Net: network, Err: errnoOr(err, "socket")}
	}
	conns := make([]*UDPConn, 0, h.Cores())
	for core := range h.Cores() {
		c, err := newUDPConn(h, core, laddr, netip.AddrPort{}, sock.SO_REUSEPORT)
		if err != nil {
			for _, o := range conns {
				o.Close()
			}
			return nil, &net.OpError{Op: "listen", Net: network, Addr: udpAddr(laddr), Err: errnoOr(err, "bind")}
		}
		if laddr.Port() == 0 {
			laddr = c.laddr.AddrPort()
		}
		conns = append(conns, c)
	}
	return conns, nil
}

// dialUDP is Dial for UDP: a socket connected to address (connect(2) on a
// datagram socket sends nothing: it sets the default peer and filters what
// is received), from laddr when valid.
func dialUDP(ctx context.Context, h Host, network, address string, laddr netip.AddrPort) (*UDPConn, error) {
	if err := checkUDPNetwork(network); err != nil {
		return nil, &net.OpError{Op: "dial", Net: network, Err: errnoOr(err, "socket")}
	}
	raddr, err := parseAddr(address, false)
	if err != nil {
		return nil, &net.OpError{Op: "dial", Net: network, Err: errnoOr(err, "connect")}
	}
	if err := ctx.Err(); err != nil {
		return nil, &net.OpError{Op: "dial", Net: network, Addr: udpAddr(raddr), Err: ctxErr(err)}
	}
	if !laddr.IsValid() {
		laddr = netip.AddrPortFrom(netip.IPv4Unspecified(), 0)
	}
	c, err := newUDPConn(h, h.NextCore(), laddr, raddr)
	if err != nil {
		return nil, &net.OpError{Op: "dial", Net: network, Addr: udpAddr(raddr), Err: errnoOr(err, "connect")}
	}
	return c, nil
}

// DialUDP is Dial for "udp" returning the concrete type (net.DialUDP).
func DialUDP(ctx context.Context, h Host, network, address string) (*UDPConn, error) {
	return dialUDP(ctx, h, network, address, netip.AddrPort{})
}
