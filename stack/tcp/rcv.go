package tcp

import (
	"github.com/dpstack/dpstack/mbuf"
	"github.com/dpstack/dpstack/stack/header"
	"github.com/dpstack/dpstack/stack/sock"
	"github.com/dpstack/dpstack/stack/tcp/seqnum"
	"github.com/dpstack/dpstack/stat"
)

// sackBlock is a range of sequence numbers received out of order, or a
// duplicate one (RFC 2018 §3, RFC 2883).
type sackBlock struct {
	start, end seqnum.Value
}

// dataQueue is the text and FIN steps (RFC 9293 §3.10.7.4, seventh and
// eighth; tcp_data_queue). In-order data goes to the receive queue and
// advances RCV.NXT, pulling in what the out-of-order queue now
// continues; out-of-order data goes to that queue and is answered at once
// with SACK blocks; data already received is dropped and answered with a
// D-SACK (RFC 2883); a FIN is taken when everything before it is in.
// Every byte kept is charged to the receive buffer, which bounds it.
func (s *Sock) dataQueue(g *segment) {
	b := g.b
	b.Pull(g.hdr.DataOffset())
	seq := g.seq
	if g.flags&flagSYN != 0 {
		seq = seq.Add(1) // a SYN-ACK's data starts after the SYN
	}
	end := seq.Add(seqnum.Size(g.dataLen))
	fin := g.flags&flagFIN != 0
	if g.dataLen > 0 {
		s.measureRcvMSS(rcvSegSize(g))
	}
	switch {
	case seq == s.rcv.nxt:
		if g.dataLen > 0 && s.rcvWindow() == 0 {
			// "If a segment's contents straddle the boundary between
			// old and new, only the new parts are processed"; with a
			// zero window there are none. Linux drops it and ACKs.
			s.scheduleAck(true)
			s.dropSeg(g, stat.DropTCPZeroWindow)
			return
		}
		s.queueInOrder(g, end, fin)
	case !end.GreaterThan(s.rcv.nxt):
		// Every byte is old: a retransmission. D-SACK it and ACK now.
		if g.dataLen > 0 {
			s.setDSACK(seq, end)
			s.groLossSeen()
		}
		s.scheduleAck(true)
		s.dropSeg(g, stat.DropTCPOldData)
	case seq.LessThan(s.rcv.nxt):
		// Overlaps the left edge: D-SACK the old part, keep the new.
		s.setDSACK(seq, s.rcv.nxt)
		n := int(seq.Size(s.rcv.nxt))
		b.PullChain(n)
		g.dataLen -= n
		s.queueInOrder(g, end, fin)
	case !seq.LessThan(s.rcv.nxt.Add(seqnum.Size(s.rcvWindow()))):
		s.scheduleAck(true)
		s.dropSeg(g, stat.DropTCPInvalidSeq)
	default:
		s.queueOFO(g, seq, end, fin)
	}
}

// queueInOrder puts in-order data on the receive queue (tcp_queue_rcv),
// copying a small segment onto the previous one when it fits
// (tcp_try_coalesce), advances RCV.NXT, takes a FIN, and moves up what the
// out-of-order queue holds next.
func (s *Sock) queueInOrder(g *segment, end seqnum.Value, fin bool) {
	if g.dataLen > 0 {
		s.eventDataRecv()
		if !s.rcvQueue(g) {
			return
		}
	}
	s.rcv.nxt = end
	if g.dataLen > 0 {
		if s.tsOK {
			s.rcvRTTMeasureTS(g, s.now())
		} else {
			s.rcvRTTMeasure(s.now())
		}
	}
	s.scheduleAck(false)
	hadOFO := !s.ofo.Empty()
	if fin {
		s.rcv.nxt = s.rcv.nxt.Add(1)
		s.rcvFin()
	} else if hadOFO {
		s.ofoToReceive()
	}
	if hadOFO {
		// RFC 5681 §4.2: an ACK at once when a hole is filled.
		s.scheduleAck(true)
		s.trimSACK()
	}
}

