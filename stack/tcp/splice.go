package tcp

import (
	"fmt"
	"syscall"

	"github.com/dpstack/dpstack/stack/sock"
)

// Splice moves received data from s to the send queue of to without
// copying it (sock.SpliceOps): splice(2) from one TCP socket to another,
// Linux's tcp_splice_read and tcp_read_sock handing each skb to
// do_tcp_sendpages, here in one step since both sockets are on this core.
// Each buffer at the head of the receive queue leaves it as it is (its
// headroom, where the received headers were, takes the new ones), is
// charged to to's send buffer instead, and goes on to's write queue as a
// segment of its own, which output cuts to to's MSS if it is larger
// (fitMSS). Whole buffers move while to's send buffer has room for them,
// until at least max bytes moved; what stays is still received and
// unread, so s's window shrinks as it does for a slow reader, and the
// sender on s's side waits for to's peer: flow control end to end. A
// buffer of several segments, which TCP input never queues, stops the
// move, as it stops ReadView.
func (s *Sock) Splice(to sock.ProtoOps, max int) (int, error) {
	d, ok := to.(*Sock)
	if !ok || d.proto != s.proto {
		return 0, fmt.Errorf("tcp: splice: destination is not a TCP socket of this core: %w", syscall.EXDEV)
	}
	if s.Common.State == sock.Listen {
		return 0, fmt.Errorf("tcp: splice: listening: %w", syscall.ENOTCONN)
	}
	if err := d.sendCheck(); err != nil {
		return 0, err
	}
	d.abandonPending()
	q := &s.ReceiveQueue
	n := 0
	full := false
	for b := q.Front(); b != nil && n < max && b.Segments() == 1; b = q.Front() {
		size := sock.Truesize(b)
		// The core's account holds the buffer either way: only to's
		// send buffer bounds the move (sk_stream_memory_free).
		if d.WmemQueued > 0 && d.WmemQueued+size > d.SndBuf {
			d.NoSpace = true
			full = true
			break
		}
		k := b.Len()
		q.Unlink(b)
		s.UnchargeR(b)
		b.ClearOffloads()
		d.queueSegment(b, seqSize(k), 0)
		s.proto.stats.SplicedSegs.Inc()
		n += k
	}
	if n > 0 {
		d.push()
		s.cleanupRbuf(n)
		s.proto.flushEvents()
		return n, nil
	}
	if full {
		return 0, syscall.EAGAIN
	}
	return 0, nil
}
