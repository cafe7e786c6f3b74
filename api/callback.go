package api

import (
	"net"
	"net/netip"
	"sync"
	"syscall"
	"time"

	"github.com/dpstack/dpstack/lcore"
	"github.com/dpstack/dpstack/stack/sock"
)

// Bounded work per turn (ARCHITECTURE.md §5): how many connections a callback
// listener accepts in one go, and how many copying rounds deliver makes,
// before the core does other work.
const (
	acceptBudget = 64
	copyRounds   = 4
)

// scratchSize is the size of the buffer through which a callback conn
// delivers data that ReadView does not offer.
const scratchSize = 16 << 10

// Handler receives the events of callback sockets. Its methods run on the
// core that owns the connection, one at a time per core, in the core's
// loop (never inside the transport's processing of a packet, so they may
// call any CConn method); they must not block, since the core's packets
// wait for them.
type Handler interface {
	// Accept: c is established, accepted by a ListenCallback listener or
	// connected by DialCallback. It is c's first event.
	Accept(c *CConn)
	// Data: bytes arrived. data is a view into the received packet
	// (zero copy), valid only during the call: copy what must outlive
	// it. c.RxTime says when they were received. Data returns how many bytes it consumed; the rest is offered
	// again, with what arrives later, at the next event. The view
	// covers one packet at a time, so a handler that waits for more
	// bytes than one packet holds must copy and consume them, or the
	// connection stalls once the receive window is full.
	Data(c *CConn, data []byte) int
	// Writable: the send buffer has room again after a Send, SendBuffer
	// took less than asked.
	Writable(c *CConn)
	// Closed: no more data will come. err is nil when the peer finished
	// sending (c may still Send; Close it when done), or the error that
	// ended the connection: syscall.ECONNRESET, ETIMEDOUT, or for a
	// dial ECONNREFUSED. Closed is called at most once and never after
	// the handler's own Close; every CConn must be closed with Close,
	// also after an error, to give its socket back.
	Closed(c *CConn, err error)
}

// CConn is a connection of the callback API. It belongs to its core: use
// it only from the Handler's methods, from AfterFunc functions of its core,
// or from functions posted to its core's loop.
type CConn struct {
	h    Host
	loop *lcore.Loop
	core int
	ops  sock.ProtoOps
	sk   *sock.Sock // ops.Sk(), held as Linux's struct socket holds both
	hd   Handler

	up        bool // Accept was delivered
	ended     bool // Closed was delivered
	released  bool // Close was called
	kicked    bool // process is queued
	wantWrite bool // a send fell short: Writable is due when there is room
	inView    bool // inside deliver: Close waits for it to finish
	short     bool // the handler consumed less than it was offered

	procFn  func()
	viewFn  func(data []byte) int
	scratch []byte  // for data ReadView does not offer, made when needed
	rx      rxStamp // the receive time of the data Data is given (RxTime)
	fwd     forwarding

	laddr, raddr netip.AddrPort
	value        any
}

// newCConn wraps sk, routing its events to c. It runs on the core.
func newCConn(h Host, core int, hd Handler, sk sock.ProtoOps) *CConn {
	c := &CConn{h: h, loop: h.Loop(core), core: core, ops: sk, sk: sk.Sk(), hd: hd}
	c.procFn = c.process
	c.viewFn = c.view
	c.sk.Callbacks = (*cconnEvents)(c)
	c.setAddrs()
	return c
}

func (c *CConn) setAddrs() {
	c.laddr = c.ops.LocalAddr()
	c.raddr = c.ops.RemoteAddr()
}

// cconnEvents are a callback conn's socket callbacks. They only queue the
// conn's processing for later in the same loop turn, so that the handler
// runs outside the transport's processing and several events of one burst
// are handled together.
type cconnEvents CConn

// DataReady queues processing.
func (e *cconnEvents) DataReady(*sock.Sock) { (*CConn)(e).kick() }

// WriteSpace queues processing.
func (e *cconnEvents) WriteSpace(*sock.Sock) { (*CConn)(e).kick() }

// StateChange queues processing.
func (e *cconnEvents) StateChange(*sock.Sock) { (*CConn)(e).kick() }

// ErrorReport queues processing.
func (e *cconnEvents) ErrorReport(*sock.Sock) { (*CConn)(e).kick() }

// kick has process run on the core once, later in the loop's turn
// (lcore.Loop.Defer: the conn's own function, so nothing is allocated).
func (c *CConn) kick() {
	if c.kicked || c.released {
		return
	}
	c.kicked = true
	c.loop.Defer(c.procFn)
}

