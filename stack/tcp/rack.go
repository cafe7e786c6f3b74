package tcp

import (
	"time"

	"github.com/dpstack/dpstack/ktime"
	"github.com/dpstack/dpstack/mbuf"
	"github.com/dpstack/dpstack/stack/tcp/seqnum"
)

// RACK-TLP (RFC 8985) on connections that negotiated SACK: RACK marks a
// segment lost by time, once a segment sent after it was delivered and
// a reordering window has passed, and TLP sends a probe when a flight's
// tail goes unacknowledged, so that a lost tail is repaired by SACK
// recovery rather than by the RTO. RACK is the SACK connection's loss
// detector (it replaces RFC 6675's IsLost); the segments it marks lost
// are retransmitted by sack.go's NextSeg (sackRetransmit). The RTO stays
// the fallback.
//
// The reordering window adapts to D-SACKs as RFC 8985 §6.2 step 4 has
// it (rackDSACK, rackRecoveryEnd, rackReoWnd), and min_RTT is the least
// RACK RTT sample over the last rackMinRTTWin, by a windowed min filter
// (minFilter). Two departures, each noted where it applies: the
// timestamp clause of §6.2 step 2 is not used; and a retransmitted probe
// counts as a repaired loss when the ACK that covers it carries no
// D-SACK, without waiting longer for a late one (§7.4.2).

// RACK-TLP constants (RFC 8985 §7.2).
const (
	// tlpWCDelAck is WCDelAckT, the worst-case delayed-ACK time added to
	// the PTO when one segment is in flight.
	tlpWCDelAck = 200 * time.Millisecond
	// tlpMinPTO is the PTO's floor ("max(..., 10ms)").
	tlpMinPTO = 10 * time.Millisecond
)

// RACK reordering-window constants (RFC 8985 §6.2 step 4).
const (
	// rackReoPersist is RACK.reo_wnd_persist's start: the number of loss
	// recoveries without a D-SACK after which the multiplier returns to 1.
	rackReoPersist = 16
	// rackMaxReoInc bounds the multiplier's growth (it is held in a byte,
	// as Linux holds reo_wnd_steps); min(·, SRTT) bounds the window long
	// before.
	rackMaxReoInc = 254
	// rackMinRTTWin is the period over which min_RTT is the least sample
	// (§6.2: "observed over a recent period"). Linux's tcp_min_rtt_wlen
	// default: path changes that raise the minimum are rare enough that
	// a long window only keeps the window small (losses are detected
	// sooner), and it lets a large minimum go once the path changed.
	rackMinRTTWin = 300 * time.Second
)

// rackState is RFC 8985's RACK and TLP variables (§5.2, §5.3).
type rackState struct {
	xmit   ktime.Time    // RACK.xmit_ts: send time of the most recently sent segment delivered
	endSeq seqnum.Value  // RACK.end_seq of that segment
	rtt    time.Duration // RACK.rtt: its round-trip time
	minRTT minFilter     // RACK.min_RTT, windowed
	fack   seqnum.Value  // highest end_seq delivered, to see reordering
	fackOK bool
	reord  bool // RACK.reord: reordering was seen (§6.2 step 3)
	reoOn  bool // lossT is the reordering timer, not the PTO
	dsack  bool // the ACK being processed carried a D-SACK
	blocks bool // the peer has sent SACK blocks

	// §6.2 step 4's D-SACK adaptation. reoInc is RACK.reo_wnd_mult - 1,
	// so that the zero value is the RFC's initial multiplier of 1.
	reoInc       uint8
	reoPersist   uint8        // RACK.reo_wnd_persist
	dsackRound   seqnum.Value // RACK.dsack_round, when dsackRoundOn
	dsackRoundOn bool
	reoGrew      bool // the ACK being processed grew the multiplier

	tlpOn      bool         // a probe is out: TLP.end_seq is set (§7.3)
	tlpHigh    seqnum.Value // TLP.end_seq: SND.NXT after the probe
	tlpRetrans bool         // TLP.is_retrans
	tlpLoss    bool         // a recovery ran during the episode
}

// minFilter keeps the least of the samples of the last win, after
// Kathleen Nichols' windowed min-max filter (as in Linux's win_minmax):
// the least sample, the least since a quarter of the window after it,
// and the least since half the window after that, each with its time,
// so that when the first ages out of the window the next best takes its
// place, in O(1) time and space. The zero value is empty.
type minFilter struct {
	s  [3]minSample // s[0] the least; s[1], s[2] later and larger (or equal)
	ok bool
}

// minSample is one sample of a minFilter.
type minSample struct {
	at ktime.Time
	v  time.Duration
}

