package tcp

import (
	"time"

	"github.com/dpstack/dpstack/stack/header"
	"github.com/dpstack/dpstack/stat"
)

// SYN cookies (RFC 4987 §3.6): when a listener's SYN queue is full, a SYN
// is answered with a SYN-ACK whose initial sequence number encodes what
// the connection needs, and no state is kept. The client's ACK gives the
// number back (SEG.ACK-1); if it is a cookie we made for that 4-tuple, not
// too long ago, the connection is made from it. The construction is
// Linux's (net/ipv4/syncookies.c, secure_tcp_syn_cookie):
//
//	cookie = H0(4-tuple) + client ISN + count<<24 + ((H1(4-tuple, count) + MSS index) mod 2^24)
//
// with H0, H1 SipHash-2-4 under two secret keys of the core, and count a
// counter that advances every cookiePeriod. The top 8 bits carry count,
// so the check learns the cookie's age; the low 24 bits carry the MSS
// index under a keyed hash, which a forger has to guess. Window scale and
// SACK-permitted ride in the low bits of our TSval (cookie_init_timestamp)
// and come back in the client's TSecr; a client that sent no timestamps is
// offered neither, as in Linux. dpstack does not negotiate ECN, so no ECN
// bit is carried.
const (
	cookieBits   = 24
	cookieMask   = 1<<cookieBits - 1
	cookiePeriod = 64 * time.Second // the counter's tick (tcp_cookie_time: 60 s in Linux)
	// maxCookieAge is how many counter periods a cookie lives: one made
	// in the current period or the one before is accepted, as Linux's
	// check with MAX_SYNCOOKIE_AGE 2 (diff < 2), so between 64 and 128 s.
	maxCookieAge = 2
	// cookieValid is how long after a listener last sent a cookie an ACK
	// that finds no request is checked as one (TCP_SYNCOOKIE_VALID):
	// after that no cookie can still be valid.
	cookieValid = maxCookieAge * cookiePeriod

	tsOptBits  = 6 // the TSval bits that carry options
	tsOptMask  = 1<<tsOptBits - 1
	tsOptNoWS  = 0xf    // the window shift field: no Window Scale
	tsOptSACK  = 1 << 4 // SACK permitted
	tsOptShift = 0xf    // mask of the window shift field
)

// cookieMSS is the table of MSS values a cookie can encode (Linux's
// msstab): the client's MSS is taken down to the largest entry that does
// not exceed it.
var cookieMSS = [...]uint16{536, 1300, 1440, 1460}

// cookieCount is the cookie counter at now.
func cookieCount(now int64) uint32 { return uint32(now / int64(cookiePeriod)) }

// cookieHash is H0 (i 0, count 0) or H1 (i 1) of the construction.
func (p *Proto) cookieHash(t fourTuple, count uint32, i int) uint32 {
	a, b := tupleWords(t)
	return uint32(p.cookieKey[i].sum24(a, b|uint64(count)<<32))
}

// makeCookie returns the cookie for a SYN on t with sequence number sseq
// carrying data (below 2^24).
func (p *Proto) makeCookie(t fourTuple, sseq, data uint32) uint32 {
	count := cookieCount(int64(p.now()))
	return p.cookieHash(t, 0, 0) + sseq + count<<cookieBits +
		(p.cookieHash(t, count, 1)+data)&cookieMask
}

// checkCookie recovers the data of cookie, made for a SYN on t with
// sequence number sseq, and reports whether it is one of ours made less
// than maxCookieAge periods ago (check_tcp_syn_cookie).
func (p *Proto) checkCookie(t fourTuple, cookie, sseq uint32) (uint32, bool) {
	count := cookieCount(int64(p.now()))
	cookie -= p.cookieHash(t, 0, 0) + sseq
	diff := (count - cookie>>cookieBits) & (0xffffffff >> cookieBits)
	if diff >= maxCookieAge {
		return 0, false
	}
	return (cookie - p.cookieHash(t, count-diff, 1)) & cookieMask, true
}

// cookieMSSIndex is the index of the largest cookieMSS entry not above mss.
func cookieMSSIndex(mss int) uint32 {
	i := len(cookieMSS) - 1
	for i > 0 && mss < int(cookieMSS[i]) {
		i--
	}
	return uint32(i)
}

// cookieTSval is our SYN-ACK's TSval with the options in its low bits
// (cookie_init_timestamp): the clock with its low bits replaced, moved
// back a step if that put it ahead of the clock.
func cookieTSval(now uint32, wscale int, sack bool) uint32 {
	opt := uint32(tsOptNoWS)
	if wscale >= 0 {
		opt = uint32(wscale)
	}
	if sack {
		opt |= tsOptSACK
	}
	ts := now&^tsOptMask | opt
	if int32(ts-now) > 0 {
		ts -= 1 << tsOptBits
	}
	return ts
}

// cookiesRecent reports whether l sent a SYN cookie recently enough that
// one may still come back (tcp_synq_no_recent_overflow).
func (l *Sock) cookiesRecent() bool {
	return l.lq.cookieStamp != 0 && l.proto.now().Sub(l.lq.cookieStamp) < cookieValid
}