// process delivers what happened to the handler: the connection coming
// up, received data, room to write, the end.
func (c *CConn) process() {
	c.kicked = false
	if c.released {
		return
	}
	if !c.up {
		if err := c.sk.SockError(); err != nil {
			c.end(err)
			return
		}
		switch c.sk.State {
		case sock.SynSent, sock.SynRecv:
			return
		case sock.Closed, sock.Listen:
			c.end(syscall.ECONNABORTED)
			return
		}
		c.up = true
		c.setAddrs()
		c.hd.Accept(c)
		if c.released {
			return
		}
	}
	if !c.ended {
		if c.fwd.to != nil {
			c.forward()
		} else {
			c.deliver()
		}
		if c.released {
			return
		}
	}
	if c.wantWrite && c.sk.Writable() {
		c.wantWrite = false
		c.hd.Writable(c)
		if c.released {
			return
		}
	}
	c.wakeForwarder()
	if c.ended {
		return
	}
	if c.sk.ReceiveQueue.Bytes() == 0 {
		// Everything delivered: the stream may have ended, or failed.
		if ended, err := c.ops.RecvEnd(); ended || err != nil {
			c.end(err)
		}
	} else if c.sk.State == sock.Closed {
		// Reset or timed out with data the handler left: it could
		// only ever consume it by sending it on, as an echo does, and
		// nothing can be sent now. The end comes now, not never.
		err := c.sk.SockError()
		if err == nil {
			err = syscall.ECONNRESET
		}
		c.end(err)
	}
}

// deliver hands received data to the handler: without a copy through
// ReadView, then by copy what ReadView does not offer (the rest of a packet
// that spans several mbufs, as a jumbo frame does), a bounded number of
// rounds. A Close by the handler meanwhile takes effect at the end, once
// what it consumed has left the receive queue: closing with unread data
// would reset the connection.
func (c *CConn) deliver() {
	c.short = false
	c.inView = true
	c.ops.ReadView(c.viewFn)
	for round := 0; !c.released && !c.short && c.sk.ReceiveQueue.Bytes() > 0; round++ {
		if round == copyRounds {
			c.kick() // more is queued: come back after other work
			break
		}
		if c.scratch == nil {
			c.scratch = make([]byte, scratchSize)
		}
		n, err := c.ops.RecvMsg(c.scratch, sock.MsgPeek)
		if n == 0 || err != nil {
			break
		}
		c.rx = latestRx(&c.sk.ReceiveQueue, n)
		c.loop.ObserveDelivery(c.rx.ns)
		k := min(max(c.hd.Data(c, c.scratch[:n]), 0), n)
		if k > 0 {
			c.ops.RecvMsg(c.scratch[:k], 0)
		}
		c.short = k < n
	}
	c.rx = rxStamp{}
	c.inView = false
	if c.released {
		c.closeSocket()
	}
}

// view is the function ReadView calls: the handler's Data. After the
// handler closed the conn it offers nothing more.
func (c *CConn) view(data []byte) int {
	if c.released {
		return 0
	}
	// ReadView offers the bytes of the receive queue's front segment.
	c.rx = latestRx(&c.sk.ReceiveQueue, 1)
	c.loop.ObserveDelivery(c.rx.ns)
	k := c.hd.Data(c, data)
	c.short = k < len(data)
	return k
}

// end delivers Closed once.
func (c *CConn) end(err error) {
	if c.ended {
		return
	}
	c.ended = true
	c.hd.Closed(c, err)
}

// Send queues a copy of p for sending and returns how much it took: all
// of p, or less when the send buffer filled (0 with an error matching
// syscall.EAGAIN when it took nothing), and then Writable follows when
// there is room. After CloseWrite or a reset it fails with EPIPE (or the
// pending error first).
func (c *CConn) Send(p []byte) (int, error) {
	if c.released {
		return 0, net.ErrClosed
	}
	n, err := c.ops.SendMsg(p, 0)
	if n < len(p) && (err == nil || isAgain(err)) {
		c.waitWrite()
	}
	return n, err
}

// waitWrite asks for Writable once the send buffer has room.
func (c *CConn) waitWrite() {
	c.wantWrite = true
	c.sk.NoSpace = true
}

// SendBuffer returns a writable region of up to n bytes at the tail of the
// send queue (in a packet buffer, so filling it is the only copy); Commit
// sends the first k bytes of it. An error matching syscall.EAGAIN means the
// send buffer is full: Writable follows.
func (c *CConn) SendBuffer(n int) ([]byte, error) {
	if c.released {
		return nil, net.ErrClosed
	}
	b, err := c.ops.SendBuffer(n)
	if isAgain(err) {
		c.waitWrite()
	}
	return b, err
}

// Commit queues for transmission the first k bytes of the region the last
// SendBuffer returned, releases the rest of it, and returns how many bytes
// it queued.
func (c *CConn) Commit(k int) int {
	if c.released {
		return 0
	}
	return c.ops.Commit(k)
}

// CloseWrite sends a FIN after the queued data (shutdown(SHUT_WR)); data
// keeps arriving until the peer closes too.
func (c *CConn) CloseWrite() error {
	if c.released {
		return net.ErrClosed
	}
	return c.ops.Shutdown(syscall.SHUT_WR)
}

// SetNoDelay turns Nagle's algorithm off (TCP_NODELAY, true) or on.
func (c *CConn) SetNoDelay(noDelay bool) error {
	if c.released {
		return net.ErrClosed
	}
	return c.ops.SetSockOpt(syscall.IPPROTO_TCP, syscall.TCP_NODELAY, boolInt(noDelay))
}

