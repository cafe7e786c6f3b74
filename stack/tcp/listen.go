package tcp

import (
	"github.com/dpstack/dpstack/ktime"
	"github.com/dpstack/dpstack/stack/route"
	"github.com/dpstack/dpstack/stack/sock"
	"github.com/dpstack/dpstack/stat"
)

// listen adds l to the listeners of its port.
func (p *Proto) listen(l *Sock) {
	p.listeners[l.tuple.lport] = append(p.listeners[l.tuple.lport], l)
}

// unlisten removes s from the listeners, if it is one.
func (p *Proto) unlisten(s *Sock) {
	ls := p.listeners[s.tuple.lport]
	for i, l := range ls {
		if l == s {
			last := len(ls) - 1
			ls[i] = ls[last]
			ls[last] = nil
			ls = ls[:last]
			if len(ls) == 0 {
				delete(p.listeners, s.tuple.lport)
			} else {
				p.listeners[s.tuple.lport] = ls
			}
			return
		}
	}
}

// listenScore rates how well listener l matches local address laddr: 2
// for its own address, 1 for the wildcard, 0 for no match
// (compute_score).
func listenScore(l *Sock, laddr uint32) int {
	switch l.tuple.laddr {
	case laddr:
		return 2
	case 0:
		return 1
	}
	return 0
}

// lookupListener finds the listener for a segment to t
// (__inet_lookup_listener): the best-scoring one; among several equally
// good SO_REUSEPORT listeners, one chosen by a hash of the 4-tuple, so a
// connection always lands on the same one.
func (p *Proto) lookupListener(t fourTuple) *Sock {
	ls := p.listeners[t.lport]
	best, n := 0, 0
	for _, l := range ls {
		switch sc := listenScore(l, t.laddr); {
		case sc > best:
			best, n = sc, 1
		case sc == best && sc > 0:
			n++
		}
	}
	if best == 0 {
		return nil
	}
	k := 0
	if n > 1 {
		a, b := tupleWords(t)
		k = int(p.portKey.sum24(a, b) % uint64(n))
	}
	for _, l := range ls {
		if listenScore(l, t.laddr) == best {
			if k == 0 {
				return l
			}
			k--
		}
	}
	return nil
}

// listenQueue is what only a listener has (Linux's icsk_accept_queue,
// struct request_sock_queue, with the listener's backlog): a connection
// carries a pointer to none instead of its fields.
type listenQueue struct {
	backlog     int
	accept      []*Sock    // established connections waiting for Accept
	reqCount    int        // requests in the SYN queue (Proto.reqs)
	cookieStamp ktime.Time // when the SYN queue last overflowed into SYN cookies (tcp_synq_overflow)
}

// acceptFull reports whether the accept queue is full. As in Linux
// (sk_acceptq_is_full) it holds backlog+1 connections.
func (l *Sock) acceptFull() bool { return len(l.lq.accept) > l.lq.backlog }

// minSynBacklog is the least room a SYN queue has.
const minSynBacklog = 16

// synQueueFull reports whether the SYN queue is full: it holds backlog
// requests (inet_csk_reqsk_queue_is_full), and at least minSynBacklog, so
// that a listener with a tiny backlog keeps state for a burst of SYNs;
// beyond that, SYNs are answered with SYN cookies (syncookie.go).
func (l *Sock) synQueueFull() bool { return l.lq.reqCount >= max(l.lq.backlog, minSynBacklog) }

