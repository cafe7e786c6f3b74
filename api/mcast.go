package api

import (
	"fmt"
	"net"
	"net/netip"
	"syscall"

	"github.com/dpstack/dpstack/stack/sock"
)

// The multicast calls of UDPConn and CUDPConn are named and typed as
// golang.org/x/net/ipv4.PacketConn's: the interface is a *net.Interface,
// nil for dpstack's own (it has one, and no kernel index: a non-nil one is
// ENODEV), groups and sources are *net.UDPAddr or *net.IPAddr (their
// ports are ignored). SetMulticastInterface takes the interface's address
// instead, as IP_MULTICAST_IF does, since dpstack's interface is not a
// net.Interface.

// mreq is the sock.MReq of a membership call.
func mreq(ifi *net.Interface, group, source net.Addr) (sock.MReq, error) {
	var m sock.MReq
	if ifi != nil {
		m.Ifindex = ifi.Index
	}
	var err error
	if m.Group, err = netAddrIP(group); err != nil {
		return m, err
	}
	if source != nil {
		m.Source, err = netAddrIP(source)
	}
	return m, err
}

// netAddrIP is the IPv4 address of a *net.UDPAddr or *net.IPAddr.
func netAddrIP(a net.Addr) (netip.Addr, error) {
	var ip net.IP
	switch a := a.(type) {
	case *net.UDPAddr:
		if a != nil {
			ip = a.IP
		}
	case *net.IPAddr:
		if a != nil {
			ip = a.IP
		}
	}
	ap, ok := netip.AddrFromSlice(ip)
	if !ok {
		return netip.Addr{}, fmt.Errorf("api: address %v: %w", a, syscall.EINVAL)
	}
	return ap.Unmap(), nil
}

// groupCalls are the membership calls of golang.org/x/net/ipv4.PacketConn
// and the multicast TTL and loopback, for UDPConn and CUDPConn alike: set
// and setInt are the conn's own ways of setting an option, a membership
// (setMReq) or an integer at level IPPROTO_IP.
type groupCalls struct {
	set    func(name int, ifi *net.Interface, group, source net.Addr) error
	setInt func(level, name, val int) error
}

// JoinGroup joins group on the interface ifi, from any source
// (IP_ADD_MEMBERSHIP): the host joins too, and IGMP reports it.
func (g groupCalls) JoinGroup(ifi *net.Interface, group net.Addr) error {
	return g.set(syscall.IP_ADD_MEMBERSHIP, ifi, group, nil)
}

// LeaveGroup leaves group, whatever its source filter (IP_DROP_MEMBERSHIP).
func (g groupCalls) LeaveGroup(ifi *net.Interface, group net.Addr) error {
	return g.set(syscall.IP_DROP_MEMBERSHIP, ifi, group, nil)
}

// JoinSourceSpecificGroup receives group's datagrams from source, with
// those of any source joined before (IP_ADD_SOURCE_MEMBERSHIP, RFC 4607).
func (g groupCalls) JoinSourceSpecificGroup(ifi *net.Interface, group, source net.Addr) error {
	return g.set(syscall.IP_ADD_SOURCE_MEMBERSHIP, ifi, group, source)
}

// LeaveSourceSpecificGroup stops receiving group's datagrams from source
// (IP_DROP_SOURCE_MEMBERSHIP), leaving the group with the last source.
func (g groupCalls) LeaveSourceSpecificGroup(ifi *net.Interface, group, source net.Addr) error {
	return g.set(syscall.IP_DROP_SOURCE_MEMBERSHIP, ifi, group, source)
}

// ExcludeSourceSpecificGroup blocks source in a group joined with
// JoinGroup (IP_BLOCK_SOURCE).
func (g groupCalls) ExcludeSourceSpecificGroup(ifi *net.Interface, group, source net.Addr) error {
	return g.set(syscall.IP_BLOCK_SOURCE, ifi, group, source)
}

// IncludeSourceSpecificGroup unblocks source (IP_UNBLOCK_SOURCE).
func (g groupCalls) IncludeSourceSpecificGroup(ifi *net.Interface, group, source net.Addr) error {
	return g.set(syscall.IP_UNBLOCK_SOURCE, ifi, group, source)
}