// get returns the least sample within the window, and whether there is one.
func (f *minFilter) get() (time.Duration, bool) { return f.s[0].v, f.ok }

// reset makes v, taken at at, the filter's only sample.
func (f *minFilter) reset(at ktime.Time, v time.Duration) {
	n := minSample{at, v}
	f.s = [3]minSample{n, n, n}
	f.ok = true
}

// update adds sample v taken at at (no earlier than the samples before
// it) and returns the least sample of the last win.
func (f *minFilter) update(win time.Duration, at ktime.Time, v time.Duration) time.Duration {
	n := minSample{at, v}
	if !f.ok || v <= f.s[0].v || at.Sub(f.s[2].at) > win {
		// A new least, or every choice aged out: start over.
		f.reset(at, v)
		return v
	}
	switch {
	case v <= f.s[1].v:
		f.s[1], f.s[2] = n, n
	case v <= f.s[2].v:
		f.s[2] = n
	}
	age := at.Sub(f.s[0].at)
	switch {
	case age > win:
		// The least aged out: the later choices move up, and n is the
		// third. The second may be out of the window too.
		f.s[0], f.s[1], f.s[2] = f.s[1], f.s[2], n
		if at.Sub(f.s[0].at) > win {
			f.s[0], f.s[1] = f.s[1], f.s[2]
		}
	case f.s[1].at == f.s[0].at && age > win/4:
		// A quarter of the window without a second choice: take n, so
		// that one is ready when the least ages out.
		f.s[1], f.s[2] = n, n
	case f.s[2].at == f.s[1].at && age > win/2:
		// Likewise for the third choice after half the window.
		f.s[2] = n
	}
	return f.s[0].v
}

// rackOn reports whether RACK-TLP applies: SACK was negotiated and the
// connection has a congestion control.
func (s *Sock) rackOn() bool { return s.sackOK && s.cc != nil }

// rackUpdate is RFC 8985 §6.2 steps 2 and 3 for segment c, newly
// delivered (cumulatively acknowledged or SACKed) at now. A segment ever
// retransmitted whose last transmission is less than min_RTT ago gives
// an ambiguous sample and is ignored (step 2). A delivered segment below
// the highest delivered one, never retransmitted, shows reordering.
func (s *Sock) rackUpdate(c *cb, now ktime.Time) {
	r := &s.rack
	if c.when == 0 || c.flags&flagSYN != 0 {
		return // never sent, or the handshake's, which RACK leaves alone
	}
	if !r.fackOK || c.endSeq.GreaterThan(r.fack) {
		r.fack, r.fackOK = c.endSeq, true
	} else if c.sacked&cbEverRetrans == 0 && c.endSeq.LessThan(r.fack) {
		r.reord = true
	}
	rtt := now.Sub(c.when)
	minRTT, minOK := r.minRTT.get()
	if c.sacked&cbEverRetrans != 0 && minOK && rtt < minRTT {
		return
	}
	// min_RTT is at least 1 µs, as RTT samples are (rttSample).
	r.minRTT.update(rackMinRTTWin, now, max(rtt, time.Microsecond))
	if c.when > r.xmit || c.when == r.xmit && c.endSeq.GreaterThan(r.endSeq) {
		r.xmit, r.endSeq, r.rtt = c.when, c.endSeq, rtt
	}
}

// rackReoWnd is RFC 8985 §6.2 step 4's RACK.reo_wnd: none while no
// reordering was seen and the connection is in recovery or DupThresh
// segments are SACKed; otherwise RACK.reo_wnd_mult * min_RTT / 4, at
// most SRTT.
func (s *Sock) rackReoWnd() time.Duration {
	r := &s.rack
	if !r.reord && (s.inRecovery || s.sackedOut >= dupThresh) {
		return 0
	}
	minRTT, _ := r.minRTT.get()
	return min(time.Duration(r.reoInc+1)*minRTT/4, s.srtt)
}

// rackNewAck starts the processing of an ACK for §6.2 step 4: no D-SACK
// seen on it yet, and RACK.dsack_round is forgotten once SND.UNA reached
// it ("If RACK.dsack_round is not None AND SND.UNA >= RACK.dsack_round:
// RACK.dsack_round = None"), which also keeps it from looking ahead
// after the sequence space wraps.
func (s *Sock) rackNewAck() {
	r := &s.rack
	r.dsack, r.reoGrew = false, false
	if r.dsackRoundOn && !s.snd.una.LessThan(r.dsackRound) {
		r.dsackRoundOn = false
	}
}

