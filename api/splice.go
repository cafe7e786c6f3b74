package api

import (
	"net"
	"os"

	"github.com/dpstack/dpstack/stack/sock"
)

// spliceStep is what one step of a splice between two blocking conns found
// on the core.
type spliceStep int

const (
	spliceMoved   spliceStep = iota // bytes moved
	spliceWait                      // nothing to move: wait for data or room
	spliceEOF                       // the source's stream ended
	spliceFailed                    // an error, of the source (read) or the destination (write)
	spliceCopying                   // the source holds what Splice cannot move: copy instead
)

// sameCore reports whether io.Copy from c to d can splice: both are conns
// of one host's core, and distinct.
func (c *TCPConn) sameCore(d *TCPConn) bool {
	return d != c && d.h == c.h && d.core == c.core
}

// spliceTo is io.Copy from c to d for two conns of one core (WriteTo and
// ReadFrom find it): the received buffers move from c's receive queue to
// d's send queue (sock.SpliceOps, Linux's splice(2) between two sockets),
// never through a Go buffer, as fast as d's send buffer takes them; while
// it is full they stay in c's receive queue, whose window closes, so that
// c's peer sends no faster than d's reads. Bytes d's earlier Writes staged
// go first. It returns when c's stream ends (nil), on an error of either
// (c's read deadline, d's write deadline, a reset, a Close), or, with
// copying true, when c holds data a splice cannot move: io.Copy's way goes
// on from there.
func (c *TCPConn) spliceTo(d *TCPConn) (total int64, copying bool, err error) {
	c.rmu.Lock()
	defer c.rmu.Unlock()
	d.wmu.Lock()
	defer d.wmu.Unlock()
	var (
		step spliceStep
		n    int
		serr error
	)
	cl := newCall(c.loop, func(*call) bool {
		step, n, serr = c.spliceStep(d)
		return true
	})
	for {
		if c.closed() {
			return total, false, c.opErr("read", "read", net.ErrClosed)
		}
		if d.closed() {
			return total, false, d.opErr("write", "write", net.ErrClosed)
		}
		rpassed, wpassed := c.rd.wait(), d.wd.wait()
		if isClosed(rpassed) {
			return total, false, c.opErr("read", "read", os.ErrDeadlineExceeded)
		}
		if isClosed(wpassed) {
			return total, false, d.opErr("write", "write", os.ErrDeadlineExceeded)
		}
		d.wwait.Store(true) // room may come between the step and the wait
		if perr := cl.do(); perr != nil {
			d.wwait.Store(false)
			return total, false, d.opErr("write", "write", perr)
		}
		total += int64(n)
		switch step {
		case spliceMoved:
			continue
		case spliceEOF:
			d.wwait.Store(false)
			return total, false, nil
		case spliceFailed:
			d.wwait.Store(false)
			return total, false, serr
		case spliceCopying:
			d.wwait.Store(false)
			return total, true, nil
		}
		select {
		case <-c.rsig:
		case <-d.wsig:
		case <-rpassed:
		case <-wpassed:
		case <-c.closing:
		case <-d.closing:
		}
		d.wwait.Store(false)
	}
}

// spliceStep moves what c received to d, up to forwardBudget bytes, and
// says what to do next. It runs on the core. Staged bytes of d's earlier
// Writes go first: until d's stage is back, it waits for d's room as a
// Write does.
func (c *TCPConn) spliceStep(d *TCPConn) (spliceStep, int, error) {
	if c.released {
		return spliceFailed, 0, c.opErr("read", "read", net.ErrClosed)
	}
	if d.released {
		return spliceFailed, 0, d.opErr("write", "write", net.ErrClosed)
	}
	if d.wbusy.Load() || len(d.pending) > 0 {
		return spliceWait, 0, nil
	}
	sp, ok := c.ops.(sock.SpliceOps)
	if !ok {
		return spliceCopying, 0, nil
	}
	n, err := sp.Splice(d.ops, forwardBudget)
	switch {
	case n > 0:
		return spliceMoved, n, nil
	case isAgain(err):
		return spliceWait, 0, nil // d's WriteSpace wakes the wait
	case err != nil:
		return spliceFailed, 0, d.opErr("write", "write", err)
	case c.sk.ReceiveQueue.Bytes() > 0:
		return spliceCopying, 0, nil
	}
	if ended, rerr := c.ops.RecvEnd(); ended {
		return spliceEOF, 0, nil
	} else if rerr != nil {
		return spliceFailed, 0, c.opErr("read", "read", rerr)
	}
	return spliceWait, 0, nil // c's DataReady wakes the wait
}
