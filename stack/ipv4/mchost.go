package ipv4

import (
	"fmt"
	"slices"
	"sync/atomic"
	"syscall"

	"github.com/dpstack/dpstack/stack/header"
	"github.com/dpstack/dpstack/stack/route"
)

// allHosts is 224.0.0.1, the all-systems group every host belongs to
// without reporting it (RFC 1112 §4, RFC 3376 §5).
const allHosts uint32 = 0xe0000001

// MCHost is the host's multicast membership, shared by the Layers of all
// its cores (Linux's ip_mc_list chain on the in_device): the groups some
// socket joined, counted, with the interface state of RFC 3376 §3.2
// merged from the sockets' filters. One core speaks IGMP for the host
// (ARCHITECTURE.md §3): its Layer owns the groups, their timers and the
// reports; the other cores post their sockets' changes to it, and read
// which groups are joined, for input, from an immutable set the speaker
// publishes.
type MCHost struct {
	// run runs fn on the speaker's core, reporting false when it could
	// not be queued; nil runs fn in place (one core).
	run func(fn func()) bool
	// setFilter gives the port the Ethernet addresses of the joined
	// groups (rte_eth_dev_set_mc_addr_list); nil for none.
	setFilter func(macs []header.MAC)

	// joined is the sorted set of groups with members, which every core's
	// Input reads (ip_check_mc_rcu) without a lock.
	joined atomic.Pointer[[]uint32]

	// speaker is the Layer that speaks IGMP; groups and the rest below
	// are its core's.
	speaker *Layer
	groups  []*mcGroup
}

// NewMCHost returns a host's membership. run runs a function on the core
// that speaks IGMP (lcore.Loop.Post of that core's loop), setFilter gives
// the port the groups' Ethernet addresses; either may be nil. The Layer
// of that core is the one built with Config.MC set to this MCHost and
// Config.Core 0.
func NewMCHost(run func(fn func()) bool, setFilter func(macs []header.MAC)) *MCHost {
	m := &MCHost{run: run, setFilter: setFilter}
	m.joined.Store(new([]uint32))
	return m
}

// Joined reports whether some socket of the host joined group, or group
// is the all-systems group (ip_check_mc_rcu). It is called per datagram on
// any core: one atomic load and a search of a short sorted slice.
func (m *MCHost) Joined(group uint32) bool {
	if group == allHosts {
		return true
	}
	_, ok := slices.BinarySearch(*m.joined.Load(), group)
	return ok
}

// mcSource is one source of a group with the number of sockets that list
// it in each mode (Linux's ip_sf_list sf_count[2]).
type mcSource struct {
	addr  uint32
	count [2]int
}

// mcGroup is one group of the host (struct ip_mc_list).
type mcGroup struct {
	addr    uint32
	sfcount [2]int // sockets with the group in each mode
	srcs    []mcSource
	// mode and state are the interface state (RFC 3376 §3.2) as last
	// computed: the filter mode and its source list, sorted.
	mode  FilterMode
	state []uint32

	igmp igmpGroup
}

// users is the number of sockets that joined the group.
func (g *mcGroup) users() int { return g.sfcount[ModeInclude] + g.sfcount[ModeExclude] }

// mcPost tells the host that a socket's filter of group g changed from
// (omode, osrcs) to (nmode, nsrcs), (INCLUDE, {}) standing for "not a
// member" either side. The change runs on the speaker's core; ENOBUFS
// when it cannot be queued there. It copies what it posts.
func (l *Layer) mcPost(g uint32, omode FilterMode, osrcs []uint32, nmode FilterMode, nsrcs []uint32) error {
	m := l.mc
	o, n := slices.Clone(osrcs), slices.Clone(nsrcs)
	fn := func() { m.speaker.mcChange(g, omode, o, nmode, n) }
	if m.run == nil || l == m.speaker {
		fn()
		return nil
	}
	if !m.run(fn) {
		return fmt.Errorf("ipv4: membership of %v: %w", header.U32Addr(g), syscall.ENOBUFS)
	}
	return nil
}

