package tcp

import (
	"syscall"
	"time"

	"github.com/dpstack/dpstack/stack/header"
	"github.com/dpstack/dpstack/stack/sock"
	"github.com/dpstack/dpstack/stack/tcp/seqnum"
	"github.com/dpstack/dpstack/stat"
)

// pawsIdle is how long TS.Recent stays valid without being refreshed:
// after 24 days PAWS no longer applies (RFC 7323 §5.5).
const pawsIdle = 24 * 24 * time.Hour

// Flag shorthands.
const (
	flagFIN = header.TCPFlagFIN
	flagSYN = header.TCPFlagSYN
	flagRST = header.TCPFlagRST
	flagPSH = header.TCPFlagPSH
	flagACK = header.TCPFlagACK
)

// closedRcv answers a segment for which no connection exists: the CLOSED
// state of RFC 9293 §3.10.7.1. "An incoming segment containing a RST is
// discarded. An incoming segment not containing a RST causes a RST to be
// sent in response": <SEQ=SEG.ACK><CTL=RST> when it carries an ACK,
// <SEQ=0><ACK=SEG.SEQ+SEG.LEN><CTL=RST,ACK> otherwise.
func (p *Proto) closedRcv(g *segment) {
	p.sendResetFor(g)
	p.drop(g.b, stat.DropTCPNoSocket)
}

// freeSeg frees what remains of the segment being processed, without
// counting a drop: its data went to a queue, or it needs nothing more.
func (p *Proto) freeSeg(g *segment) {
	if g.b != nil {
		p.free(g.b)
		g.b = nil
	}
}

// dropSeg drops the segment being processed for reason r.
func (s *Sock) dropSeg(g *segment, r stat.DropReason) {
	if g.b != nil {
		s.proto.drop(g.b, r)
		g.b = nil
	}
}

// doRcv processes a segment for a socket in the established table
// (tcp_v4_do_rcv): SYN-SENT by §3.10.7.3, every other state by §3.10.7.4,
// then whatever the segment allows us to send.
func (s *Sock) doRcv(g *segment) {
	switch {
	case s.Common.State == sock.SynSent:
		s.synSentRcv(g)
	case s.predicted(g):
		s.fastRcv(g)
	default:
		s.otherRcv(g)
	}
	s.proto.freeSeg(g)
	if s.synchronized() {
		s.push()
		s.ackSndCheck()
	}
}

// synchronized reports whether the socket is in a state that sends data
// or ACKs: SYN-RECEIVED through LAST-ACK.
func (s *Sock) synchronized() bool {
	switch s.Common.State {
	case sock.SynRecv, sock.Established, sock.FinWait1, sock.FinWait2, sock.CloseWait, sock.Closing, sock.LastAck:
		return true
	}
	return false
}

