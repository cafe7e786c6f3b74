package tcp

import (
	"syscall"
	"time"

	"github.com/dpstack/dpstack/ktime"
	"github.com/dpstack/dpstack/mbuf"
	"github.com/dpstack/dpstack/stack/sock"
)

// Retransmission timing and limits (RFC 6298; include/net/tcp.h).
const (
	// initialRTO is the RTO before any RTT sample (RFC 6298 §2.1;
	// TCP_TIMEOUT_INIT).
	initialRTO = time.Second
	// fallbackRTO is the RTO after a retransmitted SYN when no RTT sample
	// came of the handshake (RFC 6298 §5.7; TCP_TIMEOUT_FALLBACK).
	fallbackRTO = 3 * time.Second
	// rtoMin is the least variance term of the RTO (TCP_RTO_MIN): RTO =
	// SRTT + max(4 RTTVAR, 200 ms). RFC 6298 §2.4 says an RTO SHOULD be at
	// least 1 s; dpstack does what Linux does.
	rtoMin = 200 * time.Millisecond
	// rtoMax bounds the RTO and its backoff (RFC 6298 §2.5 allows a
	// maximum of at least 60 s; TCP_RTO_MAX).
	rtoMax = 120 * time.Second
	// synRetries is how many times a SYN is retransmitted before connect
	// gives up (net.ipv4.tcp_syn_retries).
	synRetries = 6
	// synAckRetries is the same for a SYN-ACK (net.ipv4.tcp_synack_retries).
	synAckRetries = 5
	// retries2 is how many retransmissions of data, or unanswered window
	// probes, end a connection (net.ipv4.tcp_retries2; RFC 1122 §4.2.3.5's
	// R2, which must correspond to at least 100 s: 15 backed-off RTOs
	// take about 15 minutes).
	retries2 = 15
	// retries1 is how many retransmissions of data make TCP suspect its
	// path (net.ipv4.tcp_retries1; RFC 1122 §4.2.3.5's R1): from then on
	// each timeout lowers the MSS, in case the path drops ICMP and big
	// segments with it (mtuProbing).
	retries1 = 3
	// orphanRetries is retries2 for a socket the user closed
	// (net.ipv4.tcp_orphan_retries, 0 meaning 8).
	orphanRetries = 8
)

// rttSample folds a round-trip measurement into SRTT and RTTVAR and
// recomputes the RTO (RFC 6298 §2.2, §2.3), with Linux's floor on the
// variance term (see rtoMin) and the RTO bounded by rtoMax.
func (s *Sock) rttSample(r time.Duration) {
	if r <= 0 {
		r = time.Microsecond
	}
	if s.srtt == 0 {
		s.srtt = r
		s.rttvar = r / 2
	} else {
		delta := s.srtt - r
		if delta < 0 {
			delta = -delta
		}
		s.rttvar = (3*s.rttvar + delta) / 4
		s.srtt = (7*s.srtt + r) / 8
	}
	s.rto = min(s.srtt+max(4*s.rttvar, rtoMin), rtoMax)
}

// currentRTO is the RTO with its exponential backoff (RFC 6298 §5.5),
// bounded by rtoMax.
func (s *Sock) currentRTO() time.Duration {
	return backedOff(s.rto, s.backoff)
}

// backedOff is d doubled n times, at most rtoMax.
func backedOff(d time.Duration, n int) time.Duration {
	for range n {
		if d >= rtoMax {
			break
		}
		d *= 2
	}
	return min(d, rtoMax)
}

// probeInterval is the persist timer's period: the RTO, at least rtoMin,
// backed off (tcp_probe0_when).
func (s *Sock) probeInterval() time.Duration {
	return backedOff(max(s.rto, rtoMin), s.backoff)
}

// rtxFired runs when the retransmission timer wakes the socket: the RTO,
// or the persist timer while probing a zero window.
func (s *Sock) rtxFired(now ktime.Time) {
	if !s.due(&s.rtxT, now) {
		return
	}
	if s.probing {
		s.probeTimeout(now)
	} else {
		s.retransmitTimeout(now)
	}
	s.proto.flushEvents()
}

