package udp

import (
	"unsafe"

	"github.com/dpstack/dpstack/mbuf"
	"github.com/dpstack/dpstack/stack/header"
	"github.com/dpstack/dpstack/stack/route"
	"github.com/dpstack/dpstack/stack/sock"
)

// Sock is a UDP socket (struct udp_sock). It belongs to one core.
type Sock struct {
	sock.Sock
	proto  *Proto
	bucket *bucket // nil while unbound

	// The 4-tuple: local address (0: the wildcard) and port, and the
	// peer's while connected.
	laddr, raddr uint32
	lport, rport uint16
	connected    bool
	released     bool

	// IP_TOS, IP_TTL (0: ipv4.DefaultTTL) and SO_BROADCAST.
	tos, ttl  uint8
	broadcast bool

	// mc is the multicast state: memberships and IP_MULTICAST_*.
	mc mcast

	// pending is the datagram SendBuffer lent, until Commit.
	pending *mbuf.Buf

	// stamp is when the datagram RecvFrom last returned was received,
	// in Unix nanoseconds, and whether the port's hardware took it
	// (sk_stamp).
	stamp   int64
	stampHW bool
}

// A Sock is a datagram socket of the socket layer.
var _ sock.DgramOps = (*Sock)(nil)

// score is how well s matches a datagram from saddr:sport to daddr
// (compute_score): 0 for no match, more for a closer one.
func (s *Sock) score(saddr, daddr uint32, sport uint16) int {
	sc := 1
	if s.laddr != 0 {
		if s.laddr != daddr {
			return 0
		}
		sc += 4
	}
	if s.connected {
		if s.raddr != saddr || s.rport != sport {
			return 0
		}
		sc += 4
	}
	return sc
}

// cb is what a queued datagram keeps in its mbuf's control block: where
// it came from (the msg_name recvmsg returns).
type cb struct {
	saddr uint32
	sport uint16
}

func cbOf(b *mbuf.Buf) *cb { return (*cb)(unsafe.Pointer(b.CB())) }

// route looks up the route to daddr from the socket's address.
func (s *Sock) route(daddr uint32) (*route.Dst, error) {
	p := s.proto
	p.fl = route.Flow4{Dst: header.U32Addr(daddr), Proto: header.IPProtoUDP, TOS: s.tos}
	switch {
	case s.laddr != 0:
		p.fl.Src = header.U32Addr(s.laddr)
	case daddr>>28 == 0xe && s.mc.ifAddr != 0:
		// IP_MULTICAST_IF picks the interface by its address.
		p.fl.Src = header.U32Addr(s.mc.ifAddr)
	}
	return p.rt.Lookup(&p.fl)
}
