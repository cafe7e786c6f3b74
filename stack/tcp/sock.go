package tcp

import (
	"net/netip"
	"syscall"
	"time"

	"github.com/dpstack/dpstack/ktime"
	"github.com/dpstack/dpstack/mbuf"
	"github.com/dpstack/dpstack/stack/header"
	"github.com/dpstack/dpstack/stack/route"
	"github.com/dpstack/dpstack/stack/sock"
	"github.com/dpstack/dpstack/stack/tcp/seqnum"
)

// Socket events, delivered after the processing that caused them.
const (
	evData  uint8 = 1 << iota // sk_data_ready
	evWrite                   // sk_write_space
	evState                   // sk_state_change
	evError                   // sk_error_report
)

// deadline is one of a socket's timers, cancelled lazily
// (ARCHITECTURE.md §8): the socket keeps the deadline; the wheel's timer only wakes it, no later
// than the deadline, and is re-armed when it fires early. Moving a
// deadline later (every ACK moves the RTO) costs no wheel operation.
type deadline struct {
	t  ktime.Timer
	at ktime.Time
	on bool
}

// Sock is a TCP socket (struct tcp_sock with its inet_connection_sock),
// embedding the generic sock.Sock. Its connection variables carry their
// RFC 9293 §3.3.1 names. A Sock belongs to one core: every method runs
// there, none blocks, none locks.
type Sock struct {
	sock.Sock

	proto  *Proto
	tuple  fourTuple
	hashed bool // in the established table
	bucket *bindBucket
	dst    *route.Dst

	orphanPrev, orphanNext *Sock // in the core's orphanQueue once Dead

	snd sndVars // the send sequence variables (RFC 9293 §3.3.1)
	rcv rcvVars // the receive sequence variables (RFC 9293 §3.3.1)

	// Negotiated options.
	mss       int // send MSS: data bytes per segment (mss_cache)
	advMSS    int // the MSS we advertised
	peerMSS   int // the MSS the peer advertised, 536 without (RFC 9293 §3.7.1)
	rcvMSS    int // guess of the peer's segment size, for delayed ACKs
	sndWscale uint8
	rcvWscale uint8
	wscaleOK  bool
	tsOK      bool
	sackOK    bool
	tsRecent  uint32     // TS.Recent (RFC 7323 §4.3)
	tsOff     uint32     // this connection's timestamp clock offset
	tsStamp   ktime.Time // when TS.Recent was set, for the 24-day PAWS rule

	// Path MTU (mtu.go).
	pmtuCookie int      // the route MTU the send MSS was computed from (icsk_pmtu_cookie)
	mtup       mtuProbe // packetization-layer PMTUD (RFC 4821; icsk_mtup)

	// Retransmission (RFC 6298).
	srtt         time.Duration
	rttvar       time.Duration
	rto          time.Duration
	backoff      int        // RTO doublings in a row
	retransmits  int        // timeouts since the last forward progress
	retransStamp ktime.Time // first transmission of the oldest unacknowledged segment

	// Congestion control and loss (RFC 5681); see congestion.go.
	cc         CongestionOps
	cubic      Cubic  // the state of cc when it is CUBIC
	cwnd       uint32 // congestion window in segments
	ssthresh   uint32
	cwndCnt    uint32       // congestion-avoidance counter (snd_cwnd_cnt)
	packetsOut int          // segments sent and not acknowledged
	lostOut    int          // segments marked lost by an RTO, not retransmitted since
	dupAcks    int          // consecutive duplicate ACKs (RFC 5681 §2)
	ltOut      int          // segments sent by limited transmit since the last new ACK (RFC 3042)
	inRecovery bool         // in NewReno fast recovery (RFC 6582), until recover is acknowledged
	recover    seqnum.Value // SND.NXT on entering recovery or at the last RTO: one past RFC 6582's recover
	inLoss     bool         // after an RTO, until highRxt is acknowledged
	synRetrans bool         // the SYN or SYN-ACK was retransmitted (with inLoss: no padding)
	highRxt    seqnum.Value
	rtxNext    *mbuf.Buf // next segment to retransmit in loss recovery

	// The SACK scoreboard (RFC 6675 §3), kept in the write queue's cb.sacked.
	sackedOut  int          // segments on the write queue marked cbSacked (RFC 6675 scoreboard)
	highSacked seqnum.Value // end of the highest SACKed segment, while sackedOut > 0
	groCalm    seqnum.Value // with groWary (gro.go); here, beside a 32-bit field, for Sock's size class
	sackHint   *mbuf.Buf    // where the last scoreboard walk found its lowest block (nil: the front)
	sackSteps  int          // segments the last ACK's scoreboard walks visited (tests)

	// RACK-TLP (RFC 8985); see rack.go.
	rack  rackState
	lossT deadline // RACK's reordering timer or TLP's PTO

	sendHead   *mbuf.Buf // first unsent segment on WriteQueue, nil when all sent
	finQueued  bool      // our FIN is on the write queue
	finPending bool      // our FIN is due but found no mbuf yet

	// Receiving.
	ofo     mbuf.Queue // out-of-order segments, by sequence number
	selAcks [header.TCPMaxSACKBlocks]sackBlock
	numSel  int
	dsack   sackBlock
	dsackOn bool

	// Receive-buffer autotuning (rcvbuf.go).
	rcvq   rcvSpace
	rcvRTT rcvRTTEst

	// Acknowledgment (inet_connection_sock's icsk_ack).
	ackPending bool
	ackNow     bool          // the pending ACK must not wait
	ackLater   bool          // the pending ACK waits for the end of the turn (deferAck)
	pingpong   bool          // interactive: delay ACKs to piggyback them
	groWary    bool          // GRO groups of two segments until RCV.NXT reaches groCalm (gro.go)
	quick      int           // ACKs still to send at once (quickack mode)
	ato        time.Duration // the delayed-ACK timeout
	lrcvTime   ktime.Time    // last data received
	lsndTime   ktime.Time    // last data sent
	rcvTstamp  ktime.Time    // last ACK received
	oowStamp   ktime.Time    // last challenge or out-of-window ACK (rate limit)

	// Timers.
	rtxT      deadline // retransmission, or persist when probing
	delackT   deadline
	keepT     deadline // keepalive, FIN-WAIT-2
	probesOut int      // unanswered window or keepalive probes
	probeTime ktime.Time

	lq *listenQueue // a listener's queues (listen.go); nil until Listen

	// Zero-copy send in progress (SendBuffer / Commit).
	pend    *mbuf.Buf
	pendLen int
	pendNew bool

	active    bool // opened by Connect
	connected bool // reached ESTABLISHED once
	released  bool // the user closed it
	probing   bool // rtxT is the persist timer (among the bools: no padding)
	reusable  bool // the user gave it up for good (Release): the core may reuse it
	events    uint8
}