// rackDSACK is §6.2 step 4 on an ACK that carries a D-SACK: the peer
// received a segment twice, so a retransmission may have been spurious
// and the reordering window too small. Once per round trip
// (RACK.dsack_round, the SND.NXT of the last growth, not yet
// acknowledged), RACK.reo_wnd_mult grows by one and RACK.reo_wnd_persist
// starts again at 16.
func (s *Sock) rackDSACK() {
	r := &s.rack
	r.dsack = true
	if r.dsackRoundOn && s.snd.una.LessThan(r.dsackRound) {
		return
	}
	r.dsackRound, r.dsackRoundOn = s.snd.nxt, true
	r.reoInc = min(r.reoInc+1, rackMaxReoInc)
	r.reoPersist = rackReoPersist
	r.reoGrew = true
}

// rackRecoveryEnd is §6.2 step 4 on an ACK that ends fast (SACK) or RTO
// recovery and did not grow the multiplier: RACK.reo_wnd_persist counts
// down, and at 0, 16 recoveries having passed without a D-SACK, the
// multiplier returns to 1.
func (s *Sock) rackRecoveryEnd() {
	r := &s.rack
	if r.reoGrew {
		return
	}
	if r.reoPersist > 0 {
		r.reoPersist--
	}
	if r.reoPersist == 0 {
		r.reoInc = 0
	}
}

// rackDetect is RFC 8985 §6.2 step 5 (RACK_detect_loss): every sent
// segment not SACKed nor already lost, sent before the RACK segment, is
// lost once RACK.rtt + reo_wnd passed since it was sent. It returns how
// many it marked and the least time until the next one would be (0:
// none), for the reordering timer (§6.3). A retransmission sent at the
// very time of RACK's segment is not ordered by sequence: it went out
// after the original it repeats.
//
// The walk is in sequence order, and RFC 8985 §6.2 suggests walking in
// transmission order to stop at the first segment sent after RACK's
// (Linux keeps a time-sorted list for it, tsorted_sent_queue). Sequence
// order is transmission order for segments never retransmitted (new data
// leaves in order), and a segment after one of them was first sent later
// still, and retransmitted, if ever, later again: so the first segment
// never retransmitted that is not before RACK's ends the walk. On a clean
// flight that is the first one, not the whole flight on every ACK:
// BenchmarkBulk 28.3 -> 25.0 µs per 64 KiB without GRO, 20.0 -> 19.2
// with (medians of three, interleaved).
func (s *Sock) rackDetect(now ktime.Time) (int, time.Duration) {
	r := &s.rack
	if !r.fackOK {
		return 0, 0
	}
	reo := s.rackReoWnd()
	q := &s.WriteQueue
	var first *mbuf.Buf
	var wait time.Duration
	n := 0
	for b := q.Front(); b != nil && b != s.sendHead; b = q.NextOf(b) {
		s.sackSteps++
		c := cbOf(b)
		if c.sacked&(cbSacked|cbLost) != 0 || c.when == 0 {
			continue
		}
		if !(r.xmit > c.when || r.xmit == c.when && c.sacked&cbRetrans == 0 && r.endSeq.GreaterThan(c.endSeq)) {
			if c.sacked&cbEverRetrans == 0 {
				break
			}
			continue
		}
		rem := c.when.Add(r.rtt + reo).Sub(now)
		if rem > 0 {
			if wait == 0 || rem < wait {
				wait = rem
			}
			continue
		}
		c.sacked = c.sacked&^cbRetrans | cbLost
		s.lostOut++
		n++
		if first == nil {
			first = b
		}
	}
	if first != nil && (s.rtxNext == nil || s.rtxNext == s.sendHead || cbOf(first).seq.LessThan(cbOf(s.rtxNext).seq)) {
		s.rtxNext = first
	}
	return n, wait
}

// rackLoss runs RACK's detection after an ACK or at the reordering
// timeout, counts what it marked, and arms the reordering timer for the
// earliest segment still waiting (RFC 8985 §6.3).
func (s *Sock) rackLoss() int {
	now := s.now()
	n, wait := s.rackDetect(now)
	if n > 0 {
		s.proto.stats.RACKLosses.Add(uint64(n))
	}
	if wait > 0 {
		s.rack.reoOn = true
		s.arm(&s.lossT, now.Add(wait))
	} else if s.rack.reoOn {
		s.rack.reoOn = false
		s.lossT.on = false
	}
	return n
}

// tlpEligible reports whether a loss probe may be scheduled (RFC 8985
// §7.2): data in flight, the connection open (no recovery, no RTO
// recovery, no probe out, no zero-window probing).
func (s *Sock) tlpEligible() bool {
	return s.rackOn() && s.canSend() && s.packetsOut > 0 && !s.inRecovery && !s.inLoss &&
		!s.rack.tlpOn && !s.probing
}

