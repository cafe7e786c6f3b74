package tcp

import (
	"unsafe"

	"github.com/dpstack/dpstack/ktime"
	"github.com/dpstack/dpstack/stack/header"
	"github.com/dpstack/dpstack/stack/sock"
	"github.com/dpstack/dpstack/stack/tcp/seqnum"
	"github.com/dpstack/dpstack/stat"
)

// TimewaitSock is a connection in TIME-WAIT (struct inet_timewait_sock,
// tcp_timewait_sock): the little that answering the peer for 2 MSL needs,
// instead of a whole socket. It keeps the port bound and the 4-tuple out
// of use (RFC 9293 §3.4.2, §3.6.1).
type TimewaitSock struct {
	proto     *Proto
	tuple     fourTuple
	sndNxt    seqnum.Value
	rcvNxt    seqnum.Value
	rcvWnd    uint32
	rcvWscale uint8
	tsOK      bool
	tsRecent  uint32
	tsStamp   ktime.Time
	tsOff     uint32
	reuseAddr bool
	reusePort bool
	bucket    *bindBucket
	oowStamp  ktime.Time
	timer     ktime.Timer
}

// enterTimeWait moves the connection to TIME-WAIT (tcp_time_wait): a
// TimewaitSock takes its 4-tuple and its port for 2 MSL and the socket
// itself is done. When the TIME-WAIT table is full the connection just
// closes, counted.
func (s *Sock) enterTimeWait() {
	p := s.proto
	if len(p.tw) >= p.maxTimewait {
		p.stats.TimeWaitOverflow.Inc()
		s.done()
		return
	}
	tw := &TimewaitSock{
		proto:     p,
		tuple:     s.tuple,
		sndNxt:    s.snd.nxt,
		rcvNxt:    s.rcv.nxt,
		rcvWnd:    s.rcv.wnd,
		rcvWscale: s.rcvWscale,
		tsOK:      s.tsOK,
		tsRecent:  s.tsRecent,
		tsStamp:   s.tsStamp,
		tsOff:     s.tsOff,
		reuseAddr: s.ReuseAddr,
		reusePort: s.ReusePort,
	}
	tw.timer.Init(timewaitExpired)
	if b := s.bucket; b != nil {
		b.tws = append(b.tws, tw)
		tw.bucket = b
	}
	// TIME-WAIT takes the 4-tuple before the socket gives it up, so that
	// the flow directory keeps naming this core throughout.
	p.tw[tw.tuple] = tw
	p.flowAdd(tw.tuple)
	s.Common.State = sock.TimeWait
	s.wake(evState)
	s.done()
	p.wheel.Schedule(&tw.timer, p.now().Add(p.timeWait))
}

// timewaitExpired is the TIME-WAIT timer's callback, a function that
// finds the socket from the timer (from_timer, as sockOfTimer), so that
// the timer costs no allocation.
func timewaitExpired(t *ktime.Timer, _ ktime.Time) {
	tw := (*TimewaitSock)(unsafe.Add(unsafe.Pointer(t), -int(unsafe.Offsetof(TimewaitSock{}.timer))))
	tw.proto.killTimewait(tw)
}

// killTimewait ends TIME-WAIT: the 4-tuple and the port are free again.
func (p *Proto) killTimewait(tw *TimewaitSock) {
	if p.tw[tw.tuple] == tw {
		delete(p.tw, tw.tuple)
		p.flowDel(tw.tuple)
	}
	p.wheel.Cancel(&tw.timer)
	if b := tw.bucket; b != nil {
		b.tws = swapRemove(b.tws, tw)
		tw.bucket = nil
		p.dropBucketIfEmpty(b)
	}
}

// timewaitAck sends <SEQ=SND.NXT><ACK=RCV.NXT><CTL=ACK> from TIME-WAIT
// (tcp_v4_timewait_ack).
func (p *Proto) timewaitAck(tw *TimewaitSock) {
	laddr, raddr := header.U32Addr(tw.tuple.laddr), header.U32Addr(tw.tuple.raddr)
	b, d := p.controlSegment(laddr, raddr)
	if b == nil {
		return
	}
	h := &p.txh
	*h = txHeader{src: laddr, dst: raddr, sport: tw.tuple.lport, dport: tw.tuple.rport,
		seq: tw.sndNxt, ack: tw.rcvNxt, flags: flagACK, wnd: uint16(min(tw.rcvWnd>>tw.rcvWscale, 0xffff)), ws: -1}
	if tw.tsOK {
		h.ts, h.tsVal, h.tsEcr = true, p.tsClock()+tw.tsOff, tw.tsRecent
	}
	p.outputSegment(b, d)
}

// timewaitRcv processes a segment in TIME-WAIT (RFC 9293 §3.10.7.4 for
// that state; tcp_timewait_state_process):
//
//   - a RST does not end TIME-WAIT early (RFC 1337 §3, "TIME-WAIT
//     assassination"; Linux does the same with net.ipv4.tcp_rfc1337 = 1,
//     not its default);
//   - a bare ACK at RCV.NXT restarts the 2 MSL timer;
//   - a SYN with a sequence number above RCV.NXT, or a timestamp newer
//     than TS.Recent, opens a new incarnation (RFC 9293 §3.10.7.4 note on
//     TIME-WAIT, RFC 6191): TIME-WAIT ends and the SYN goes to the
//     listener, with an ISN above anything the old connection sent;
//   - anything else (a retransmitted FIN, an old duplicate) restarts the
//     timer when it carries an ACK and is answered with an ACK,
//     rate-limited.
func (p *Proto) timewaitRcv(tw *TimewaitSock, g *segment) {
	now := p.now()
	paws := tw.tsOK && g.opts.HasTS && int32(g.opts.TSVal-tw.tsRecent) < 0 && now.Sub(tw.tsStamp) < pawsIdle
	if !paws && g.seq == tw.rcvNxt && (g.segLen() == 0 || g.flags&flagRST != 0) {
		if g.flags&flagRST != 0 {
			p.drop(g.b, stat.DropTCPTimeWait)
			return
		}
		p.wheel.Schedule(&tw.timer, now.Add(p.timeWait))
		p.free(g.b)
		return
	}
	if g.flags&(flagSYN|flagRST|flagACK) == flagSYN && !paws &&
		(g.seq.GreaterThan(tw.rcvNxt) || tw.tsOK && g.opts.HasTS && int32(g.opts.TSVal-tw.tsRecent) > 0) {
		isn := uint32(tw.sndNxt) + 65535 + 2
		if isn == 0 {
			isn++
		}
		p.killTimewait(tw)
		if l := p.lookupListener(g.tuple); l != nil {
			p.stats.TimeWaitReused.Inc()
			l.listenRcv(g, isn, true)
		} else {
			p.closedRcv(g)
		}
		return
	}
	if paws {
		p.stats.PAWSRejected.Inc()
	}
	if g.flags&flagRST != 0 {
		p.drop(g.b, stat.DropTCPTimeWait)
		return
	}
	if paws || g.flags&flagACK != 0 {
		p.wheel.Schedule(&tw.timer, now.Add(p.timeWait))
	}
	if tw.oowStamp == 0 || now.Sub(tw.oowStamp) >= oowInterval {
		tw.oowStamp = now
		p.timewaitAck(tw)
	} else {
		p.stats.OOWRateLimited.Inc()
	}
	p.drop(g.b, stat.DropTCPTimeWait)
}
