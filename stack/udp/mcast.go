package udp

import (
	"fmt"
	"net/netip"
	"syscall"

	"github.com/dpstack/dpstack/stack/header"
	"github.com/dpstack/dpstack/stack/ipv4"
	"github.com/dpstack/dpstack/stack/route"
	"github.com/dpstack/dpstack/stack/sock"
)

// DefaultMulticastTTL is the TTL of a datagram sent to a group while
// IP_MULTICAST_TTL is unset: 1, the local network only (RFC 1112 §6.1,
// Linux's mc_ttl).
const DefaultMulticastTTL = 1

// mcast is a socket's IPv4 multicast state (the mc_* fields of struct
// inet_sock): its memberships and the options of its multicast sends.
type mcast struct {
	// ms are the groups joined and their source filters (mc_list).
	ms ipv4.MCSock
	// ttl is IP_MULTICAST_TTL; 0 for DefaultMulticastTTL (mc_ttl).
	ttl uint8
	// ifAddr is IP_MULTICAST_IF: the source address, and so the
	// interface, of datagrams to a group (mc_addr); 0 for the route's.
	ifAddr uint32
	// allOff is IP_MULTICAST_ALL turned off (mc_all, on by default).
	allOff bool
	// loopOff is IP_MULTICAST_LOOP turned off (mc_loop, on by default):
	// no copy of the datagrams sent to a group for the host's own
	// sockets.
	loopOff bool
}

// SetSockOptMReq sets a multicast option whose value is a sock.MReq
// (do_ip_setsockopt): IP_ADD_MEMBERSHIP, IP_DROP_MEMBERSHIP, the source
// filters of RFC 3678 §4.1.1 (IP_ADD_SOURCE_MEMBERSHIP,
// IP_DROP_SOURCE_MEMBERSHIP, IP_BLOCK_SOURCE, IP_UNBLOCK_SOURCE), and
// IP_MULTICAST_IF. The interface is named by one of our addresses or by
// none (0.0.0.0 and Ifindex 0): dpstack has one. Another address is
// ENODEV for a membership (ip_mc_find_dev finds no device) and
// EADDRNOTAVAIL for IP_MULTICAST_IF, as in Linux; an Ifindex is ENODEV,
// since dpstack's interface has no kernel index. The membership errors
// are ipv4.Layer's.
func (s *Sock) SetSockOptMReq(level, name int, m sock.MReq) error {
	if err := sock.CheckMReq("setsockopt", level, name); err != nil {
		return err
	}
	if name == syscall.IP_MULTICAST_IF {
		a, err := s.mcInterface(m, syscall.EADDRNOTAVAIL)
		if err == nil {
			s.mc.ifAddr = a
		}
		return err
	}
	if _, err := s.mcInterface(m, syscall.ENODEV); err != nil {
		return err
	}
	ip, ms := s.proto.ip, &s.mc.ms
	switch name {
	case syscall.IP_ADD_MEMBERSHIP:
		return ip.JoinGroup(ms, m.Group)
	case syscall.IP_DROP_MEMBERSHIP:
		return ip.LeaveGroup(ms, m.Group)
	case syscall.IP_ADD_SOURCE_MEMBERSHIP:
		return ip.JoinSource(ms, m.Group, m.Source)
	case syscall.IP_DROP_SOURCE_MEMBERSHIP:
		return ip.LeaveSource(ms, m.Group, m.Source)
	case syscall.IP_BLOCK_SOURCE:
		return ip.BlockSource(ms, m.Group, m.Source)
	default: // IP_UNBLOCK_SOURCE, the last of the table's MReq options
		return ip.UnblockSource(ms, m.Group, m.Source)
	}
}

// GetSockOptMReq reads IP_MULTICAST_IF, the address set or 0.0.0.0; the
// membership options cannot be read (ENOPROTOOPT), as in Linux.
func (s *Sock) GetSockOptMReq(level, name int) (sock.MReq, error) {
	if err := sock.CheckMReq("getsockopt", level, name); err != nil {
		return sock.MReq{}, err
	}
	if name != syscall.IP_MULTICAST_IF {
		return sock.MReq{}, fmt.Errorf("udp: getsockopt level %d option %d: %w", level, name, syscall.ENOPROTOOPT)
	}
	return sock.MReq{Interface: header.U32Addr(s.mc.ifAddr)}, nil
}

// mcInterface checks the interface m names (ip_mc_find_dev) and returns
// its address, 0 for any; an address not ours is notOurs.
func (s *Sock) mcInterface(m sock.MReq, notOurs syscall.Errno) (uint32, error) {
	if m.Ifindex != 0 {
		return 0, fmt.Errorf("udp: interface index %d: %w", m.Ifindex, syscall.ENODEV)
	}
	a := m.Interface.Unmap()
	if !a.IsValid() || a == netip.IPv4Unspecified() {
		return 0, nil
	}
	if !a.Is4() {
		return 0, fmt.Errorf("udp: interface %v: %w", a, syscall.EINVAL)
	}
	k := header.AddrU32(a)
	if s.proto.rt.AddrKind4(k)&route.AddrLocal == 0 {
		return 0, fmt.Errorf("udp: interface %v: not ours: %w", a, notOurs)
	}
	return k, nil
}

// setMcastInt sets IP_MULTICAST_TTL (1 to 255, or -1 for the default),
// IP_MULTICAST_LOOP and IP_MULTICAST_ALL, and reports whether name was
// one of them.
//
// Linux also takes a TTL of 0, which keeps a datagram on the host (RFC
// 1112 §6.1): it reaches only the looped copy. dpstack does not send such
// host-local datagrams, so 0 is EINVAL. IP_MULTICAST_LOOP, on by default
// as in Linux, sends a copy of each datagram to a group back to the
// host's own member sockets (mcLoopback); any value but 0 turns it on.
func (s *Sock) setMcastInt(name, val int) (bool, error) {
	switch name {
	case syscall.IP_MULTICAST_TTL:
		if val != -1 && (val < 1 || val > 0xff) {
			return true, fmt.Errorf("udp: setsockopt IP_MULTICAST_TTL=%d: out of range 1..255: %w", val, syscall.EINVAL)
		}
		s.mc.ttl = uint8(max(val, 0))
	case syscall.IP_MULTICAST_LOOP:
		s.mc.loopOff = val == 0
	case sock.IP_MULTICAST_ALL:
		s.mc.allOff = val == 0
	default:
		return false, nil
	}
	return true, nil
}

// mcastInt reads the options setMcastInt sets, and reports whether name
// was one of them.
func (s *Sock) mcastInt(name int) (int, bool) {
	switch name {
	case syscall.IP_MULTICAST_TTL:
		return int(s.mcTTL()), true
	case syscall.IP_MULTICAST_LOOP:
		return b2i(!s.mc.loopOff), true
	case sock.IP_MULTICAST_ALL:
		return b2i(!s.mc.allOff), true
	}
	return 0, false
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// mcTTL is the TTL of a datagram to a group.
func (s *Sock) mcTTL() uint8 {
	if s.mc.ttl == 0 {
		return DefaultMulticastTTL
	}
	return s.mc.ttl
}

// mcAllow reports whether s takes a datagram from saddr to the group
// daddr (ip_mc_sf_allow).
func (s *Sock) mcAllow(daddr, saddr uint32) bool {
	return s.mc.ms.Allow(daddr, saddr, !s.mc.allOff)
}
