package api

import (
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

// UDPConn is a UDP socket of a dpstack Host, for goroutines: a
// net.PacketConn, and a net.Conn once connected (Dial), with the methods
// of *net.UDPConn (ReadFromUDPAddrPort, WriteToUDPAddrPort,
// ReadMsgUDPAddrPort ...). Its socket lives on one core; its methods
// hand their work to that core and park the calling goroutine until the
// core answers, as TCPConn's do, except where a Write stages its datagram
// (udpstage.go) or a Read finds one batched by an earlier Read's trip
// (udpbatch.go). A Read with nothing queued waits on the core, and the
// datagram that arrives finishes it.
//
// Reads may run concurrently with Writes, Close and the Set methods;
// concurrent Reads (or Writes) take turns.
type UDPConn struct {
	groupCalls // JoinGroup, LeaveGroup ... (mcast.go)

	h    Host
	core int
	loop *lcore.Loop

	// Core-owned: touched only by closures that run on loop.
	ops      sock.DgramOps
	sk       *sock.Sock // ops.Sk()
	released bool       // Close ran
	readWait            // a Read waiting on the core for a datagram

	stg   dgramStage // Writes staged for the core (udpstage.go)
	batch dgramBatch // datagrams a Read's trip took for the next Reads (udpbatch.go)
	// rerr: the socket has a pending error that a Read must go to the
	// core for rather than take a batched datagram. The core sets and
	// clears it.
	rerr atomic.Bool

	laddr, raddr *net.UDPAddr // set once on the core before the conn is handed out

	closing chan struct{} // closed by Close
	once    sync.Once

	rmu, wmu     sync.Mutex // one Read, one Write at a time
	rd, wd       *deadline
	rcall, wcall *call
	// from is the source of the datagram rcall read, and stamp and
	// stampHW its receive time; to is where wcall sends (the zero
	// AddrPort: the connected peer). Each belongs to the goroutine that
	// owns its call, and to the core while it runs.
	from, to netip.AddrPort
	stamp    int64
	stampHW  bool
}

// udpEvents are a UDPConn's socket callbacks, on the core: a datagram or
// an error finishes a waiting Read. A pending error also makes the next
// Write go to the core, which returns it, and the next Read too, before
// any datagram batched.
type udpEvents UDPConn

func (e *udpEvents) DataReady(*sock.Sock)   { (*UDPConn)(e).retryRead() }
func (e *udpEvents) WriteSpace(*sock.Sock)  {}
func (e *udpEvents) StateChange(*sock.Sock) { (*UDPConn)(e).retryRead() }
func (e *udpEvents) ErrorReport(*sock.Sock) {
	c := (*UDPConn)(e)
	c.stg.good.Store(0)
	c.rerr.Store(true)
	c.retryRead()
}

// newUDPConn makes a UDP socket on core, binds it to laddr and, when
// raddr is valid, connects it there (bind(2), connect(2)); opts are
// SOL_SOCKET options set to 1 before the bind.
func newUDPConn(h Host, core int, laddr, raddr netip.AddrPort, opts ...int) (*UDPConn, error) {
	loop := h.Loop(core)
	c := &UDPConn{h: h, core: core, loop: loop, closing: make(chan struct{}), wd: newDeadline()}
	c.groupCalls = groupCalls{set: c.setMReq, setInt: c.SetSockOpt}
	c.rd = newDeadlineFunc(func() { c.unparkRead(loop) })
	c.rcall = newCall(loop, c.recv)
	c.wcall = newCall(loop, c.send)
	c.unread = c.unpark
	c.stg.room, c.stg.flushFn = make(chan struct{}, 1), c.flush
	var err error
	if cerr := onCore(h, core, func() { err = c.open(laddr, raddr, opts) }); cerr != nil {
		return nil, cerr
	}
	if err != nil {
		return nil, err
	}
	return c, nil
}

// open is newUDPConn's work on the core.
func (c *UDPConn) open(laddr, raddr netip.AddrPort, opts []int) error {
	sk, err := udpSocket(c.h, c.core, laddr, raddr, opts)
	if err != nil {
		return err
	}
	c.ops, c.sk = sk, sk.Sk()
	c.sk.Callbacks = (*udpEvents)(c)
	c.stg.sndbuf.Store(int64(c.sk.SndBuf))
	c.laddr = udpAddr(sk.LocalAddr())
	c.raddr = udpAddr(sk.RemoteAddr())
	return nil
}

// udpSocket creates a UDP socket on the host's core through the socket
// switch (socket(AF_INET, SOCK_DGRAM, 0)), sets the SOL_SOCKET options
// opts to 1, binds it to laddr and, when raddr is valid, connects it
// there. It runs on the core.
func udpSocket(h Host, core int, laddr, raddr netip.AddrPort, opts []int) (sock.DgramOps, error) {
	ops, err := h.Socket(core, syscall.AF_INET, syscall.SOCK_DGRAM, 0)
	if err != nil {
		return nil, err
	}
	sk, ok := ops.(sock.DgramOps)
	if !ok {
		ops.Close()
		return nil, syscall.EPROTOTYPE
	}
	for _, o := range opts {
		if err = sk.SetSockOpt(syscall.SOL_SOCKET, o, 1); err != nil {
			break
		}
	}
	if err == nil {
		err = sk.Bind(laddr)
	}
	if err == nil && raddr.IsValid() {
		err = sk.Connect(raddr)
	}
	if err != nil {
		sk.Close()
		return nil, err
	}
	return sk, nil
}

// recv is a Read's work on the core: the next datagram, and those queued
// behind it into the batch (fill), or a wait on the core for one (see
// TCPConn.recv). The length is the datagram's whole length (MSG_TRUNC),
// for ReadMsgUDPAddrPort's flags. With datagrams batched, the Read came
// for the pending error alone: errBatched when there is none.
func (c *UDPConn) recv(cl *call) bool {
	if c.released {
		cl.n, cl.err = 0, net.ErrClosed
		return true
	}
	c.rerr.Store(false) // whatever is pending, this call takes it
	if c.batch.n > 0 {
		cl.n, cl.err = 0, c.sk.SockError()
		if cl.err == nil {
			cl.err = errBatched
		}
		return true
	}
	cl.n, c.from, cl.err = c.ops.RecvFrom(cl.p, cl.flags|syscall.MSG_TRUNC)
	if cl.err == nil {
		c.stamp, c.stampHW = c.ops.Stamp()
		c.loop.ObserveDelivery(c.stamp)
		c.fill()
	}
	return c.park(cl, cl.err, isClosed(cl.stop) || c.closed())
}

// send is a Write's work on the core: one datagram, to c.to or the peer,
// after what is staged. A datagram that went makes its destination the
// one the stage takes datagrams for.
func (c *UDPConn) send(cl *call) bool {
	if c.released {
		cl.n, cl.err = 0, net.ErrClosed
		return true
	}
	c.sendStaged()
	c.rerr.Store(false) // SendTo takes the pending error
	cl.n, cl.err = c.ops.SendTo(cl.p, cl.flags, c.to)
	if cl.err == nil {
		c.stg.good.Store(dgramKey(c.to))
	}
	return true
}

// closed reports whether Close was called.
func (c *UDPConn) closed() bool { return isClosed(c.closing) }

func (c *UDPConn) opErr(op, sys string, dst net.Addr, err error) error {
	e := opError(op, sys, udpAddrOrNil(c.laddr), dst, err).(*net.OpError)
	e.Net = "udp"
	return e
}

// read waits for the next datagram and copies it into p: its whole
// length (longer than p when it was cut) and its source.
func (c *UDPConn) read(p []byte, flags int) (int, netip.AddrPort, error) {
	c.rmu.Lock()
	defer c.rmu.Unlock()
	cl := c.rcall
	for {
		if c.closed() {
			return 0, netip.AddrPort{}, net.ErrClosed
		}
		passed := c.rd.wait()
		if isClosed(passed) {
			return 0, netip.AddrPort{}, os.ErrDeadlineExceeded
		}
		if c.batch.n > 0 && !c.rerr.Load() {
			n, from := c.take(p)
			return n, from, nil
		}
		cl.p, cl.flags, cl.stop = p, flags, passed
		if err := post(c.loop, cl.fn); err != nil {
			cl.p = nil
			return 0, netip.AddrPort{}, err
		}
		<-cl.done
		cl.p = nil
		if cl.err != errUnparked && cl.err != errBatched {
			return cl.n, c.from, cl.err
		}
	}
}

// ReadFromUDPAddrPort reads one datagram into b and returns its length
// and source, waiting for one until the read deadline or Close. A
// datagram longer than b is cut to it, as recvfrom(2) cuts it. A pending
// error (an ICMP error to a connected socket) is returned once,
// matching its errno (syscall.ECONNREFUSED).
func (c *UDPConn) ReadFromUDPAddrPort(b []byte) (int, netip.AddrPort, error) {
	n, from, err := c.read(b, 0)
	if err != nil {
		return 0, netip.AddrPort{}, c.opErr("read", "recvfrom", c.remote(), err)
	}
	return min(n, len(b)), from, nil
}

// ReadMsgUDPAddrPort is ReadFromUDPAddrPort with recvmsg(2)'s flags and
// control messages: syscall.MSG_TRUNC when the datagram was cut, and in
// oob the datagram's receive time as an SCM_TIMESTAMPING message
// (sock.PutTimestamping: a software time in ts[0], the port's hardware
// time in ts[2]), which unix.ParseSocketControlMessage reads. A kernel
// socket writes it only after SO_TIMESTAMPING is set; a UDPConn writes it
// whenever oob is given, and sets syscall.MSG_CTRUNC when oob is too
// small for it (sock.TimestampingSpace).
func (c *UDPConn) ReadMsgUDPAddrPort(b, oob []byte) (n, oobn, flags int, addr netip.AddrPort, err error) {
	n, addr, err = c.read(b, 0)
	if err != nil {
		return 0, 0, 0, netip.AddrPort{}, c.opErr("read", "recvmsg", c.remote(), err)
	}
	if n > len(b) {
		n, flags = len(b), syscall.MSG_TRUNC
	}
	if len(oob) > 0 {
		if oobn = sock.PutTimestamping(oob, c.stamp, c.stampHW); oobn == 0 {
			flags |= syscall.MSG_CTRUNC
		}
	}
	return n, oobn, flags, addr, nil
}

// ReadFromUDP is ReadFromUDPAddrPort with a *net.UDPAddr.
func (c *UDPConn) ReadFromUDP(b []byte) (int, *net.UDPAddr, error) {
	n, from, err := c.ReadFromUDPAddrPort(b)
	if err != nil {
		return 0, nil, err
	}
	return n, udpAddr(from), nil
}

// ReadFrom is net.PacketConn's ReadFromUDP.
func (c *UDPConn) ReadFrom(b []byte) (int, net.Addr, error) {
	n, from, err := c.ReadFromUDPAddrPort(b)
	if err != nil {
		return 0, nil, err
	}
	return n, udpAddr(from), nil
}

// Read reads one datagram of a connected conn (recv(2)).
func (c *UDPConn) Read(b []byte) (int, error) {
	n, _, err := c.ReadFromUDPAddrPort(b)
	return n, err
}

// write sends b as one datagram to to, or to the peer for the zero
// AddrPort: staged when it can be, through the core otherwise.
func (c *UDPConn) write(b []byte, to netip.AddrPort) (int, error) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.closed() {
		return 0, net.ErrClosed
	}
	if isClosed(c.wd.wait()) {
		return 0, os.ErrDeadlineExceeded
	}
	if staged, err := c.stage(b, to); staged || err != nil {
		if err != nil {
			return 0, err
		}
		return len(b), nil
	}
	cl := c.wcall
	c.to, cl.p, cl.flags = to, b, 0
	err := cl.do()
	cl.p = nil
	if err != nil {
		return 0, err
	}
	return cl.n, cl.err
}

