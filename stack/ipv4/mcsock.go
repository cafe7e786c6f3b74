package ipv4

import (
	"fmt"
	"net/netip"
	"slices"
	"syscall"

	"github.com/dpstack/dpstack/stack/header"
)

// FilterMode is the mode of a multicast source filter (RFC 3376 §3.1):
// INCLUDE receives from the listed sources only, EXCLUDE from every source
// but them. It indexes the per-mode counts of a group (Linux's
// sfcount[MCAST_EXCLUDE], sfcount[MCAST_INCLUDE]).
type FilterMode uint8

const (
	ModeInclude FilterMode = iota // MCAST_INCLUDE
	ModeExclude                   // MCAST_EXCLUDE
)

func (m FilterMode) String() string {
	if m == ModeExclude {
		return "EXCLUDE"
	}
	return "INCLUDE"
}

// Per-socket bounds, as Linux's sysctls igmp_max_memberships and
// igmp_max_msf: a socket joins at most MaxSockGroups groups, and keeps at
// most MaxSockSources sources in each group's filter.
const (
	MaxSockGroups  = 20
	MaxSockSources = 10
)

// MCSock is one socket's multicast state (Linux's ip_mc_socklist chain in
// struct inet_sock, with each entry's ip_sf_socklist): the groups the
// socket joined, each with its filter mode and source list, the socket
// state of RFC 3376 §3.1. Its methods and the Layer calls that change it
// run on the socket's core. The zero value has joined nothing.
type MCSock struct {
	groups []sockGroup
}

// sockGroup is one (interface, group) entry of a socket's state; dpstack
// has one interface.
type sockGroup struct {
	group uint32
	mode  FilterMode
	srcs  []uint32
}

// Allow reports whether the socket takes a datagram from src to group
// (ip_mc_sf_allow), both big-endian uint32s as read from the header: a
// joined group's filter decides; a group the socket did not join gives
// mcAll, the socket's IP_MULTICAST_ALL (on by default in Linux: a socket
// bound to the port receives every group the host joined). It allocates
// nothing.
func (ms *MCSock) Allow(group, src uint32, mcAll bool) bool {
	for i := range ms.groups {
		g := &ms.groups[i]
		if g.group == group {
			return slices.Contains(g.srcs, src) == (g.mode == ModeInclude)
		}
	}
	return mcAll
}

// Filter returns the socket's filter of group: its mode and a copy of its
// sources (IP_MSFILTER's get), and false when the socket did not join it.
func (ms *MCSock) Filter(group netip.Addr) (FilterMode, []netip.Addr, bool) {
	g := ms.find(header.AddrU32(group))
	if g == nil {
		return ModeInclude, nil, false
	}
	srcs := make([]netip.Addr, len(g.srcs))
	for i, s := range g.srcs {
		srcs[i] = header.U32Addr(s)
	}
	return g.mode, srcs, true
}

func (ms *MCSock) find(group uint32) *sockGroup {
	for i := range ms.groups {
		if ms.groups[i].group == group {
			return &ms.groups[i]
		}
	}
	return nil
}

// JoinGroup joins group on the socket ms with no source filter, EXCLUDE
// {} (IP_ADD_MEMBERSHIP, ip_mc_join_group). It fails with EINVAL for a
// group that is not multicast, EADDRINUSE when already joined and ENOBUFS
// beyond MaxSockGroups or when the host's membership cannot be told.
func (l *Layer) JoinGroup(ms *MCSock, group netip.Addr) error {
	g, err := mcGroupKey(group)
	if err != nil {
		return err
	}
	if ms.find(g) != nil {
		return fmt.Errorf("ipv4: join %v: %w", group, syscall.EADDRINUSE)
	}
	return l.sockJoin(ms, g, ModeExclude, nil)
}

// LeaveGroup leaves group, whatever its filter (IP_DROP_MEMBERSHIP,
// ip_mc_leave_group); EADDRNOTAVAIL when the socket did not join it.
func (l *Layer) LeaveGroup(ms *MCSock, group netip.Addr) error {
	g, err := mcGroupKey(group)
	if err != nil {
		return err
	}
	sg := ms.find(g)
	if sg == nil {
		return fmt.Errorf("ipv4: leave %v: %w", group, syscall.EADDRNOTAVAIL)
	}
	if err := l.mcPost(g, sg.mode, sg.srcs, ModeInclude, nil); err != nil {
		return err
	}
	ms.remove(g)
	return nil
}

// JoinSource adds src to the INCLUDE filter of group, joining the group
// in INCLUDE mode first if needed (IP_ADD_SOURCE_MEMBERSHIP, ip_mc_source
// with MCAST_INCLUDE: source-specific multicast, RFC 4607). EINVAL when
// the socket joined the group in EXCLUDE mode, EADDRINUSE when src is in
// the filter already, ENOBUFS beyond MaxSockSources.
func (l *Layer) JoinSource(ms *MCSock, group, src netip.Addr) error {
	return l.sockSource(ms, group, src, ModeInclude, true)
}

