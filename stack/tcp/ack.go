package tcp

import (
	"time"

	"github.com/dpstack/dpstack/ktime"
	"github.com/dpstack/dpstack/stack/tcp/seqnum"
	"github.com/dpstack/dpstack/stat"
)

// ack processes the acknowledgment of a segment in a synchronized state
// (tcp_ack), after RFC 9293 §3.10.7.4's fifth step and RFC 5961 §5.2:
//
//   - SEG.ACK > SND.NXT acknowledges something not yet sent: "send an ACK,
//     drop the segment, and return";
//   - SEG.ACK below SND.UNA - MAX.SND.WND is outside RFC 5961's acceptable
//     range: a challenge ACK, and the segment is dropped;
//   - otherwise the ACK is acceptable: TS.Recent may be updated (only now:
//     RFC 7323 §4.3, an invalid ACK must not move it), the send window is
//     updated by the SND.WL1/SND.WL2 rule, and newly acknowledged data
//     leaves the retransmission queue, giving an RTT sample and growing the
//     congestion window, or, in fast recovery, ending it or retransmitting
//     the next hole (recoveryAck). A duplicate (SEG.ACK < SND.UNA within
//     the range) "can be ignored", and processing goes on with the text;
//     one with SEG.ACK = SND.UNA that RFC 5681 §2 calls a duplicate drives
//     fast retransmit (onDupAck).
//
// On a SACK connection the blocks update the scoreboard first (sackRcv),
// a duplicate must SACK new data to count (RFC 6675 §2), and recovery is
// RFC 6675's (sackProgress, sack.go).
//
// It reports whether processing continues.
func (s *Sock) ack(g *segment) bool {
	if g.ack.GreaterThan(s.snd.nxt) {
		s.oowAck()
		s.dropSeg(g, stat.DropTCPAckUnsent)
		return false
	}
	if g.ack.LessThan(s.snd.una.Sub(seqnum.Size(s.snd.maxWnd))) {
		s.challengeAck()
		s.dropSeg(g, stat.DropTCPAckTooOld)
		return false
	}
	now := s.now()
	s.rcvTstamp = now
	s.probesOut = 0
	s.updateTSRecent(g)
	if g.ack.LessThan(s.snd.una) {
		return true // an old duplicate
	}
	windowChanged := s.updateWindow(g)
	if g.ack.GreaterThan(s.snd.una) {
		s.snd.una = g.ack
		prior := s.inflight()
		acked := s.cleanRtxQueue(g)
		s.sackRcv(g)
		s.dupAcks = 0
		s.ltOut = 0
		s.retransmits = 0
		s.backoff = 0
		s.retransStamp = 0
		s.ErrSoft = 0 // something got through (tcp_ack)
		s.mtuProbeAcked()
		if s.inLoss && !s.snd.una.LessThan(s.highRxt) {
			s.inLoss = false
			s.rackRecoveryEnd()
		}
		if s.inRecovery {
			s.recoveryAck(acked)
		} else if acked > 0 && s.cc != nil && s.cwndLimited(prior) {
			s.cc.CongAvoid(s, uint32(acked))
			s.expandSndBuf()
		}
		if s.recover.LessThan(s.snd.una) {
			// Keep recover within reach of SND.UNA, so that it never
			// looks ahead after the sequence space wraps.
			s.recover = s.snd.una
		}
		if s.packetsOut > 0 {
			s.probing = false
			s.arm(&s.rtxT, now.Add(s.currentRTO()))
		} else if !s.probing {
			s.rtxT.on = false
		}
		if s.NoSpace && s.Writable() {
			s.wake(evWrite)
		}
		if s.inLoss {
			s.retransmitLost()
		} else if s.sackOK {
			s.sackProgress()
		}
		s.tlpAck()
		s.armLossTimer()
	} else {
		// With SACK, a duplicate must also SACK new data (RFC 6675 §2),
		// so that a D-SACK or a repeated block counts for nothing; one
		// without any SACK block still counts, as RFC 5681 §2 has it.
		newly := s.sackRcv(g)
		if s.isDupAck(g, windowChanged) && (!s.sackOK || newly > 0 || g.opts.NumSACK == 0) {
			s.dupAcks++
			s.proto.stats.DupACKs.Inc()
			s.onDupAck()
			if s.sackOK {
				s.sackProgress()
			}
		} else if newly > 0 {
			s.sackProgress()
		}
		s.tlpAck()
		if newly > 0 {
			s.armLossTimer()
		}
	}
	if s.probing && s.sendHead != nil && !cbOf(s.sendHead).endSeq.GreaterThan(s.sndWndEnd()) {
		// The window opened for the head: stop probing; push sends it
		// (tcp_ack_probe).
		s.probing = false
		s.rtxT.on = false
		s.backoff = 0
	}
	return true
}