// synSentRcv is RFC 9293 §3.10.7.3, SYN-SENT
// (tcp_rcv_synsent_state_process).
func (s *Sock) synSentRcv(g *segment) {
	p := s.proto
	// First, check the ACK bit: "If SEG.ACK =< ISS or SEG.ACK > SND.NXT,
	// send a reset (unless the RST bit is set, if so drop the segment and
	// return)."
	ackOK := false
	if g.flags&flagACK != 0 {
		if g.ack.LessThanEq(s.snd.iss) || g.ack.GreaterThan(s.snd.nxt) {
			p.sendResetFor(g)
			s.dropSeg(g, stat.DropTCPAckInvalid)
			return
		}
		ackOK = true
	}
	// Second, check the RST bit: "If the ACK was acceptable, then signal
	// to the user 'error: connection reset', drop the segment, enter
	// CLOSED state ... Otherwise (no ACK), drop the segment and return."
	// (RFC 5961 §3.2: in SYN-SENT a RST is acceptable when its ACK
	// acknowledges the SYN.)
	if g.flags&flagRST != 0 {
		if ackOK {
			s.reset(syscall.ECONNREFUSED)
			return
		}
		s.dropSeg(g, stat.DropTCPRSTInvalid)
		return
	}
	// Fourth, check the SYN bit.
	if g.flags&flagSYN == 0 {
		s.dropSeg(g, stat.DropTCPSynSent)
		return
	}
	s.rcv.irs = g.seq
	s.rcv.nxt = g.seq.Add(1)
	s.rcv.wup = s.rcv.nxt
	s.takeSynOptions(g)
	// The window of a SYN is never scaled (RFC 7323 §2.2).
	s.snd.wnd = g.wnd
	s.snd.maxWnd = max(s.snd.maxWnd, s.snd.wnd)
	s.snd.wl1 = g.seq
	s.snd.wl2 = g.ack
	if ackOK {
		// "If SND.UNA > ISS (our SYN has been ACKed), change the
		// connection state to ESTABLISHED, form an ACK segment
		// <SEQ=SND.NXT><ACK=RCV.NXT><CTL=ACK> and send it."
		s.rcvTstamp = s.now()
		s.snd.una = g.ack
		s.cleanRtxQueue(g)
		s.retransmits, s.backoff, s.retransStamp = 0, 0, 0
		if s.packetsOut == 0 {
			s.rtxT.on = false
		}
		s.setState(sock.Established)
		s.wake(evWrite)
		// The ACK waits for the end of the turn, for the data the
		// application may send on the connection coming up (deferAck).
		s.ackPending = true
		s.deferAck()
		// "If there are other controls or text in the segment, then
		// continue processing at the sixth step."
		s.textStep(g)
		return
	}
	// "Otherwise, enter SYN-RECEIVED, form a SYN,ACK segment
	// <SEQ=ISS><ACK=RCV.NXT><CTL=SYN,ACK> and send it": a simultaneous
	// open. The SYN on the write queue goes again, now with ACK.
	s.setState(sock.SynRecv)
	if head := s.WriteQueue.Front(); head != nil {
		s.transmitSkb(head)
	}
}

// predicted reports whether g is the segment an established connection
// expects next, which fastRcv takes (header prediction, Van Jacobson's, as
// in Linux's tcp_rcv_established): ESTABLISHED; ACK, perhaps with PSH, and
// no other flag; SEG.SEQ = RCV.NXT; SND.UNA =< SEG.ACK =< SND.NXT; the
// send window unchanged; no SACK blocks; and, when timestamps are in use,
// a TSval no older than TS.Recent. Such a segment passes the sequence
// check (it starts at RCV.NXT, which RCV.WUP never passes), PAWS (RFC
// 7323 §5.3), and the ACK's range checks, and the RST and SYN steps have
// nothing to do: only the ACK and the text remain. Anything else takes
// the full path of otherRcv.
func (s *Sock) predicted(g *segment) bool {
	if s.Common.State != sock.Established || g.flags&^flagPSH != flagACK || g.seq != s.rcv.nxt ||
		g.opts.NumSACK != 0 || g.ack.LessThan(s.snd.una) || g.ack.GreaterThan(s.snd.nxt) ||
		g.wnd<<s.sndWscale != s.snd.wnd {
		return false
	}
	if s.tsOK {
		return g.opts.HasTS && int32(g.opts.TSVal-s.tsRecent) >= 0
	}
	return true
}

// fastRcv processes a predicted segment: the ACK (ack.go), then in-order
// data straight onto the receive queue, as the text step would
// (dataQueue, queueInOrder). A pure ACK is counted in HPAcks, data in
// HPHits (Linux's TCPHPAcks, TCPHPHits). Data the text step must look at
// (a socket the user closed, a zero window, or a state the ACK changed)
// goes to textStep.
func (s *Sock) fastRcv(g *segment) {
	if g.dataLen == 0 {
		s.proto.stats.HPAcks.Inc()
		s.ack(g)
		return
	}
	s.proto.stats.HPHits.Inc()
	if !s.ack(g) {
		return
	}
	if !s.rcvFastOK() {
		s.textStep(g)
		return
	}
	g.b.Pull(g.hdr.DataOffset())
	s.measureRcvMSS(rcvSegSize(g))
	s.queueInOrder(g, g.seq.Add(seqnum.Size(g.dataLen)), false)
}

