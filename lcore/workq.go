package lcore

import "sync/atomic"

// cacheLine is the padding that keeps the producers' and the consumer's
// hot words on separate cache lines.
const cacheLine = 64

// slot is one cell of a Queue. seq tells whose turn the cell is: equal to
// a position p, the cell is free for the producer that claims p; equal to
// p+1, it holds that producer's value for the consumer.
type slot[T any] struct {
	seq atomic.Uint64
	v   T
}

// Queue is a bounded lock-free queue with many producers and one consumer
// (Dmitry Vyukov's bounded MPMC array queue, with a per-cell sequence
// number, used with a single consumer): the way other goroutines and other
// cores hand things to a core's loop. WorkQueue is one of functions; a
// loop's inbox is one of packets.
//
// Push may be called from any goroutine; Pop only from the consumer. A
// value pushed before another by the same goroutine is popped before it.
// Neither operation allocates or blocks. A producer preempted between
// claiming a cell and filling it holds up the consumer at that cell until
// it resumes; Pop then reports the queue empty rather than wait.
type Queue[T any] struct {
	mask  uint64    // len(slots)-1, read-only
	slots []slot[T] // read-only header
	_     [cacheLine - 32]byte
	tail  atomic.Uint64 // next position to claim, shared by producers
	_     [cacheLine - 8]byte
	head  uint64 // next position to consume, consumer only
	_     [cacheLine - 8]byte
}

// NewQueue returns an empty queue holding up to size values, size rounded
// up to a power of two (and to at least 2).
func NewQueue[T any](size int) *Queue[T] {
	q := &Queue[T]{}
	q.init(size)
	return q
}

func (q *Queue[T]) init(size int) {
	n := 2
	for n < size {
		n <<= 1
	}
	q.mask, q.slots = uint64(n-1), make([]slot[T], n)
	for i := range q.slots {
		q.slots[i].seq.Store(uint64(i))
	}
}

// Cap returns how many values the queue holds when full.
func (q *Queue[T]) Cap() int {
	return len(q.slots)
}

// Push queues v and reports true, or reports false when the queue is full.
// It is safe from any goroutine and does not block.
func (q *Queue[T]) Push(v T) bool {
	pos := q.tail.Load()
	for {
		s := &q.slots[pos&q.mask]
		seq := s.seq.Load()
		switch d := int64(seq - pos); {
		case d == 0:
			// The cell is free for position pos: claim it.
			if q.tail.CompareAndSwap(pos, pos+1) {
				s.v = v
				s.seq.Store(pos + 1) // publish to the consumer
				return true
			}
			pos = q.tail.Load()
		case d < 0:
			// The cell still holds the value pushed one lap ago.
			return false
		default:
			// Another producer claimed pos first.
			pos = q.tail.Load()
		}
	}
}

// Pop takes the oldest value, or reports false when there is none (or its
// producer has not finished writing it). Only the consumer may call it.
func (q *Queue[T]) Pop() (T, bool) {
	s := &q.slots[q.head&q.mask]
	if s.seq.Load() != q.head+1 {
		var zero T
		return zero, false
	}
	v := s.v
	var zero T
	s.v = zero                       // let the collector have what v points to
	s.seq.Store(q.head + q.mask + 1) // free the cell for the next lap
	q.head++
	return v, true
}

// PopBurst moves up to len(dst) values, oldest first, into dst and returns
// how many. Only the consumer may call it.
func (q *Queue[T]) PopBurst(dst []T) int {
	n := 0
	for n < len(dst) {
		v, ok := q.Pop()
		if !ok {
			break
		}
		dst[n] = v
		n++
	}
	return n
}

// WorkQueue is a Queue of functions: the way other goroutines hand work to
// a core's loop. Post may be called from any goroutine, Drain only from
// the loop. A function posted before another by the same goroutine runs
// before it.
type WorkQueue struct {
	q Queue[func()]
}

// NewWorkQueue returns an empty queue holding up to size functions, size
// rounded up to a power of two (and to at least 2).
func NewWorkQueue(size int) *WorkQueue {
	q := &WorkQueue{}
	q.q.init(size)
	return q
}

// Cap returns how many functions the queue holds when full.
func (q *WorkQueue) Cap() int {
	return q.q.Cap()
}

// Post queues fn and reports true, or reports false when the queue is full
// (or fn is nil). It is safe from any goroutine and does not block.
func (q *WorkQueue) Post(fn func()) bool {
	if fn == nil {
		return false
	}
	return q.q.Push(fn)
}

// Drain runs up to limit queued functions, oldest first, on the calling
// goroutine and returns how many ran. Only the consumer may call it. A
// function may Post to the queue it runs from; what it posts runs in this
// call if limit allows.
func (q *WorkQueue) Drain(limit int) int {
	n := 0
	for n < limit {
		fn, ok := q.q.Pop()
		if !ok {
			break
		}
		fn()
		n++
	}
	return n
}