// retransmitTimeout is the RTO expiring (tcp_retransmit_timer; RFC 6298
// §5.4-5.6): the connection gives up after too many tries (or past
// TCP_USER_TIMEOUT); otherwise every segment in flight is taken as lost
// (RFC 5681 §3.1: ssthresh halves, cwnd drops to one segment), the oldest
// is retransmitted at once, the rest as ACKs come back, and the RTO
// doubles.
func (s *Sock) retransmitTimeout(now ktime.Time) {
	head := s.WriteQueue.Front()
	if s.packetsOut == 0 || head == nil || head == s.sendHead {
		if s.sendHead != nil || s.finPending {
			s.push() // a transmission or a FIN that found no mbuf
		}
		return
	}
	p := s.proto
	if s.retransStamp == 0 {
		s.retransStamp = cbOf(head).when
	}
	handshake := s.Common.State == sock.SynSent || s.Common.State == sock.SynRecv
	if handshake {
		limit := synRetries
		if s.Common.State == sock.SynRecv {
			limit = synAckRetries
		}
		if s.retransmits >= limit || s.userTimedOut(now) {
			s.writeErr()
			return
		}
		p.stats.SynRetrans.Inc()
		s.synRetrans = true
	} else if s.writeTimedOut(now) {
		s.writeErr()
		return
	} else if s.Dead && p.memExhausted() {
		p.stats.AbortOnMemory.Inc()
		s.abort()
		return
	}
	if !handshake && s.retransmits >= retries1 {
		s.mtuProbing()
	}
	p.stats.Timeouts.Inc()
	s.enterLoss()
	s.retransmitLost()
	s.backoff++
	s.retransmits++
	s.arm(&s.rtxT, now.Add(s.currentRTO()))
}

// userTimedOut reports whether TCP_USER_TIMEOUT has passed since the
// oldest unacknowledged data was first sent (RFC 5482; RFC 9293 §3.8.3).
func (s *Sock) userTimedOut(now ktime.Time) bool {
	ut := s.Options.UserTimeout
	return ut > 0 && s.retransStamp != 0 && now.Sub(s.retransStamp) >= time.Duration(ut)*time.Millisecond
}

// writeTimedOut reports whether retransmission must stop
// (retransmits_timed_out): past the user timeout when one is set, else
// after retries2 timeouts (orphanRetries for an orphan).
func (s *Sock) writeTimedOut(now ktime.Time) bool {
	if s.Options.UserTimeout > 0 {
		return s.userTimedOut(now)
	}
	limit := retries2
	if s.Dead {
		limit = orphanRetries
	}
	return s.retransmits >= limit
}

// writeErr gives the connection up (tcp_write_err): for the user the
// last soft error, an ICMP error that told why (RFC 1122 §4.2.3.9), or
// else ETIMEDOUT; nothing on the wire; CLOSED.
func (s *Sock) writeErr() {
	s.proto.stats.AbortOnTimeout.Inc()
	err := s.ErrSoft
	if err == 0 {
		err = syscall.ETIMEDOUT
	}
	s.ErrSoft = 0
	s.reset(err)
}

// enterLoss marks every segment in flight lost after an RTO
// (tcp_enter_loss). ssthresh is reduced once per loss episode, not on
// every backed-off timeout (RFC 5681 §3.1: it "is held constant" when the
// segment was already retransmitted by the timer); an RTO in fast
// recovery reduces it again, as RFC 5681 §3.1 asks after any first
// timeout (Linux keeps the one of the recovery), and ends the recovery
// (RFC 6582 §3.2 step 6).
func (s *Sock) enterLoss() {
	if (!s.inLoss || s.retransmits == 0) && s.cc != nil {
		s.ssthresh = s.cc.SSThresh(s)
	}
	s.exitRecovery()
	s.rackReset()
	s.cwnd = 1
	s.cwndCnt = 0
	if s.cc != nil {
		s.cc.Loss(s)
	}
	q := &s.WriteQueue
	lost := 0
	for b := q.Front(); b != nil && b != s.sendHead; b = q.NextOf(b) {
		c := cbOf(b)
		c.sacked = c.sacked&^(cbRetrans|cbSacked) | cbLost
		lost++
	}
	s.lostOut = lost
	// The SACK scoreboard is cleared (RFC 2018 §8: "after a retransmit
	// timeout the data sender SHOULD turn off all of the SACKed bits"),
	// since the receiver may have reneged: dpstack's own prunes its
	// out-of-order queue under memory pressure. Later ACKs SACK again
	// what the peer holds. (Linux keeps the marks unless it detects
	// reneging.)
	s.sackedOut, s.sackHint = 0, nil
	s.inLoss = true
	s.highRxt = s.snd.nxt
	s.rtxNext = q.Front()
	s.dupAcks = 0
}