// init sets s up as a fresh CLOSED socket of p.
func (s *Sock) init(p *Proto) {
	s.Sock.Init()
	s.Sock.Mem = &p.mem
	s.proto = p
	s.rto = initialRTO
	s.ato = delackMin
	s.rtxT.t.Init(rtxTimer)
	s.delackT.t.Init(delackTimer)
	s.keepT.t.Init(keepTimer)
	s.lossT.t.Init(lossTimer)
}

// State is the connection's state (RFC 9293 §3.3.2). A socket that went
// through TIME-WAIT reads Closed: the TIME-WAIT state lives on in a
// TimewaitSock (see Proto.StateOf), as in Linux.
func (s *Sock) State() sock.State { return s.Common.State }

// sndVars are a connection's send sequence variables (RFC 9293 §3.3.1),
// with Linux's additions: what is queued (write_seq), Nagle's mark, the
// largest window offered.
type sndVars struct {
	una      seqnum.Value // SND.UNA: oldest unacknowledged sequence number
	nxt      seqnum.Value // SND.NXT: next sequence number to send
	wnd      uint32       // SND.WND: the peer's window, scaled, in bytes
	wl1      seqnum.Value // SND.WL1: SEG.SEQ of the last window update
	wl2      seqnum.Value // SND.WL2: SEG.ACK of the last window update
	iss      seqnum.Value // ISS: initial send sequence number
	writeSeq seqnum.Value // sequence number of the next byte queued (write_seq)
	sml      seqnum.Value // end of the last small segment sent (Nagle, Minshall)
	maxWnd   uint32       // the largest window the peer offered (MAX.SND.WND)
}

// rcvVars are a connection's receive sequence variables (RFC 9293
// §3.3.1), with the window bookkeeping of Linux's rcv_wup and
// window_clamp.
type rcvVars struct {
	nxt   seqnum.Value // RCV.NXT: next sequence number expected
	wnd   uint32       // RCV.WND: the window last advertised, in bytes
	wup   seqnum.Value // RCV.NXT when wnd was advertised (rcv_wup)
	irs   seqnum.Value // IRS: initial receive sequence number
	clamp uint32       // the largest window we may offer
}

