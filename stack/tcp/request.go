package tcp

import (
	"net/netip"
	"unsafe"

	"github.com/dpstack/dpstack/ktime"
	"github.com/dpstack/dpstack/stack/header"
	"github.com/dpstack/dpstack/stack/sock"
	"github.com/dpstack/dpstack/stack/tcp/seqnum"
	"github.com/dpstack/dpstack/stat"
)

// RequestSock is a connection in a listener's SYN queue (struct
// request_sock with tcp_request_sock): the SYN was answered with a SYN-ACK
// and the client's ACK is awaited. It is a mini-socket: the full Sock is
// made only when the handshake completes.
type RequestSock struct {
	listener *Sock
	tuple    fourTuple
	iss      seqnum.Value
	irs      seqnum.Value
	rcvWnd   uint32 // the window our SYN-ACK offers (unscaled)

	peerMSS   int
	advMSS    int
	sndWscale uint8
	rcvWscale uint8
	wscaleOK  bool
	sackOK    bool
	tsOK      bool
	tsRecent  uint32
	tsOff     uint32

	numTimeout int        // SYN-ACK retransmissions
	acked      bool       // the handshake completed while the accept queue was full
	sent       ktime.Time // last SYN-ACK
	oowStamp   ktime.Time
	timer      ktime.Timer
}

// seqFrom converts a raw sequence number.
func seqFrom(v uint32) seqnum.Value { return seqnum.Value(v) }

// rcvWscaleFor is the window shift we offer on sk's SYN: the least that
// lets the window field express the window of the largest buffer sk may
// get (rcvSpaceMax), as Linux sizes it from tcp_rmem[2]
// (tcp_select_initial_window).
func (p *Proto) rcvWscaleFor(sk *sock.Sock) uint8 {
	space := winFromSpace(p.rcvSpaceMax(sk))
	var ws uint8
	for space > 0xffff && ws < 14 {
		space >>= 1
		ws++
	}
	return ws
}

// advMSSFor is the MSS we advertise on a route of the given MTU (RFC 9293
// §3.7.1: MTU less the fixed IP and TCP headers), clamped by TCP_MAXSEG.
func advMSSFor(mtu, userMSS int) int {
	m := mtu - ipTCPHeaders
	if userMSS > 0 {
		m = min(m, userMSS)
	}
	return max(m, minMSS)
}

// newRequest makes the request for SYN g to listener l (tcp_openreq_init):
// its options settled as takeSynOptions does, its ISS from RFC 6528.
func (p *Proto) newRequest(l *Sock, g *segment, mtu int) *RequestSock {
	o := &g.opts
	r := &RequestSock{listener: l, tuple: g.tuple, irs: g.seq}
	r.peerMSS = defaultMSS
	if o.HasMSS && o.MSS != 0 {
		r.peerMSS = int(o.MSS)
	}
	r.advMSS = advMSSFor(mtu, l.Options.MaxSeg)
	if o.HasWS {
		r.wscaleOK = true
		r.sndWscale = o.WindowShift()
		r.rcvWscale = p.rcvWscaleFor(&l.Sock)
	}
	r.sackOK = o.SACKPermitted
	if o.HasTS {
		r.tsOK = true
		r.tsRecent = o.TSVal
		r.tsOff = p.tsOffset(g.tuple)
	}
	r.rcvWnd = min(winFromSpace(l.RcvBuf), 0xffff)
	r.iss = seqFrom(p.isn(g.tuple))
	r.timer.Init(requestTimerFired)
	return r
}

// requestTimerFired is the request's timer callback, a function that
// finds the request from the timer (from_timer, as sockOfTimer), so that
// the timer costs no allocation.
func requestTimerFired(t *ktime.Timer, now ktime.Time) {
	r := (*RequestSock)(unsafe.Add(unsafe.Pointer(t), -int(unsafe.Offsetof(RequestSock{}.timer))))
	r.listener.proto.requestTimer(r, now)
}