// SetMulticastTTL sets the TTL of datagrams sent to a group
// (IP_MULTICAST_TTL, 1 by default; 1..255).
func (g groupCalls) SetMulticastTTL(ttl int) error {
	return g.setInt(syscall.IPPROTO_IP, syscall.IP_MULTICAST_TTL, ttl)
}

// SetMulticastLoopback is IP_MULTICAST_LOOP: on (the default, as in
// Linux), a datagram sent to a group the host joined also reaches the
// host's own member sockets, on every core.
func (g groupCalls) SetMulticastLoopback(on bool) error {
	return g.setInt(syscall.IPPROTO_IP, syscall.IP_MULTICAST_LOOP, boolInt(on))
}

// setMReq sets a membership option on c's core.
func (c *UDPConn) setMReq(name int, ifi *net.Interface, group, source net.Addr) error {
	m, err := mreq(ifi, group, source)
	if err == nil {
		err = c.onSock(func() error { return c.ops.SetSockOptMReq(syscall.IPPROTO_IP, name, m) })
	}
	if err != nil {
		return c.opErr("set", "setsockopt", group, err)
	}
	return nil
}

// MulticastTTL reads IP_MULTICAST_TTL.
func (c *UDPConn) MulticastTTL() (int, error) {
	return c.GetSockoptInt(syscall.IPPROTO_IP, syscall.IP_MULTICAST_TTL)
}

// MulticastLoopback reads IP_MULTICAST_LOOP.
func (c *UDPConn) MulticastLoopback() (bool, error) {
	v, err := c.GetSockoptInt(syscall.IPPROTO_IP, syscall.IP_MULTICAST_LOOP)
	return v != 0, err
}

// MulticastInterface reads IP_MULTICAST_IF: the address set, 0.0.0.0 for
// the route's choice.
func (c *UDPConn) MulticastInterface() (netip.Addr, error) {
	var m sock.MReq
	err := c.onSock(func() error {
		var err error
		m, err = c.ops.GetSockOptMReq(syscall.IPPROTO_IP, syscall.IP_MULTICAST_IF)
		return err
	})
	if err != nil {
		return netip.Addr{}, c.opErr("get", "getsockopt", nil, err)
	}
	return m.Interface, nil
}

// SetMulticastInterface sends datagrams to a group from the interface
// with address addr, one of the host's (IP_MULTICAST_IF); the zero Addr
// returns to the route's choice.
func (c *UDPConn) SetMulticastInterface(addr netip.Addr) error {
	err := c.onSock(func() error {
		return c.ops.SetSockOptMReq(syscall.IPPROTO_IP, syscall.IP_MULTICAST_IF, sock.MReq{Interface: addr})
	})
	if err != nil {
		return c.opErr("set", "setsockopt", nil, err)
	}
	return nil
}

// setMReq sets a membership option; c's core runs it.
func (c *CUDPConn) setMReq(name int, ifi *net.Interface, group, source net.Addr) error {
	if c.released {
		return net.ErrClosed
	}
	m, err := mreq(ifi, group, source)
	if err != nil {
		return err
	}
	return c.ops.SetSockOptMReq(syscall.IPPROTO_IP, name, m)
}

// SetMulticastInterface is UDPConn.SetMulticastInterface, on the socket's
// core.
func (c *CUDPConn) SetMulticastInterface(addr netip.Addr) error {
	if c.released {
		return net.ErrClosed
	}
	return c.ops.SetSockOptMReq(syscall.IPPROTO_IP, syscall.IP_MULTICAST_IF, sock.MReq{Interface: addr})
}

// JoinGroup joins group on the socket of every core (IP_ADD_MEMBERSHIP),
// each on its core, so that whichever core receives the group's datagrams
// hands them to the handler. On an error the cores that joined stay
// joined; Close leaves.
func (ln *CUDPListener) JoinGroup(ifi *net.Interface, group net.Addr) error {
	for _, c := range ln.conns {
		var err error
		if cerr := onCore(ln.h, c.core, func() { err = c.JoinGroup(ifi, group) }); cerr != nil {
			err = cerr
		}
		if err != nil {
			return &net.OpError{Op: "set", Net: "udp", Source: ln.Addr(), Addr: group, Err: errnoOr(err, "setsockopt")}
		}
	}
	return nil
}
