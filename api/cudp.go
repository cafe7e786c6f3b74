package api

import (
	"net"
	"net/netip"
	"sync"

	"github.com/dpstack/dpstack/lcore"
	"github.com/dpstack/dpstack/stack/sock"
)

// datagramBudget bounds the datagrams a callback UDP socket delivers in
// one go before the core does other work (ARCHITECTURE.md §5).
const datagramBudget = 32

// DatagramHandler receives the datagrams of callback UDP sockets. Its
// methods run on the socket's core, in the core's loop (never inside
// UDP's processing of a packet, so they may call any CUDPConn method,
// and reply at once); they must not block.
type DatagramHandler interface {
	// Datagram: a datagram arrived from from. data is a view into the
	// received packet (zero copy; a datagram reassembled from fragments
	// is copied into one buffer first), valid only during the call.
	Datagram(c *CUDPConn, data []byte, from netip.AddrPort)
	// Error: an ICMP error came back for a connected socket
	// (syscall.ECONNREFUSED for a port unreachable).
	Error(c *CUDPConn, err error)
}

// CUDPConn is a UDP socket of the callback API. It belongs to its core:
// use it only from the DatagramHandler's methods or from functions run on
// its core (Host.OnCore, the loop's Post).
type CUDPConn struct {
	groupCalls // JoinGroup, LeaveGroup ... (mcast.go), on the socket's core

	loop *lcore.Loop
	core int
	ops  sock.DgramOps
	sk   *sock.Sock // ops.Sk()
	hd   DatagramHandler

	kicked   bool // process is queued
	released bool // Close was called
	inView   bool // inside the handler: Close leaves the socket to process

	procFn  func()
	scratch []byte // for reassembled datagrams, made when needed

	laddr, raddr *net.UDPAddr
	value        any
}

// cudpEvents are a callback UDP socket's callbacks: they queue its
// processing for later in the turn (lcore.Loop.Defer), as a callback
// TCP conn's do.
type cudpEvents CUDPConn

func (e *cudpEvents) DataReady(*sock.Sock)   { (*CUDPConn)(e).kick() }
func (e *cudpEvents) WriteSpace(*sock.Sock)  {}
func (e *cudpEvents) StateChange(*sock.Sock) {}
func (e *cudpEvents) ErrorReport(*sock.Sock) { (*CUDPConn)(e).kick() }

// openCUDP makes a callback UDP socket on core, bound to laddr and, when
// raddr is valid, connected there; opts are SOL_SOCKET options set to 1
// before the bind. It runs on the core.
func openCUDP(h Host, core int, hd DatagramHandler, laddr, raddr netip.AddrPort, opts ...int) (*CUDPConn, error) {
	sk, err := udpSocket(h, core, laddr, raddr, opts)
	if err != nil {
		return nil, err
	}
	c := &CUDPConn{loop: h.Loop(core), core: core, ops: sk, sk: sk.Sk(), hd: hd,
		laddr: udpAddr(sk.LocalAddr()), raddr: udpAddr(sk.RemoteAddr())}
	c.procFn = c.process
	c.groupCalls = groupCalls{set: c.setMReq, setInt: c.SetSockOpt}
	c.sk.Callbacks = (*cudpEvents)(c)
	return c, nil
}

// kick has process run on the core once, later in the turn.
func (c *CUDPConn) kick() {
	if c.kicked || c.released {
		return
	}
	c.kicked = true
	c.loop.Defer(c.procFn)
}

// process hands the queued datagrams to the handler, each in place where
// it lies in one segment, and a pending error to Error; after
// datagramBudget of them it comes back later in the turn.
func (c *CUDPConn) process() {
	c.kicked = false
	for i := 0; !c.released; i++ {
		if err := c.sk.SockError(); err != nil {
			c.hd.Error(c, err)
			continue
		}
		if i >= datagramBudget {
			c.kick()
			return
		}
		view, n, from, ok := c.ops.PeekView()
		if !ok {
			return
		}
		copied := view == nil
		if copied {
			if c.scratch == nil {
				c.scratch = make([]byte, 1<<16)
			}
			c.ops.RecvFrom(c.scratch, 0)
			view = c.scratch[:n]
		}
		c.inView = true
		ns, _ := c.ops.Stamp()
		c.loop.ObserveDelivery(ns)
		c.hd.Datagram(c, view, from)
		c.inView = false
		if c.released {
			c.ops.Close() // the view is gone with the socket
			return
		}
		if !copied {
			c.ops.RecvFrom(nil, 0) // consumed
		}
	}
}

// WriteTo sends a copy of p as one datagram to addr (sendto(2)).
func (c *CUDPConn) WriteTo(p []byte, addr netip.AddrPort) (int, error) {
	if c.released {
		return 0, net.ErrClosed
	}
	return c.ops.SendTo(p, 0, addr)
}

// Write sends a copy of p as one datagram to the connected peer.
func (c *CUDPConn) Write(p []byte) (int, error) { return c.WriteTo(p, netip.AddrPort{}) }

