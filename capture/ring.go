package capture

import (
	"sync/atomic"

	"github.com/dpstack/dpstack/mbuf"
)

// ring is one core's capture buffer: a fixed number of slots of snaplen
// bytes, written by the core (the producer, in Packets) and read by the
// session's goroutine (the consumer). When it is full the core leaves the
// packet out of the capture, and the loop counts it (lcore.Stats'
// CaptureDrops); it never waits.
type ring struct {
	snaplen int
	slots   []slot
	data    []byte        // len(slots) * snaplen
	head    atomic.Uint64 // the next slot the core writes
	tail    atomic.Uint64 // the next slot the session reads

	filter *Filter
	rx, tx bool // the directions captured
}

type slot struct {
	ns       int64
	n, wire  int
	outbound bool
}

// ringBytes bounds a ring's memory; its slots number a power of two
// between minSlots and maxSlots.
const (
	ringBytes = 8 << 20
	minSlots  = 64
	maxSlots  = 8192
)

func newRing(snaplen int, f *Filter, rx, tx bool) *ring {
	n := minSlots
	for n*2 <= maxSlots && n*2*snaplen <= ringBytes {
		n *= 2
	}
	return &ring{snaplen: snaplen, slots: make([]slot, n), data: make([]byte, n*snaplen), filter: f, rx: rx, tx: tx}
}

// Packets is the core's lcore.Tap: it copies up to snaplen bytes of each
// packet the filter accepts into the ring, across a chain's segments.
func (r *ring) Packets(pkts []*mbuf.Buf, ns int64, outbound bool) (copied, dropped int) {
	if outbound && !r.tx || !outbound && !r.rx {
		return 0, 0
	}
	head, size := r.head.Load(), uint64(len(r.slots))
	for _, b := range pkts {
		if r.filter != nil && !r.filter.Match(b.Bytes(), b.Len()) {
			continue
		}
		if head-r.tail.Load() == size {
			dropped++
			continue
		}
		i := head % size
		buf := r.data[int(i)*r.snaplen:][:r.snaplen]
		n := 0
		for s := b; s != nil && n < len(buf); s = s.Next() {
			n += copy(buf[n:], s.Bytes())
		}
		r.slots[i] = slot{ns: ns, n: n, wire: b.Len(), outbound: outbound}
		head++
		r.head.Store(head) // publishes the slot
		copied++
	}
	return copied, dropped
}

// take calls fn with each slot the core published since the last take,
// oldest first, and frees them.
func (r *ring) take(fn func(s *slot, data []byte) error) (int, error) {
	tail, head, size := r.tail.Load(), r.head.Load(), uint64(len(r.slots))
	n := 0
	for ; tail != head; tail++ {
		i := tail % size
		s := &r.slots[i]
		if err := fn(s, r.data[int(i)*r.snaplen:][:s.n]); err != nil {
			r.tail.Store(tail + 1)
			return n + 1, err
		}
		n++
	}
	r.tail.Store(tail)
	return n, nil
}
