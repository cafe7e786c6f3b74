package api

import (
	"fmt"
	"net"
	"syscall"

	"github.com/dpstack/dpstack/stack/sock"
)

// forwardBudget bounds the bytes one delivery forwards before the core does
// other work (ARCHITECTURE.md §5); more comes in a later round of the turn.
const forwardBudget = 256 << 10

// forwarding is a callback conn's part in a Forward: where its received
// data goes, and which conn forwards into it.
type forwarding struct {
	to      *CConn         // received data goes to to's send queue
	splice  sock.SpliceOps // c's socket, as the splice source
	from    *CConn         // the conn that forwards into c, if any
	waiting bool           // the last move stopped for want of room in to
	moved   int64          // bytes forwarded so far
}

// Forward sends on to, from now on, everything c receives, without
// copying it and without the handler's Data: the received buffers move
// from c's receive queue to to's send queue as they are (splice(2) between
// two sockets; sock.SpliceOps). They move as fast as to can send: while
// to's send buffer is full (or to is still connecting) they wait in c's
// receive queue, whose window then closes, so that c's peer sends no
// faster than to's peer reads and each connection holds at most its two
// buffers. The handler still receives c's Closed: at the end of c's stream
// (nil) it usually calls to.CloseWrite, carrying the half-close across.
// Both conns must be on one core (CConn.Dial opens them so), or Forward
// fails with EXDEV; Forward(nil) stops forwarding, and Data resumes.
func (c *CConn) Forward(to *CConn) error {
	if c.released {
		return net.ErrClosed
	}
	if old := c.fwd.to; old != nil && old.fwd.from == c {
		old.fwd.from = nil
	}
	c.fwd.to, c.fwd.waiting = nil, false
	if to == nil {
		c.kick()
		return nil
	}
	sp, ok := c.ops.(sock.SpliceOps)
	if !ok || to.core != c.core {
		return fmt.Errorf("api: forward from core %d to core %d: %w", c.core, to.core, syscall.EXDEV)
	}
	c.fwd.to, c.fwd.splice = to, sp
	to.fwd.from = c
	c.kick() // what is already received goes now
	return nil
}

// forward moves what c received to the conn it forwards to, at most
// forwardBudget bytes, and comes back for more when it used its budget.
// When to is full, to's room wakes c (wakeForwarder). An error of to's
// (reset, shut down) leaves the data where it is: to's own events tell the
// handler, who ends both.
func (c *CConn) forward() {
	to := c.fwd.to
	if to.released {
		return
	}
	n, err := c.fwd.splice.Splice(to.ops, forwardBudget)
	c.fwd.moved += int64(n)
	switch {
	case n >= forwardBudget:
		c.kick() // more may be queued: come back after other work
	case isAgain(err) || n > 0 && c.sk.ReceiveQueue.Bytes() > 0:
		// to's send buffer took what it had room for and no more:
		// its next room wakes this conn (wakeForwarder).
		c.fwd.waiting = true
		return
	}
	c.fwd.waiting = false
}

// wakeForwarder has the conn that forwards into c move more, now that c
// can send again (connected, or its send buffer has room). It runs in c's
// process.
func (c *CConn) wakeForwarder() {
	if from := c.fwd.from; from != nil && from.fwd.waiting && c.sk.Writable() {
		from.kick()
	}
}

// Forwarded is how many bytes Forward has moved from c to other conns.
func (c *CConn) Forwarded() int64 { return c.fwd.moved }
