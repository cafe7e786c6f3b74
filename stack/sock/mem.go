package sock

import "github.com/dpstack/dpstack/mbuf"

// Truesize is what a packet costs a socket's buffer (skb->truesize): the
// size of the buffers behind all its segments, headroom and tailroom
// included, not just the bytes of data. For an mbuf of a default pool that
// is mbuf.DefaultDataRoom (2176) per segment, whatever its payload, as
// Linux charges a whole skb for a small segment. The rte_mbuf header and
// private area are not counted (Linux counts struct sk_buff; the difference
// is a constant the doubling of SO_RCVBUF/SO_SNDBUF absorbs).
//
// Pull, Push, Put and Trim do not change it, so a packet is uncharged what
// it was charged however much of it was read; a charged packet must not be
// Chained onto.
func Truesize(b *mbuf.Buf) int {
	n := 0
	for seg := b; seg != nil; seg = seg.Next() {
		n += seg.Headroom() + seg.SegLen() + seg.Tailroom()
	}
	return n
}

// RmemSchedule reports whether the receive queue may take size more
// truesize bytes: whether RmemAlloc+size stays within RcvBuf. An empty
// receive queue always takes one packet, so a buffer smaller than one
// packet cannot stall a flow for ever.
//
// Linux (__sock_queue_rcv_skb, tcp_try_rmem_schedule) compares only the
// current sk_rmem_alloc against sk_rcvbuf and so may overshoot by one skb;
// this check keeps RcvBuf a hard bound instead.
func (s *Sock) RmemSchedule(size int) bool {
	return s.RmemAlloc == 0 || s.RmemAlloc+size <= s.RcvBuf
}

// WmemSchedule reports whether the write queue may take size more truesize
// bytes: whether WmemQueued+size stays within SndBuf, or nothing is queued
// (so one packet always fits). Linux's sk_stream_memory_free checks only
// sk_wmem_queued < sk_sndbuf before the skb is added.
func (s *Sock) WmemSchedule(size int) bool {
	return s.WmemQueued == 0 || s.WmemQueued+size <= s.SndBuf
}

// ChargeR charges b to the receive buffer (skb_set_owner_r).
func (s *Sock) ChargeR(b *mbuf.Buf) { s.RmemAlloc += Truesize(b) }

// UnchargeR returns b's charge to the receive buffer (sock_rfree).
func (s *Sock) UnchargeR(b *mbuf.Buf) { s.RmemAlloc -= Truesize(b) }

// ChargeW charges b to the send buffer (sk_wmem_queued_add).
func (s *Sock) ChargeW(b *mbuf.Buf) { s.WmemQueued += Truesize(b) }

// UnchargeW returns b's charge to the send buffer (sk_wmem_free_skb).
func (s *Sock) UnchargeW(b *mbuf.Buf) { s.WmemQueued -= Truesize(b) }

// QueueRcv charges b and appends it to the receive queue when RmemSchedule
// allows (tcp_queue_rcv) and reports true: the socket owns b from then on.
// Otherwise it changes nothing and reports false: the caller still owns b
// and drops it, counted. It does not call DataReady; the transport does,
// once per batch.
func (s *Sock) QueueRcv(b *mbuf.Buf) bool {
	size := Truesize(b)
	if !s.RmemSchedule(size) {
		return false
	}
	s.RmemAlloc += size
	s.ReceiveQueue.PushBack(b)
	return true
}

// CopyFromReceiveQueue copies up to len(p) bytes from the front of the
// receive queue into p, across packet and segment boundaries, and returns
// how many it copied. With peek the queue is left as it was (MSG_PEEK).
// Otherwise the bytes are consumed: a packet read in part is Pulled, and
// the queue's byte count adjusted, so that ReceiveQueue.Bytes stays the
// number of unread bytes; a packet read to its end (or empty) is unlinked,
// uncharged and handed to free, which must not be nil unless peek.
//
// A multi-segment packet is Pulled while its first segment has data (Pull
// works on the first segment only); bytes read beyond that are remembered
// in the socket until the packet is used up. A transport that takes packets
// off ReceiveQueue itself must therefore go through PurgeQueues.
//
// It allocates nothing.
func (s *Sock) CopyFromReceiveQueue(p []byte, peek bool, free func(*mbuf.Buf)) int {
	q := &s.ReceiveQueue
	off := s.rcvOff
	n := 0
	for b := q.Front(); b != nil && n < len(p); {
		next := q.NextOf(b)
		avail := b.Len() - off
		k := b.ReadAt(p[n:], off)
		n += k
		if peek {
			off = 0
			b = next
			continue
		}
		if k == avail {
			q.Adjust(s.rcvOff)
			q.Unlink(b)
			s.rcvOff = 0
			s.UnchargeR(b)
			free(b)
		} else {
			s.consume(b, k)
		}
		off = 0
		b = next
	}
	return n
}

// consume strips k bytes, fewer than remain, from b at the front of the
// receive queue: from its first segment by Pull, beyond it in rcvOff.
func (s *Sock) consume(b *mbuf.Buf, k int) {
	q := &s.ReceiveQueue
	if pull := min(k, b.SegLen()); pull > 0 {
		b.Pull(pull)
		q.Adjust(-pull)
		k -= pull
	}
	s.rcvOff += k
	q.Adjust(-k)
}

// PurgeQueues frees every packet the socket holds through free, uncharging
// them (sk_stream_kill_queues, __skb_queue_purge): afterwards the queues
// are empty and RmemAlloc and WmemQueued are zero. The transport calls it
// when the socket is destroyed.
func (s *Sock) PurgeQueues(free func(*mbuf.Buf)) {
	s.ReceiveQueue.Adjust(s.rcvOff)
	s.rcvOff = 0
	for b := s.ReceiveQueue.PopFront(); b != nil; b = s.ReceiveQueue.PopFront() {
		s.UnchargeR(b)
		free(b)
	}
	for b := s.WriteQueue.PopFront(); b != nil; b = s.WriteQueue.PopFront() {
		s.UnchargeW(b)
		free(b)
	}
	for b := s.Backlog.PopFront(); b != nil; b = s.Backlog.PopFront() {
		free(b)
	}
}