// mcChange applies one socket's filter change to group g on the speaker's
// core (ip_mc_del_src then ip_mc_add_src, ip_mc_inc_group /
// ip_mc_dec_group), recomputes the interface state and, when it changed,
// has IGMP report it.
func (l *Layer) mcChange(g uint32, omode FilterMode, osrcs []uint32, nmode FilterMode, nsrcs []uint32) {
	m := l.mc
	grp := m.find(g)
	if grp == nil {
		grp = &mcGroup{addr: g}
		grp.igmp.init(l, grp)
		m.groups = append(m.groups, grp)
	}
	before := grp.users()
	if omode != ModeInclude || len(osrcs) > 0 {
		grp.addSources(omode, osrcs, -1)
	}
	if nmode != ModeInclude || len(nsrcs) > 0 {
		grp.addSources(nmode, nsrcs, +1)
	}
	after := grp.users()
	omodeIf, ostate := grp.mode, grp.state
	grp.mode, grp.state = grp.interfaceState()
	if (before == 0) != (after == 0) {
		m.publish()
	}
	if grp.mode != omodeIf || !slices.Equal(grp.state, ostate) {
		l.igmpStateChange(grp, omodeIf, ostate)
	}
	if after == 0 && !grp.igmp.busy() {
		m.forget(grp)
	}
}

// addSources counts (delta +1) or uncounts (-1) one socket with the group
// in mode with sources srcs.
func (g *mcGroup) addSources(mode FilterMode, srcs []uint32, delta int) {
	g.sfcount[mode] += delta
	for _, s := range srcs {
		i := slices.IndexFunc(g.srcs, func(e mcSource) bool { return e.addr == s })
		if i < 0 {
			g.srcs = append(g.srcs, mcSource{addr: s})
			i = len(g.srcs) - 1
		}
		g.srcs[i].count[mode] += delta
		if g.srcs[i].count == [2]int{} {
			g.srcs = slices.Delete(g.srcs, i, i+1)
		}
	}
}

// interfaceState merges the sockets' filters into the interface's (RFC
// 3376 §3.2): EXCLUDE if any socket excludes, with the sources every
// excluding socket excludes and no including socket includes; INCLUDE
// otherwise, with the union of the included sources. Linux's
// sf_setstate computes the same from the counts.
func (g *mcGroup) interfaceState() (FilterMode, []uint32) {
	var state []uint32
	if g.sfcount[ModeExclude] > 0 {
		for _, s := range g.srcs {
			if s.count[ModeExclude] == g.sfcount[ModeExclude] && s.count[ModeInclude] == 0 {
				state = append(state, s.addr)
			}
		}
		slices.Sort(state)
		return ModeExclude, state
	}
	for _, s := range g.srcs {
		if s.count[ModeInclude] > 0 {
			state = append(state, s.addr)
		}
	}
	slices.Sort(state)
	return ModeInclude, state
}

func (m *MCHost) find(g uint32) *mcGroup {
	for _, grp := range m.groups {
		if grp.addr == g {
			return grp
		}
	}
	return nil
}

// forget removes a group that has no members and nothing left to send.
func (m *MCHost) forget(grp *mcGroup) {
	grp.igmp.stop(m.speaker.igmp.wheel)
	m.groups = slices.DeleteFunc(m.groups, func(e *mcGroup) bool { return e == grp })
}

// publish stores the new set of joined groups for the cores' input and
// gives the port their Ethernet addresses (ip_mc_filter_add, dev_mc_add).
func (m *MCHost) publish() {
	var set []uint32
	for _, grp := range m.groups {
		if grp.users() > 0 {
			set = append(set, grp.addr)
		}
	}
	slices.Sort(set)
	m.joined.Store(&set)
	if m.setFilter == nil {
		return
	}
	macs := make([]header.MAC, 0, len(set)+1)
	macs = append(macs, route.MulticastMAC(allHosts))
	for _, g := range set {
		if mac := route.MulticastMAC(g); !slices.Contains(macs, mac) {
			macs = append(macs, mac)
		}
	}
	m.setFilter(macs)
}
