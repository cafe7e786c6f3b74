package tcp

import (
	"time"

	"github.com/dpstack/dpstack/ktime"
	"github.com/dpstack/dpstack/stack/sock"
	"github.com/dpstack/dpstack/stack/tcp/seqnum"
)

// Receive-buffer autotuning: dynamic right-sizing (Fisher, "Dynamic
// Right-Sizing in TCP", 2004), as Linux's tcp_rcv_space_adjust does it.
// The receiver cannot see the sender's window, but it sees what its
// reader takes in one round trip: that is what the path delivers, and a
// sender that could send more is held back by the window offered. So
// once per receiver round trip the buffer grows to hold twice what the
// reader took (for losses), more while that grows (for slow start, whose
// next round trip sends twice as much), and the window offered grows
// with it (computeWindow offers half the free buffer). It stops at
// Config.RmemMax, and while the core is under memory pressure; a socket
// whose user set SO_RCVBUF keeps its size (SOCK_RCVBUF_LOCK). It never
// shrinks a buffer, as Linux does not.
//
// The receiver's round trip (tcp_rcv_rtt_measure, tcp_rcv_rtt_measure_ts)
// comes from the timestamps, the time since the TSval the peer echoes was
// sent, smoothed; and from window timing, the time from offering a window
// to receiving its last byte, which is at least a round trip, kept as a
// minimum. The timestamp clock ticks in milliseconds: an echo of less
// than two ticks says only that the round trip is under 2 ms, and is left
// to window timing, which reads the core's clock in nanoseconds. (Linux
// counts such an echo as one tick, so over a path of microseconds it
// sizes buffers for a round trip of a millisecond; its answer is a
// microsecond TSval, tcp_usec_ts, which a peer must be configured for.)

// rcvSpace is what the reader took in the current measurement
// (tcp_sock.rcvq_space).
type rcvSpace struct {
	time  ktime.Time   // when it began
	space int32        // bytes the reader took in the largest take yet (at most Config.RmemMax)
	seq   seqnum.Value // copiedSeq when it began
}

// rcvRTTEst is the receiver's estimate of the round trip
// (tcp_sock.rcv_rtt_est).
type rcvRTTEst struct {
	rtt       time.Duration // the estimate; 0 before the first sample
	time      ktime.Time    // window timing: when it began; 0 before it did
	seq       seqnum.Value  // window timing: the right edge offered when it began
	lastTSecr uint32        // the TSecr last sampled
}

// rcvSpaceInitSegs is the reader's first rcvSpace, in segments of the MSS
// we advertised (tcp_init_buffer_space: TCP_INIT_CWND).
const rcvSpaceInitSegs = 10

// rcvBufCushion is the segments added to twice what the reader took, for
// small variations (tcp_rcv_space_adjust: 16 * advmss).
const rcvBufCushion = 16

// initRcvSpace starts the measurements on entering ESTABLISHED
// (tcp_init_buffer_space).
func (s *Sock) initRcvSpace() {
	space := max(min(int(s.rcv.wnd), rcvSpaceInitSegs*s.advMSS), 1)
	s.rcvq = rcvSpace{time: s.now(), space: int32(space), seq: s.copiedSeq()}
	s.rcvRTT = rcvRTTEst{}
}

// rcvRTTUpdate takes a sample of the receiver's round trip
// (tcp_rcv_rtt_update): a window timing (winDep) only ever lowers the
// estimate, since it includes the time the sender did not send; a
// timestamp sample moves it by an eighth of the difference (RFC 6298's
// alpha).
func (s *Sock) rcvRTTUpdate(sample time.Duration, winDep bool) {
	sample = max(sample, 1)
	r := &s.rcvRTT
	switch {
	case r.rtt == 0:
		r.rtt = sample
	case winDep:
		r.rtt = min(r.rtt, sample)
	default:
		r.rtt += (sample - r.rtt) / 8
	}
}

// rcvRTTMeasure is window timing (tcp_rcv_rtt_measure), on receipt of
// in-order data: once RCV.NXT reaches the right edge offered when the
// timing began, the time since is a sample; then it begins again from the
// window now offered.
func (s *Sock) rcvRTTMeasure(now ktime.Time) {
	r := &s.rcvRTT
	if r.time != 0 {
		if s.rcv.nxt.LessThan(r.seq) {
			return
		}
		s.rcvRTTUpdate(now.Sub(r.time), true)
	}
	r.seq = s.rcv.nxt.Add(seqnum.Size(s.rcv.wnd))
	r.time = now
}

// rcvRTTMeasureTS samples the round trip from the TSecr of a data
// segment of at least the peer's usual size (tcp_rcv_rtt_measure_ts),
// once per TSecr. An echo of fewer than two ticks is left to window
// timing (see above).
func (s *Sock) rcvRTTMeasureTS(g *segment) {
	r := &s.rcvRTT
	if !s.tsOK || !g.opts.HasTS || g.opts.TSEcr == r.lastTSecr {
		return
	}
	r.lastTSecr = g.opts.TSEcr
	if g.dataLen < s.rcvMSS {
		return
	}
	if d := int32(s.tsVal() - g.opts.TSEcr); d >= 2 {
		s.rcvRTTUpdate(time.Duration(d)*time.Millisecond, false)
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
// the reader took in it is compared with the largest take yet, and a
// larger take grows the buffer (see above).
func (s *Sock) rcvSpaceAdjust() {
	now := s.now()
	q := &s.rcvq
	if s.rcvRTT.rtt == 0 || now.Sub(q.time) < s.rcvRTT.rtt {
		return
	}
	p := s.proto
	// Bounded by the limit: a take as large gives the largest buffer
	// anyway, and the arithmetic below stays far from overflow.
	copied := s.copiedSeq()
	took := min(int(q.seq.Size(copied)), p.rmemMax)
	// Under memory pressure the take is not recorded either, so that the
	// first round trip after it grows the buffer as it would have.
	if space := int(q.space); took > space && !s.Mem.UnderPressure() {
		if s.autotunes() {
			// Twice the take, for losses, and a cushion; more
			// while the take grows, as in slow start the next
			// round trip brings twice as much as this one did.
			win := 2*took + rcvBufCushion*s.advMSS
			win += 2 * (win * (took - space) / space)
			if buf := min(spaceFromWin(win), p.rmemMax); buf > s.RcvBuf {
				s.RcvBuf = buf
				p.stats.RcvBufGrown.Inc()
			}
		}
		q.space = int32(took)
	}
	q.seq = copied
	q.time = now
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
