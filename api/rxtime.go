package api

import (
	"time"

	"github.com/dpstack/dpstack/mbuf"
)

// rxStamp is the receive time of the data a callback conn is delivering
// (CConn.RxTime).
type rxStamp struct {
	ns int64 // ns since the Unix epoch; 0: no delivery in progress
	hw bool
}

// latestRx is the receive time of the latest of the segments that hold the
// first n bytes of receive queue q: a delivery of those bytes was complete
// only then. It walks a handful of mbufs (a scratch buffer's worth).
func latestRx(q *mbuf.Queue, n int) rxStamp {
	var s rxStamp
	for b := q.Front(); b != nil && n > 0; b = q.NextOf(b) {
		if ns, hw := b.RxTime(); ns > s.ns {
			s = rxStamp{ns, hw}
		}
		n -= b.Len()
	}
	return s
}

// RxTime is when the data of the Data call in progress was received: the
// wall-clock time at which the latest of the segments that brought it
// arrived, and whether the port's hardware took that time (see
// mbuf.Buf.RxTime for which source a port gives). The latest, because the
// bytes offered were all there only then, and because a coalesced segment
// keeps the later time too, as Linux's tcp_recvmsg reports the last
// segment's for SO_TIMESTAMPING. A zero-copy view covers one segment, and
// so has its time; data offered by copy spans several. RxTime is valid
// only during Data, and the zero Time outside it.
func (c *CConn) RxTime() (t time.Time, hw bool) {
	if c.rx.ns == 0 {
		return time.Time{}, false
	}
	return time.Unix(0, c.rx.ns), c.rx.hw
}

// RxTime is when the datagram of the Datagram call in progress was
// received, and whether the port's hardware took that time (see
// mbuf.Buf.RxTime; a datagram reassembled from fragments has its last
// fragment's). It is valid only during Datagram, and the zero Time
// outside it.
func (c *CUDPConn) RxTime() (t time.Time, hw bool) {
	if !c.inView {
		return time.Time{}, false
	}
	ns, hw := c.ops.Stamp()
	return time.Unix(0, ns), hw
}
