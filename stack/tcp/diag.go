package tcp

import (
	"net/netip"
	"time"

	"github.com/dpstack/dpstack/ktime"
	"github.com/dpstack/dpstack/stack/header"
	"github.com/dpstack/dpstack/stack/sock"
)

// Dump calls fn with every socket of the core (inet_diag_dump_icsk):
// listeners, connections in any state, the listeners' SYN queues as
// SYN-RECEIVED entries and the TIME-WAIT entries, each with its timer.
// It runs on the core; fn must not keep d past its call.
func (p *Proto) Dump(fn func(d *sock.Diag)) {
	now := p.now()
	var d sock.Diag
	for s := range p.all {
		in := s.Info()
		d = sock.Diag{Proto: "tcp", State: s.Common.State, Local: s.Common.Local, Remote: s.Common.Remote,
			RecvQ: in.RecvQueue, SendQ: in.WriteQueue, Info: &in}
		if s.Common.State == sock.Listen {
			d.RecvQ, d.SendQ = len(s.lq.accept), s.lq.backlog
		}
		d.Timer, d.Expires = s.pendingTimer(now)
		fn(&d)
	}
	for t, r := range p.reqs {
		d = sock.Diag{Proto: "tcp", State: sock.SynRecv, Local: t.local(), Remote: t.remote()}
		if r.timer.Pending() {
			d.Timer, d.Expires = "on", r.timer.Expires().Sub(now)
		}
		fn(&d)
	}
	for t, tw := range p.tw {
		d = sock.Diag{Proto: "tcp", State: sock.TimeWait, Local: t.local(), Remote: t.remote(),
			Timer: "timewait", Expires: tw.timer.Expires().Sub(now)}
		fn(&d)
	}
}

// pendingTimer is the timer ss -o shows for s (tcp_diag's icsk_pending):
// retransmission or the loss probe ("on"), persist, keepalive or the
// FIN-WAIT-2 timeout ("keepalive", as Linux runs it on that timer), with
// its time left.
func (s *Sock) pendingTimer(now ktime.Time) (string, time.Duration) {
	switch {
	case s.rtxT.on && s.probing:
		return "persist", s.rtxT.at.Sub(now)
	case s.rtxT.on:
		return "on", s.rtxT.at.Sub(now)
	case s.lossT.on:
		return "on", s.lossT.at.Sub(now)
	case s.keepT.on:
		return "keepalive", s.keepT.at.Sub(now)
	}
	return "", 0
}

// local and remote are the tuple's ends as addresses.
func (t fourTuple) local() netip.AddrPort {
	return netip.AddrPortFrom(header.U32Addr(t.laddr), t.lport)
}
func (t fourTuple) remote() netip.AddrPort {
	return netip.AddrPortFrom(header.U32Addr(t.raddr), t.rport)
}
