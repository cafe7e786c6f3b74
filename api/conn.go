package api

import (
	"errors"
	"io"
	"math"
	"net"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/dpstack/dpstack/lcore"
	"github.com/dpstack/dpstack/stack/sock"
)

// TCPConn is a TCP connection of a dpstack Host, for goroutines: a
// net.Conn with the extra methods of *net.TCPConn (CloseWrite, CloseRead,
// SetNoDelay, SetLinger, SetKeepAlive ...). Its socket lives on one core;
// every method hands its work to that core and parks the calling goroutine
// until the core answers (see the package documentation).
//
// Read and Write may be called concurrently with each other, with Close and
// with the Set methods; concurrent Reads (or Writes) take turns.
type TCPConn struct {
	h    Host
	core int
	loop *lcore.Loop

	// Core-owned: touched only by closures that run on loop.
	ops      sock.ProtoOps
	sk       *sock.Sock // ops.Sk(), held as Linux's struct socket holds both
	released bool       // Close ran: sk is the transport's alone now
	readWait            // a Read waiting on the core for data (rcall)
	pending  []byte     // staged bytes not yet in the socket (stage.go)
	after    func()     // what Close or CloseWrite left for when pending is empty

	// Write staging (stage.go): the stage is Write's while wbusy is false,
	// the core's while it is true; stageN is the staged length, handed
	// over with the post of stageFn.
	stage   []byte
	stageN  int
	stageFn func()
	wbusy   atomic.Bool
	wok     atomic.Bool // healthy and established: Writes may stage
	wwait   atomic.Bool // a Write waits on wsig (wakeWriter)

	laddr, raddr netip.AddrPort // set once on the core before the conn is handed out

	rsig    chan struct{} // signalled by DataReady, StateChange, ErrorReport
	wsig    chan struct{} // signalled by WriteSpace, StateChange, ErrorReport
	closing chan struct{} // closed by Close
	once    sync.Once

	linger atomic.Int32 // SO_LINGER seconds, < 0 for off: Close waits that long

	rmu, wmu     sync.Mutex // one Read, one Write at a time
	rd, wd       *deadline
	rcall, wcall *call
}

// newConn returns a conn for a socket of the host's core; the socket is
// attached on the core (attach).
func newConn(h Host, core int) *TCPConn {
	loop := h.Loop(core)
	c := &TCPConn{
		h:       h,
		core:    core,
		loop:    loop,
		rsig:    make(chan struct{}, 1),
		wsig:    make(chan struct{}, 1),
		closing: make(chan struct{}),
		wd:      newDeadline(),
	}
	c.rd = newDeadlineFunc(func() { c.unparkRead(loop) })
	c.linger.Store(-1)
	c.rcall = newCall(loop, c.recv)
	c.wcall = newCall(loop, c.send)
	c.unread = c.unpark
	c.stageFn = c.takeStage
	return c
}

// attach makes sk c's socket and routes its events to c; an established
// socket (one accepted) may take staged Writes at once. It runs on the
// core.
func (c *TCPConn) attach(sk sock.ProtoOps) {
	c.ops, c.sk = sk, sk.Sk()
	c.sk.Callbacks = (*connEvents)(c)
	c.setAddrs()
	c.startStaging()
}

// setAddrs records the socket's addresses. It runs on the core.
func (c *TCPConn) setAddrs() {
	c.laddr = c.ops.LocalAddr()
	c.raddr = c.ops.RemoteAddr()
}

// connEvents are a blocking conn's socket callbacks. They run on the core
// and never block: they finish a Read waiting on the core, and wake the
// goroutines parked on the conn's signals (Write, Dial, a lingering Close),
// which then retry on the core.
type connEvents TCPConn

// DataReady finishes a waiting Read.
func (e *connEvents) DataReady(*sock.Sock) { (*TCPConn)(e).retryRead(); notify(e.loop, e.rsig) }

// WriteSpace moves staged bytes on and wakes a writer.
func (e *connEvents) WriteSpace(*sock.Sock) { (*TCPConn)(e).moreRoom() }

