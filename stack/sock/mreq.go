package sock

import "net/netip"

// MReq is the value of the IPv4 multicast options: struct ip_mreqn for
// IP_ADD_MEMBERSHIP and IP_DROP_MEMBERSHIP (struct ip_mreq is the same
// without Ifindex), struct ip_mreq_source for IP_ADD_SOURCE_MEMBERSHIP,
// IP_DROP_SOURCE_MEMBERSHIP, IP_BLOCK_SOURCE and IP_UNBLOCK_SOURCE, and
// the interface address of IP_MULTICAST_IF. A transport validates the
// addresses; CheckMReq checks that an option takes an MReq.
type MReq struct {
	// Group is the multicast group (imr_multiaddr).
	Group netip.Addr
	// Interface is the local address naming the interface (imr_address,
	// imr_interface); the zero Addr or 0.0.0.0 for any.
	Interface netip.Addr
	// Ifindex names the interface by index (imr_ifindex); 0 for any.
	Ifindex int
	// Source is the source whose filter changes (imr_sourceaddr).
	Source netip.Addr
}

// CheckMReq refuses an option the stack does not know (ENOPROTOOPT) and
// one whose value is not an MReq (EINVAL); op names the call in the
// error: "setsockopt" or "getsockopt".
func CheckMReq(op string, level, name int) error {
	return checkKind(op, level, name, optMReq)
}