// rcvFastOK reports whether in-order data after its ACK may go straight to
// the receive queue: ESTABLISHED, a socket the user has not closed, and
// room in the window; else the text step looks at it.
func (s *Sock) rcvFastOK() bool {
	return s.Common.State == sock.Established && !s.Dead && s.rcvWindow() != 0
}

// otherRcv is RFC 9293 §3.10.7.4, "Otherwise": the synchronized states
// (tcp_rcv_state_process, tcp_validate_incoming), step by step.
func (s *Sock) otherRcv(g *segment) {
	if !s.seqStep(g) {
		return
	}
	if g.flags&flagRST != 0 {
		s.rstStep(g)
		return
	}
	// Third, security: dpstack has no security compartments.
	if g.flags&flagSYN != 0 && !s.synStep(g) {
		return
	}
	if !s.ackStep(g) {
		return
	}
	// Sixth, the URG bit: ignored. Urgent data stays in the stream, as
	// with SO_OOBINLINE; RFC 6093 §6 recommends that applications not use
	// it. (Linux pulls the urgent byte out of the stream by default.)
	s.textStep(g)
}

// seqStep is the first step (RFC 9293 §3.10.7.4, "First, check sequence
// number"), with PAWS ahead of it (RFC 7323 §5.3).
//
// PAWS: a segment whose TSval is older than TS.Recent is dropped and
// ACKed, unless it is a RST (Linux accepts a RST that fails PAWS, and RFC
// 7323 §5.3 R1 applies PAWS to "non-<RST>" segments).
//
// The window test is Linux's tcp_sequence: the segment must end at or
// after the left edge of the window last advertised (RCV.NXT at the time,
// rcv_wup) and start no later than its right edge. It accepts what RFC
// 9293's four cases accept, and also segments at RCV.NXT when the window
// is zero ("special allowance should be made to accept valid ACKs, URGs,
// and RSTs", ibid.), and retransmissions that overlap the left edge,
// whose old part the text step answers with a D-SACK. An unacceptable
// segment is dropped and answered with an ACK (rate-limited unless it
// carries data), or, for a SYN, a challenge ACK (RFC 5961 §4.2).
func (s *Sock) seqStep(g *segment) bool {
	if s.tsOK && g.opts.HasTS && g.flags&flagRST == 0 && s.pawsReject(g.opts.TSVal) {
		s.proto.stats.PAWSRejected.Inc()
		s.sendDupAck(g)
		s.dropSeg(g, stat.DropTCPPAWS)
		return false
	}
	if !g.end().LessThan(s.rcv.wup) && !g.seq.GreaterThan(s.rcv.nxt.Add(seqnum.Size(s.rcvWindow()))) {
		return true
	}
	switch {
	case g.flags&flagRST != 0:
	case g.flags&flagSYN != 0:
		s.challengeAck()
	default:
		s.sendDupAck(g)
	}
	s.dropSeg(g, stat.DropTCPInvalidSeq)
	return false
}

// pawsReject reports whether tsval fails PAWS (RFC 7323 §5.3): it is
// older than TS.Recent, while TS.Recent is less than 24 days old.
func (s *Sock) pawsReject(tsval uint32) bool {
	if int32(tsval-s.tsRecent) >= 0 {
		return false
	}
	return s.now().Sub(s.tsStamp) < pawsIdle
}