// StateChange wakes both: a connect finished, the peer closed, a reset.
func (e *connEvents) StateChange(*sock.Sock) { (*TCPConn)(e).changed() }

// ErrorReport wakes both: the pending error is for whoever asks first.
func (e *connEvents) ErrorReport(*sock.Sock) { (*TCPConn)(e).changed() }

// moreRoom is WriteSpace's work: staged bytes go on, a waiting Write
// wakes.
func (c *TCPConn) moreRoom() {
	if len(c.pending) > 0 {
		c.drain()
	}
	c.wakeWriter()
}

// changed is the work of StateChange and ErrorReport: a waiting Read and
// the staged bytes see the change, and both directions' goroutines wake.
func (c *TCPConn) changed() {
	c.checkHealth()
	c.retryRead()
	if len(c.pending) > 0 {
		c.drain()
	}
	notify(c.loop, c.rsig)
	notify(c.loop, c.wsig)
}

// recv is a Read's work on the core. With nothing to read yet the Read
// waits here, on the core, rather than in its goroutine: the event that
// brings data (or the end, or an error) finishes it at once (retryRead),
// so a Read that waits costs one trip to the core and one wakeup, as a
// read(2) that sleeps in the kernel does.
func (c *TCPConn) recv(cl *call) bool {
	if c.released {
		cl.n, cl.err = 0, net.ErrClosed
		return true
	}
	p := cl.p
	if p == nil {
		// WriteTo's Read: a buffer only once there are bytes for it.
		if cl.lent == nil {
			cl.lent = getCopyBuf()
		}
		p = *cl.lent
	}
	rx := latestRx(&c.sk.ReceiveQueue, 1)
	cl.n, cl.err = c.ops.RecvMsg(p, cl.flags)
	if cl.n > 0 {
		c.loop.ObserveDelivery(rx.ns)
	}
	if isAgain(cl.err) {
		cl.giveBack()
	}
	return c.park(cl, cl.err, isClosed(cl.stop) || c.closed())
}

// errUnparked is the result of a Read that stopped waiting on the core.
var errUnparked = errors.New("api: read unparked")

// send is a Write's work on the core.
func (c *TCPConn) send(cl *call) bool {
	if c.released {
		cl.n, cl.err = 0, net.ErrClosed
		return true
	}
	cl.n, cl.err = c.ops.SendMsg(cl.p, cl.flags)
	return true
}

// closed reports whether Close was called.
func (c *TCPConn) closed() bool { return isClosed(c.closing) }

func (c *TCPConn) opErr(op, sys string, err error) error {
	return opError(op, sys, netAddr(c.laddr), netAddr(c.raddr), err)
}

// Read reads up to len(p) received bytes, waiting until there is at least
// one, the peer has finished (io.EOF), the connection fails, the read
// deadline passes or the conn is closed.
func (c *TCPConn) Read(p []byte) (int, error) {
	c.rmu.Lock()
	defer c.rmu.Unlock()
	if len(p) == 0 {
		if c.closed() {
			return 0, c.opErr("read", "read", net.ErrClosed)
		}
		return 0, nil
	}
	return c.read(p, 0)
}

// Peek is Read that leaves the bytes it returns in the connection, for
// the next Read (recv(2) with MSG_PEEK): it waits as Read does, and an
// empty p returns at once.
func (c *TCPConn) Peek(p []byte) (int, error) {
	c.rmu.Lock()
	defer c.rmu.Unlock()
	if len(p) == 0 {
		return 0, nil
	}
	return c.read(p, sock.MsgPeek)
}

