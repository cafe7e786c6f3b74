package tcp

import (
	"fmt"
	"net/netip"
	"syscall"

	"github.com/dpstack/dpstack/stack/header"
	"github.com/dpstack/dpstack/stack/sock"
)

// portTableSize is the size of RFC 6056 Algorithm 4's table of perturbation
// counters (Linux's table_perturb, much smaller here: one core's share).
const portTableSize = 256

// bindBucket is everything bound to one local port (struct
// inet_bind_bucket): sockets, listeners and connections alike, and the
// TIME-WAIT sockets that still hold the port.
type bindBucket struct {
	port   uint16
	owners []*Sock
	tws    []*TimewaitSock
	// connectOnly: every owner got the port from Connect's automatic
	// choice (Linux's fastreuse == -1), so another Connect may share it
	// with a different 4-tuple; an explicit bind makes it false.
	connectOnly bool
	// The first owner and TIME-WAIT socket live in the bucket itself: a
	// connection's port mostly has one of each in turn, and then costs
	// no allocation beyond the bucket's.
	owner1 [1]*Sock
	tw1    [1]*TimewaitSock
}

// newBindBucket returns the bucket of port, with nothing in it yet.
func newBindBucket(port uint16, connectOnly bool) *bindBucket {
	b := &bindBucket{port: port, connectOnly: connectOnly}
	b.owners, b.tws = b.owner1[:0], b.tw1[:0]
	return b
}

// empty reports whether nothing holds the port any more.
func (b *bindBucket) empty() bool { return len(b.owners) == 0 && len(b.tws) == 0 }

// bindConflict reports whether s may not share bucket b bound to laddr
// (inet_csk_bind_conflict): an owner on an overlapping address conflicts
// unless both set SO_REUSEADDR and the owner is not listening, or both set
// SO_REUSEPORT. TIME-WAIT owners count as not listening.
func bindConflict(s *Sock, b *bindBucket, laddr uint32) bool {
	for _, o := range b.owners {
		if o == s {
			continue
		}
		if s.ReuseAddr && o.ReuseAddr && o.Common.State != sock.Listen {
			continue
		}
		if s.ReusePort && o.ReusePort {
			continue
		}
		if sock.AddrOverlap(laddr, o.tuple.laddr) {
			return true
		}
	}
	for _, tw := range b.tws {
		if s.ReuseAddr && tw.reuseAddr || s.ReusePort && tw.reusePort {
			continue
		}
		if sock.AddrOverlap(laddr, tw.tuple.laddr) {
			return true
		}
	}
	return false
}

// bindPort binds s to laddr:port, choosing a free ephemeral port for port
// 0 (inet_csk_get_port). It fails with EADDRINUSE on a conflict, or when
// no port is free.
func (p *Proto) bindPort(s *Sock, laddr uint32, port uint16) error {
	if port == 0 {
		port = sock.PickEphemeral(p.rng.IntN(sock.EphemeralPorts), func(cand uint16) bool { return p.binds[cand] == nil })
		if port == 0 {
			return fmt.Errorf("tcp: bind: no free ephemeral port: %w", syscall.EADDRINUSE)
		}
	}
	b := p.binds[port]
	if b != nil && bindConflict(s, b, laddr) {
		return fmt.Errorf("tcp: bind %v:%d: %w", header.U32Addr(laddr), port, syscall.EADDRINUSE)
	}
	if b == nil {
		b = newBindBucket(port, false)
		p.binds[port] = b
	}
	b.connectOnly = false
	p.addOwner(b, s, laddr)
	return nil
}

// addOwner puts s in bucket b as bound to laddr.
func (p *Proto) addOwner(b *bindBucket, s *Sock, laddr uint32) {
	b.owners = append(b.owners, s)
	s.bucket = b
	s.tuple.laddr = laddr
	s.tuple.lport = b.port
}

// unbind gives s's port back (inet_put_port).
func (p *Proto) unbind(s *Sock) {
	b := s.bucket
	if b == nil {
		return
	}
	s.bucket = nil
	b.owners = swapRemove(b.owners, s)
	p.dropBucketIfEmpty(b)
}

