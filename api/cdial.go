package api

import (
	"errors"
	"net"
	"net/netip"
	"syscall"
)

// DialCallback starts connecting to address from one of h's cores, taken
// in turn as Dial does, and returns once the SYN is out (or with the error
// that prevented it). hd then receives Accept when the connection is up, or
// Closed with the error (ECONNREFUSED, ETIMEDOUT) when it fails. Call it
// from a goroutine, not from a Handler method: it waits for the core (a
// handler dials with CConn.Dial).
func DialCallback(h Host, address string, hd Handler) error {
	return DialCallbackOn(h, h.NextCore(), address, hd)
}

// DialCallbackOn is DialCallback from the given core: the transport picks
// a source port whose replies the port's RSS brings back to that core
// when it can predict them (tcp's RSS-aware port search), and the host
// hands the others over (dpstack_tcp_handoffs_total).
func DialCallbackOn(h Host, core int, address string, hd Handler) error {
	raddr, err := parseAddr(address, false)
	if err != nil {
		return &net.OpError{Op: "dial", Net: "tcp", Err: errnoOr(err, "connect")}
	}
	if core < 0 || core >= h.Cores() {
		return opError("dial", "connect", nil, tcpAddr(raddr), syscall.EINVAL)
	}
	var cerr error
	if err := onCore(h, core, func() { _, cerr = dialOn(h, core, raddr, hd) }); err != nil {
		cerr = err
	}
	if cerr != nil {
		return opError("dial", "connect", nil, tcpAddr(raddr), cerr)
	}
	return nil
}

// Dial starts connecting to address from c's own core, for a handler that
// opens a second connection beside c (a proxy's upstream leg): it does not
// wait, and may be called from any of c's Handler methods. The source port
// is chosen so that the replies reach this core, as DialCallbackOn says.
// It returns the new conn at once, still connecting: hd receives Accept
// when it is up, or Closed with the error (ECONNREFUSED, ETIMEDOUT) when it
// fails; until then Send on it fails with EAGAIN, and a Forward into it
// waits. An error here means no SYN was sent.
func (c *CConn) Dial(address string, hd Handler) (*CConn, error) {
	if c.released {
		return nil, net.ErrClosed
	}
	raddr, err := parseAddr(address, false)
	if err != nil {
		return nil, &net.OpError{Op: "dial", Net: "tcp", Err: errnoOr(err, "connect")}
	}
	up, err := dialOn(c.h, c.core, raddr, hd)
	if err != nil {
		return nil, opError("dial", "connect", nil, tcpAddr(raddr), err)
	}
	return up, nil
}

// dialOn opens a callback conn to raddr on core (socket(2), then a
// non-blocking connect(2)). It runs on the core.
func dialOn(h Host, core int, raddr netip.AddrPort, hd Handler) (*CConn, error) {
	sk, err := tcpSocket(h, core)
	if err != nil {
		return nil, err
	}
	c := newCConn(h, core, hd, sk)
	switch err := sk.Connect(raddr); {
	case err == nil:
		c.kick()
	case errors.Is(err, syscall.EINPROGRESS):
	default:
		c.released = true
		sk.Sk().Callbacks = nil
		sk.Close()
		return nil, err
	}
	return c, nil
}