// Sk is the socket's sock (sock.ProtoOps).
func (s *Sock) Sk() *sock.Sock { return &s.Sock }

// LocalAddr is the bound address and port; zero when unbound.
func (s *Sock) LocalAddr() netip.AddrPort { return s.Local }

// RemoteAddr is the peer's address and port; zero when not connected.
func (s *Sock) RemoteAddr() netip.AddrPort { return s.Remote }

// Proto is the core's TCP the socket belongs to.
func (s *Sock) Proto() *Proto { return s.proto }

// now is the core's time.
func (s *Sock) now() ktime.Time { return s.proto.now() }

// wake records events for delivery after the current processing.
func (s *Sock) wake(ev uint8) { s.proto.wake(s, ev) }

// deliverEvents calls the callbacks for the recorded events.
func (s *Sock) deliverEvents() {
	ev := s.events
	s.events = 0
	if ev&evError != 0 && !s.Dead {
		s.Sock.ErrorReport()
	}
	if ev&evState != 0 && !s.Dead {
		s.Sock.StateChange()
	}
	if ev&evData != 0 && !s.Dead {
		s.Sock.DataReady()
	}
	if ev&evWrite != 0 && !s.Dead {
		s.Sock.WriteSpace()
	}
}

// setState moves to st (tcp_set_state). Moving to CLOSED takes the socket
// out of the tables and gives its port back, unless the user bound the
// port explicitly and still holds the socket.
func (s *Sock) setState(st sock.State) {
	old := s.Common.State
	if old == st {
		return
	}
	s.Common.State = st
	p := s.proto
	switch st {
	case sock.Established:
		if old == sock.SynSent || old == sock.SynRecv {
			s.initTransfer()
		}
	case sock.Closed:
		switch old {
		case sock.SynSent, sock.SynRecv:
			p.stats.AttemptFails.Inc()
		case sock.Established, sock.CloseWait:
			p.stats.EstabResets.Inc()
		}
		s.unhash()
		if s.Dead || s.UserLocks&sock.BindPortLock == 0 {
			p.unbind(s)
		}
	}
	s.wake(evState)
}

// hash puts the socket in the established table under its 4-tuple, and
// in the host's flow directory as this core's.
func (s *Sock) hash() {
	s.proto.est[s.tuple] = s
	s.proto.lastEst = nil
	s.hashed = true
	s.proto.flowAdd(s.tuple)
}

// unhash takes the socket out of the established table or the listeners.
func (s *Sock) unhash() {
	p := s.proto
	if s.hashed {
		if p.est[s.tuple] == s {
			delete(p.est, s.tuple)
			p.flowDel(s.tuple)
		}
		s.hashed = false
	}
	p.unlisten(s)
}

// done ends the connection (tcp_done): CLOSED, timers stopped, both
// directions shut. An orphan is destroyed; a socket the user holds keeps
// its unread data for RecvMsg.
func (s *Sock) done() {
	s.setState(sock.Closed)
	s.stopTimers()
	s.Sock.Shutdown = sock.ShutdownMask
	s.purgeWrite()
	s.purgeOFO()
	if s.Dead {
		s.destroy()
	}
}

// reset ends the connection with err reported to the user (tcp_reset):
// ECONNREFUSED in SYN-SENT, EPIPE in CLOSE-WAIT, ECONNRESET otherwise;
// nothing for an orphan.
func (s *Sock) reset(err syscall.Errno) {
	if !s.Dead {
		s.Err = err
		s.wake(evError | evData | evWrite)
	}
	s.done()
}

// resetErr is the error a RST reports in the current state (tcp_reset).
func (s *Sock) resetErr() syscall.Errno {
	switch s.Common.State {
	case sock.SynSent:
		return syscall.ECONNREFUSED
	case sock.CloseWait:
		return syscall.EPIPE
	case sock.Closed:
		return 0
	}
	if s.Common.State == sock.SynRecv && s.active {
		return syscall.ECONNREFUSED
	}
	return syscall.ECONNRESET
}

// orphan gives the socket up for good (sock_orphan): no more callbacks,
// and it joins the core's orphans until destroy. The caller trims them
// (trimOrphans) once it is done with the socket.
func (s *Sock) orphan() {
	if !s.Dead {
		s.Sock.Orphan()
		s.proto.orphans.push(s)
	}
}