// rcvQueue puts the data of g, in order, on the receive queue, or drops
// it when the receive buffer has no room even once packed, and reports
// whether it queued it.
func (s *Sock) rcvQueue(g *segment) bool {
	b := g.b
	if !s.coalesce(b) {
		if size := sock.Truesize(b); !s.RmemSchedule(size) && !s.pruneOFO(size, s.rcv.nxt) {
			s.collapse()
			if s.RmemAlloc > s.RcvBuf || !s.MemAllows(size) {
				// No room even packed: drop, unacknowledged; the peer
				// retransmits once the reader (or, for the core's
				// limit, any socket) makes space.
				s.scheduleAck(true)
				s.dropSeg(g, s.memDropReason(size, stat.DropTCPRcvMem))
				return false
			}
		}
		if b.Segments() == 1 {
			s.ChargeR(b)
			s.ReceiveQueue.PushBack(b)
		} else {
			s.queueChain(b)
		}
	}
	g.b = nil
	s.wake(evData)
	return true
}

// coalesce copies b's data onto the tail of the receive queue when it fits
// in the tail's room and the tail's buffer is ours alone, and frees b
// (tcp_try_coalesce): many small segments then cost one buffer, which
// keeps the receive buffer's accounting close to the data it holds.
func (s *Sock) coalesce(b *mbuf.Buf) bool {
	tail := s.ReceiveQueue.Back()
	n := b.Len()
	if tail == nil || tail.Segments() != 1 || b.Segments() != 1 || tail.Tailroom() < n || tail.RefCount() != 1 {
		return false
	}
	copy(tail.Put(n), b.Bytes())
	tail.LaterRxTime(b) // tcp_try_coalesce takes the later tstamp too
	s.ReceiveQueue.Adjust(n)
	s.proto.stats.RcvCoalesce.Inc()
	s.proto.free(b)
	return true
}

// collapse packs the receive queue's data into as few fresh buffers as it
// needs (tcp_collapse, from tcp_prune_queue), when data arrives in the
// window we offered and the buffer is short: the window is offered at
// half the free buffer, which segments of under about 1 kB in buffers of
// 2 kB can overrun. Packed, data costs little more than its size, so the
// window's promise is kept. After packing, in-window data is taken while
// the charge is within the buffer, which it may then exceed by one
// segment, as Linux checks the limit before adding. Without enough fresh
// mbufs nothing changes.
func (s *Sock) collapse() {
	p := s.proto
	q := &s.ReceiveQueue
	need := (q.Bytes() + segRoom - 1) / segRoom
	if q.Len() < 2 || need >= q.Len() {
		return
	}
	var fresh mbuf.Queue
	for range need {
		b := p.alloc()
		if b == nil {
			fresh.Purge(p.dev.Cache)
			return
		}
		fresh.PushBack(b)
	}
	cur := fresh.Front()
	var stamped *mbuf.Buf // the fresh buffer that has a receive time
	for b := q.PopFront(); b != nil; b = q.PopFront() {
		data := b.Bytes()
		for len(data) > 0 {
			if cur.Tailroom() == 0 {
				cur = fresh.NextOf(cur)
			}
			k := copy(cur.Put(min(len(data), cur.Tailroom())), data)
			data = data[k:]
			// A packed buffer was received when the latest of its
			// segments was.
			if cur != stamped {
				cur.CopyRxTime(b)
				stamped = cur
			} else {
				cur.LaterRxTime(b)
			}
		}
		s.UnchargeR(b)
		p.free(b)
	}
	for b := fresh.PopFront(); b != nil; b = fresh.PopFront() {
		if b.Len() == 0 {
			p.free(b)
			continue
		}
		s.ChargeR(b)
		q.PushBack(b)
	}
	p.stats.RcvCollapsed.Inc()
}

