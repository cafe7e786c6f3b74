package api

import (
	"net"
	"net/netip"
	"os"
	"sync"
	"syscall"
	"time"

	"github.com/dpstack/dpstack/lcore"
	"github.com/dpstack/dpstack/stack/sock"
)

// DefaultBacklog bounds each core's accept queue when ListenConfig gives
// none: Linux's net.core.somaxconn default, which Go's net.Listen uses.
const DefaultBacklog = 4096

// ListenConfig holds listen options; the zero value is the defaults.
type ListenConfig struct {
	// Backlog bounds how many connections, per core, may wait for Accept
	// once their handshake is done (listen(2)'s backlog); 0 means
	// DefaultBacklog.
	Backlog int
	// ReusePort sets SO_REUSEPORT: listeners that all set it may listen
	// on the same address and port, and the connections are spread over
	// them by a hash of their addresses and ports, as Linux spreads them
	// over a reuseport group.
	ReusePort bool
}

// Listen listens on address (":8080" or "198.18.0.2:8080") for network
// "tcp" or "tcp4" with the default options.
func Listen(h Host, network, address string) (net.Listener, error) {
	return (&ListenConfig{}).Listen(h, network, address)
}

// Listen listens on address for network "tcp" or "tcp4": on every core of
// h, one listening socket per core for the same port. Port 0 picks a free
// port (the same on every core). A port already in use matches
// syscall.EADDRINUSE; an address not the host's syscall.EADDRNOTAVAIL.
func (lc *ListenConfig) Listen(h Host, network, address string) (net.Listener, error) {
	ln, err := lc.ListenTCP(h, network, address)
	if err != nil {
		return nil, err // no typed nil in the interface
	}
	return ln, nil
}

// ListenTCP is Listen returning the concrete type.
func (lc *ListenConfig) ListenTCP(h Host, network, address string) (*TCPListener, error) {
	if err := checkNetwork(network); err != nil {
		return nil, &net.OpError{Op: "listen", Net: network, Err: errnoOr(err, "socket")}
	}
	laddr, err := parseAddr(address, true)
	if err != nil {
		return nil, &net.OpError{Op: "listen", Net: network, Err: errnoOr(err, "bind")}
	}
	backlog := lc.Backlog
	if backlog <= 0 {
		backlog = DefaultBacklog
	}
	ln := &TCPListener{
		sig:     make(chan struct{}, 1),
		closing: make(chan struct{}),
		d:       newDeadline(),
	}
	for core := range h.Cores() {
		c := &lnCore{listenCore: listenCore{h: h, core: core, loop: h.Loop(core)}, ln: ln}
		c.acall = newCall(c.loop, c.accept)
		ln.cores = append(ln.cores, c)
	}
	bound, err := listenOnCores(h, laddr, backlog, lc.ReusePort, func(core int, sk sock.ProtoOps) sock.Callbacks {
		ln.cores[core].ops, ln.cores[core].sk = sk, sk.Sk()
		return (*lnEvents)(ln.cores[core])
	})
	if err != nil {
		ln.cores = nil
		return nil, err
	}
	ln.addr = tcpAddr(bound)
	return ln, nil
}

// listenOnCores opens a listening socket on every core of h, with the
// callbacks events gives for the core's socket. Events runs on the core,
// before the socket listens, so that the caller's per-core state that the
// callbacks use holds the socket before any of them can run. Core 0 binds laddr (an ephemeral
// port when laddr's is 0) and the others listen on the port it got, so
// that an incoming connection is accepted on whichever core the port
// steers it to (one listening socket per core, SO_REUSEPORT style). On
// failure it closes what it opened and returns a *net.OpError.
func listenOnCores(h Host, laddr netip.AddrPort, backlog int, reusePort bool, events func(core int, sk sock.ProtoOps) sock.Callbacks) (netip.AddrPort, error) {
	socks := make([]sock.ProtoOps, 0, h.Cores())
	fail := func(sys string, err error) (netip.AddrPort, error) {
		for core, sk := range socks {
			release(h, core, func() {
				sk.Sk().Callbacks = nil
				sk.Close()
			})
		}
		return netip.AddrPort{}, opError("listen", sys, nil, tcpAddr(laddr), err)
	}
	for core := range h.Cores() {
		var sk sock.ProtoOps
		sys, lerr := "listen", error(nil)
		if err := onCore(h, core, func() {
			if sk, lerr = tcpSocket(h, core); lerr != nil {
				sys = "socket"
				return
			}
			// As Go's net.Listen: rebinding a port whose old
			// connections linger in TIME_WAIT is fine.
			_ = sk.SetSockOpt(syscall.SOL_SOCKET, syscall.SO_REUSEADDR, 1)
			if reusePort {
				_ = sk.SetSockOpt(syscall.SOL_SOCKET, sock.SO_REUSEPORT, 1)
			}
			sk.Sk().Callbacks = events(core, sk)
			sys, lerr = "bind", sk.Bind(laddr)
			if lerr == nil {
				sys, lerr = "listen", sk.Listen(backlog)
			}
			if lerr != nil {
				sk.Sk().Callbacks = nil
				sk.Close()
				return
			}
			if core == 0 {
				laddr = sk.LocalAddr()
			}
		}); err != nil {
			sys, lerr = "listen", err
		}
		if lerr != nil {
			return fail(sys, lerr)
		}
		socks = append(socks, sk)
	}
	return laddr, nil
}