// cwndLimited reports whether the congestion window limited the
// sending before this ACK, with prior segments in flight: only then does
// it grow (RFC 7661 §4.1; Linux's tcp_is_cwnd_limited, which in slow
// start also lets a flight of half the window count).
func (s *Sock) cwndLimited(prior int) bool {
	if s.cwnd < s.ssthresh {
		return 2*prior >= int(s.cwnd)
	}
	return prior >= int(s.cwnd)
}

// isDupAck reports whether g is a duplicate ACK as RFC 5681 §2 defines
// it: outstanding data, no data or SYN/FIN in the segment, SEG.ACK =
// SND.UNA, and the window unchanged.
func (s *Sock) isDupAck(g *segment, windowChanged bool) bool {
	return s.packetsOut > 0 && g.dataLen == 0 && g.flags&(flagSYN|flagFIN) == 0 &&
		g.ack == s.snd.una && !windowChanged
}

// updateWindow applies RFC 9293 §3.10.7.4's window update: "If SND.UNA =<
// SEG.ACK =< SND.NXT, the send window should be updated. If (SND.WL1 <
// SEG.SEQ or (SND.WL1 = SEG.SEQ and SND.WL2 =< SEG.ACK)), set SND.WND <-
// SEG.WND, set SND.WL1 <- SEG.SEQ, and set SND.WL2 <- SEG.ACK." The
// caller checked the range. It reports whether the window changed.
func (s *Sock) updateWindow(g *segment) bool {
	if !(s.snd.wl1.LessThan(g.seq) || s.snd.wl1 == g.seq && s.snd.wl2.LessThanEq(g.ack)) {
		return false
	}
	nwin := s.scaledWindow(g)
	changed := nwin != s.snd.wnd
	s.snd.wnd = nwin
	s.snd.wl1, s.snd.wl2 = g.seq, g.ack
	s.snd.maxWnd = max(s.snd.maxWnd, nwin)
	return changed
}

// updateTSRecent records SEG.TSval as TS.Recent when the segment does not
// start after the last ACK we sent (RFC 7323 §4.3: "If SEG.TSval >=
// TS.Recent and SEG.SEQ =< Last.ACK.sent"; Last.ACK.sent is rcv_wup, as in
// Linux's tcp_replace_ts_recent).
func (s *Sock) updateTSRecent(g *segment) {
	if !s.tsOK || !g.opts.HasTS || g.seq.GreaterThan(s.rcv.wup) {
		return
	}
	if int32(g.opts.TSVal-s.tsRecent) >= 0 || s.now().Sub(s.tsStamp) >= pawsIdle {
		s.tsRecent = g.opts.TSVal
		s.tsStamp = s.now()
	}
}

// cleanRtxQueue frees what SEG.ACK acknowledges from the front of the
// write queue (tcp_clean_rtx_queue), trims a segment acknowledged in part
// (tcp_trim_head), and takes an RTT sample: from the send time of the
// first segment acknowledged when none of them was ever retransmitted
// (Karn's algorithm, RFC 6298 §3), else from the timestamp echo (RFC 7323
// §4.1, valid for retransmissions too). It returns how many segments were
// acknowledged.
func (s *Sock) cleanRtxQueue(g *segment) int {
	p := s.proto
	q := &s.WriteQueue
	ack := g.ack
	acked := 0
	var first ktime.Time
	retrans := false
	now := s.now()
	for b := q.Front(); b != nil && b != s.sendHead; {
		c := cbOf(b)
		if c.endSeq.GreaterThan(ack) {
			if c.seq.LessThan(ack) {
				n := int(c.seq.Size(ack))
				if c.flags&flagSYN != 0 {
					c.flags &^= flagSYN
					n--
				}
				b.Pull(n)
				q.Adjust(-n)
				c.seq = ack
			}
			break
		}
		next := q.NextOf(b)
		if c.sacked&cbEverRetrans != 0 {
			retrans = true
		} else if first == 0 {
			first = c.when
		}
		if c.sacked&cbLost != 0 {
			s.lostOut--
		}
		if c.sacked&cbSacked != 0 {
			s.sackedOut--
		} else if s.sackOK {
			s.rackUpdate(c, now)
		}
		if b == s.sackHint {
			s.sackHint = nil
		}
		s.packetsOut--
		acked++
		if b == s.rtxNext {
			s.rtxNext = next
		}
		q.Unlink(b)
		s.UnchargeW(b)
		p.free(b)
		b = next
	}
	switch {
	case acked > 0 && !retrans && first != 0:
		s.rttSample(now.Sub(first))
	case s.tsOK && g.opts.HasTS && g.opts.TSEcr != 0:
		if d := int32(s.tsVal() - g.opts.TSEcr); d >= 0 {
			s.rttSample(time.Duration(d) * time.Millisecond)
		}
	}
	return acked
}

// sndWndEnd is the right edge of the send window, SND.UNA + SND.WND.
func (s *Sock) sndWndEnd() seqnum.Value { return s.snd.una.Add(seqnum.Size(s.snd.wnd)) }
