package tcp

import (
	"net/netip"

	"github.com/dpstack/dpstack/mbuf"
	"github.com/dpstack/dpstack/stack/header"
)

// SetISNFunc makes p take the initial sequence numbers of new connections
// from fn instead of RFC 6528's function: tests use it to start
// connections near the wrap of the sequence space. nil restores RFC 6528.
func (p *Proto) SetISNFunc(fn func(local, remote netip.AddrPort) uint32) {
	if fn == nil {
		p.isnHook = nil
		return
	}
	p.isnHook = func(t fourTuple) uint32 {
		return fn(netip.AddrPortFrom(header.U32Addr(t.laddr), t.lport), netip.AddrPortFrom(header.U32Addr(t.raddr), t.rport))
	}
}

// ISNForTest exposes RFC 6528's function for a 4-tuple.
func (p *Proto) ISNForTest(local, remote netip.AddrPort) uint32 {
	return p.isn(fourTuple{header.AddrU32(local.Addr()), header.AddrU32(remote.Addr()), local.Port(), remote.Port()})
}

// ConnectPortForTest exposes the RFC 6056 choice of a local port.
func (p *Proto) ConnectPortForTest(local, remote netip.AddrPort) (uint16, bool) {
	port, ok := p.connectPort(header.AddrU32(local.Addr()), header.AddrU32(remote.Addr()), remote.Port())
	if ok {
		p.binds[port] = newBindBucket(port, true)
	}
	return port, ok
}

// SetReplyHere replaces Config.ReplyHere.
func (p *Proto) SetReplyHere(fn func(local, remote netip.AddrPort) bool) { p.replyHere = fn }

// SetFlows makes p a core of a host with directory ft (Config.Flows,
// Config.Core, Config.Handoff).
func (p *Proto) SetFlows(ft *FlowTable, core int, handoff func(b *mbuf.Buf, core int) bool) {
	p.flows, p.core, p.handoff = ft, core, handoff
}

// Claim records core as the owner of local-remote, as a core does when it
// opens a connection, and reports whether it could.
func (ft *FlowTable) Claim(local, remote netip.AddrPort, core int) bool {
	return ft.claim(fourTuple{header.AddrU32(local.Addr()), header.AddrU32(remote.Addr()), local.Port(), remote.Port()}, core)
}

// Release forgets local-remote if core owns it.
func (ft *FlowTable) Release(local, remote netip.AddrPort, core int) {
	ft.release(fourTuple{header.AddrU32(local.Addr()), header.AddrU32(remote.Addr()), local.Port(), remote.Port()}, core)
}

// CongestionName is the name of the congestion control the connection
// runs, "" before it is established.
func (s *Sock) CongestionName() string {
	if s.cc == nil {
		return ""
	}
	return s.cc.Name()
}

// SACKScoreboard reports the SACK scoreboard: segments SACKed and marked
// lost, and how many segments the last ACK's scoreboard walks visited.
func (s *Sock) SACKScoreboard() (sacked, lost, steps int) {
	return s.sackedOut, s.lostOut, s.sackSteps
}

// SetMaxOrphans sets Config.MaxOrphans after New.
func (p *Proto) SetMaxOrphans(n int) { p.maxOrphans = n }

// AcceptSock is Accept with the transport's own type, for tests.
func (s *Sock) AcceptSock() (*Sock, error) { return s.accept() }

// SetModerateRcvbuf sets Config.ModerateRcvbuf and Config.RmemMax (0: the
// default) after New; it applies to sockets opened from then on.
func (p *Proto) SetModerateRcvbuf(on bool, rmemMax int) {
	p.moderate, p.rmemMax = on, rmemMax
	if rmemMax == 0 {
		p.rmemMax = DefaultRmemMax
	}
}
