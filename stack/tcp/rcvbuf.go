package tcp

import (
	"time"

	"github.com/dpstack/dpstack/ktime"
	"github.com/dpstack/dpstack/stack/sock"
	"github.com/dpstack/dpstack/stack/tcp/seqnum"
)

// Receive-buffer autotuning: dynamic right-sizing (Fisher, "Dynamic
// Right-Sizing in TCP", 2004), as Linux's tcp_rcv_space_adjust and
// tcp_rcvbuf_grow do it. The receiver cannot see the sender's window, but
// it sees what its reader takes in one round trip: that is what the path
// delivers, and a sender that could send more is held back by the window
// offered. So once per receiver round trip, when the reader took more
// than ever before, the buffer grows to offer a window of twice the take
// (the take is a round trip late), more while the take grows (in slow
// start the next round trip brings twice as much), and by the span of
// the out-of-order queue (a hole costs a round trip to fill); the window
// offered grows with it (computeWindow offers half the free buffer).
// What still waits on the receive queue is not counted as taken: a
// reader slower than the path does not grow its buffer. It stops at
// Config.RmemMax, and while the core is under memory pressure; a socket
// whose user set SO_RCVBUF keeps its size (SOCK_RCVBUF_LOCK). It never
// shrinks a buffer, as Linux does not.
//
// Below a round trip of rcvBufLowRTT the slow-start allowance shrinks in
// proportion (Linux's tcp_rcvbuf_low_rtt): on such a path the buffer
// takes a few more round trips to reach its size, and a window far above
// the bandwidth-delay product would only fill caches with packets that
// wait.
//
// The receiver's round trip (tcp_rcv_rtt_measure, tcp_rcv_rtt_measure_ts)
// is the least of its samples. Linux keeps the least of its window
// timings but smooths its timestamp samples; a smoothed round trip takes
// in the queue that the window itself builds wherever the receiver is
// the slower end (on one core with its sender, always), so that each
// growth lengthens the round trip that sizes the next, and the buffer
// grows to its limit: on a pair of in-process stacks it did, and the bulk
// rate fell from 24 to under 2 Gbit/s. The least is the path's own round
// trip, and the window twice its bandwidth-delay product.
//
// With timestamps, a sample is the time since the TSval a data segment
// echoes was sent (RFC 7323 §4.3 keeps the echo a round trip old). The
// timestamp clock ticks in milliseconds, which says nothing about a path
// of microseconds, so the connection also remembers when it first sent
// the TSval it sends now (rcvRTTEst.tsv): an echo of that one measures
// from then, in the core's nanoseconds. The peer sent the segment after
// it received one carrying that TSval, the first of which left then, so
// the sample is never below the round trip, and it is the round trip
// when the segment answered that first one. An echo of an older TSval
// counts in ticks when it is two or more (one tick may be anything
// under 2 ms). Two echoes do not count: of the TSval sent now, when its
// first sending is not known (it went out before the connection's first
// segment, or the connection sent nothing since), and of one the
// handshake sent: a sender that was idle echoes them late. (Linux drops
// echoes of no tick; with a microsecond TSval, tcp_usec_ts, which a peer
// must be configured for, it has few.)
//
// Without timestamps, window timing: the time from offering a window to
// receiving its last byte, which is at least a round trip, and more
// while the sender's window is what limits it.

// rcvSpace is what the reader took in the current measurement
// (tcp_sock.rcvq_space).
type rcvSpace struct {
	time  ktime.Time   // when it began
	space int32        // bytes the reader took in the largest take yet (at most Config.RmemMax)
	seq   seqnum.Value // copiedSeq when it began
}

// rcvRTTEst is the receiver's estimate of the round trip
// (tcp_sock.rcv_rtt_est) and what measures it.
type rcvRTTEst struct {
	rtt time.Duration // the least sample; 0 before the first
	// With timestamps: tsv is the TSval the connection sends now, first
	// sent at time (rcvTSvalSent; 0: not known), and edge holds the
	// first TSval it sent. Without: window timing began at time (0: not
	// yet), and ends when RCV.NXT reaches edge.
	time ktime.Time
	edge seqnum.Value
	tsv  uint32
}

// rcvSpaceInitSegs is the reader's first rcvSpace, in segments of the MSS
// we advertised (tcp_init_buffer_space: TCP_INIT_CWND).
const rcvSpaceInitSegs = 10

// rcvBufLowRTT is the round trip below which the slow-start allowance
// shrinks (net.ipv4.tcp_rcvbuf_low_rtt, 1 ms).
const rcvBufLowRTT = time.Millisecond

// initRcvSpace starts the measurements on entering ESTABLISHED
// (tcp_init_buffer_space).
func (s *Sock) initRcvSpace() {
	space := max(min(int(s.rcv.wnd), rcvSpaceInitSegs*s.advMSS), 1)
	s.rcvq = rcvSpace{time: s.now(), space: int32(space), seq: s.copiedSeq()}
}

// rcvRTTUpdate takes a sample of the receiver's round trip
// (tcp_rcv_rtt_update), keeping the least (see above).
func (s *Sock) rcvRTTUpdate(sample time.Duration) {
	sample = max(sample, 1)
	if r := &s.rcvRTT; r.rtt == 0 || sample < r.rtt {
		r.rtt = sample
	}
}