// queueOFO puts a segment that starts beyond RCV.NXT on the out-of-order
// queue (tcp_data_queue_ofo), sorted by sequence number and without
// overlaps: what an existing segment covers is trimmed off the new one (a
// segment wholly covered is a duplicate, D-SACKed), and segments the new
// one covers are replaced. The queue is charged to the receive buffer;
// when it is full the highest segments are pruned for a lower one, or the
// new one is dropped. Out-of-order data is ACKed at once, with SACK
// blocks (RFC 5681 §4.2, RFC 2018 §4).
func (s *Sock) queueOFO(g *segment, seq, end seqnum.Value, fin bool) {
	p := s.proto
	b := g.b
	q := &s.ofo
	s.scheduleAck(true)
	s.groLossSeen()
	// Find the last segment starting at or before seq.
	var prev *mbuf.Buf
	for x := q.Back(); x != nil; x = q.PrevOf(x) {
		if !cbOf(x).seq.GreaterThan(seq) {
			prev = x
			break
		}
	}
	if prev != nil {
		pc := cbOf(prev)
		if !pc.endSeq.LessThan(end) && (pc.flags&flagFIN != 0 || !fin) {
			// Wholly covered: a duplicate.
			s.setDSACK(seq, end)
			s.dropSeg(g, stat.DropTCPOldData)
			return
		}
		if pc.endSeq.GreaterThan(seq) {
			n := int(seq.Size(pc.endSeq))
			s.setDSACK(seq, pc.endSeq)
			b.PullChain(min(n, b.Len()))
			seq = pc.endSeq
		}
	}
	// Remove the segments the new one covers; trim it where it meets the
	// next one.
	next := q.Front()
	if prev != nil {
		next = q.NextOf(prev)
	}
	for next != nil {
		nc := cbOf(next)
		if !nc.seq.LessThan(end) {
			break
		}
		if nc.endSeq.GreaterThan(end) || nc.flags&flagFIN != 0 && !fin {
			// Overlaps the new one's tail: keep the old, trim the new.
			s.extendDSACK(nc.seq, seqnum.Min(end, nc.endSeq))
			keep := int(seq.Size(nc.seq))
			b.TrimChain(keep)
			end = nc.seq
			fin = false
			break
		}
		s.extendDSACK(nc.seq, nc.endSeq)
		after := q.NextOf(next)
		q.Unlink(next)
		s.UnchargeR(next)
		p.drop(next, stat.DropTCPOldData)
		next = after
	}
	if seq == end && !fin {
		s.dropSeg(g, stat.DropTCPOldData)
		return
	}
	size := sock.Truesize(b)
	if !s.RmemSchedule(size) && !s.pruneOFO(size, seq) {
		p.stats.OFODrop.Inc()
		s.dropSeg(g, s.memDropReason(size, stat.DropTCPOFOMem))
		return
	}
	// After the last segment starting before seq.
	at := q.Back()
	if prev == nil || prev != at {
		at = nil
		for x := q.Back(); x != nil; x = q.PrevOf(x) {
			if cbOf(x).seq.LessThan(seq) {
				at = x
				break
			}
		}
	}
	s.insertOFO(at, b, seq, fin)
	g.b = nil
	p.stats.OFOQueue.Inc()
	s.addSACK(seq, end)
}

// memDropReason is why a segment of size truesize bytes found no room:
// the core's account, or else the socket's own buffer (reason).
func (s *Sock) memDropReason(size int, reason stat.DropReason) stat.DropReason {
	if !s.MemAllows(size) {
		return stat.DropTCPMemLimit
	}
	return reason
}

// pruneOFO frees out-of-order segments from the highest sequence number
// down, those starting after above, until size more bytes fit the receive
// buffer (tcp_prune_ofo_queue). It reports whether they do.
func (s *Sock) pruneOFO(size int, above seqnum.Value) bool {
	q := &s.ofo
	for x := q.Back(); x != nil && !s.RmemSchedule(size); x = q.Back() {
		if !cbOf(x).seq.GreaterThan(above) {
			return false
		}
		q.Unlink(x)
		s.UnchargeR(x)
		s.proto.stats.OFOPruned.Inc()
		s.proto.drop(x, stat.DropTCPOFOMem)
		s.removeSACKAbove(cbOf(x).seq)
	}
	return s.RmemSchedule(size)
}

// ofoToReceive moves the segments that RCV.NXT now reaches from the
// out-of-order queue to the receive queue (tcp_ofo_queue); their charge
// moves with them.
func (s *Sock) ofoToReceive() {
	q := &s.ofo
	for b := q.Front(); b != nil && !cbOf(b).seq.GreaterThan(s.rcv.nxt); b = q.Front() {
		c := cbOf(b)
		q.Unlink(b)
		if c.seq.LessThan(s.rcv.nxt) {
			n := int(c.seq.Size(s.rcv.nxt))
			if n >= b.Len() {
				// Cannot happen: the queue has no overlaps.
				s.UnchargeR(b)
				s.proto.drop(b, stat.DropTCPOldData)
				continue
			}
			b.Pull(n)
		}
		fin := c.flags&flagFIN != 0
		s.rcv.nxt = c.endSeq
		if b.Len() > 0 {
			s.ReceiveQueue.PushBack(b)
			s.wake(evData)
		} else {
			s.UnchargeR(b)
			s.proto.free(b)
		}
		if fin {
			s.rcv.nxt = s.rcv.nxt.Add(1)
			s.rcvFin()
			return
		}
	}
}

