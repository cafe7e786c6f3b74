package api

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"os"
	"syscall"

	"github.com/dpstack/dpstack/stack/sock"
)

// Dial connects to address ("198.18.0.1:9000") on network "tcp" or
// "tcp4" through h, and returns the connection once the handshake is done;
// on "udp" or "udp4" it returns a connected *UDPConn at once (DialUDP).
// The connection belongs to one of h's cores, taken in turn
// (stack.Host.NextCore): the transport picks a source port whose replies
// the port's RSS sends back to that core when it can predict them, and the
// host hands over the segments that reach another core otherwise.
// ctx bounds the wait: when it ends first, the attempt is abandoned and the
// error wraps context.Canceled or, for a deadline, an error that is a
// timeout (net.Error) and matches context.DeadlineExceeded. A refused
// connection matches syscall.ECONNREFUSED, an unanswered one
// syscall.ETIMEDOUT, an unreachable network syscall.ENETUNREACH.
func Dial(ctx context.Context, h Host, network, address string) (net.Conn, error) {
	return (&Dialer{}).DialContext(ctx, h, network, address)
}

// DialTCP is Dial returning the concrete type.
func DialTCP(ctx context.Context, h Host, network, address string) (*TCPConn, error) {
	return (&Dialer{}).DialTCP(ctx, h, network, address)
}

// Dialer holds the options of a dial, as net.Dialer does.
type Dialer struct {
	// LocalAddr is the address and port to dial from, bound before the
	// connect (bind(2), then connect(2)); nil lets the stack choose. A
	// port already in use matches syscall.EADDRINUSE.
	LocalAddr *net.TCPAddr
	// SameCoreAs, when set, dials from the core that owns this
	// connection (an accepted one, say) instead of the next core in
	// turn, with a source port whose replies come back to that core:
	// a goroutine-per-connection proxy keeps both of its legs on one
	// core, where io.Copy between them moves buffers without copying.
	SameCoreAs *TCPConn
	// Core, when set (api.Dialer{Core: new(1)}), is the core to dial
	// from, with a source port whose replies come back to it; one the
	// host does not have is EINVAL. SameCoreAs, when set, wins.
	Core *int
}

// core is the core d dials from: SameCoreAs's, Core, or the next in turn.
func (d *Dialer) core(h Host) (int, error) {
	switch {
	case d.SameCoreAs != nil:
		return d.SameCoreAs.core, nil
	case d.Core != nil:
		if *d.Core < 0 || *d.Core >= h.Cores() {
			return 0, syscall.EINVAL
		}
		return *d.Core, nil
	}
	return h.NextCore(), nil
}

// DialContext is Dial with d's options.
func (d *Dialer) DialContext(ctx context.Context, h Host, network, address string) (net.Conn, error) {
	if isUDP(network) {
		var laddr netip.AddrPort
		if d.LocalAddr != nil {
			laddr = d.LocalAddr.AddrPort()
		}
		c, err := dialUDP(ctx, h, network, address, laddr)
		if err != nil {
			return nil, err
		}
		return c, nil
	}
	c, err := d.DialTCP(ctx, h, network, address)
	if err != nil {
		return nil, err // no typed nil in the interface
	}
	return c, nil
}

// DialTCP is DialContext returning the concrete type.
func (d *Dialer) DialTCP(ctx context.Context, h Host, network, address string) (*TCPConn, error) {
	if err := checkNetwork(network); err != nil {
		return nil, &net.OpError{Op: "dial", Net: network, Err: errnoOr(err, "socket")}
	}
	raddr, err := parseAddr(address, false)
	if err != nil {
		return nil, &net.OpError{Op: "dial", Net: network, Err: errnoOr(err, "connect")}
	}
	var laddr netip.AddrPort
	if d.LocalAddr != nil {
		laddr = d.LocalAddr.AddrPort()
	}
	if err := ctx.Err(); err != nil {
		return nil, opError("dial", "connect", nil, tcpAddr(raddr), ctxErr(err))
	}
	core, err := d.core(h)
	if err != nil {
		return nil, opError("dial", "connect", nil, tcpAddr(raddr), err)
	}
	c := newConn(h, core)
	c.raddr = raddr
	var cerr error
	sys := "connect"
	if err := onCore(h, core, func() {
		sk, err := tcpSocket(h, core)
		if err != nil {
			sys, cerr = "socket", err
			return
		}
		c.attach(sk)
		if laddr.IsValid() {
			if err := sk.Bind(laddr); err != nil {
				sys, cerr = "bind", err
				return
			}
		}
		cerr = sk.Connect(raddr)
		c.setAddrs()
	}); err != nil {
		return nil, opError("dial", sys, nil, netAddr(c.raddr), err)
	}
	if cerr != nil && !errors.Is(cerr, syscall.EINPROGRESS) {
		if c.ops != nil {
			c.abandon()
		}
		return nil, opError("dial", sys, netAddr(c.laddr), netAddr(c.raddr), cerr)
	}
	// The socket's events reach c from before the SYN went out, so the
	// handshake's end, however quick, leaves a signal: wait for one
	// before asking the core.
	wait := cerr != nil
	for {
		if wait {
			select {
			case <-c.rsig:
			case <-c.wsig:
			case <-ctx.Done():
				c.abandon()
				return nil, opError("dial", "connect", netAddr(c.laddr), netAddr(c.raddr), ctxErr(ctx.Err()))
			}
		}
		wait = true
		up, err := c.connected()
		if up {
			return c, nil
		}
		if err != nil {
			c.abandon()
			return nil, opError("dial", "connect", netAddr(c.laddr), netAddr(c.raddr), err)
		}
	}
}

// connected checks an active open on the core: true once synchronized,
// an error once it failed (the socket's pending error: ECONNREFUSED for a
// reset, ETIMEDOUT when the SYN went unanswered ...), neither while the
// handshake runs.
func (c *TCPConn) connected() (bool, error) {
	var up bool
	var cerr error
	if err := onCore(c.h, c.core, func() {
		if err := c.sk.SockError(); err != nil {
			cerr = err
			return
		}
		switch c.sk.State {
		case sock.SynSent, sock.SynRecv:
		case sock.Closed, sock.Listen:
			cerr = syscall.ECONNABORTED
		default:
			up = true
			c.setAddrs()
			c.startStaging()
		}
	}); err != nil {
		return false, err
	}
	return up, cerr
}

// abandon closes a conn that was never handed out.
func (c *TCPConn) abandon() {
	c.Close()
}

// ctxErr is the error for a dial that ctx ended: context.Canceled as it
// is, a deadline as a timeout.
func ctxErr(err error) error {
	if errors.Is(err, context.DeadlineExceeded) {
		return dialTimeout{}
	}
	return err
}

// dialTimeout is a dial's context deadline: a net.Error timeout that also
// matches context.DeadlineExceeded and os.ErrDeadlineExceeded.
type dialTimeout struct{}

func (dialTimeout) Error() string   { return "i/o timeout" }
func (dialTimeout) Timeout() bool   { return true }
func (dialTimeout) Temporary() bool { return true }
func (dialTimeout) Is(target error) bool {
	return target == context.DeadlineExceeded || target == os.ErrDeadlineExceeded
}

// errnoOr wraps a bare syscall.Errno as an *os.SyscallError named sys and
// leaves other errors (net.AddrError, net.UnknownNetworkError) alone.
func errnoOr(err error, sys string) error {
	var errno syscall.Errno
	if errors.As(err, &errno) {
		return os.NewSyscallError(sys, errno)
	}
	return err
}
