package tcp

import (
	"github.com/dpstack/dpstack/stack/header"
	"github.com/dpstack/dpstack/stack/tcp/seqnum"
)

// SACK-based loss recovery (RFC 6675) for connections that negotiated
// SACK (RFC 2018); those that did not keep NewReno (recovery.go).
//
// The scoreboard (RFC 6675 §3) lives in the write queue's control blocks,
// as in Linux: cbSacked marks a segment the peer reported whole in a SACK
// block, cbLost one deemed lost (by RACK, RFC 8985), cbRetrans one retransmitted and
// not yet acknowledged. Windows count segments, so RFC 6675's SMSS is one
// segment and SetPipe is inflight(): packets out, less those SACKed and
// those lost and not retransmitted (Linux's tcp_packets_in_flight).
//
// Whatever a peer sends, the work is bounded (the 2019 "SACK Panic"
// family, CVE-2019-11477/11478/5599): at most four blocks per ACK, sorted
// and merged in a fixed array; blocks below SND.UNA, beyond SND.NXT or
// empty are ignored (a block that straddles SND.UNA is clamped to it);
// segments are marked only when a block covers them whole, so nothing is
// ever split or allocated; and the work of an ACK is linear in the
// write queue, never in what the peer sends: at most one walk to mark
// SACKed segments (from a hint when it can), one to mark lost ones, and
// one for NextSeg's rule 1, three in all. Segments are
// marked lost by RACK (rack.go), whose walk is linear in the write queue
// too.

// sackRcv folds the SACK blocks of ACK g into the scoreboard (RFC 6675 §5
// step 1, "update the scoreboard via the Update () routine") and returns
// how many segments became SACKed. The first block is a D-SACK (RFC 2883
// §4) when it lies below the cumulative ACK or inside the second block:
// it is counted, may widen RACK's reordering window (rackDSACK), and
// reports nothing lost or received.
func (s *Sock) sackRcv(g *segment) int {
	s.sackSteps = 0
	s.rackNewAck()
	o := &g.opts
	if !s.sackOK || o.NumSACK == 0 {
		return 0
	}
	p := s.proto
	var blk [header.TCPMaxSACKBlocks]sackBlock
	n := 0
	for i, sb := range o.SACK() {
		start, end := seqnum.Value(sb.Start), seqnum.Value(sb.End)
		if i == 0 && isDSACK(g, start, end) {
			p.stats.DSACKsReceived.Inc()
			s.rackDSACK()
			continue
		}
		if !start.LessThan(end) || !s.snd.una.LessThan(end) || end.GreaterThan(s.snd.nxt) {
			p.stats.SACKBlocksIgnored.Inc()
			continue
		}
		start = seqnum.Max(start, s.snd.una)
		// Insertion into blk, ordered by left edge.
		j := n
		for j > 0 && start.LessThan(blk[j-1].start) {
			blk[j] = blk[j-1]
			j--
		}
		blk[j] = sackBlock{start, end}
		n++
	}
	if n == 0 {
		return 0
	}
	s.rack.blocks = true
	// Merge blocks that overlap or touch.
	m := 0
	for i := 1; i < n; i++ {
		if blk[i].start.LessThanEq(blk[m].end) {
			blk[m].end = seqnum.Max(blk[m].end, blk[i].end)
			continue
		}
		m++
		blk[m] = blk[i]
	}
	n = m + 1
	return s.sackMark(blk[:n])
}

// isDSACK reports whether the first SACK block of g, start-end, is a
// D-SACK (RFC 2883 §4): it lies below the cumulative acknowledgment, or
// within the second block.
func isDSACK(g *segment, start, end seqnum.Value) bool {
	if start.LessThan(g.ack) {
		return true
	}
	if g.opts.NumSACK < 2 {
		return false
	}
	b := g.opts.SACKBlocks[1]
	s2, e2 := seqnum.Value(b.Start), seqnum.Value(b.End)
	return s2.LessThanEq(start) && end.LessThanEq(e2) && start.LessThan(end)
}

// sackMark marks cbSacked the sent segments that the sorted, disjoint
// blocks cover whole, in one walk of the write queue from the segment
// that met the lowest block last time when it still lies below it. A
// segment SACKed is no longer lost nor a retransmission in flight.
func (s *Sock) sackMark(blk []sackBlock) int {
	q := &s.WriteQueue
	b := q.Front()
	if h := s.sackHint; h != nil && cbOf(h).seq.LessThanEq(blk[0].start) {
		b = h
	}
	s.sackHint = nil
	newly := 0
	i := 0
	now := s.now()
	for ; b != nil && b != s.sendHead; b = q.NextOf(b) {
		s.sackSteps++
		c := cbOf(b)
		for i < len(blk) && blk[i].end.LessThanEq(c.seq) {
			i++
		}
		if i == len(blk) {
			break
		}
		if s.sackHint == nil && c.endSeq.GreaterThan(blk[0].start) {
			s.sackHint = b
		}
		if c.sacked&cbSacked != 0 || c.seq.LessThan(blk[i].start) || c.endSeq.GreaterThan(blk[i].end) {
			continue
		}
		if c.sacked&cbLost != 0 {
			s.lostOut--
		}
		s.rackUpdate(c, now)
		c.sacked = c.sacked&^(cbLost|cbRetrans) | cbSacked
		s.sackedOut++
		newly++
		if s.sackedOut == 1 || c.endSeq.GreaterThan(s.highSacked) {
			s.highSacked = c.endSeq
		}
	}
	return newly
}

