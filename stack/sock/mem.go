package sock

import (
	"github.com/dpstack/dpstack/mbuf"
	"github.com/dpstack/dpstack/stat"
)

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

// MemLimits bound what all the sockets of one core may hold in their
// queues together, in truesize bytes (net.ipv4.tcp_mem, which Linux counts
// in pages): above Pressure the core is under memory pressure until it is
// back below Min; nothing may take it above Max. A zero Max means no limit.
type MemLimits struct{ Min, Pressure, Max int }

// MemStats are a Mem's metrics.
type MemStats struct {
	Sockets   stat.Gauge   `stat:"sock_count"`         // sockets charged to the account
	Held      stat.Gauge   `stat:"sock_mem_bytes"`     // truesize bytes in socket queues
	Pressure  stat.Gauge   `stat:"sock_mem_pressure"`  // 1 while under memory pressure
	Pressures stat.Counter `stat:"sock_mem_pressures"` // times memory pressure began
}

// Mem is one core's account of what its sockets' queues hold, checked
// against its MemLimits (Linux's per-protocol memory_allocated and
// memory_pressure). The pool of packet buffers is shared with the receive
// path, which must always find some to refill its descriptors and take the
// ACKs and RSTs that free the rest: the limits keep the sockets below that
// reserve. Its levels are its Stats' gauges, read in place: only its core
// writes them. A nil *Mem has no limits.
type Mem struct {
	Limits MemLimits
	Stats  MemStats
}

// AddSocket counts a socket in (n = 1) or out (n = -1) of the account:
// under pressure each one's fair share is Pressure divided among them.
func (m *Mem) AddSocket(n int) {
	if m != nil {
		m.Stats.Sockets.Add(int64(n))
	}
}

// Held is the truesize the core's socket queues hold.
func (m *Mem) Held() int {
	if m == nil {
		return 0
	}
	return int(m.Stats.Held.Load())
}

// Allows reports whether size more bytes stay within Max.
func (m *Mem) Allows(size int) bool {
	return m == nil || m.Limits.Max == 0 || m.Held()+size <= m.Limits.Max
}

// allowsSock reports whether a socket that holds has bytes may take size
// more (__sk_mem_raise_allocated). A socket that holds less than
// SockMinRcvBuf (one mbuf; Linux guarantees tcp_rmem[0]) may, up to Max.
// Any other stops at Pressure, and under pressure at its fair share of
// Pressure (Linux's share is of the hard limit). So a crowd of
// connections that never read, each holding its buffers full, stops at
// Pressure, and the space between Pressure and Max stays for the
// connections that hold little: a new one's request still gets in.
func (m *Mem) allowsSock(has, size int) bool {
	switch {
	case m == nil || m.Limits.Max == 0:
		return true
	case m.Held()+size > m.Limits.Max:
		return false
	case has < SockMinRcvBuf:
		return true
	case m.Held()+size > m.Limits.Pressure:
		return false
	}
	return !m.UnderPressure() || (has+size)*max(int(m.Stats.Sockets.Load()), 1) <= m.Limits.Pressure
}

// UnderPressure reports whether the core is under memory pressure
// (tcp_under_memory_pressure): sockets then offer small windows, do not
// grow their send buffers, and give up out-of-order data first.
func (m *Mem) UnderPressure() bool { return m != nil && m.Stats.Pressure.Load() != 0 }

// add charges size held bytes, or takes them back when negative, entering
// pressure above Limits.Pressure and leaving it below Limits.Min
// (sk_enter_memory_pressure, sk_leave_memory_pressure).
func (m *Mem) add(size int) {
	if m == nil {
		return
	}
	m.Stats.Held.Add(int64(size))
	held, pressure := m.Held(), m.UnderPressure()
	switch {
	case !pressure && m.Limits.Max > 0 && held > m.Limits.Pressure:
		m.Stats.Pressure.Set(1)
		m.Stats.Pressures.Inc()
	case pressure && held < m.Limits.Min:
		m.Stats.Pressure.Set(0)
	}
}

// MemAllows reports whether the core's account lets the socket take size
// more truesize bytes (allowsSock), whatever its own buffers say.
func (s *Sock) MemAllows(size int) bool {
	return s.Mem.allowsSock(s.RmemAlloc+s.WmemQueued, size)
}

// RmemSchedule reports whether the receive queue may take size more
// truesize bytes: whether RmemAlloc+size stays within RcvBuf, and the
// core's account allows it (allowsSock). An empty receive queue takes one packet
// past RcvBuf, so a buffer smaller than one packet cannot stall a flow for
// ever; never past Max: the peer retransmits what a full core drops.
//
// Linux (__sock_queue_rcv_skb, tcp_try_rmem_schedule) compares only the
// current sk_rmem_alloc against sk_rcvbuf and so may overshoot by one skb;
// this check keeps RcvBuf a hard bound instead.
func (s *Sock) RmemSchedule(size int) bool {
	return s.MemAllows(size) && (s.RmemAlloc == 0 || s.RmemAlloc+size <= s.RcvBuf)
}

// WmemSchedule reports whether the write queue may take size more truesize
// bytes: whether WmemQueued+size stays within SndBuf and the core's
// account allows it (allowsSock), or nothing is queued (so one packet always
// fits: a socket with nothing in flight would have no ACK to wake its
// writer when space frees up). Linux's sk_stream_memory_free checks only
// sk_wmem_queued < sk_sndbuf before the skb is added.
func (s *Sock) WmemSchedule(size int) bool {
	return s.WmemQueued == 0 || s.MemAllows(size) && s.WmemQueued+size <= s.SndBuf
}

// ChargeR charges b to the receive buffer (skb_set_owner_r).
func (s *Sock) ChargeR(b *mbuf.Buf) {
	size := Truesize(b)
	s.RmemAlloc += size
	s.Mem.add(size)
}

// UnchargeR returns b's charge to the receive buffer (sock_rfree).
func (s *Sock) UnchargeR(b *mbuf.Buf) {
	size := Truesize(b)
	s.RmemAlloc -= size
	s.Mem.add(-size)
}

// ChargeW charges b to the send buffer (sk_wmem_queued_add).
func (s *Sock) ChargeW(b *mbuf.Buf) {
	size := Truesize(b)
	s.WmemQueued += size
	s.Mem.add(size)
}

// UnchargeW returns b's charge to the send buffer (sk_wmem_free_skb).
func (s *Sock) UnchargeW(b *mbuf.Buf) {
	size := Truesize(b)
	s.WmemQueued -= size
	s.Mem.add(-size)
}

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
	s.Mem.add(size)
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