// swapRemove removes x from s without keeping the order: the last element
// takes its place, and the freed slot is cleared for the collector.
func swapRemove[T comparable](s []T, x T) []T {
	for i, o := range s {
		if o == x {
			last := len(s) - 1
			s[i] = s[last]
			var zero T
			s[last] = zero
			return s[:last]
		}
	}
	return s
}

// dropBucketIfEmpty forgets an empty bucket.
func (p *Proto) dropBucketIfEmpty(b *bindBucket) {
	if b.empty() && p.binds[b.port] == b {
		delete(p.binds, b.port)
	}
}

// tupleInUse reports whether a connection, a request or a TIME-WAIT
// socket already has 4-tuple t (__inet_check_established; TIME-WAIT is
// not reused for connect, as Linux's default tcp_tw_reuse for non-loopback
// peers).
func (p *Proto) tupleInUse(t fourTuple) bool {
	return p.est[t] != nil || p.reqs[t] != nil || p.tw[t] != nil
}

// connectPort chooses the local port of an active open from laddr to
// raddr:rport (inet_hash_connect), with RFC 6056 §3.3.4 Algorithm 4
// ("Double-Hash Port Selection"): a keyed hash of the addresses and the
// remote port gives an offset into the ephemeral range, plus a
// perturbation counter picked by another hash that moves on by a random
// step after each use (Linux's table_perturb with its random increment).
// Successive connections to one peer thus get spread ports, and
// connections to different peers independent ones. Ports bound explicitly
// are avoided; a port other connections got this way is shared when the
// 4-tuple differs. It returns false when every port is taken.
//
// On a host of several cores the 4-tuple must also be free on the other
// cores: the port is claimed in the flow directory, and a 4-tuple another
// core has is skipped. When the port's RSS is predictable
// (Config.ReplyHere), the search goes on to the first port whose replies
// the port steers to this core (ARCHITECTURE.md §3; Seastar's tcp connect does
// the same), so that the choice stays as random as Algorithm 4 makes it
// within that constraint; should no such port be free, the first free one
// is taken and its segments are handed over.
func (p *Proto) connectPort(laddr, raddr uint32, rport uint16) (uint16, bool) {
	h := p.portKey.sum24(uint64(laddr)<<32|uint64(raddr), uint64(rport))
	idx := uint32(h>>48) % portTableSize
	offset := uint32(h) + uint32(p.perturb[idx])
	fallback, fallbackAt := uint16(0), uint32(0)
	for i := uint32(0); i < sock.EphemeralPorts; i++ {
		port := uint16(sock.EphemeralLow + (offset+i)%sock.EphemeralPorts)
		t := fourTuple{laddr, raddr, port, rport}
		if b := p.binds[port]; b != nil {
			if !b.connectOnly || p.tupleInUse(t) {
				continue
			}
		}
		if p.replyHere != nil && !p.replyHere(netip.AddrPortFrom(header.U32Addr(laddr), port), netip.AddrPortFrom(header.U32Addr(raddr), rport)) {
			if fallback == 0 && (p.flows == nil || p.flows.owner(t) < 0) {
				fallback, fallbackAt = port, i
			}
			continue
		}
		if !p.flowAdd(t) {
			continue // another core's connection
		}
		p.perturbStep(idx, i)
		return port, true
	}
	if fallback != 0 && p.flowAdd(fourTuple{laddr, raddr, fallback, rport}) {
		p.perturbStep(idx, fallbackAt)
		return fallback, true
	}
	return 0, false
}

// perturbStep moves Algorithm 4's perturbation counter idx on after a
// search that took tries+1 candidates.
func (p *Proto) perturbStep(idx, tries uint32) {
	step := max(int(tries), 2*p.rng.IntN(8))
	p.perturb[idx] += uint16(step + 2)
}

// bindConnect binds s to laddr:port chosen by connectPort.
func (p *Proto) bindConnect(s *Sock, laddr uint32, port uint16) {
	b := p.binds[port]
	if b == nil {
		b = newBindBucket(port, true)
		p.binds[port] = b
	}
	p.addOwner(b, s, laddr)
}