// read is Read's work, for a caller holding rmu and a non-empty p, with
// RecvMsg's flags; a nil p has the core lend the buffer (WriteTo).
func (c *TCPConn) read(p []byte, flags int) (int, error) {
	cl := c.rcall
	for {
		if c.closed() {
			return 0, c.opErr("read", "read", net.ErrClosed)
		}
		passed := c.rd.wait()
		if isClosed(passed) {
			return 0, c.opErr("read", "read", os.ErrDeadlineExceeded)
		}
		// The Read waits on the core (recv) until data, the end of
		// the stream or an error comes, or its deadline passes or
		// Close is called (unparkRead): either way the core answers,
		// and the goroutine waits on that answer alone.
		cl.p, cl.flags, cl.stop = p, flags, passed
		if err := post(c.loop, cl.fn); err != nil {
			cl.p = nil
			return 0, c.opErr("read", "read", err)
		}
		<-cl.done
		cl.p = nil
		switch n, err := cl.n, cl.err; {
		case err == errUnparked:
			// The deadline passed or Close was called: the top of
			// the loop says which. A deadline moved into the future
			// meanwhile waits again.
		case err == nil && n == 0:
			return 0, io.EOF
		case err == nil:
			return n, nil
		default:
			return 0, c.opErr("read", "read", err)
		}
	}
}

// Write queues all of p for sending, waiting for room in the send buffer
// as often as needed. It returns early, with the count queued so far, when
// the connection fails, the write deadline passes or the conn is closed.
func (c *TCPConn) Write(p []byte) (int, error) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	return c.write(p)
}

// write is Write's work, for a caller holding wmu.
func (c *TCPConn) write(p []byte) (int, error) {
	if c.closed() {
		return 0, c.opErr("write", "write", net.ErrClosed)
	}
	cl := c.wcall
	written := 0
	for written < len(p) {
		if isClosed(c.wd.wait()) {
			return written, c.opErr("write", "write", os.ErrDeadlineExceeded)
		}
		if n, err := c.stageWrite(p[written:]); err != nil {
			return written, c.opErr("write", "write", err)
		} else if n > 0 {
			written += n
			continue
		}
		if c.wbusy.Load() {
			if err := c.waitStage(); err != nil {
				return written, c.opErr("write", "write", err)
			}
			continue
		}
		// Room may come between the send and the wait: ask for the
		// signal first.
		c.wwait.Store(true)
		cl.p, cl.flags = p[written:], 0
		err := cl.do()
		cl.p = nil
		if err != nil {
			c.wwait.Store(false)
			return written, c.opErr("write", "write", err)
		}
		written += cl.n
		if cl.err != nil && !isAgain(cl.err) {
			c.wwait.Store(false)
			return written, c.opErr("write", "write", cl.err)
		}
		if cl.err != nil {
			err = c.waitWrite()
		}
		c.wwait.Store(false)
		if err != nil {
			return written, c.opErr("write", "write", err)
		}
	}
	return written, nil
}

// waitStage waits, as for room, while the stage is the core's.
func (c *TCPConn) waitStage() error {
	c.wwait.Store(true)
	defer c.wwait.Store(false)
	if c.wbusy.Load() {
		return c.waitWrite()
	}
	return nil
}

// waitWrite parks a Write until the core signals room in the send buffer
// or the stage given back (wsig), the write deadline passes (a later turn
// of Write's loop reports it) or the conn is closed.
func (c *TCPConn) waitWrite() error {
	select {
	case <-c.wsig:
	case <-c.wd.wait():
	case <-c.closing:
		return net.ErrClosed
	}
	return nil
}

// Close closes the connection: unsent data still goes out and the
// connection ends with a FIN (or at once with a RST under SetLinger(0), or
// when received data was left unread), as close(2) does. Pending and later
// calls return net.ErrClosed. A second Close returns net.ErrClosed and does
// nothing else.
func (c *TCPConn) Close() error {
	first := false
	c.once.Do(func() {
		first = true
		close(c.closing)
	})
	if !first {
		return c.opErr("close", "close", net.ErrClosed)
	}
	c.rd.stop()
	c.wd.stop()
	if secs := c.linger.Load(); secs > 0 {
		release(c.h, c.core, c.unpark) // a waiting Read returns now, not after the linger
		c.lingerWait(time.Duration(secs) * time.Second)
	}
	release(c.h, c.core, func() {
		c.unpark()
		if c.released || c.ops == nil {
			return
		}
		c.released = true
		if c.linger.Load() == 0 {
			c.pending = nil // SO_LINGER 0: the connection resets, nothing more goes out
		}
		if len(c.pending) > 0 {
			c.drain() // all of it, now that the conn is closed
		}
		c.whenDrained(func() {
			c.sk.Callbacks = nil
			c.ops.Close()
		})
	})
	return nil
}

