package tcp

// Loss recovery driven by duplicate ACKs, without SACK: fast retransmit
// and fast recovery (RFC 5681 §3.2) with NewReno's handling of partial
// acknowledgments (RFC 6582), and limited transmit (RFC 3042). Windows
// count segments, as Linux does, so every "SMSS" of the RFCs is one.
// Recovery after a retransmission timeout is in retransmit.go
// (enterLoss, retransmitLost).

// dupThresh is the number of duplicate ACKs that signals a loss (RFC
// 5681 §3.2: "the arrival of 3 duplicate ACKs"; Linux's
// TCP_FASTRETRANS_THRESH).
const dupThresh = 3

// onDupAck runs on every duplicate ACK (RFC 5681 §2's definition, checked
// by isDupAck), s.dupAcks already counting it:
//
//   - in fast recovery, RFC 5681 §3.2 step 4: "For each additional
//     duplicate ACK received (after the third), cwnd MUST be incremented
//     by SMSS", which lets push send new data;
//   - on the first and second, RFC 3042 limited transmit: push may send
//     one new segment each beyond cwnd (see limitedTransmit);
//   - on the third, fast retransmit (enterRecovery).
//
// After an RTO (inLoss) duplicate ACKs are only counted: they are below
// recover (RFC 6582 §3.2 step 1), and the lost segments go out as ACKs
// come (retransmitLost).
func (s *Sock) onDupAck() {
	if s.cc == nil || s.inLoss || s.sackOK {
		return // SACK recovery is sackProgress's
	}
	if s.inRecovery {
		s.SetCwnd(s.cwnd + 1)
		return
	}
	if s.dupAcks == dupThresh {
		s.enterRecovery()
	}
}

// startRecovery begins a loss recovery, NewReno's or SACK's, unless the
// cumulative ACK has not passed recover: the loss then belongs to a
// previous recovery or RTO (RFC 6582 §3.2 step 1, RFC 6675 §5 step 4).
// recover is set to the highest sequence number sent and ssthresh comes
// from the congestion control; cwnd is the caller's.
func (s *Sock) startRecovery() bool {
	if s.snd.una.LessThan(s.recover) {
		return false
	}
	s.recover = s.snd.nxt
	s.ssthresh = s.cc.SSThresh(s)
	s.ltOut = 0
	s.inRecovery = true
	s.proto.stats.Recoveries.Inc()
	return true
}

// enterRecovery is fast retransmit on the third duplicate ACK (RFC 5681
// §3.2 steps 2 and 3, with RFC 6582 §3.2 steps 1 and 2):
//
//   - unless SEG.ACK covers more than recover, that is, the duplicate ACKs
//     may answer retransmissions of a previous recovery or RTO, nothing
//     is done ("the TCP does not enter fast retransmit and does not reset
//     ssthresh");
//   - recover is set to the highest sequence number sent;
//   - ssthresh = max(FlightSize/2, 2*SMSS), FlightSize not counting the
//     segments limited transmit sent (RFC 5681 §3.2 step 2);
//   - the first unacknowledged segment is retransmitted;
//   - cwnd = ssthresh + 3*SMSS, for the three segments that left the
//     network.
//
// The retransmission timer is left running, as RFC 6298 §5 asks; when no
// mbuf was found for the retransmission, the RTO repairs the loss.
func (s *Sock) enterRecovery() {
	if !s.startRecovery() {
		return
	}
	s.fastRetransmit()
	s.SetCwnd(s.ssthresh + dupThresh)
	s.cwndCnt = 0
}

// fastRetransmit retransmits the first unacknowledged segment, counted
// as a fast retransmission (Linux counts every retransmission in its
// Recovery state as TCPFastRetrans).
func (s *Sock) fastRetransmit() {
	head := s.WriteQueue.Front()
	if head == nil || head == s.sendHead {
		return
	}
	if s.retransmitSkb(head) {
		s.proto.stats.FastRetransmits.Inc()
	}
}

// recoveryAck processes an ACK of new data in fast recovery (RFC 6582
// §3.2 steps 3 and 5); acked segments left the retransmission queue.
//
// A full acknowledgment, of everything up to recover, ends recovery with
// cwnd = min(ssthresh, max(FlightSize, SMSS) + SMSS), the first of RFC
// 6582's two choices, which avoids a burst when little is in flight.
//
// A partial acknowledgment, of some but not all of it, shows that the
// next segment was lost too: it is retransmitted at once, without waiting
// for three more duplicate ACKs or an RTO, and "deflate the congestion
// window by the amount of new data acknowledged by the Cumulative
// Acknowledgment field. If the partial ACK acknowledges at least one SMSS
// of new data, then add back SMSS bytes to the congestion window"; the
// connection stays in recovery.
func (s *Sock) recoveryAck(acked int) {
	if s.sackOK {
		s.sackRecoveryAck()
		return
	}
	if !s.snd.una.LessThan(s.recover) {
		s.inRecovery = false
		s.SetCwnd(min(s.ssthresh, uint32(max(s.inflight(), 1))+1))
		s.cwndCnt = 0
		return
	}
	s.proto.stats.PartialAcks.Inc()
	s.fastRetransmit()
	n := uint32(acked)
	if n >= s.cwnd {
		s.SetCwnd(1)
	} else {
		s.SetCwnd(s.cwnd - n)
	}
	if n > 0 {
		s.SetCwnd(s.cwnd + 1)
	}
}

// exitRecovery leaves fast recovery for an RTO, recording the highest
// sequence number sent in recover (RFC 6582 §3.2 step 6: "After a
// retransmit timeout, record the highest sequence number transmitted in
// the variable recover, and exit the fast recovery procedure if
// applicable").
func (s *Sock) exitRecovery() {
	s.inRecovery = false
	s.recover = s.snd.nxt
	s.ltOut = 0
}

// limitedTransmit reports whether push may send a new segment beyond
// the congestion window (RFC 3042 §2): on the first and the second
// duplicate ACK, outside recovery, one segment for each, so that at most
// cwnd + 2 segments are outstanding. cwnd itself does not change, and the
// peer's window must allow the segment (push checks it). The caller
// counts the segment in ltOut once sent.
func (s *Sock) limitedTransmit() bool {
	return !s.inRecovery && !s.inLoss && s.dupAcks > 0 && s.dupAcks < dupThresh && s.ltOut < s.dupAcks
}

// flightSize is RFC 5681's FlightSize in segments, for the slow-start
// threshold after a loss: the segments in flight, less those limited
// transmit sent (RFC 5681 §3.2 step 2: "the additional data sent in
// limited transmit MUST NOT be included in this calculation").
// SACKed segments are still outstanding data here.
func (s *Sock) flightSize() int { return max(s.packetsOut-s.lostOut-s.ltOut, 0) }