// rcvRTTMeasure is window timing (tcp_rcv_rtt_measure), on receipt of
// in-order data without timestamps: once RCV.NXT reaches the right edge
// offered when the timing began, the time since is a sample; then it
// begins again from the window now offered.
func (s *Sock) rcvRTTMeasure(now ktime.Time) {
	r := &s.rcvRTT
	if r.time != 0 {
		if s.rcv.nxt.LessThan(r.edge) {
			return
		}
		s.rcvRTTUpdate(now.Sub(r.time))
	}
	r.edge = s.rcv.nxt.Add(seqnum.Size(s.rcv.wnd))
	r.time = now
}

// rcvTSvalSent notes that a segment carrying tsval leaves now: the first
// to carry it starts the clock that an echo of it stops. The first TSval
// the connection sees may have gone out before (on the handshake, from
// the request), so its clock is not started.
func (s *Sock) rcvTSvalSent(tsval uint32) {
	r := &s.rcvRTT
	switch {
	case tsval == r.tsv:
	case r.tsv == 0 && r.time == 0:
		r.tsv, r.edge = tsval, seqnum.Value(tsval)
	default:
		r.tsv, r.time = tsval, s.now()
	}
}

// rcvRTTMeasureTS samples the round trip from the TSecr of a data
// segment of at least the peer's usual size (tcp_rcv_rtt_measure_ts;
// see above).
func (s *Sock) rcvRTTMeasureTS(g *segment, now ktime.Time) {
	r := &s.rcvRTT
	if !g.opts.HasTS || g.dataLen < s.rcvMSS {
		return
	}
	switch ecr := g.opts.TSEcr; {
	case ecr == r.tsv:
		if r.time != 0 {
			s.rcvRTTUpdate(now.Sub(r.time))
		}
	case r.tsv == 0 && r.time == 0, int32(ecr-uint32(r.edge)) < 0:
		// An echo of the handshake's TSval, which a sender that began
		// to send late echoes late.
	case int32(s.tsVal()-ecr) >= 2:
		s.rcvRTTUpdate(time.Duration(int32(s.tsVal()-ecr)) * time.Millisecond)
	}
}

// copiedSeq is the sequence number of the next byte the reader will take
// (copied_seq): RCV.NXT less what waits on the receive queue (after the
// peer's FIN, one more, which the FIN took).
func (s *Sock) copiedSeq() seqnum.Value {
	return s.rcv.nxt.Sub(seqnum.Size(s.ReceiveQueue.Bytes()))
}

// rcvSpaceAdjust runs after the reader took bytes (tcp_rcv_space_adjust):
// once a receiver round trip has passed since the measurement began, what
// the reader took in it, less what still waits, is compared with the
// largest take yet, and a larger take grows the buffer (rcvBufGrow).
func (s *Sock) rcvSpaceAdjust() {
	now := s.now()
	q := &s.rcvq
	copied := s.copiedSeq()
	if s.rcvRTT.rtt == 0 {
		// Nothing to measure a round trip's take by yet: the take
		// starts over, so that the first is not of all since the start.
		q.seq, q.time = copied, now
		return
	}
	if now.Sub(q.time) < s.rcvRTT.rtt {
		return
	}
	// Bounded by the limit: a take as large gives the largest buffer
	// anyway, and rcvBufGrow's arithmetic stays far from overflow.
	took := min(int(q.seq.Size(copied))-s.ReceiveQueue.Bytes(), s.proto.rmemMax)
	// Under memory pressure the take is not recorded either, so that the
	// first round trip after it grows the buffer as it would have.
	if took > int(q.space) && !s.Mem.UnderPressure() {
		s.rcvBufGrow(took)
	}
	q.seq = copied
	q.time = now
}

// rcvBufGrow records took as the largest take and grows the buffer for it
// (tcp_rcvbuf_grow; see above).
func (s *Sock) rcvBufGrow(took int) {
	old := int(s.rcvq.space)
	s.rcvq.space = int32(took)
	if !s.autotunes() {
		return
	}
	win := 2 * took
	if rtt := s.rcvRTT.rtt; rtt < rcvBufLowRTT {
		win += int(int64(win) * int64(rtt) / int64(rcvBufLowRTT))
	} else {
		win += 2 * win * (took - old) / old
	}
	if last := s.ofo.Back(); last != nil {
		win += int(s.rcv.nxt.Size(cbOf(last).endSeq))
	}
	p := s.proto
	if buf := min(spaceFromWin(win), p.rmemMax); buf > s.RcvBuf {
		s.RcvBuf = buf
		p.stats.RcvBufGrown.Inc()
	}
}

// autotunes reports whether the socket's receive buffer may grow: the
// core autotunes (Config.ModerateRcvbuf) and the user did not set
// SO_RCVBUF.
func (s *Sock) autotunes() bool {
	return s.proto.moderate && s.UserLocks&sock.RcvBufLock == 0
}

// spaceFromWin is the receive buffer, in truesize bytes, that offers a
// window of win bytes (tcp_space_from_win): the inverse of winFromSpace.
func spaceFromWin(win int) int { return 2 * win }

// rcvSpaceMax is the largest receive buffer sk may get, which the window
// scale offered on its SYN must express (tcp_select_initial_window sizes
// it from tcp_rmem[2] and rmem_max): SO_RCVBUF's largest (sock.RmemMax,
// doubled), or its own when larger, or autotuning's limit.
func (p *Proto) rcvSpaceMax(sk *sock.Sock) int {
	space := max(sk.RcvBuf, 2*sock.RmemMax)
	if p.moderate && sk.UserLocks&sock.RcvBufLock == 0 {
		space = max(space, p.rmemMax)
	}
	return space
}
