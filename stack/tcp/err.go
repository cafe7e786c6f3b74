package tcp

import (
	"encoding/binary"

	"github.com/dpstack/dpstack/mbuf"
	"github.com/dpstack/dpstack/stack/header"
	"github.com/dpstack/dpstack/stack/ipv4"
	"github.com/dpstack/dpstack/stack/sock"
	"github.com/dpstack/dpstack/stack/tcp/seqnum"
	"github.com/dpstack/dpstack/stat"
)

// Err receives an ICMP error about a TCP segment we sent (tcp_v4_err),
// registered with IPv4 as TCP's error handler. The quote names the
// connection: local address and port as its source, remote as its
// destination, and the sequence number of the segment. The error goes to
// the connection's socket, to a request in a listener's SYN queue, or to
// the core that owns the connection (the flow directory), as a whole
// IPv4 packet again. An error for a TIME-WAIT connection is ignored, as
// Linux does; one for no connection at all is dropped. Err owns b.
func (p *Proto) Err(b *mbuf.Buf, e *ipv4.ICMPError) {
	if p.train.s != nil {
		p.groFlush() // the error comes after the group's segments
	}
	th := e.Transport
	t := fourTuple{laddr: e.Quoted.SrcUint32(), raddr: e.Quoted.DstUint32(),
		lport: binary.BigEndian.Uint16(th[0:2]), rport: binary.BigEndian.Uint16(th[2:4])}
	seq := seqnum.Value(binary.BigEndian.Uint32(th[4:8]))
	switch s, r := p.lookupEst(t), p.reqs[t]; {
	case s != nil:
		if reason, ok := s.icmpErr(e, seq); !ok {
			p.drop(b, reason)
		} else {
			p.free(b)
		}
	case r != nil:
		p.requestErr(b, r, e, seq)
	case p.tw[t] != nil:
		p.drop(b, stat.DropICMPErrorIgnored)
	case p.flows != nil && p.handTo(b, e.IP.HeaderLen(), t): // the owner core answers it
	default:
		p.drop(b, stat.DropICMPErrorNoSocket)
	}
	p.flushEvents()
}

// icmpErr is tcp_v4_err for a socket. The quoted sequence number must lie
// in SND.UNA..SND.NXT (RFC 5927 §4.1: a blind attacker has to guess it);
// the rest are counted as out-of-window. Fragmentation Needed lowers the
// path MTU (mtuReduced). Other errors, by their errno (ipv4.ICMPError.Errno; Time
// Exceeded is EHOSTUNREACH, Parameter Problem EPROTO): in SYN-SENT and
// SYN-RECEIVED they end the attempt, as Linux does for every code
// (tcp_done_with_error: connect fails with ECONNREFUSED for a port
// unreachable, EHOSTUNREACH, ENETUNREACH ...); on a synchronized
// connection they are soft errors (RFC 1122 §4.2.3.9: they "SHOULD NOT"
// abort it), kept in ErrSoft and reported only if the connection times
// out (writeErr). It reports false with the reason when the error was
// not taken.
func (s *Sock) icmpErr(e *ipv4.ICMPError, seq seqnum.Value) (stat.DropReason, bool) {
	st := s.Common.State
	if st == sock.Closed || st == sock.Listen {
		return stat.DropICMPErrorIgnored, false
	}
	if !seq.InRange(s.snd.una, s.snd.nxt.Add(1)) {
		s.proto.stats.OutOfWindowICMPs.Inc()
		return stat.DropICMPErrorOutOfWindow, false
	}
	if e.Type == header.ICMPv4DestUnreachable && e.Code == header.ICMPv4FragNeeded {
		s.mtuReduced(e.MTU())
		return 0, true
	}
	err, ok := e.Errno()
	if !ok {
		return stat.DropICMPErrorIgnored, false
	}
	s.proto.stats.ICMPErrors.Inc()
	if st == sock.SynSent || st == sock.SynRecv {
		s.reset(err)
		return 0, true
	}
	s.ErrSoft = err
	return 0, true
}

// requestErr is tcp_req_err: an error about our SYN-ACK. Only the ISS
// is in window. Time Exceeded, Parameter Problem and net or host
// unreachable drop the request silently (no socket exists to tell, and
// accept must not report network errors); the rest change nothing.
func (p *Proto) requestErr(b *mbuf.Buf, r *RequestSock, e *ipv4.ICMPError, seq seqnum.Value) {
	if seq != r.iss {
		p.stats.OutOfWindowICMPs.Inc()
		p.drop(b, stat.DropICMPErrorOutOfWindow)
		return
	}
	abort := e.Type == header.ICMPv4TimeExceeded || e.Type == header.ICMPv4ParamProblem ||
		e.Type == header.ICMPv4DestUnreachable &&
			(e.Code == header.ICMPv4NetUnreachable || e.Code == header.ICMPv4HostUnreachable)
	if !abort {
		p.drop(b, stat.DropICMPErrorIgnored)
		return
	}
	p.stats.ICMPErrors.Inc()
	p.stats.ListenDrops.Inc()
	p.dropRequest(r)
	p.free(b)
}