// armLossTimer sets lossT after an ACK or a transmission: the
// reordering timer when RACK armed it, else the PTO when a probe may be
// sent, else nothing.
func (s *Sock) armLossTimer() {
	if !s.rackOn() {
		return
	}
	if s.packetsOut == 0 {
		s.rack.reoOn = false
	}
	if s.rack.reoOn {
		return
	}
	if !s.tlpEligible() {
		s.lossT.on = false
		return
	}
	s.schedulePTO()
}

// schedulePTO arms the probe timeout (RFC 8985 §7.2): PTO = 2·SRTT
// (1 s without a sample), plus WCDelAckT with one segment in flight, at
// least 10 ms, and no later than the RTO would fire. The probe takes the
// RTO's place: the RTO is pushed to one RTO after the PTO, and is
// re-armed from the probe when it goes.
func (s *Sock) schedulePTO() {
	now := s.now()
	pto := initialRTO
	if s.srtt > 0 {
		pto = 2 * s.srtt
	}
	if s.packetsOut == 1 {
		pto += tlpWCDelAck
	}
	pto = max(pto, tlpMinPTO)
	rto := s.currentRTO()
	if s.rtxT.on && !s.probing {
		if left := s.rtxT.at.Sub(now); left < pto {
			pto = max(left, 0)
		}
	}
	at := now.Add(pto)
	s.arm(&s.lossT, at)
	if s.rtxT.on && !s.probing && s.rtxT.at <= at {
		s.arm(&s.rtxT, at.Add(rto))
	}
}

// lossFired runs lossT: the reordering timeout (RFC 8985 §6.3), which
// runs RACK's detection again and recovers what it marks, or the PTO
// (§7.3).
func (s *Sock) lossFired(now ktime.Time) {
	if !s.due(&s.lossT, now) {
		return
	}
	if s.rack.reoOn {
		s.rack.reoOn = false
		s.proto.stats.RACKReoTimeouts.Inc()
		s.sackProgress()
		s.armLossTimer()
	} else {
		s.tlpFire(now)
	}
	s.proto.flushEvents()
}

// tlpFire sends the loss probe (RFC 8985 §7.3): a new segment when one
// is queued and the peer's window takes it (the congestion window is not
// checked), else the last segment sent again. One probe per episode:
// the next waits until an ACK covers this one.
func (s *Sock) tlpFire(now ktime.Time) {
	if !s.tlpEligible() {
		return
	}
	r := &s.rack
	r.tlpOn = true
	sent, retrans := false, false
	if h := s.sendHead; h != nil && !cbOf(h).endSeq.GreaterThan(s.sndWndEnd()) {
		sent = s.transmitNew(h)
	}
	if !sent {
		q := &s.WriteQueue
		last := q.Back()
		if s.sendHead != nil {
			last = q.PrevOf(s.sendHead)
		}
		if last != nil {
			sent = s.retransmitSkb(last)
			retrans = true
		}
	}
	if !sent {
		r.tlpOn = false
		s.arm(&s.rtxT, now.Add(s.currentRTO()))
		return
	}
	s.proto.stats.TLPProbes.Inc()
	r.tlpHigh, r.tlpRetrans, r.tlpLoss = s.snd.nxt, retrans, false
	s.arm(&s.rtxT, now.Add(s.currentRTO()))
}

// tlpAck detects the probe's outcome on an ACK (RFC 8985 §7.4). While
// the ACK is below TLP.end_seq a recovery that starts is noted. On the
// ACK that covers it the episode ends: a retransmitted probe the peer
// reports as a D-SACK was needless; one covered without a D-SACK
// repaired a lost tail, which calls for the congestion response once
// (§7.4.2: ssthresh and cwnd reduced as on entering recovery). A new
// data probe leaves the detection to RACK, and a recovery it started
// is counted as the tail loss it repaired.
func (s *Sock) tlpAck() {
	r := &s.rack
	if !r.tlpOn {
		return
	}
	if s.inRecovery {
		r.tlpLoss = true
	}
	if r.tlpRetrans && r.dsack {
		r.tlpOn = false
		return
	}
	if s.snd.una.LessThan(r.tlpHigh) {
		return
	}
	r.tlpOn = false
	switch {
	case r.tlpLoss:
		s.proto.stats.TLPRecoveries.Inc()
	case r.tlpRetrans:
		s.proto.stats.TLPRecoveries.Inc()
		s.ssthresh = s.cc.SSThresh(s)
		s.SetCwnd(s.ssthresh)
		s.cwndCnt = 0
	}
}

// rackReset forgets a probe and the reordering timer, after an RTO.
func (s *Sock) rackReset() {
	s.rack.tlpOn, s.rack.reoOn = false, false
	s.lossT.on = false
}
