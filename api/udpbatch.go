package api

import (
	"errors"
	"net/netip"
	"syscall"
)

// A Read that goes to the core takes, besides the datagram it returns,
// the ones queued behind it, up to dgramBatchMax of them and
// dgramBatchBytes in all, into the conn's batch (as recvmmsg(2) takes
// several datagrams in one call, or as Linux's udp_recvmsg takes the
// whole receive queue into its reader_queue at once): the next Reads
// return them, in order, without a trip to the core. A datagram that does
// not fit stays queued for the next trip. The batched datagrams are the
// reader's, no longer the socket's: they no longer count against
// SO_RCVBUF, and Close drops them with the rest.
//
// A Read still checks its deadline and Close before it takes one from the
// batch. A pending error comes first, as recvmsg(2) returns sk_err before
// queued data: the core's ErrorReport marks it (rerr), and a Read with
// datagrams batched then goes to the core for the error alone.
const (
	dgramBatchMax   = 32
	dgramBatchBytes = 16 << 10
)

// errBatched is the answer of a Read's trip that found no error pending
// when datagrams were batched: the Read takes the next of them.
var errBatched = errors.New("api: read from the batch")

// dgram is one batched datagram: n bytes of it at off in the batch's
// buffer, and what ReadMsgUDPAddrPort reports of it.
type dgram struct {
	off, n  int
	from    netip.AddrPort
	stamp   int64
	stampHW bool
}

// dgramBatch is a UDPConn's batch. The core fills it in a Read's trip,
// when it is empty; the Read side takes from it between trips. Which of
// them owns it follows the call: the core while the Read waits on it.
type dgramBatch struct {
	buf     []byte // dgramBatchBytes, made when first needed
	q       [dgramBatchMax]dgram
	next, n int // q[next:n] are still to be read
	end     int // bytes of buf in use
}

// take copies the next batched datagram into p and returns its whole
// length and source, as a Read's trip would.
func (c *UDPConn) take(p []byte) (int, netip.AddrPort) {
	b := &c.batch
	d := b.q[b.next]
	copy(p, b.buf[d.off:d.off+d.n])
	c.stamp, c.stampHW = d.stamp, d.stampHW
	if b.next++; b.next == b.n {
		b.next, b.n, b.end = 0, 0, 0
	}
	return d.n, d.from
}

// fill moves the datagrams queued on the socket into the empty batch
// while they fit. It runs on the core, in a Read's trip, after the
// datagram the Read returns was taken, so no error is pending.
func (c *UDPConn) fill() {
	b := &c.batch
	for b.n < dgramBatchMax {
		_, n, _, ok := c.ops.PeekView()
		if !ok || n > dgramBatchBytes-b.end {
			return
		}
		if b.buf == nil {
			b.buf = make([]byte, dgramBatchBytes)
		}
		k, from, err := c.ops.RecvFrom(b.buf[b.end:b.end+n], syscall.MSG_TRUNC)
		if err != nil || k != n {
			return // cannot happen: n bytes were queued and no error pending
		}
		stamp, hw := c.ops.Stamp()
		c.loop.ObserveDelivery(stamp)
		b.q[b.n] = dgram{off: b.end, n: n, from: from, stamp: stamp, stampHW: hw}
		b.n++
		b.end += n
	}
}