// retransmitLost retransmits lost segments in order while the congestion
// window allows (tcp_xmit_retransmit_queue).
func (s *Sock) retransmitLost() {
	s.currentMSS()
	for b := s.rtxNext; b != nil && b != s.sendHead; b = s.rtxNext {
		if s.inflight() >= int(s.cwnd) {
			return
		}
		c := cbOf(b)
		if c.sacked&cbLost == 0 {
			s.rtxNext = s.WriteQueue.NextOf(b)
			continue
		}
		if !s.retransmitSkb(b) {
			return
		}
		s.rtxNext = s.WriteQueue.NextOf(b)
	}
}

// retransmitSkb sends write-queue segment b again (tcp_retransmit_skb).
// The segment is marked so that its ACK gives no RTT sample (Karn).
func (s *Sock) retransmitSkb(b *mbuf.Buf) bool {
	s.mtuProbeLost(b)
	if !s.fitMSS(b) || !s.transmitSkb(b) {
		return false
	}
	c := cbOf(b)
	if c.sacked&cbLost != 0 {
		s.lostOut--
	}
	c.sacked = c.sacked&^cbLost | cbRetrans | cbEverRetrans
	s.proto.stats.RetransSegs.Inc()
	return true
}

// probeTimeout is the persist timer expiring (tcp_probe_timer; RFC 9293
// §3.8.6.1): a zero-window probe goes out and the interval backs off.
// Probing goes on as long as the peer answers (every ACK resets the
// count); it ends the connection only after retries2 unanswered probes, or
// once TCP_USER_TIMEOUT has passed since the first probe, answered or not
// (RFC 9293 §3.8.6.1: the connection "MUST NOT" be closed "merely because
// the receiving TCP keeps advertising a zero window", but a user timeout
// may close it).
func (s *Sock) probeTimeout(now ktime.Time) {
	if s.packetsOut > 0 || s.sendHead == nil {
		s.probing = false
		s.probesOut = 0
		return
	}
	if s.probeTime == 0 {
		s.probeTime = now
	}
	if ut := s.Options.UserTimeout; ut > 0 {
		if now.Sub(s.probeTime) >= time.Duration(ut)*time.Millisecond {
			s.writeErr()
			return
		}
	} else {
		limit := retries2
		if s.Dead {
			limit = orphanRetries
		}
		if s.probesOut >= limit {
			s.writeErr()
			return
		}
	}
	if s.Dead && s.proto.memExhausted() {
		// An orphan the peer's closed window holds, with the sockets
		// at their limit: its send queue goes (tcp_probe_timer).
		s.proto.stats.AbortOnMemory.Inc()
		s.abort()
		return
	}
	s.proto.stats.WindowProbes.Inc()
	s.probesOut++
	s.writeWakeup()
	if s.packetsOut > 0 {
		return // data went out: the RTO took over
	}
	s.backoff++
	s.probing = true
	s.arm(&s.rtxT, now.Add(s.probeInterval()))
}

// writeWakeup sends the window probe (tcp_write_wakeup): as much of the
// next segment as the window takes, split if need be, or, when the window
// is closed, a segment with an old sequence number that the peer must
// acknowledge.
func (s *Sock) writeWakeup() {
	if head := s.sendHead; head != nil {
		c := cbOf(head)
		end := s.sndWndEnd()
		if c.seq.LessThan(end) {
			room := int(c.seq.Size(end))
			if room >= head.Len() || s.split(head, room) {
				if s.transmitNew(head) {
					return
				}
			}
		}
	}
	s.sendProbe()
}

// split cuts segment b after n data bytes, moving the rest (and a FIN)
// into a new segment right after it (tcp_fragment). A segment already
// sent gives its state to both halves, which count as two in flight. It
// reports whether it could.
func (s *Sock) split(b *mbuf.Buf, n int) bool {
	if n <= 0 || n >= b.Len() {
		return false
	}
	p := s.proto
	nb := p.alloc()
	if nb == nil {
		return false
	}
	rest := b.Len() - n
	copy(nb.Put(rest), b.Bytes()[n:])
	b.Trim(n)
	s.WriteQueue.Adjust(-rest)
	c := cbOf(b)
	nc := cbOf(nb)
	*nc = cb{seq: c.seq.Add(seqSize(n)), endSeq: c.endSeq, flags: c.flags & flagFIN}
	if c.seq.LessThan(s.snd.nxt) {
		nc.when, nc.sacked = c.when, c.sacked
		s.packetsOut++
		if c.sacked&cbLost != 0 {
			s.lostOut++
		}
	}
	c.endSeq = nc.seq
	c.flags &^= flagFIN
	s.ChargeW(nb)
	s.WriteQueue.InsertAfter(b, nb)
	return true
}