// sendSynAck sends the request's SYN-ACK <SEQ=ISS><ACK=RCV.NXT>
// <CTL=SYN,ACK> with the options the client offered (tcp_v4_send_synack).
func (p *Proto) sendSynAck(r *RequestSock) {
	laddr, raddr := header.U32Addr(r.tuple.laddr), header.U32Addr(r.tuple.raddr)
	b, d := p.controlSegment(laddr, raddr)
	if b == nil {
		return
	}
	h := &p.txh
	*h = txHeader{
		src: laddr, dst: raddr, sport: r.tuple.lport, dport: r.tuple.rport,
		seq: r.iss, ack: r.irs.Add(1), flags: flagSYN | flagACK,
		wnd: uint16(r.rcvWnd), mss: uint16(r.advMSS), ws: -1, sackPerm: r.sackOK,
	}
	if r.wscaleOK {
		h.ws = int(r.rcvWscale)
	}
	if r.tsOK {
		h.ts, h.tsVal, h.tsEcr = true, p.tsClock()+r.tsOff, r.tsRecent
	}
	r.sent = p.now()
	p.outputSegment(b, d)
}

// requestTimer retransmits the SYN-ACK with exponential backoff, and drops
// the request after synAckRetries (reqsk_timer_handler). A request whose
// handshake completed while the accept queue was full is retried the same
// way: the client answers the SYN-ACK again, and the connection is made
// once the queue has room.
func (p *Proto) requestTimer(r *RequestSock, now ktime.Time) {
	if p.reqs[r.tuple] != r {
		return
	}
	if r.numTimeout >= synAckRetries {
		p.stats.ListenDrops.Inc()
		p.dropRequest(r)
		return
	}
	r.numTimeout++
	p.stats.SynRetrans.Inc()
	p.stats.RetransSegs.Inc()
	p.sendSynAck(r)
	p.wheel.Schedule(&r.timer, now.Add(backedOff(initialRTO, r.numTimeout)))
}

// dropRequest takes r off its listener's SYN queue.
func (p *Proto) dropRequest(r *RequestSock) {
	if p.reqs[r.tuple] == r {
		delete(p.reqs, r.tuple)
		r.listener.lq.reqCount--
		p.flowDel(r.tuple)
	}
	p.wheel.Cancel(&r.timer)
}

// oowLimited is Sock.oowLimited for a request.
func (p *Proto) reqOOWLimited(r *RequestSock) bool {
	now := p.now()
	if r.oowStamp != 0 && now.Sub(r.oowStamp) < oowInterval {
		p.stats.OOWRateLimited.Inc()
		return true
	}
	r.oowStamp = now
	return false
}

// reqAck sends <SEQ=ISS+1><ACK=RCV.NXT><CTL=ACK> for a request
// (tcp_v4_reqsk_send_ack), rate-limited.
func (p *Proto) reqAck(r *RequestSock) {
	if p.reqOOWLimited(r) {
		return
	}
	laddr, raddr := header.U32Addr(r.tuple.laddr), header.U32Addr(r.tuple.raddr)
	b, d := p.controlSegment(laddr, raddr)
	if b == nil {
		return
	}
	h := &p.txh
	*h = txHeader{src: laddr, dst: raddr, sport: r.tuple.lport, dport: r.tuple.rport,
		seq: r.iss.Add(1), ack: r.irs.Add(1), flags: flagACK, wnd: uint16(r.rcvWnd >> r.rcvWscale), ws: -1}
	if r.tsOK {
		h.ts, h.tsVal, h.tsEcr = true, p.tsClock()+r.tsOff, r.tsRecent
	}
	p.outputSegment(b, d)
}

