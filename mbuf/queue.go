package mbuf

import "unsafe"

// Queue is a FIFO of packets with its packet and byte counts (struct
// sk_buff_head). The links live in each Buf's private area, so queueing
// allocates nothing. A Buf is on at most one Queue at a time. The zero
// Queue is empty and ready.
type Queue struct {
	head, tail *Buf
	qlen       int
	bytes      int
}

func (b *Buf) qnext() **Buf { return (**Buf)(unsafe.Pointer(b.at(uintptr(mbufSize) + privNext))) }
func (b *Buf) qprev() **Buf { return (**Buf)(unsafe.Pointer(b.at(uintptr(mbufSize) + privPrev))) }

// Len is the number of packets queued (skb_queue_len).
func (q *Queue) Len() int { return q.qlen }

// Bytes is the sum of the queued packets' lengths.
func (q *Queue) Bytes() int { return q.bytes }

// Empty reports whether the queue holds no packet.
func (q *Queue) Empty() bool { return q.qlen == 0 }

// Front is the first packet, or nil (skb_peek).
func (q *Queue) Front() *Buf { return q.head }

// Back is the last packet, or nil (skb_peek_tail).
func (q *Queue) Back() *Buf { return q.tail }

// NextOf is the packet after b on its queue, or nil.
func (q *Queue) NextOf(b *Buf) *Buf { return *b.qnext() }

// PrevOf is the packet before b on its queue, or nil.
func (q *Queue) PrevOf(b *Buf) *Buf { return *b.qprev() }

// PushBack appends b (skb_queue_tail).
func (q *Queue) PushBack(b *Buf) { q.InsertAfter(q.tail, b) }

// PushFront prepends b (skb_queue_head).
func (q *Queue) PushFront(b *Buf) { q.InsertAfter(nil, b) }

// InsertAfter puts b right after at, or first when at is nil
// (__skb_queue_after); at must be on q.
func (q *Queue) InsertAfter(at, b *Buf) {
	var next *Buf
	if at == nil {
		next = q.head
		q.head = b
	} else {
		next = *at.qnext()
		*at.qnext() = b
	}
	*b.qprev() = at
	*b.qnext() = next
	if next == nil {
		q.tail = b
	} else {
		*next.qprev() = b
	}
	q.qlen++
	q.bytes += b.Len()
}

// Unlink removes b, which must be on q (__skb_unlink).
func (q *Queue) Unlink(b *Buf) {
	prev, next := *b.qprev(), *b.qnext()
	if prev == nil {
		q.head = next
	} else {
		*prev.qnext() = next
	}
	if next == nil {
		q.tail = prev
	} else {
		*next.qprev() = prev
	}
	*b.qprev(), *b.qnext() = nil, nil
	q.qlen--
	q.bytes -= b.Len()
}

// PopFront removes and returns the first packet, or nil (skb_dequeue).
func (q *Queue) PopFront() *Buf {
	b := q.head
	if b != nil {
		q.Unlink(b)
	}
	return b
}

// Adjust records that a queued packet's length changed by delta (after a
// Pull or Trim on a queued packet), keeping the byte count exact.
func (q *Queue) Adjust(delta int) { q.bytes += delta }

// Purge frees every queued packet through c (skb_queue_purge).
func (q *Queue) Purge(c *Cache) {
	for b := q.PopFront(); b != nil; b = q.PopFront() {
		c.Free(b)
	}
}