// sendCookie answers SYN g to l, whose SYN queue is full, with a SYN-ACK
// carrying a cookie, and keeps nothing (tcp_conn_request with want_cookie).
// The SYN-ACK offers what newRequest would, except that without
// timestamps in the SYN neither Window Scale nor SACK is offered, there
// being nowhere to keep them.
func (l *Sock) sendCookie(g *segment) {
	p := l.proto
	laddr, raddr := g.dst, g.src
	b, d := p.controlSegment(laddr, raddr)
	if b == nil {
		p.stats.SynQueueOverflows.Inc()
		p.stats.ListenDrops.Inc()
		l.dropSeg(g, stat.DropTCPSynQueueFull)
		return
	}
	o := &g.opts
	peerMSS := defaultMSS
	if o.HasMSS && o.MSS != 0 {
		peerMSS = int(o.MSS)
	}
	h := &p.txh
	*h = txHeader{
		src: laddr, dst: raddr, sport: g.tuple.lport, dport: g.tuple.rport,
		seq:   seqFrom(p.makeCookie(g.tuple, uint32(g.seq), cookieMSSIndex(peerMSS))),
		ack:   g.seq.Add(1),
		flags: flagSYN | flagACK,
		wnd:   uint16(min(winFromSpace(l.RcvBuf), 0xffff)),
		mss:   uint16(advMSSFor(mtuOf(d), l.Options.MaxSeg)),
		ws:    -1,
	}
	if o.HasTS {
		if o.HasWS {
			h.ws = int(p.rcvWscaleFor(&l.Sock))
		}
		h.sackPerm = o.SACKPermitted
		peerWS := -1
		if o.HasWS {
			peerWS = int(o.WindowShift())
		}
		h.ts, h.tsEcr = true, o.TSVal
		h.tsVal = cookieTSval(p.tsClock()+p.tsOffset(g.tuple), peerWS, o.SACKPermitted)
	}
	l.lq.cookieStamp = p.now()
	p.stats.SynCookiesSent.Inc()
	p.outputSegment(b, d)
	p.free(g.b)
	g.b = nil
}

// cookieAck handles an ACK to l that found no request, while l may have
// cookies out (cookie_v4_check): SEG.ACK-1 is checked as a cookie for the
// 4-tuple and SEG.SEQ-1. A valid one makes the connection from what it
// encodes and puts it on the accept queue, as requestRcv does for a
// request; when the accept queue is full the ACK is dropped (there is no
// request to keep; the client's retransmission may find room). A cookie
// that fails is counted and the ACK treated as LISTEN treats any ACK (RFC
// 9293 §3.10.7.2): "An acceptable reset segment should be formed for any
// arriving ACK-bearing segment ... <SEQ=SEG.ACK><CTL=RST>". Linux does the
// same: cookie_v4_check hands the listener back and tcp_rcv_state_process
// answers the ACK with a RST.
func (l *Sock) cookieAck(g *segment) {
	p := l.proto
	r, ok := p.decodeCookie(l, g)
	if !ok {
		p.stats.SynCookiesFailed.Inc()
		p.sendResetFor(g)
		l.dropSeg(g, stat.DropTCPListenACK)
		return
	}
	if l.acceptOverflow(g) {
		return
	}
	d := l.claim(g)
	if d == nil {
		return
	}
	r.advMSS = advMSSFor(mtuOf(d), l.Options.MaxSeg)
	p.stats.SynCookiesRecv.Inc()
	p.stats.PassiveOpens.Inc()
	l.acceptChild(p.createChild(&r), g)
}

// decodeCookie checks ACK g as the answer to a cookie SYN-ACK of l and
// rebuilds the request the SYN would have made (cookie_v4_check,
// cookie_timestamp_decode): the client's MSS from the table, and, when the
// ACK carries timestamps, Window Scale and SACK from the low bits of its
// TSecr.
func (p *Proto) decodeCookie(l *Sock, g *segment) (RequestSock, bool) {
	iss, irs := uint32(g.ack)-1, uint32(g.seq)-1
	data, ok := p.checkCookie(g.tuple, iss, irs)
	if !ok || data >= uint32(len(cookieMSS)) {
		return RequestSock{}, false
	}
	r := RequestSock{listener: l, tuple: g.tuple, iss: seqFrom(iss), irs: seqFrom(irs)}
	r.peerMSS = int(cookieMSS[data])
	r.rcvWnd = min(winFromSpace(l.RcvBuf), 0xffff)
	if o := &g.opts; o.HasTS {
		opt := o.TSEcr & tsOptMask
		if ws := opt & tsOptShift; ws != tsOptNoWS {
			if ws > header.TCPMaxWindowShift {
				return RequestSock{}, false
			}
			r.wscaleOK = true
			r.sndWscale = uint8(ws)
			r.rcvWscale = p.rcvWscaleFor(&l.Sock)
		}
		r.sackOK = opt&tsOptSACK != 0
		r.tsOK = true
		r.tsRecent = o.TSVal
		r.tsOff = p.tsOffset(g.tuple)
	}
	return r, true
}
