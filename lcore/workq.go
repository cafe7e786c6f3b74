package lcore

import "sync/atomic"

// cacheLine is the padding that keeps the producers' and the consumer's
// hot words on separate cache lines.
const cacheLine = 64

// wqSlot is one cell of a WorkQueue. seq tells whose turn the cell is: equal
// to a position p, the cell is free for the producer that claims p; equal to
// p+1, it holds that producer's function for the consumer.
type wqSlot struct {
	seq atomic.Uint64
	fn  func()
}

// WorkQueue is a bounded lock-free queue of functions with many producers
// and one consumer: the way other goroutines hand work to a core's loop
// (Dmitry Vyukov's bounded MPMC array queue, with a per-cell sequence
// number, used with a single consumer).
//
// Post may be called from any goroutine; Drain only from the consumer. A
// function posted before another by the same goroutine runs before it.
// Neither operation allocates or blocks. A producer preempted between
// claiming a cell and filling it holds up the consumer at that cell until it
// resumes; Drain then returns early rather than wait.
type WorkQueue struct {
	mask  uint64   // len(slots)-1, read-only
	slots []wqSlot // read-only header
	_     [cacheLine - 32]byte
	tail  atomic.Uint64 // next position to claim, shared by producers
	_     [cacheLine - 8]byte
	head  uint64 // next position to consume, consumer only
	_     [cacheLine - 8]byte
}

// NewWorkQueue returns an empty queue holding up to size functions, size
// rounded up to a power of two (and to at least 2).
func NewWorkQueue(size int) *WorkQueue {
	n := 2
	for n < size {
		n <<= 1
	}
	q := &WorkQueue{mask: uint64(n - 1), slots: make([]wqSlot, n)}
	for i := range q.slots {
		q.slots[i].seq.Store(uint64(i))
	}
	return q
}

// Cap returns how many functions the queue holds when full.
func (q *WorkQueue) Cap() int {
	return len(q.slots)
}

// Post queues fn and reports true, or reports false when the queue is full
// (or fn is nil). It is safe from any goroutine and does not block.
func (q *WorkQueue) Post(fn func()) bool {
	if fn == nil {
		return false
	}
	pos := q.tail.Load()
	for {
		s := &q.slots[pos&q.mask]
		seq := s.seq.Load()
		switch d := int64(seq - pos); {
		case d == 0:
			// The cell is free for position pos: claim it.
			if q.tail.CompareAndSwap(pos, pos+1) {
				s.fn = fn
				s.seq.Store(pos + 1) // publish to the consumer
				return true
			}
			pos = q.tail.Load()
		case d < 0:
			// The cell still holds the function posted one lap ago.
			return false
		default:
			// Another producer claimed pos first.
			pos = q.tail.Load()
		}
	}
}

// Drain runs up to limit queued functions, oldest first, on the calling
// goroutine and returns how many ran. Only the consumer may call it. A
// function may Post to the queue it runs from; what it posts runs in this
// call if limit allows.
func (q *WorkQueue) Drain(limit int) int {
	n := 0
	for n < limit {
		s := &q.slots[q.head&q.mask]
		if s.seq.Load() != q.head+1 {
			break // empty, or the producer of this cell has not finished
		}
		fn := s.fn
		s.fn = nil
		s.seq.Store(q.head + q.mask + 1) // free the cell for the next lap
		q.head++
		fn()
		n++
	}
	return n
}