// listenRcv is the LISTEN state of RFC 9293 §3.10.7.2: a RST is ignored;
// an ACK is answered with <SEQ=SEG.ACK><CTL=RST>, unless the listener sent
// SYN cookies lately and it brings a valid one back (cookieAck); a SYN
// starts a request (tcp_conn_request); anything else is dropped. isn,
// when hinted, is the initial sequence number a TIME-WAIT socket chose for
// its successor.
func (l *Sock) listenRcv(g *segment, isn uint32, hinted bool) {
	p := l.proto
	switch {
	case g.flags&flagRST != 0:
		l.dropSeg(g, stat.DropTCPListenInvalid)
	case g.flags&flagACK != 0 && g.flags&flagSYN == 0 && l.cookiesRecent():
		l.cookieAck(g)
	case g.flags&flagACK != 0:
		p.sendResetFor(g)
		l.dropSeg(g, stat.DropTCPListenACK)
	case g.flags&flagSYN != 0:
		l.synRcv(g, isn, hinted)
	default:
		l.dropSeg(g, stat.DropTCPListenInvalid)
	}
}

// synRcv makes a RequestSock for a SYN and answers it with a SYN-ACK
// (tcp_conn_request). A full accept queue drops the SYN; the client
// retransmits it. A full SYN queue answers it with a SYN cookie instead
// (RFC 4987 §3.6), keeping no state. Data in the SYN is not kept (as in
// Linux without TCP Fast Open): the SYN-ACK acknowledges the SYN alone,
// and the client sends the data again.
func (l *Sock) synRcv(g *segment, isn uint32, hinted bool) {
	p := l.proto
	if l.acceptOverflow(g) {
		return
	}
	if l.synQueueFull() {
		l.sendCookie(g)
		return
	}
	d := l.claim(g)
	if d == nil {
		return
	}
	r := p.newRequest(l, g, mtuOf(d))
	if hinted {
		r.iss = seqFrom(isn)
	}
	p.reqs[r.tuple] = r
	l.lq.reqCount++
	p.stats.PassiveOpens.Inc()
	p.sendSynAck(r)
	p.wheel.Schedule(&r.timer, p.now().Add(initialRTO))
	p.free(g.b)
	g.b = nil
}

// acceptOverflow drops g, counted, when the accept queue is full, and
// reports whether it did.
func (l *Sock) acceptOverflow(g *segment) bool {
	if !l.acceptFull() {
		return false
	}
	p := l.proto
	p.stats.ListenOverflows.Inc()
	p.stats.ListenDrops.Inc()
	l.dropSeg(g, stat.DropTCPListenOverflow)
	return true
}

// acceptChild gives c, a connection just made from the listener's
// handshake, the segment that completed it, and queues it for Accept unless
// processing that segment closed it.
func (l *Sock) acceptChild(c *Sock, g *segment) {
	c.doRcv(g)
	if c.Common.State != sock.Closed {
		l.lq.accept = append(l.lq.accept, c)
		l.proto.wake(l, evData)
	}
}

// claim prepares a new connection for g: it finds the route for the
// replies and records g's 4-tuple as this core's in the flow directory.
// When either fails it drops g, counted, and returns nil.
func (l *Sock) claim(g *segment) *route.Dst {
	p := l.proto
	d := p.lookup(g.dst, g.src)
	if d == nil {
		p.stats.ListenDrops.Inc()
		l.dropSeg(g, stat.DropNoRoute)
		return nil
	}
	if !p.flowAdd(g.tuple) {
		// Another core took this 4-tuple since Input asked the flow
		// directory (the same SYN on two queues at once): the client
		// retransmits, and the retransmission is handed over.
		p.stats.ListenDrops.Inc()
		l.dropSeg(g, stat.DropTCPFlowElsewhere)
		return nil
	}
	return d
}

// stopListen ends listening (inet_csk_listen_stop): requests are dropped,
// and connections never accepted are reset and destroyed.
func (l *Sock) stopListen() {
	p := l.proto
	for _, r := range p.reqs {
		if r.listener == l {
			p.dropRequest(r)
		}
	}
	for _, c := range l.lq.accept {
		c.orphan()
		c.released = true
		switch c.Common.State {
		case sock.Established, sock.CloseWait, sock.FinWait1, sock.FinWait2, sock.SynRecv:
			c.sendActiveReset()
		}
		if c.Common.State == sock.Closed {
			c.destroy()
		} else {
			c.done()
		}
	}
	l.lq.accept = nil
	p.unlisten(l)
}