// SendBuffer lends room for a datagram of n bytes, at most one mbuf's,
// in the packet buffer itself: filling it is the only copy. Commit or
// CommitTo sends it.
func (c *CUDPConn) SendBuffer(n int) ([]byte, error) {
	if c.released {
		return nil, net.ErrClosed
	}
	return c.ops.SendBuffer(n)
}

// Commit sends the first k bytes SendBuffer lent to the connected peer;
// it returns k, or 0 when the datagram could not go.
func (c *CUDPConn) Commit(k int) int { return c.CommitTo(k, netip.AddrPort{}) }

// CommitTo sends the first k bytes SendBuffer lent to addr: the reply of
// a handler to a datagram's source.
func (c *CUDPConn) CommitTo(k int, addr netip.AddrPort) int {
	if c.released {
		return 0
	}
	return c.ops.CommitTo(k, addr)
}

// SetSockOpt sets an integer socket option (SO_RCVBUF, IP_TOS ...).
func (c *CUDPConn) SetSockOpt(level, name, val int) error {
	if c.released {
		return net.ErrClosed
	}
	return c.ops.SetSockOpt(level, name, val)
}

// Close gives the socket back; from inside Datagram, once the handler
// returns. A second Close returns net.ErrClosed.
func (c *CUDPConn) Close() error {
	if c.released {
		return net.ErrClosed
	}
	c.released = true
	c.sk.Callbacks = nil
	if !c.inView {
		c.ops.Close()
	}
	return nil
}

// Core is the core the socket belongs to.
func (c *CUDPConn) Core() int { return c.core }

// LocalAddr is the bound address, a *net.UDPAddr.
func (c *CUDPConn) LocalAddr() net.Addr { return udpAddrOrNil(c.laddr) }

// RemoteAddr is the connected peer, nil when not connected.
func (c *CUDPConn) RemoteAddr() net.Addr { return udpAddrOrNil(c.raddr) }

// SetValue attaches an application value to the socket.
func (c *CUDPConn) SetValue(v any) { c.value = v }

// Value is what SetValue attached.
func (c *CUDPConn) Value() any { return c.value }

// CUDPListener is a callback UDP socket on every core of a host, all bound
// to one address with SO_REUSEPORT: each core reads the datagrams it
// receives, with no handoff (ARCHITECTURE.md §3).
type CUDPListener struct {
	h     Host
	conns []*CUDPConn
	addr  *net.UDPAddr
	once  sync.Once
}

// ListenUDPCallback binds address (":7" or "198.18.0.2:7") on every core
// of h and hands every datagram to hd on the core that received it.
func ListenUDPCallback(h Host, address string, hd DatagramHandler) (*CUDPListener, error) {
	laddr, err := parseAddr(address, true)
	if err != nil {
		return nil, &net.OpError{Op: "listen", Net: "udp", Err: errnoOr(err, "bind")}
	}
	ln := &CUDPListener{h: h}
	for core := range h.Cores() {
		var c *CUDPConn
		if cerr := onCore(h, core, func() { c, err = openCUDP(h, core, hd, laddr, netip.AddrPort{}, sock.SO_REUSEPORT) }); cerr != nil {
			err = cerr
		}
		if err != nil {
			ln.Close()
			return nil, &net.OpError{Op: "listen", Net: "udp", Addr: udpAddr(laddr), Err: errnoOr(err, "bind")}
		}
		if laddr.Port() == 0 {
			laddr = c.laddr.AddrPort()
		}
		ln.conns = append(ln.conns, c)
	}
	ln.addr = udpAddr(laddr)
	return ln, nil
}

// Addr is the bound address, a *net.UDPAddr.
func (ln *CUDPListener) Addr() net.Addr { return udpAddrOrNil(ln.addr) }

// Close closes every core's socket. A second Close returns net.ErrClosed.
func (ln *CUDPListener) Close() error {
	first := false
	ln.once.Do(func() { first = true })
	if !first {
		return net.ErrClosed
	}
	for _, c := range ln.conns {
		release(ln.h, c.core, func() { c.Close() })
	}
	return nil
}

// DialUDPCallback makes a callback UDP socket connected to address on one
// of h's cores, taken in turn, and returns it; hd receives its datagrams
// and errors. Use the conn on its core only (CUDPConn). Call it from a
// goroutine, not from a handler: it waits for the core.
func DialUDPCallback(h Host, address string, hd DatagramHandler) (*CUDPConn, error) {
	raddr, err := parseAddr(address, false)
	if err != nil {
		return nil, &net.OpError{Op: "dial", Net: "udp", Err: errnoOr(err, "connect")}
	}
	core := h.NextCore()
	var c *CUDPConn
	if cerr := onCore(h, core, func() {
		c, err = openCUDP(h, core, hd, netip.AddrPortFrom(netip.IPv4Unspecified(), 0), raddr)
	}); cerr != nil {
		err = cerr
	}
	if err != nil {
		return nil, &net.OpError{Op: "dial", Net: "udp", Addr: udpAddr(raddr), Err: errnoOr(err, "connect")}
	}
	return c, nil
}