// rcvFin takes the peer's FIN (tcp_fin; RFC 9293 §3.10.7.4, eighth step):
// the receive side is done, and the state moves: SYN-RECEIVED and
// ESTABLISHED to CLOSE-WAIT, FIN-WAIT-1 to CLOSING, FIN-WAIT-2 to
// TIME-WAIT. Out-of-order data beyond the FIN is dropped, as in Linux.
func (s *Sock) rcvFin() {
	s.Sock.Shutdown |= sock.RcvShutdown
	s.Done = true
	s.purgeOFO()
	s.wake(evData)
	switch s.Common.State {
	case sock.SynRecv, sock.Established:
		// Delay the ACK: the application usually closes at once and our
		// FIN carries it (Linux enters pingpong mode here).
		s.setState(sock.CloseWait)
		s.setPingpong(true)
		s.scheduleAck(false)
	case sock.FinWait1:
		// Our FIN is not acknowledged yet: simultaneous close.
		s.scheduleAck(true)
		s.setState(sock.Closing)
	case sock.FinWait2:
		s.sendAck()
		s.enterTimeWait()
	}
}

// setDSACK records a duplicate range to report as the first SACK block of
// the next ACK (RFC 2883 §4), when SACK is in use.
func (s *Sock) setDSACK(start, end seqnum.Value) {
	if !s.sackOK {
		return
	}
	s.dsack = sackBlock{start, end}
	s.dsackOn = true
	s.proto.stats.DSACKSent.Inc()
}

// extendDSACK widens the pending D-SACK block to cover [start, end), or
// starts one.
func (s *Sock) extendDSACK(start, end seqnum.Value) {
	if !s.dsackOn {
		s.setDSACK(start, end)
		return
	}
	s.dsack.start = seqnum.Min(s.dsack.start, start)
	s.dsack.end = seqnum.Max(s.dsack.end, end)
}

// addSACK records that [start, end) arrived out of order: the block of
// contiguous out-of-order data that contains it becomes the first SACK
// block, blocks it absorbed go, and at most four are kept, the most
// recent first (RFC 2018 §4: "The first SACK block MUST specify the
// contiguous block of data containing the segment which triggered this
// ACK").
func (s *Sock) addSACK(start, end seqnum.Value) {
	if !s.sackOK {
		return
	}
	// Widen to the contiguous run in the out-of-order queue.
	q := &s.ofo
	for x := q.Front(); x != nil; x = q.NextOf(x) {
		c := cbOf(x)
		if c.endSeq == start {
			// Walk back further only through contiguous segments.
			start = c.seq
			for y := q.PrevOf(x); y != nil && cbOf(y).endSeq == start; y = q.PrevOf(y) {
				start = cbOf(y).seq
			}
		}
		if c.seq == end {
			end = c.endSeq
		}
	}
	blk := sackBlock{start, end}
	n := 0
	var kept [header.TCPMaxSACKBlocks]sackBlock
	kept[n] = blk
	n++
	for i := 0; i < s.numSel && n < len(kept); i++ {
		o := s.selAcks[i]
		if !o.start.LessThan(start) && !o.end.GreaterThan(end) {
			continue // absorbed
		}
		kept[n] = o
		n++
	}
	s.selAcks = kept
	s.numSel = n
}

// trimSACK forgets SACK blocks that RCV.NXT has passed.
func (s *Sock) trimSACK() {
	n := 0
	for i := 0; i < s.numSel; i++ {
		if s.selAcks[i].end.GreaterThan(s.rcv.nxt) {
			if s.selAcks[i].start.LessThan(s.rcv.nxt) {
				s.selAcks[i].start = s.rcv.nxt
			}
			s.selAcks[n] = s.selAcks[i]
			n++
		}
	}
	s.numSel = n
}

// removeSACKAbove forgets SACK blocks for data pruned from above seq.
func (s *Sock) removeSACKAbove(seq seqnum.Value) {
	n := 0
	for i := 0; i < s.numSel; i++ {
		b := s.selAcks[i]
		if !b.start.LessThan(seq) {
			continue
		}
		if b.end.GreaterThan(seq) {
			b.end = seq
		}
		s.selAcks[n] = b
		n++
	}
	s.numSel = n
}