// rstStep is the second step for a RST (RFC 9293 §3.10.7.4 with RFC 5961
// §3.2): one exactly at RCV.NXT resets the connection; one elsewhere in
// the window draws a challenge ACK <SEQ=SND.NXT><ACK=RCV.NXT><CTL=ACK>
// and is dropped (the seqStep dropped those outside the window). As in
// Linux (tcp_reset_check), a RST at RCV.NXT-1 is exact too once the peer's
// FIN is in: the peer sends it with its FIN's sequence number.
func (s *Sock) rstStep(g *segment) {
	exact := g.seq == s.rcv.nxt
	if !exact && g.seq == s.rcv.nxt.Sub(1) {
		switch s.Common.State {
		case sock.CloseWait, sock.Closing, sock.LastAck:
			exact = true
		}
	}
	if !exact {
		s.challengeAck()
		s.dropSeg(g, stat.DropTCPRSTInvalid)
		return
	}
	// SYN-RECEIVED here came from a simultaneous open (a passive one is
	// a RequestSock): "the connection was refused". In CLOSING and
	// LAST-ACK the connection just goes; the rest signal a reset.
	s.proto.free(g.b)
	g.b = nil
	s.reset(s.resetErr())
}

// synStep is the fourth step for a SYN (RFC 9293 §3.10.7.4 with RFC 5961
// §4.2): in a synchronized state a SYN, whatever its sequence number,
// draws a challenge ACK and is dropped. One exception, as in Linux
// (tcp_validate_incoming): in a simultaneous open's SYN-RECEIVED, the
// peer's SYN-ACK that repeats its SYN and acknowledges ours goes on to the
// ACK step, which establishes the connection.
func (s *Sock) synStep(g *segment) bool {
	if s.Common.State == sock.SynRecv && g.flags&flagACK != 0 && g.dataLen == 0 &&
		g.flags&flagFIN == 0 && g.seq.Add(1) == s.rcv.nxt && g.ack == s.snd.nxt {
		return true
	}
	s.challengeAck()
	s.dropSeg(g, stat.DropTCPSYNInvalid)
	return false
}

// ackStep is the fifth step (RFC 9293 §3.10.7.4, "Fifth, check the ACK
// field"): without ACK the segment is dropped; in SYN-RECEIVED an ACK of
// our SYN establishes the connection and any other ACK draws a RST; then
// the ACK is processed (ack.go) and the states waiting for our FIN move
// on. It reports whether processing continues with the text.
func (s *Sock) ackStep(g *segment) bool {
	if g.flags&flagACK == 0 {
		s.dropSeg(g, stat.DropTCPNoACK)
		return false
	}
	if s.Common.State == sock.SynRecv {
		// "If SND.UNA < SEG.ACK =< SND.NXT, then enter ESTABLISHED state
		// and continue processing with the variables below set to:
		// SND.WND <- SEG.WND, SND.WL1 <- SEG.SEQ, SND.WL2 <- SEG.ACK.
		// If the segment acknowledgment is not acceptable, form a reset
		// segment <SEQ=SEG.ACK><CTL=RST> and send it."
		if !s.snd.una.LessThan(g.ack) || g.ack.GreaterThan(s.snd.nxt) {
			s.proto.sendResetFor(g)
			s.dropSeg(g, stat.DropTCPAckInvalid)
			return false
		}
		s.snd.wnd = s.scaledWindow(g)
		s.snd.maxWnd = max(s.snd.maxWnd, s.snd.wnd)
		s.snd.wl1, s.snd.wl2 = g.seq, g.ack
		if !s.ack(g) {
			return false
		}
		s.setState(sock.Established)
		s.wake(evWrite)
	} else if !s.ack(g) {
		return false
	}
	if !s.finAcked() {
		return true
	}
	switch s.Common.State {
	case sock.FinWait1:
		// "In addition to the processing for the ESTABLISHED state, if
		// the FIN segment is now acknowledged, then enter FIN-WAIT-2."
		s.setState(sock.FinWait2)
		if s.Dead {
			s.arm(&s.keepT, s.now().Add(s.proto.finTimeout))
		}
	case sock.Closing:
		// "If the ACK acknowledges our FIN, then enter the TIME-WAIT
		// state; otherwise, ignore the segment."
		s.proto.free(g.b)
		g.b = nil
		s.enterTimeWait()
		return false
	case sock.LastAck:
		// "If our FIN is now acknowledged, delete the TCB, enter the
		// CLOSED state, and return."
		s.proto.free(g.b)
		g.b = nil
		s.done()
		return false
	}
	return true
}