// LeaveSource removes src from the INCLUDE filter of group, leaving the
// group with the last source (IP_DROP_SOURCE_MEMBERSHIP).
func (l *Layer) LeaveSource(ms *MCSock, group, src netip.Addr) error {
	return l.sockSource(ms, group, src, ModeInclude, false)
}

// BlockSource adds src to the EXCLUDE filter of a group the socket joined
// with JoinGroup (IP_BLOCK_SOURCE).
func (l *Layer) BlockSource(ms *MCSock, group, src netip.Addr) error {
	return l.sockSource(ms, group, src, ModeExclude, true)
}

// UnblockSource removes src from the EXCLUDE filter of group
// (IP_UNBLOCK_SOURCE).
func (l *Layer) UnblockSource(ms *MCSock, group, src netip.Addr) error {
	return l.sockSource(ms, group, src, ModeExclude, false)
}

// DropSocket leaves every group the socket joined (ip_mc_drop_socket), as
// a closing socket must. It retries nothing: a change the host's
// membership could not be told of is reported, and the group stays in ms.
func (l *Layer) DropSocket(ms *MCSock) error {
	var first error
	for i := len(ms.groups) - 1; i >= 0; i-- {
		sg := ms.groups[i]
		if err := l.mcPost(sg.group, sg.mode, sg.srcs, ModeInclude, nil); err != nil {
			first = err
			continue
		}
		ms.remove(sg.group)
	}
	return first
}

// sockSource is ip_mc_source: add or remove src in the filter of group,
// whose mode must be mode.
func (l *Layer) sockSource(ms *MCSock, group, src netip.Addr, mode FilterMode, add bool) error {
	g, err := mcGroupKey(group)
	if err != nil {
		return err
	}
	s, ok := addrKey4(src)
	if !ok {
		return fmt.Errorf("ipv4: source %v: %w", src, syscall.EINVAL)
	}
	sg := ms.find(g)
	if sg == nil {
		if mode == ModeInclude && add {
			return l.sockJoin(ms, g, ModeInclude, []uint32{s})
		}
		return fmt.Errorf("ipv4: source %v of %v: %w", src, group, syscall.EADDRNOTAVAIL)
	}
	if sg.mode != mode {
		return fmt.Errorf("ipv4: source %v of %v in %v mode: %w", src, group, sg.mode, syscall.EINVAL)
	}
	i := slices.Index(sg.srcs, s)
	var srcs []uint32
	switch {
	case add && i >= 0:
		return fmt.Errorf("ipv4: source %v of %v: %w", src, group, syscall.EADDRINUSE)
	case add && len(sg.srcs) >= MaxSockSources:
		return fmt.Errorf("ipv4: source %v of %v: %w", src, group, syscall.ENOBUFS)
	case add:
		srcs = append(slices.Clip(sg.srcs), s)
	case i < 0:
		return fmt.Errorf("ipv4: source %v of %v: %w", src, group, syscall.EADDRNOTAVAIL)
	case mode == ModeInclude && len(sg.srcs) == 1:
		// The last source of an INCLUDE filter: the socket leaves.
		if err := l.mcPost(g, sg.mode, sg.srcs, ModeInclude, nil); err != nil {
			return err
		}
		ms.remove(g)
		return nil
	default:
		srcs = slices.Delete(slices.Clone(sg.srcs), i, i+1)
	}
	if err := l.mcPost(g, sg.mode, sg.srcs, mode, srcs); err != nil {
		return err
	}
	sg.srcs = srcs
	return nil
}

// sockJoin adds group to ms with the given filter.
func (l *Layer) sockJoin(ms *MCSock, g uint32, mode FilterMode, srcs []uint32) error {
	if len(ms.groups) >= MaxSockGroups {
		return fmt.Errorf("ipv4: join %v: %w", header.U32Addr(g), syscall.ENOBUFS)
	}
	if err := l.mcPost(g, ModeInclude, nil, mode, srcs); err != nil {
		return err
	}
	ms.groups = append(ms.groups, sockGroup{group: g, mode: mode, srcs: srcs})
	return nil
}

func (ms *MCSock) remove(g uint32) {
	ms.groups = slices.DeleteFunc(ms.groups, func(sg sockGroup) bool { return sg.group == g })
}

// mcGroupKey checks that group is an IPv4 multicast address and returns
// it as a uint32.
func mcGroupKey(group netip.Addr) (uint32, error) {
	g, ok := addrKey4(group)
	if !ok || g>>28 != 0xe {
		return 0, fmt.Errorf("ipv4: group %v: %w", group, syscall.EINVAL)
	}
	return g, nil
}

// addrKey4 is a (possibly IPv4-mapped) IPv4 address as a big-endian uint32.
func addrKey4(a netip.Addr) (uint32, bool) {
	a = a.Unmap()
	if !a.Is4() {
		return 0, false
	}
	return header.AddrU32(a), true
}