// measureRcvMSS updates the guess of the peer's segment size
// (tcp_measure_rcv_mss), which paces delayed ACKs.
func (s *Sock) measureRcvMSS(n int) {
	if n > s.rcvMSS {
		s.rcvMSS = min(n, s.advMSS)
	}
}

// rcvWindow is what remains of the window last advertised
// (tcp_receive_window): RCV.WUP + RCV.WND - RCV.NXT, or 0.
func (s *Sock) rcvWindow() uint32 {
	right := s.rcv.wup.Add(seqnum.Size(s.rcv.wnd))
	if !right.GreaterThan(s.rcv.nxt) {
		return 0
	}
	return uint32(s.rcv.nxt.Size(right))
}

// winFromSpace turns free receive buffer (truesize bytes) into window
// bytes: half of it, as Linux with tcp_adv_win_scale = 1. A full-sized
// segment costs 2176 bytes of buffer for 1448 of data, so half leaves
// room for the overhead; small segments are coalesced.
func winFromSpace(space int) uint32 {
	if space <= 0 {
		return 0
	}
	return uint32(space - space>>1)
}

// freeWindow is the window the free receive buffer allows (tcp_space).
func (s *Sock) freeWindow() uint32 { return winFromSpace(s.RcvBuf - s.RmemAlloc) }

// maxWindow is the largest window the field can express with our shift.
func (s *Sock) maxWindow() uint32 { return 0xffff << s.rcvWscale }

// computeWindow is the window we would offer now (__tcp_select_window):
// the free space, rounded to the scale's granularity (or, unscaled, to
// the MSS, keeping the old window when it is within one MSS of it), and 0
// when less than an MSS is free while less than half the buffer is: the
// receiver's silly window syndrome avoidance (RFC 1122 §4.2.3.3, RFC 9293
// §3.8.6.2.2).
func (s *Sock) computeWindow() uint32 {
	mss := uint32(max(s.rcvMSS, 1))
	full := min(winFromSpace(s.RcvBuf), s.rcv.clamp)
	free := min(s.freeWindow(), s.rcv.clamp)
	if s.Mem.UnderPressure() {
		// Offer no more than four segments while the core is short
		// of buffers (__tcp_select_window clamps rcv_ssthresh so).
		free = min(free, 4*mss)
	}
	if free < full>>1 {
		s.quick = 0
		if free < mss {
			return 0
		}
	}
	if s.rcvWscale > 0 {
		g := uint32(1) << s.rcvWscale
		return min((free+g-1)&^(g-1), s.maxWindow())
	}
	if w := s.rcv.wnd; w+mss > free && w <= free {
		return w
	}
	return min(free/mss*mss, s.maxWindow())
}

// selectWindow returns the Window field for an outgoing segment
// (tcp_select_window) and records the window as advertised: the right
// edge never moves left (RFC 9293 §3.8.6.2.2: a receiver "SHOULD NOT
// shrink the window").
func (s *Sock) selectWindow() uint16 {
	cur := s.rcvWindow()
	nw := s.computeWindow()
	if nw < cur {
		g := uint32(1) << s.rcvWscale
		nw = (cur + g - 1) &^ (g - 1)
	}
	nw = min(nw, s.maxWindow())
	s.rcv.wnd = nw
	s.rcv.wup = s.rcv.nxt
	return uint16(nw >> s.rcvWscale)
}

// cleanupRbuf runs after the reader consumed copied bytes
// (tcp_rcv_space_adjust, then __tcp_cleanup_rbuf): autotuning may grow
// the receive buffer (rcvbuf.go); an ACK held back while more than one
// full segment is unacknowledged goes out now (receipt held it back only
// because the unread data made the window shrink); and when the window
// we could offer is now at least twice what the peer still sees, and
// what it sees is at most half the largest window, a window update goes
// out, so that a peer blocked by a small window learns of the space.
func (s *Sock) cleanupRbuf(copied int) {
	if copied <= 0 || !s.synchronized() {
		return
	}
	s.rcvSpaceAdjust()
	if s.ackPending && int(s.rcv.wup.Size(s.rcv.nxt)) > s.rcvMSS {
		s.sendAck()
		return
	}
	if s.Sock.Shutdown&sock.RcvShutdown != 0 {
		return
	}
	now := s.rcvWindow()
	if 2*now <= s.rcv.clamp {
		if nw := s.computeWindow(); nw != 0 && nw >= 2*now {
			s.sendAck()
		}
	}
}