// sackProgress runs on a SACK connection after an ACK that advanced
// SND.UNA, SACKed new data, or counted as a duplicate, and at RACK's
// reordering timeout. RACK (RFC 8985 §6, rack.go) is the loss detector,
// in place of RFC 6675 §4's IsLost: outside recovery, recovery starts
// (RFC 6675 §5 step 4) when RACK marks a segment lost, or, when the peer
// reports no SACK blocks at all, on DupThresh duplicate ACKs; in
// recovery, what RACK marks is retransmitted (§5 step (C)).
func (s *Sock) sackProgress() {
	if s.cc == nil || s.inLoss {
		return
	}
	lost := s.rackLoss()
	if !s.inRecovery {
		if lost > 0 || s.sackedOut == 0 && s.dupAcks >= dupThresh {
			s.enterSACKRecovery()
		}
		return
	}
	s.sackRetransmit()
}

// enterSACKRecovery is RFC 6675 §5 step 4, unless the cumulative ACK
// does not pass RecoveryPoint (recover here), which shows the loss
// belongs to a previous recovery or RTO:
//
//   - RecoveryPoint = HighData (4.1);
//   - ssthresh from the congestion control and cwnd = ssthresh (4.2);
//   - the first unacknowledged segment is retransmitted (4.3), whatever
//     pipe is, when RACK marked it lost or nothing is SACKed (a peer
//     that reports no blocks);
//   - then, while cwnd - pipe >= 1 SMSS, NextSeg's segments go (4.4).
func (s *Sock) enterSACKRecovery() {
	if !s.startRecovery() {
		return
	}
	p := s.proto
	s.SetCwnd(s.ssthresh)
	s.cwndCnt = 0
	p.stats.SACKRecoveries.Inc()
	head := s.WriteQueue.Front()
	if head != nil && head != s.sendHead && (s.sackedOut == 0 || cbOf(head).sacked&cbLost != 0) {
		if s.retransmitSkb(head) {
			p.stats.FastRetransmits.Inc()
			p.stats.SACKRetransmits.Inc()
		}
	}
	s.sackRetransmit()
}

// sackRecoveryAck processes an ACK of new data in SACK recovery. RFC
// 6675 §5: recovery ends when RecoveryPoint is acknowledged, cwnd keeping
// the ssthresh it took on entry. A partial ACK while nothing is SACKed
// means the peer, though it permitted SACK, reports no blocks (anything
// sent after the new head and before the retransmission that the ACK
// answers would otherwise be SACKed): the head is retransmitted as
// NewReno would (RFC 6582 §3.2 step 5), or only an RTO could repair it.
// Once the peer has sent SACK blocks, RACK decides what is lost: a
// partial ACK with nothing SACKed may well follow a reordering.
func (s *Sock) sackRecoveryAck() {
	if !s.snd.una.LessThan(s.recover) {
		s.inRecovery = false
		s.SetCwnd(s.ssthresh)
		s.cwndCnt = 0
		s.rackRecoveryEnd()
		return
	}
	head := s.WriteQueue.Front()
	if s.rack.blocks || s.sackedOut != 0 || head == nil || head == s.sendHead || cbOf(head).sacked&cbRetrans != 0 {
		return
	}
	p := s.proto
	p.stats.PartialAcks.Inc()
	if s.retransmitSkb(head) {
		p.stats.FastRetransmits.Inc()
		p.stats.SACKRetransmits.Inc()
	}
}

// sackRetransmit sends what RFC 6675 §4's NextSeg chooses while cwnd -
// pipe >= 1 SMSS, rule 1: the first segment deemed lost (cbLost, by
// RACK) and not yet retransmitted. Rule 2, new data, is push's, which
// runs after the ACK. Rule 3's speculative retransmission of an
// unSACKed segment not deemed lost is not used: with RACK as the loss
// detector (RFC 8985 §6), a segment not yet marked is within the
// reordering window, and resending it would undo the tolerance of
// reordering that the window buys (Linux does not use it either).
func (s *Sock) sackRetransmit() {
	p := s.proto
	q := &s.WriteQueue
	for b := s.rtxNext; b != nil && b != s.sendHead && s.inflight() < int(s.cwnd); b = s.rtxNext {
		s.sackSteps++
		if cbOf(b).sacked&cbLost == 0 {
			s.rtxNext = q.NextOf(b)
			continue
		}
		if !s.retransmitSkb(b) {
			return
		}
		p.stats.FastRetransmits.Inc()
		p.stats.SACKRetransmits.Inc()
		s.rtxNext = q.NextOf(b)
	}
}