// SetLinger sets SO_LINGER as TCPConn.SetLinger does (0: Close resets).
func (c *CConn) SetLinger(sec int) error {
	if c.released {
		return net.ErrClosed
	}
	return c.ops.SetSockOptLinger(syscall.SOL_SOCKET, syscall.SO_LINGER, lingerOf(sec))
}

// Close gives the connection up: queued data still goes out and the
// connection ends with a FIN (a RST under SetLinger(0) or with unread
// data). No event reaches the handler afterwards. A second Close returns
// net.ErrClosed.
func (c *CConn) Close() error {
	if c.released {
		return net.ErrClosed
	}
	c.released = true
	c.sk.Callbacks = nil
	if !c.inView {
		// While data is being delivered, the packet on view is in use
		// and what the handler consumed is still queued: deliver
		// closes the socket when it is done.
		c.closeSocket()
	}
	return nil
}

// releaser is a socket that its user can give up for good
// (tcp.Sock.Release).
type releaser interface{ Release() }

// closeSocket closes c's socket for good: a released conn never touches
// its socket again (every method checks released first), so the
// transport may reuse it for another connection once this one is done.
func (c *CConn) closeSocket() {
	if r, ok := c.ops.(releaser); ok {
		r.Release()
		return
	}
	c.ops.Close()
}

// AfterFunc runs fn on c's core after d, as the package's AfterFunc.
func (c *CConn) AfterFunc(d time.Duration, fn func()) (stop func() bool) {
	t := newAppTimer(c.loop, fn)
	t.arm(d)
	return t.stop
}

// Core is the index of the core that owns c.
func (c *CConn) Core() int { return c.core }

// LocalAddr is the local address, a *net.TCPAddr.
func (c *CConn) LocalAddr() net.Addr { return netAddr(c.laddr) }

// RemoteAddr is the peer's address, a *net.TCPAddr.
func (c *CConn) RemoteAddr() net.Addr { return netAddr(c.raddr) }

// SetValue attaches the application's per-connection state to c.
func (c *CConn) SetValue(v any) { c.value = v }

// Value is what SetValue attached.
func (c *CConn) Value() any { return c.value }

// CListener is a callback listener, as ListenCallback returns it: one
// listening socket per core.
type CListener struct {
	cores []*cbCore
	addr  *net.TCPAddr
	once  sync.Once
}

// cbCore is a callback listener's socket on one core.
type cbCore struct {
	listenCore
	hd Handler

	// Core-owned.
	kicked  bool
	drainFn func()
}

// cbListenEvents are a callback listener's socket callbacks: a
// connection to accept queues the accept loop.
type cbListenEvents cbCore

// DataReady queues the accept loop.
func (e *cbListenEvents) DataReady(*sock.Sock) { (*cbCore)(e).kick() }

// WriteSpace does not concern a listener.
func (e *cbListenEvents) WriteSpace(*sock.Sock) {}

// StateChange does not concern a listener.
func (e *cbListenEvents) StateChange(*sock.Sock) {}

// ErrorReport does not concern a listener.
func (e *cbListenEvents) ErrorReport(*sock.Sock) {}

func (l *cbCore) kick() {
	if l.kicked || l.released {
		return
	}
	l.kicked = true
	l.loop.Defer(l.drainFn)
}

// drain accepts up to acceptBudget connections, hands each to the handler
// with whatever it already received, and comes back for more.
func (l *cbCore) drain() {
	l.kicked = false
	if l.released {
		return
	}
	for range acceptBudget {
		child, err := l.ops.Accept()
		if err != nil {
			return
		}
		newCConn(l.h, l.core, l.hd, child).process()
	}
	l.kick()
}

// ListenCallback listens on address (":7" or "198.18.0.2:7") on every core
// of h and hands every connection to hd on its core. Closing the returned
// *CListener stops listening; connections already accepted stay.
func ListenCallback(h Host, address string, hd Handler) (*CListener, error) {
	laddr, err := parseAddr(address, true)
	if err != nil {
		return nil, &net.OpError{Op: "listen", Net: "tcp", Err: errnoOr(err, "bind")}
	}
	ln := &CListener{}
	for core := range h.Cores() {
		l := &cbCore{listenCore: listenCore{h: h, core: core, loop: h.Loop(core)}, hd: hd}
		l.drainFn = l.drain
		ln.cores = append(ln.cores, l)
	}
	bound, err := listenOnCores(h, laddr, DefaultBacklog, false, func(core int, sk sock.ProtoOps) sock.Callbacks {
		ln.cores[core].ops, ln.cores[core].sk = sk, sk.Sk()
		return (*cbListenEvents)(ln.cores[core])
	})
	if err != nil {
		return nil, err
	}
	ln.addr = tcpAddr(bound)
	return ln, nil
}

// Addr is the listening address, a *net.TCPAddr.
func (ln *CListener) Addr() net.Addr { return addrOrNil(ln.addr) }

// Close stops listening on every core. A second Close returns
// net.ErrClosed.
func (ln *CListener) Close() error {
	first := false
	ln.once.Do(func() { first = true })
	if !first {
		return net.ErrClosed
	}
	for _, l := range ln.cores {
		l.close()
	}
	return nil
}
