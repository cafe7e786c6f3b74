package udp

import (
	"fmt"
	"syscall"

	"github.com/dpstack/dpstack/stack/header"
	"github.com/dpstack/dpstack/stack/sock"
)

// bucket is every socket bound to one local port (udp_hslot).
type bucket struct {
	port  uint16
	socks []*Sock
}

// bindConflict reports whether s may not join bucket b bound to laddr
// (udp_lib_lport_inuse): a socket on an overlapping address conflicts
// unless both set SO_REUSEADDR, or both SO_REUSEPORT.
func bindConflict(s *Sock, b *bucket, laddr uint32) bool {
	for _, o := range b.socks {
		if o == s || s.ReuseAddr && o.ReuseAddr || s.ReusePort && o.ReusePort {
			continue
		}
		if sock.AddrOverlap(laddr, o.laddr) {
			return true
		}
	}
	return false
}

// bindPort binds s to laddr:port (udp_lib_get_port). Port 0 picks an
// ephemeral port as RFC 6056 §3.3.1 Algorithm 1 does, as Linux's UDP
// does: a random start in the range, then the next free port; a port
// other sockets have, here or on another core, is not free. EADDRINUSE on
// a conflict, or when no port is free.
func (p *Proto) bindPort(s *Sock, laddr uint32, port uint16) error {
	if port == 0 {
		port = sock.PickEphemeral(p.rng.IntN(sock.EphemeralPorts), func(cand uint16) bool {
			return p.binds[cand] == nil && (p.ports == nil || !p.ports.taken(cand, p.core))
		})
		if port == 0 {
			return fmt.Errorf("udp: bind: no free ephemeral port: %w", syscall.EADDRINUSE)
		}
	}
	b := p.binds[port]
	if b != nil && bindConflict(s, b, laddr) {
		return fmt.Errorf("udp: bind %v:%d: %w", header.U32Addr(laddr), port, syscall.EADDRINUSE)
	}
	if p.ports != nil && !p.ports.claim(port, p.core, s.ReusePort) {
		return fmt.Errorf("udp: bind %v:%d: another core has the port: %w", header.U32Addr(laddr), port, syscall.EADDRINUSE)
	}
	if b == nil {
		b = &bucket{port: port}
		p.binds[port] = b
	}
	b.socks = append(b.socks, s)
	s.bucket = b
	s.laddr, s.lport = laddr, port
	if !p.publish(b) {
		p.unbind(s)
		return fmt.Errorf("udp: bind %v:%d: another core took the port: %w", header.U32Addr(laddr), port, syscall.EADDRINUSE)
	}
	return nil
}

// publish records in the host's directory whether this core has b's port,
// and whether one of its sockets there lacks SO_REUSEPORT; false when
// another core's bind got in first.
func (p *Proto) publish(b *bucket) bool {
	if p.ports == nil {
		return true
	}
	excl := false
	for _, o := range b.socks {
		excl = excl || !o.ReusePort
	}
	return p.ports.update(b.port, p.core, len(b.socks) > 0, excl)
}

// unbind gives s's port back (udp_lib_unhash).
func (p *Proto) unbind(s *Sock) {
	b := s.bucket
	if b == nil {
		return
	}
	s.bucket = nil
	for i, o := range b.socks {
		if o == s {
			last := len(b.socks) - 1
			b.socks[i] = b.socks[last]
			b.socks[last] = nil
			b.socks = b.socks[:last]
			break
		}
	}
	if len(b.socks) == 0 {
		delete(p.binds, b.port)
	}
	p.publish(b)
}

// lookup finds the socket for a datagram from saddr:sport to daddr:dport
// (__udp4_lib_lookup, compute_score): among the sockets on dport, a
// socket bound to another address or connected to another peer does not
// match; of the others, the one bound to daddr beats the wildcard and a
// connected one beats an unconnected one. Unconnected SO_REUSEPORT
// sockets tied for the best score form the group, and the 4-tuple's hash
// picks one of them (reuseport_select_sock), so that a flow always meets
// the same member. nil when nothing matches. It allocates nothing.
func (p *Proto) lookup(saddr, daddr uint32, sport, dport uint16) *Sock {
	b := p.binds[dport]
	if b == nil {
		return nil
	}
	var best *Sock
	bestScore, group := 0, 0
	for _, s := range b.socks {
		sc := s.score(saddr, daddr, sport)
		switch {
		case sc > bestScore:
			best, bestScore, group = s, sc, 0
			if s.ReusePort && !s.connected {
				group = 1
			}
		case sc == bestScore && sc > 0 && s.ReusePort && !s.connected && best.ReusePort && !best.connected:
			group++
		}
	}
	if group < 2 {
		return best
	}
	k := int(flowHash(saddr, daddr, sport, dport, p.seed) % uint32(group))
	for _, s := range b.socks {
		if s.ReusePort && !s.connected && s.score(saddr, daddr, sport) == bestScore {
			if k == 0 {
				return s
			}
			k--
		}
	}
	return best
}

// flowHash mixes a 4-tuple and a seed into 32 bits (murmur3's finaliser
// over a sum, as the reassembly key's hash does).
func flowHash(saddr, daddr uint32, sport, dport uint16, seed uint32) uint32 {
	h := saddr*0x9e3779b1 ^ daddr*0x85ebca77 ^ (uint32(sport)<<16|uint32(dport))*0xc2b2ae3d ^ seed
	h ^= h >> 16
	h *= 0x85ebca6b
	h ^= h >> 13
	h *= 0xc2b2ae35
	h ^= h >> 16
	return h
}