// destroy frees everything of an orphaned, closed socket
// (inet_csk_destroy_sock).
func (s *Sock) destroy() {
	p := s.proto
	s.unhash()
	p.unbind(s)
	s.killTimers()
	s.purgeAll()
	if _, ok := p.all[s]; ok { // destroy may come twice (done, then Close)
		delete(p.all, s)
		if s.srtt > 0 {
			p.stats.SRTTAtClose.Observe(s.srtt)
		}
		p.mem.AddSocket(-1)
		if s.Dead {
			p.orphans.remove(s)
		}
		if s.reusable {
			p.released = append(p.released, s)
		}
	}
}

// teardown empties the socket at host shutdown, sending nothing.
func (s *Sock) teardown() {
	s.killTimers()
	s.purgeAll()
	s.hashed = false
	s.bucket = nil
	if s.lq != nil {
		s.lq.accept = nil
	}
	s.Common.State = sock.Closed
	s.Sock.Shutdown = sock.ShutdownMask
}

// purgeWrite frees the write queue (tcp_write_queue_purge).
func (s *Sock) purgeWrite() {
	p := s.proto
	s.abandonPending()
	for b := s.WriteQueue.PopFront(); b != nil; b = s.WriteQueue.PopFront() {
		s.UnchargeW(b)
		p.free(b)
	}
	s.sendHead, s.rtxNext = nil, nil
	s.packetsOut, s.lostOut = 0, 0
	s.sackedOut, s.sackHint = 0, nil
	s.finPending = false
}

// purgeOFO frees the out-of-order queue and forgets the SACK blocks.
func (s *Sock) purgeOFO() {
	for b := s.ofo.PopFront(); b != nil; b = s.ofo.PopFront() {
		s.UnchargeR(b)
		s.proto.free(b)
	}
	s.numSel = 0
}

// purgeReceive frees the receive queue (the reader is gone). Received
// packets are single-segment, so nothing is part-read beyond the first
// segment.
func (s *Sock) purgeReceive() {
	for b := s.ReceiveQueue.PopFront(); b != nil; b = s.ReceiveQueue.PopFront() {
		s.UnchargeR(b)
		s.proto.free(b)
	}
}

// purgeAll frees every packet the socket holds.
func (s *Sock) purgeAll() {
	s.purgeWrite()
	s.purgeOFO()
	s.PurgeQueues(s.proto.free)
}

// abandonPending drops a zero-copy send buffer that was never committed.
func (s *Sock) abandonPending() {
	if s.pend == nil {
		return
	}
	if s.pendNew {
		s.proto.free(s.pend)
	} else {
		s.pend.Trim(s.pend.Len() - s.pendLen)
	}
	s.pend, s.pendLen, s.pendNew = nil, 0, false
}

// arm sets deadline d to at, waking the wheel timer earlier if needed.
func (s *Sock) arm(d *deadline, at ktime.Time) {
	d.at, d.on = at, true
	if !d.t.Pending() || d.t.Expires() > at {
		s.proto.wheel.Schedule(&d.t, at)
	}
}

// due reports whether d's deadline has come when its timer fires at now,
// disarming it; a deadline moved later makes the timer wait again.
func (s *Sock) due(d *deadline, now ktime.Time) bool {
	if !d.on {
		return false
	}
	if now < d.at {
		s.proto.wheel.Schedule(&d.t, d.at)
		return false
	}
	d.on = false
	return true
}

// stopTimers disarms every deadline (lazily: the wheel timers fire and
// find nothing to do).
func (s *Sock) stopTimers() {
	s.rtxT.on, s.delackT.on, s.keepT.on, s.lossT.on = false, false, false, false
	s.probing = false
	s.rack.tlpOn, s.rack.reoOn = false, false
}

// killTimers cancels every timer on the wheel, for a socket about to go.
func (s *Sock) killTimers() {
	s.stopTimers()
	w := s.proto.wheel
	w.Cancel(&s.rtxT.t)
	w.Cancel(&s.delackT.t)
	w.Cancel(&s.keepT.t)
	w.Cancel(&s.lossT.t)
}

// route returns the Dst towards the peer, looking it up again when the
// table changed.
func (s *Sock) route() *route.Dst {
	if s.dst != nil && !s.dst.Obsolete() {
		return s.dst
	}
	p := s.proto
	p.fl = route.Flow4{Dst: s.Remote.Addr(), Src: s.Local.Addr(), Proto: header.IPProtoTCP,
		DstPort: s.Remote.Port(), SrcPort: s.Local.Port()}
	d, err := p.rt.Lookup(&p.fl)
	if err != nil {
		s.dst = nil
		return nil
	}
	s.dst = d
	return d
}

// The socket layer reaches TCP through these operations only.
var _ sock.ProtoOps = (*Sock)(nil)