// WriteToUDPAddrPort sends b as one datagram to addr (sendto(2)). It does
// not wait for the datagram to leave: it is on its way, or staged for the
// core, when it returns (udpstage.go says when a Write waits, and which
// errors then come on the next call). Errors match their errno:
// syscall.EMSGSIZE over 65,507 bytes, ECONNREFUSED for a port
// unreachable that came back since the last call on a connected conn,
// EACCES to a broadcast address without SO_BROADCAST.
func (c *UDPConn) WriteToUDPAddrPort(b []byte, addr netip.AddrPort) (int, error) {
	if !addr.IsValid() {
		return 0, c.opErr("write", "sendto", nil, syscall.EDESTADDRREQ)
	}
	n, err := c.write(b, addr)
	if err != nil {
		return 0, c.opErr("write", "sendto", udpAddr(addr), err)
	}
	return n, nil
}

// WriteToUDP is WriteToUDPAddrPort with a *net.UDPAddr.
func (c *UDPConn) WriteToUDP(b []byte, addr *net.UDPAddr) (int, error) {
	if addr == nil {
		return 0, c.opErr("write", "sendto", nil, syscall.EDESTADDRREQ)
	}
	return c.WriteToUDPAddrPort(b, addr.AddrPort())
}

// WriteTo is net.PacketConn's WriteToUDP; addr must be a *net.UDPAddr.
func (c *UDPConn) WriteTo(b []byte, addr net.Addr) (int, error) {
	a, ok := addr.(*net.UDPAddr)
	if !ok {
		return 0, c.opErr("write", "sendto", addr, syscall.EINVAL)
	}
	return c.WriteToUDP(b, a)
}