// finAcked reports whether our FIN is queued and acknowledged.
func (s *Sock) finAcked() bool {
	return s.finQueued && s.snd.una == s.snd.writeSeq
}

// scaledWindow is SEG.WND scaled by the peer's shift; the window of a SYN
// is never scaled (RFC 7323 §2.2).
func (s *Sock) scaledWindow(g *segment) uint32 {
	if g.flags&flagSYN != 0 {
		return g.wnd
	}
	return g.wnd << s.sndWscale
}

// textStep is the seventh and eighth steps (RFC 9293 §3.10.7.4,
// "Seventh, process the segment text" and "Eighth, check the FIN bit"),
// in the states that still receive: see rcv.go.
func (s *Sock) textStep(g *segment) {
	if g.dataLen == 0 && g.flags&flagFIN == 0 {
		return
	}
	switch s.Common.State {
	case sock.Established, sock.FinWait1, sock.FinWait2, sock.SynRecv:
	default:
		// CLOSE-WAIT, CLOSING, LAST-ACK: the peer's FIN is in. A
		// retransmission of old data or of the FIN is answered with an
		// ACK; anything new "should not occur since a FIN has been
		// received from the remote side. Ignore the segment text."
		if !g.end().GreaterThan(s.rcv.nxt) {
			s.scheduleAck(true)
			s.dropSeg(g, stat.DropTCPOldData)
			return
		}
		s.dropSeg(g, stat.DropTCPClosing)
		return
	}
	if s.Dead && g.dataLen > 0 && g.end().Sub(uint32Size(g.flags&flagFIN)).GreaterThan(s.rcv.nxt) {
		// New data for a socket the user closed: nobody will read it.
		// Linux resets the connection (tcp_rcv_state_process, "abort on
		// data"; RFC 9293 §3.10.4 leaves the choice open).
		s.proto.stats.AbortOnData.Inc()
		s.sendActiveReset()
		s.dropSeg(g, stat.DropTCPAfterClose)
		s.done()
		return
	}
	s.dataQueue(g)
}

// uint32Size turns a flag bit (0 or 1 after masking FIN) into a Size.
func uint32Size(f uint8) seqnum.Size {
	if f != 0 {
		return 1
	}
	return 0
}

// takeSynOptions records what the peer's SYN (or SYN-ACK, when active)
// offered and settles the connection's options (tcp_parse_options in a
// SYN, tcp_synsent / tcp_openreq_init): MSS, 536 when absent or 0 (RFC
// 9293 §3.7.1); window scaling only when both SYNs carry it, a shift over
// 14 taken as 14 (RFC 7323 §2.2, §2.3); timestamps only when both carry
// them (RFC 7323 §3.2); SACK only when both permit it (RFC 2018 §2). We
// offer all four in every SYN, so for an active open "both" is the peer.
func (s *Sock) takeSynOptions(g *segment) {
	o := &g.opts
	s.peerMSS = defaultMSS
	if o.HasMSS && o.MSS != 0 {
		s.peerMSS = int(o.MSS)
	}
	s.wscaleOK = o.HasWS
	if s.wscaleOK {
		s.sndWscale = o.WindowShift()
	} else {
		s.sndWscale, s.rcvWscale = 0, 0
	}
	s.tsOK = o.HasTS
	if s.tsOK {
		s.tsRecent = o.TSVal
		s.tsStamp = s.now()
	}
	s.sackOK = o.SACKPermitted
	s.setMSS()
}