// lingerWait is the wait of a close with SO_LINGER on (Linux's tcp_close
// with sk_stream_wait_close): the FIN goes out after the queued data, and
// Close returns when the peer has acknowledged it or after d. With unread
// data there is nothing to wait for: Close resets the connection.
func (c *TCPConn) lingerWait(d time.Duration) {
	var unread bool
	if onCore(c.h, c.core, func() {
		if !c.released {
			unread = c.sk.ReceiveQueue.Bytes() > 0
			if !unread {
				c.whenDrained(func() { c.ops.Shutdown(syscall.SHUT_WR) })
			}
		}
	}) != nil || unread {
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	for {
		var lingering bool
		if onCore(c.h, c.core, func() {
			if c.released {
				return
			}
			switch c.sk.State {
			case sock.FinWait1, sock.Closing, sock.LastAck:
				lingering = true
			default:
				lingering = len(c.pending) > 0 // the stage first, then the FIN
			}
		}) != nil || !lingering {
			return
		}
		select {
		case <-c.rsig:
		case <-c.wsig:
		case <-t.C:
			return
		}
	}
}

// ctl runs fn on the socket's core unless the conn is closed.
func (c *TCPConn) ctl(op, sys string, fn func(sk sock.ProtoOps) error) error {
	if c.closed() {
		return c.opErr(op, sys, net.ErrClosed)
	}
	var err error
	if perr := onCore(c.h, c.core, func() {
		if c.released {
			err = net.ErrClosed
			return
		}
		err = fn(c.ops)
	}); perr != nil {
		err = perr
	}
	if err != nil {
		return c.opErr(op, sys, err)
	}
	return nil
}

// CloseWrite shuts the sending side (shutdown(SHUT_WR)): queued data goes
// out followed by a FIN; later Writes fail with EPIPE.
func (c *TCPConn) CloseWrite() error {
	err := c.ctl("close", "shutdown", func(sk sock.ProtoOps) error {
		if len(c.pending) > 0 {
			// The FIN goes after the staged bytes.
			c.whenDrained(func() { sk.Shutdown(syscall.SHUT_WR) })
			return nil
		}
		c.wok.Store(false)
		return sk.Shutdown(syscall.SHUT_WR)
	})
	signal(c.wsig)
	return err
}

// CloseRead shuts the receiving side (shutdown(SHUT_RD)): Read returns
// io.EOF once what was received is read.
func (c *TCPConn) CloseRead() error {
	// The shutdown's state change finishes a waiting Read (retryRead).
	return c.ctl("close", "shutdown", func(sk sock.ProtoOps) error { return sk.Shutdown(syscall.SHUT_RD) })
}

// SetNoDelay turns Nagle's algorithm off (TCP_NODELAY, true) or on.
func (c *TCPConn) SetNoDelay(noDelay bool) error {
	return c.ctl("set", "setsockopt", func(sk sock.ProtoOps) error {
		return sk.SetSockOpt(syscall.IPPROTO_TCP, syscall.TCP_NODELAY, boolInt(noDelay))
	})
}

// SetLinger sets SO_LINGER as *net.TCPConn does: sec < 0 (the default)
// closes in the background; sec == 0 makes Close abort the connection with
// a RST, discarding unsent data; sec > 0 makes Close wait up to sec seconds
// for the peer to acknowledge the data and the FIN.
func (c *TCPConn) SetLinger(sec int) error {
	err := c.ctl("set", "setsockopt", func(sk sock.ProtoOps) error {
		return sk.SetSockOptLinger(syscall.SOL_SOCKET, syscall.SO_LINGER, lingerOf(sec))
	})
	if err == nil {
		c.linger.Store(int32(max(min(sec, math.MaxInt32), -1)))
	}
	return err
}

// SetKeepAlive turns keepalive probes (SO_KEEPALIVE) on or off.
func (c *TCPConn) SetKeepAlive(keepalive bool) error {
	return c.ctl("set", "setsockopt", func(sk sock.ProtoOps) error {
		return sk.SetSockOpt(syscall.SOL_SOCKET, syscall.SO_KEEPALIVE, boolInt(keepalive))
	})
}

// SetKeepAlivePeriod sets the idle time before the first probe and the
// time between probes (TCP_KEEPIDLE, TCP_KEEPINTVL), rounded up to whole
// seconds.
func (c *TCPConn) SetKeepAlivePeriod(d time.Duration) error {
	secs := max(int((d+time.Second-1)/time.Second), 1)
	return c.ctl("set", "setsockopt", func(sk sock.ProtoOps) error {
		if err := sk.SetSockOpt(syscall.IPPROTO_TCP, syscall.TCP_KEEPIDLE, secs); err != nil {
			return err
		}
		return sk.SetSockOpt(syscall.IPPROTO_TCP, syscall.TCP_KEEPINTVL, secs)
	})
}

// SetReadBuffer sets the receive buffer (SO_RCVBUF).
func (c *TCPConn) SetReadBuffer(bytes int) error {
	return c.ctl("set", "setsockopt", func(sk sock.ProtoOps) error {
		return sk.SetSockOpt(syscall.SOL_SOCKET, syscall.SO_RCVBUF, bytes)
	})
}

// SetWriteBuffer sets the send buffer (SO_SNDBUF).
func (c *TCPConn) SetWriteBuffer(bytes int) error {
	return c.ctl("set", "setsockopt", func(sk sock.ProtoOps) error {
		return sk.SetSockOpt(syscall.SOL_SOCKET, syscall.SO_SNDBUF, bytes)
	})
}

// SetSockoptInt sets an integer socket option by level and name, as
// setsockopt(2) does (SOL_SOCKET: SO_RCVBUF, SO_SNDBUF, SO_KEEPALIVE ...;
// IPPROTO_TCP: TCP_NODELAY, TCP_KEEPIDLE, TCP_USER_TIMEOUT ...). An option
// the stack does not know is ENOPROTOOPT.
func (c *TCPConn) SetSockoptInt(level, name, val int) error {
	return c.ctl("set", "setsockopt", func(sk sock.ProtoOps) error { return sk.SetSockOpt(level, name, val) })
}

// GetSockoptInt reads an integer socket option, as getsockopt(2) does.
func (c *TCPConn) GetSockoptInt(level, name int) (int, error) {
	var v int
	err := c.ctl("get", "getsockopt", func(sk sock.ProtoOps) error {
		var err error
		v, err = sk.GetSockOpt(level, name)
		return err
	})
	return v, err
}

// SetSockoptString sets a string socket option, as setsockopt(2) does
// with a name: TCP_CONGESTION.
func (c *TCPConn) SetSockoptString(level, name int, val string) error {
	return c.ctl("set", "setsockopt", func(sk sock.ProtoOps) error { return sk.SetSockOptString(level, name, val) })
}

// GetSockoptString reads a string socket option: TCP_CONGESTION.
func (c *TCPConn) GetSockoptString(level, name int) (string, error) {
	var v string
	err := c.ctl("get", "getsockopt", func(sk sock.ProtoOps) error {
		var err error
		v, err = sk.GetSockOptString(level, name)
		return err
	})
	return v, err
}

// SetSockoptBytes sets a socket option whose value is raw bytes, as
// setsockopt(2) does with a buffer: IP_OPTIONS at level IPPROTO_IP, the
// IPv4 options every segment of the connection then carries (at most 40
// bytes, padded to a multiple of 4; empty removes them). The bytes are
// copied.
func (c *TCPConn) SetSockoptBytes(level, name int, val []byte) error {
	return c.ctl("set", "setsockopt", func(sk sock.ProtoOps) error { return sk.SetSockOptBytes(level, name, val) })
}

// GetSockoptBytes reads a socket option whose value is raw bytes:
// IP_OPTIONS as set, padded.
func (c *TCPConn) GetSockoptBytes(level, name int) ([]byte, error) {
	var v []byte
	err := c.ctl("get", "getsockopt", func(sk sock.ProtoOps) error {
		var err error
		v, err = sk.GetSockOptBytes(level, name)
		return err
	})
	return v, err
}

// SetSockoptLinger sets a struct linger socket option (SO_LINGER), as
// syscall.SetsockoptLinger does. SetLinger is the net.TCPConn way.
func (c *TCPConn) SetSockoptLinger(level, name int, l *syscall.Linger) error {
	err := c.ctl("set", "setsockopt", func(sk sock.ProtoOps) error { return sk.SetSockOptLinger(level, name, *l) })
	if err == nil {
		sec := -1
		if l.Onoff != 0 {
			sec = int(l.Linger)
		}
		c.linger.Store(int32(sec))
	}
	return err
}

// GetSockoptLinger reads a struct linger socket option (SO_LINGER).
func (c *TCPConn) GetSockoptLinger(level, name int) (*syscall.Linger, error) {
	var l syscall.Linger
	err := c.ctl("get", "getsockopt", func(sk sock.ProtoOps) error {
		var err error
		l, err = sk.GetSockOptLinger(level, name)
		return err
	})
	if err != nil {
		return nil, err
	}
	return &l, nil
}

// SetCongestion chooses the connection's congestion control by name
// (TCP_CONGESTION: "cubic", "reno").
func (c *TCPConn) SetCongestion(name string) error {
	return c.SetSockoptString(syscall.IPPROTO_TCP, syscall.TCP_CONGESTION, name)
}

// Info is a snapshot of the connection's TCP state (negotiated options,
// RTT, window, queues), for diagnostics.
func (c *TCPConn) Info() (sock.TCPInfo, error) {
	var info sock.TCPInfo
	err := c.ctl("info", "getsockopt", func(sk sock.ProtoOps) error {
		info = sk.Info()
		return nil
	})
	return info, err
}

// Core is the index of the core that owns the connection.
func (c *TCPConn) Core() int { return c.core }

// LocalAddr is the local address, a *net.TCPAddr.
func (c *TCPConn) LocalAddr() net.Addr { return netAddr(c.laddr) }

// RemoteAddr is the peer's address, a *net.TCPAddr.
func (c *TCPConn) RemoteAddr() net.Addr { return netAddr(c.raddr) }

// SetDeadline sets both the read and the write deadline.
func (c *TCPConn) SetDeadline(t time.Time) error {
	if c.closed() {
		return c.opErr("set", "setsockopt", net.ErrClosed)
	}
	c.rd.set(t)
	c.wd.set(t)
	return nil
}

// SetReadDeadline sets the time after which Read fails with
// os.ErrDeadlineExceeded, also for a Read already waiting; the zero time
// means none.
func (c *TCPConn) SetReadDeadline(t time.Time) error {
	if c.closed() {
		return c.opErr("set", "setsockopt", net.ErrClosed)
	}
	c.rd.set(t)
	return nil
}

// SetWriteDeadline sets the time after which Write fails with
// os.ErrDeadlineExceeded, also for a Write already waiting; the zero time
// means none.
func (c *TCPConn) SetWriteDeadline(t time.Time) error {
	if c.closed() {
		return c.opErr("set", "setsockopt", net.ErrClosed)
	}
	c.wd.set(t)
	return nil
}

// lingerOf is SO_LINGER for net.TCPConn's SetLinger(sec): off when sec is
// negative, otherwise on with sec seconds.
func lingerOf(sec int) syscall.Linger {
	if sec < 0 {
		return syscall.Linger{}
	}
	return syscall.Linger{Onoff: 1, Linger: int32(min(sec, math.MaxInt32))}
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// The net.Conn this package promises.
var (
	_ net.Conn     = (*TCPConn)(nil)
	_ net.Listener = (*TCPListener)(nil)
)