// Write sends b as one datagram to the connected peer (send(2)):
// EDESTADDRREQ when not connected.
func (c *UDPConn) Write(b []byte) (int, error) {
	n, err := c.write(b, netip.AddrPort{})
	if err != nil {
		return 0, c.opErr("write", "send", c.remote(), err)
	}
	return n, nil
}

// remote is the peer as a net.Addr, nil when not connected.
func (c *UDPConn) remote() net.Addr { return udpAddrOrNil(c.raddr) }

// LocalAddr is the bound address and port.
func (c *UDPConn) LocalAddr() net.Addr { return udpAddrOrNil(c.laddr) }

// RemoteAddr is the connected peer, nil when not connected.
func (c *UDPConn) RemoteAddr() net.Addr { return c.remote() }

// SetDeadline sets both deadlines; the zero time means none.
func (c *UDPConn) SetDeadline(t time.Time) error {
	if c.closed() {
		return c.opErr("set", "setsockopt", nil, net.ErrClosed)
	}
	c.rd.set(t)
	c.wd.set(t)
	return nil
}

// SetReadDeadline sets the time after which a Read fails with
// os.ErrDeadlineExceeded, also a Read already waiting.
func (c *UDPConn) SetReadDeadline(t time.Time) error {
	if c.closed() {
		return c.opErr("set", "setsockopt", nil, net.ErrClosed)
	}
	c.rd.set(t)
	return nil
}