// requestRcv processes a segment for a request in SYN-RECEIVED
// (tcp_check_req), by RFC 9293 §3.10.7.4 for that state:
//
//   - PAWS failing (RFC 7323 §5): an ACK, the segment dropped;
//   - the client's SYN again: the SYN-ACK again, rate-limited;
//   - a RST exactly at RCV.NXT returns the connection to LISTEN (the
//     request goes); elsewhere in the window, a challenge ACK (RFC 5961
//     §3.2);
//   - another SYN: a challenge ACK (RFC 5961 §4.2);
//   - no ACK: dropped;
//   - an ACK of anything but our SYN: <SEQ=SEG.ACK><CTL=RST>;
//   - outside the window: an ACK, dropped;
//   - otherwise the handshake is complete: the full Sock is made, takes
//     the segment (with any data and FIN), and joins the accept queue. When
//     the accept queue is full the ACK is dropped instead, and the request
//     stays to be completed by a later ACK (Linux with tcp_abort_on_overflow
//     off), so the client's data is not lost.
func (p *Proto) requestRcv(r *RequestSock, g *segment) {
	l := r.listener
	rcvNxt := r.irs.Add(1)
	if r.tsOK && g.opts.HasTS && g.flags&flagRST == 0 && int32(g.opts.TSVal-r.tsRecent) < 0 {
		p.stats.PAWSRejected.Inc()
		p.reqAck(r)
		l.dropSeg(g, stat.DropTCPPAWS)
		return
	}
	if g.flags&(flagSYN|flagRST|flagACK) == flagSYN && g.seq == r.irs {
		if !p.reqOOWLimited(r) {
			p.stats.RetransSegs.Inc()
			p.sendSynAck(r)
		}
		p.free(g.b)
		g.b = nil
		return
	}
	inWindow := !g.end().LessThan(rcvNxt) && !g.seq.GreaterThan(rcvNxt.Add(seqnum.Size(r.rcvWnd)))
	if g.flags&flagRST != 0 {
		switch {
		case g.seq == rcvNxt:
			p.dropRequest(r)
			p.free(g.b)
			g.b = nil
		case inWindow:
			p.stats.ChallengeACKs.Inc()
			p.reqAck(r)
			l.dropSeg(g, stat.DropTCPRSTInvalid)
		default:
			l.dropSeg(g, stat.DropTCPInvalidSeq)
		}
		return
	}
	if g.flags&flagSYN != 0 {
		p.stats.ChallengeACKs.Inc()
		p.reqAck(r)
		l.dropSeg(g, stat.DropTCPSYNInvalid)
		return
	}
	if g.flags&flagACK == 0 {
		l.dropSeg(g, stat.DropTCPNoACK)
		return
	}
	if g.ack != r.iss.Add(1) {
		p.sendResetFor(g)
		l.dropSeg(g, stat.DropTCPAckInvalid)
		return
	}
	if !inWindow {
		p.reqAck(r)
		l.dropSeg(g, stat.DropTCPInvalidSeq)
		return
	}
	if l.acceptFull() {
		r.acked = true
		p.stats.ListenOverflows.Inc()
		l.dropSeg(g, stat.DropTCPListenOverflow)
		return
	}
	c := p.createChild(r)
	p.dropRequest(r)
	l.acceptChild(c, g)
}

// createChild makes the full socket of a completed handshake
// (tcp_create_openreq_child, inet_csk_clone_lock): the listener's options
// and buffer sizes, the request's sequence numbers and options, the
// listener's port. It starts in SYN-RECEIVED; the completing segment takes
// it to ESTABLISHED.
func (p *Proto) createChild(r *RequestSock) *Sock {
	l := r.listener
	c := p.NewSock()
	c.RcvBuf, c.SndBuf = l.RcvBuf, l.SndBuf
	c.UserLocks = l.UserLocks &^ (sock.BindAddrLock | sock.BindPortLock)
	c.Options = l.Options
	// Linux gives the child the options echoed from the SYN
	// (tcp_v4_syn_recv_sock's ireq_opt), not the listener's IP_OPTIONS;
	// dpstack echoes none.
	c.Options.IPOptions = nil
	c.ReuseAddr, c.ReusePort = l.ReuseAddr, l.ReusePort
	laddr, raddr := header.U32Addr(r.tuple.laddr), header.U32Addr(r.tuple.raddr)
	c.Local = netip.AddrPortFrom(laddr, r.tuple.lport)
	c.Remote = netip.AddrPortFrom(raddr, r.tuple.rport)
	if l.bucket != nil {
		p.addOwner(l.bucket, c, r.tuple.laddr)
	}
	c.tuple = r.tuple
	c.snd.iss = r.iss
	c.snd.una = r.iss
	c.snd.nxt = r.iss.Add(1)
	c.snd.writeSeq = c.snd.nxt
	c.snd.sml = c.snd.nxt
	c.rcv.irs = r.irs
	c.rcv.nxt = r.irs.Add(1)
	c.rcv.wup = c.rcv.nxt
	c.rcv.wnd = r.rcvWnd
	c.peerMSS = r.peerMSS
	c.advMSS = r.advMSS
	c.wscaleOK, c.sndWscale, c.rcvWscale = r.wscaleOK, r.sndWscale, r.rcvWscale
	c.sackOK = r.sackOK
	c.tsOK, c.tsRecent, c.tsOff = r.tsOK, r.tsRecent, r.tsOff
	if c.tsOK {
		c.tsStamp = p.now()
	}
	c.synRetrans = r.numTimeout > 0
	if !c.synRetrans && r.sent != 0 {
		c.rttSample(p.now().Sub(r.sent))
	}
	c.setMSS()
	c.Common.State = sock.SynRecv
	c.hash()
	return c
}