// TCPListener is a listening TCP port of a dpstack Host: a net.Listener
// with one listening socket on every core.
type TCPListener struct {
	cores   []*lnCore
	addr    *net.TCPAddr
	sig     chan struct{} // signalled by any core's listening socket
	closing chan struct{}
	once    sync.Once
	d       *deadline

	mu   sync.Mutex // one Accept at a time
	next int        // the core Accept asks first, round robin
}

// lnCore is a listener's socket on one core.
type lnCore struct {
	listenCore
	ln *TCPListener

	// Core-owned.
	acall    *call
	spare    *TCPConn // the conn the next accepted socket is attached to
	accepted bool     // result of acall: spare got a socket
}

// lnEvents are a listening socket's callbacks on one core: a connection is
// ready to accept, or the listener changed state; Accept looks at every
// core.
type lnEvents lnCore

// DataReady wakes Accept.
func (e *lnEvents) DataReady(*sock.Sock) { notify(e.loop, e.ln.sig) }

// WriteSpace does not concern a listener.
func (e *lnEvents) WriteSpace(*sock.Sock) {}

// StateChange wakes Accept.
func (e *lnEvents) StateChange(*sock.Sock) { notify(e.loop, e.ln.sig) }

// ErrorReport wakes Accept.
func (e *lnEvents) ErrorReport(*sock.Sock) { notify(e.loop, e.ln.sig) }

// accept is Accept's work on one core: take a connection off the accept
// queue and attach it to the spare conn before anything can happen to it
// unseen.
func (c *lnCore) accept(cl *call) bool {
	c.accepted = false
	if c.released {
		cl.err = net.ErrClosed
		return true
	}
	child, err := c.ops.Accept()
	cl.err = err
	if err == nil {
		c.spare.attach(child)
		c.accepted = true
	}
	return true
}

// Accept waits for a connection on any core and returns it as a *TCPConn.
func (ln *TCPListener) Accept() (net.Conn, error) {
	c, err := ln.AcceptTCP()
	if err != nil {
		return nil, err // no typed nil in the interface
	}
	return c, nil
}

// AcceptTCP waits for the next connection, until the listener is closed
// or its deadline passes.
func (ln *TCPListener) AcceptTCP() (*TCPConn, error) {
	ln.mu.Lock()
	defer ln.mu.Unlock()
	for {
		if isClosed(ln.closing) {
			return nil, ln.opErr(net.ErrClosed)
		}
		if isClosed(ln.d.wait()) {
			return nil, ln.opErr(os.ErrDeadlineExceeded)
		}
		for k := range ln.cores {
			i := (ln.next + k) % len(ln.cores)
			c := ln.cores[i]
			if c.spare == nil {
				c.spare = newConn(c.h, c.core)
			}
			if err := c.acall.do(); err != nil {
				return nil, ln.opErr(err)
			}
			if c.accepted {
				conn := c.spare
				c.spare = nil
				ln.next = i + 1
				return conn, nil
			}
			if !isAgain(c.acall.err) {
				return nil, ln.opErr(c.acall.err)
			}
		}
		select {
		case <-ln.sig:
		case <-ln.d.wait():
		case <-ln.closing:
		}
	}
}

func (ln *TCPListener) opErr(err error) error {
	return opError("accept", "accept", nil, addrOrNil(ln.addr), err)
}

// Close stops listening: the listening sockets are closed on every core
// (connections still waiting in their accept queues are reset) and a
// waiting Accept returns net.ErrClosed. Connections already accepted are
// not affected.
func (ln *TCPListener) Close() error {
	first := false
	ln.once.Do(func() {
		first = true
		close(ln.closing)
	})
	if !first {
		return opError("close", "close", nil, addrOrNil(ln.addr), net.ErrClosed)
	}
	ln.d.stop()
	for _, c := range ln.cores {
		c.close()
	}
	return nil
}

// listenCore is what a listener of either API keeps on each core: the
// core, and the core's listening socket.
type listenCore struct {
	h    Host
	loop *lcore.Loop
	core int

	// Core-owned.
	ops      sock.ProtoOps
	sk       *sock.Sock // ops.Sk()
	released bool
}

// close closes the core's listening socket, on the core, once.
func (l *listenCore) close() {
	release(l.h, l.core, func() {
		if l.released {
			return
		}
		l.released = true
		l.sk.Callbacks = nil
		l.ops.Close()
	})
}

// Addr is the listening address, a *net.TCPAddr (0.0.0.0 for all
// addresses).
func (ln *TCPListener) Addr() net.Addr { return addrOrNil(ln.addr) }

// SetDeadline sets the time after which Accept fails with
// os.ErrDeadlineExceeded; the zero time means none.
func (ln *TCPListener) SetDeadline(t time.Time) error {
	if isClosed(ln.closing) {
		return opError("set", "setsockopt", nil, addrOrNil(ln.addr), net.ErrClosed)
	}
	ln.d.set(t)
	return nil
}