// SetWriteDeadline sets the time after which a Write fails with
// os.ErrDeadlineExceeded, also one waiting for room to stage its
// datagram.
func (c *UDPConn) SetWriteDeadline(t time.Time) error {
	if c.closed() {
		return c.opErr("set", "setsockopt", nil, net.ErrClosed)
	}
	c.wd.set(t)
	return nil
}

// SetSockOpt sets an integer socket option on the core (setsockopt(2)):
// SO_RCVBUF, SO_BROADCAST, IP_TOS, IP_TTL ...
func (c *UDPConn) SetSockOpt(level, name, val int) error {
	if err := c.onSock(func() error { return c.ops.SetSockOpt(level, name, val) }); err != nil {
		return c.opErr("set", "setsockopt", nil, err)
	}
	return nil
}

// GetSockoptInt reads an integer socket option, as getsockopt(2) does
// (TCPConn.GetSockoptInt's twin for UDP).
func (c *UDPConn) GetSockoptInt(level, name int) (int, error) {
	var v int
	err := c.onSock(func() error {
		var err error
		v, err = c.ops.GetSockOpt(level, name)
		return err
	})
	if err != nil {
		return 0, c.opErr("get", "getsockopt", nil, err)
	}
	return v, nil
}

// onSock runs fn on the socket's core, after what is staged, and returns
// its error, or net.ErrClosed once the socket was closed. Since fn may
// change what a send checks, the next datagram goes through the core.
func (c *UDPConn) onSock(fn func() error) error {
	var err error
	if cerr := onCore(c.h, c.core, func() {
		if c.released {
			err = net.ErrClosed
			return
		}
		c.sendStaged()
		c.stg.good.Store(0)
		err = fn()
		c.stg.sndbuf.Store(int64(c.sk.SndBuf))
	}); cerr != nil {
		err = cerr
	}
	return err
}

// SetReadBuffer sets SO_RCVBUF: how much the receive queue holds.
func (c *UDPConn) SetReadBuffer(bytes int) error {
	return c.SetSockOpt(syscall.SOL_SOCKET, syscall.SO_RCVBUF, bytes)
}

// SetWriteBuffer sets SO_SNDBUF.
func (c *UDPConn) SetWriteBuffer(bytes int) error {
	return c.SetSockOpt(syscall.SOL_SOCKET, syscall.SO_SNDBUF, bytes)
}

// Close closes the socket: what Writes staged is sent first, then its
// port goes back and queued datagrams are dropped. A waiting Read
// returns net.ErrClosed, as does a Write waiting for room to stage; a
// Write already staging finishes first. A second Close returns
// net.ErrClosed.
func (c *UDPConn) Close() error {
	first := false
	c.once.Do(func() {
		first = true
		close(c.closing)
	})
	if !first {
		return c.opErr("close", "close", nil, net.ErrClosed)
	}
	c.rd.stop()
	c.wd.stop()
	c.wmu.Lock()
	defer c.wmu.Unlock()
	release(c.h, c.core, func() {
		c.unpark()
		if c.released {
			return
		}
		c.sendStaged()
		c.released = true
		c.sk.Callbacks = nil
		c.ops.Close()
	})
	return nil
}

// udpAddr is ap as the net package's address type; nil for the zero
// AddrPort.
func udpAddr(ap netip.AddrPort) *net.UDPAddr {
	if !ap.IsValid() {
		return nil
	}
	return net.UDPAddrFromAddrPort(ap)
}

// udpAddrOrNil keeps a nil *net.UDPAddr out of a net.Addr interface.
func udpAddrOrNil(a *net.UDPAddr) net.Addr {
	if a == nil {
		return nil
	}
	return a
}
