package ipv4

import (
	"encoding/binary"
	"net/netip"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dpstack/dpstack/mbuf"
	"github.com/dpstack/dpstack/stack/header"
	"github.com/dpstack/dpstack/stack/route"
	"github.com/dpstack/dpstack/stat"
)

// Groups and sources of the multicast tests.
var (
	group1   = netip.MustParseAddr("239.1.2.3")
	group2   = netip.MustParseAddr("239.1.2.4")
	allSys   = netip.MustParseAddr("224.0.0.1")
	v3Router = netip.MustParseAddr("224.0.0.22")
	allRtrs  = netip.MustParseAddr("224.0.0.2")
	src1     = netip.MustParseAddr("198.18.1.1")
	src2     = netip.MustParseAddr("198.18.1.2")
	src3     = netip.MustParseAddr("198.18.1.3")
)

// sentIGMP is an IGMP message the layer sent, its headers checked.
type sentIGMP struct {
	ethDst header.MAC
	dst    netip.Addr
	msg    []byte // the IGMP message with its checksum zeroed
}

// igmpSent returns the IGMP messages sent since the last take, after
// checking what every IGMP message must be: TTL 1, precedence
// Internetwork Control, the Router Alert option, both checksums right,
// sent from our address to the Ethernet address of its group.
func (e *env) igmpSent() []sentIGMP {
	e.t.Helper()
	var out []sentIGMP
	for _, f := range e.takeFrames() {
		eth := f.eth()
		require.Equal(e.t, header.EtherTypeIPv4, eth.EtherType())
		ip := header.IPv4(f.data[header.EthernetLen:])
		require.Equal(e.t, header.IPProtoIGMP, ip.Protocol())
		require.True(e.t, ip.IsChecksumValid())
		require.Equal(e.t, uint8(1), ip.TTL())
		require.Equal(e.t, uint8(0xc0), ip.TOS())
		require.Equal(e.t, 24, ip.HeaderLen())
		require.Equal(e.t, routerAlert[:], []byte(ip[20:24]))
		require.Equal(e.t, ourAddr, ip.Src())
		require.Equal(e.t, route.MulticastMAC(header.AddrU32(ip.Dst())), eth.Dst())
		m := header.IGMP(slices.Clone(ip[24:ip.TotalLen()]))
		require.True(e.t, m.ChecksumValid(), "IGMP checksum")
		m[2], m[3] = 0, 0
		out = append(out, sentIGMP{ethDst: eth.Dst(), dst: ip.Dst(), msg: m})
	}
	return out
}

// oneIGMP returns the one IGMP message sent since the last take.
func (e *env) oneIGMP() sentIGMP {
	e.t.Helper()
	s := e.igmpSent()
	require.Len(e.t, s, 1)
	return s[0]
}

// advance moves the clock on by d and fires the timers due.
func (e *env) advance(d time.Duration) {
	e.now = e.now.Add(d)
	e.wheel.Advance(e.now, 1000)
}

// igmpInput gives the layer an IGMP message from the peer to dst, with
// the Router Alert option and TTL 1, as a querier sends it.
func (e *env) igmpInput(dst netip.Addr, msg []byte) {
	header.IGMP(msg).SetChecksum()
	e.l.Input(e.mbuf(ipSpec{src: peerAddr, dst: dst, proto: header.IPProtoIGMP, ttl: 1,
		options: routerAlert[:], payload: msg}.bytes()))
}

// v2Msg is an IGMPv1/v2 message (RFC 2236 §2), checksum to fill.
func v2Msg(typ, maxResp uint8, group netip.Addr) []byte {
	m := []byte{typ, maxResp, 0, 0, 0, 0, 0, 0}
	if group.IsValid() {
		copy(m[4:], group.AsSlice())
	}
	return m
}

// v3Query is an IGMPv3 query (RFC 3376 §4.1) with QRV 2 and QQIC 125.
func v3Query(maxResp uint8, group netip.Addr, srcs ...netip.Addr) []byte {
	m := make([]byte, 12, 12+4*len(srcs))
	m[0], m[1], m[8], m[9] = header.IGMPMembershipQuery, maxResp, 2, 125
	if group.IsValid() {
		copy(m[4:], group.AsSlice())
	}
	binary.BigEndian.PutUint16(m[10:], uint16(len(srcs)))
	for _, s := range srcs {
		m = append(m, s.AsSlice()...)
	}
	return m
}

// v3Report is the IGMPv3 report (checksum zero) with the given records.
func v3Report(recs ...[]byte) []byte {
	m := []byte{0x22, 0, 0, 0, 0, 0, 0, byte(len(recs))}
	for _, r := range recs {
		m = append(m, r...)
	}
	return m
}

// rec is one group record (RFC 3376 §4.2.4).
func rec(typ uint8, group netip.Addr, srcs ...netip.Addr) []byte {
	r := []byte{typ, 0, 0, byte(len(srcs))}
	r = append(r, group.AsSlice()...)
	for _, s := range srcs {
		r = append(r, s.AsSlice()...)
	}
	return r
}

// A join sends an IGMPv3 State-Change Report, TO_EX {} of the group, to
// 224.0.0.22, and once more within the Unsolicited Report Interval
// (Robustness Variable 2); a leave sends TO_IN {} twice the same way, and
// the group is forgotten.
func TestIGMPv3JoinLeave(t *testing.T) {
	e := newEnv(t, 0)
	var ms MCSock
	require.NoError(t, e.l.JoinGroup(&ms, group1))
	want := v3Report(rec(header.IGMPChangeToExclude, group1))
	s := e.oneIGMP()
	assert.Equal(t, v3Router, s.dst)
	assert.Equal(t, header.MAC{0x01, 0x00, 0x5e, 0x00, 0x00, 0x16}, s.ethDst)
	assert.Equal(t, []byte{0x22, 0, 0, 0, 0, 0, 0, 1, 4, 0, 0, 0, 239, 1, 2, 3}, s.msg)
	e.advance(igmpV3UnsolicitedInterval)
	assert.Equal(t, want, e.oneIGMP().msg)
	e.advance(10 * time.Second)
	assert.Empty(t, e.igmpSent())
	assert.True(t, e.l.Multicast().Joined(header.AddrU32(group1)))

	require.NoError(t, e.l.LeaveGroup(&ms, group1))
	assert.False(t, e.l.Multicast().Joined(header.AddrU32(group1)))
	want = v3Report(rec(header.IGMPChangeToInclude, group1))
	assert.Equal(t, want, e.oneIGMP().msg)
	e.advance(igmpV3UnsolicitedInterval)
	assert.Equal(t, want, e.oneIGMP().msg)
	e.advance(10 * time.Second)
	assert.Empty(t, e.igmpSent())
	assert.Empty(t, e.l.mc.groups)
	assert.Equal(t, uint64(4), e.l.Stats().IGMPOutV3Reports.Load())
	e.requireNoLeak()
}

// In IGMPv2 mode a join sends a Membership Report to the group, repeated
// once within 10 s, and a leave a Leave Group to 224.0.0.2 (RFC 2236 §3).
func TestIGMPv2JoinLeave(t *testing.T) {
	e := newEnv(t, 0)
	e.igmpInput(allSys, v2Msg(header.IGMPMembershipQuery, 100, netip.Addr{}))
	assert.Empty(t, e.igmpSent())
	var ms MCSock
	require.NoError(t, e.l.JoinGroup(&ms, group1))
	s := e.oneIGMP()
	assert.Equal(t, group1, s.dst)
	assert.Equal(t, header.MAC{0x01, 0x00, 0x5e, 0x01, 0x02, 0x03}, s.ethDst)
	assert.Equal(t, []byte{0x16, 0, 0, 0, 239, 1, 2, 3}, s.msg)
	e.advance(igmpV2UnsolicitedInterval)
	assert.Equal(t, []byte{0x16, 0, 0, 0, 239, 1, 2, 3}, e.oneIGMP().msg)
	e.advance(igmpV2UnsolicitedInterval)
	assert.Empty(t, e.igmpSent())

	require.NoError(t, e.l.LeaveGroup(&ms, group1))
	s = e.oneIGMP()
	assert.Equal(t, allRtrs, s.dst)
	assert.Equal(t, []byte{0x17, 0, 0, 0, 239, 1, 2, 3}, s.msg)
	e.advance(igmpV2UnsolicitedInterval)
	assert.Empty(t, e.igmpSent())
	st := e.l.Stats()
	assert.Equal(t, uint64(2), st.IGMPOutV2Reports.Load())
	assert.Equal(t, uint64(1), st.IGMPOutLeaves.Load())
	assert.Equal(t, uint64(1), st.IGMPInQueriesV2.Load())
	e.requireNoLeak()
}

// joinQuiet joins groups on fresh sockets and lets the state changes'
// retransmissions go by.
func (e *env) joinQuiet(groups ...netip.Addr) []*MCSock {
	e.t.Helper()
	var socks []*MCSock
	for _, g := range groups {
		ms := new(MCSock)
		require.NoError(e.t, e.l.JoinGroup(ms, g))
		socks = append(socks, ms)
	}
	e.advance(igmpV3UnsolicitedInterval)
	e.takeFrames()
	return socks
}

// A General Query is answered within its Max Resp Time by one
// Current-State Report with a record per group (RFC 3376 §5.2), and not
// before the timer fires.
func TestIGMPv3GeneralQuery(t *testing.T) {
	e := newEnv(t, 0)
	e.joinQuiet(group1, group2)
	e.igmpInput(allSys, v3Query(100, netip.Addr{}))
	assert.Empty(t, e.igmpSent())
	// A second query with a later deadline does not postpone the answer.
	e.igmpInput(allSys, v3Query(200, netip.Addr{}))
	e.advance(10 * time.Second)
	s := e.oneIGMP()
	assert.Equal(t, v3Router, s.dst)
	assert.Equal(t, v3Report(rec(header.IGMPModeIsExclude, group1), rec(header.IGMPModeIsExclude, group2)), s.msg)
	e.advance(20 * time.Second)
	assert.Empty(t, e.igmpSent())
	assert.Equal(t, uint64(2), e.l.Stats().IGMPInQueriesV3.Load())
	e.requireNoLeak()
}

// A Group-Specific Query is answered with that group's record only; a
// Group-and-Source-Specific Query with the queried sources the host wants
// (RFC 3376 §5.2), and with nothing when it wants none of them.
func TestIGMPv3GroupQueries(t *testing.T) {
	e := newEnv(t, 0)
	e.joinQuiet(group1)
	var ssm MCSock
	require.NoError(t, e.l.JoinSource(&ssm, group2, src1))
	require.NoError(t, e.l.JoinSource(&ssm, group2, src2))
	e.advance(igmpV3UnsolicitedInterval)
	e.takeFrames()

	e.igmpInput(group1, v3Query(10, group1))
	e.advance(time.Second)
	assert.Equal(t, v3Report(rec(header.IGMPModeIsExclude, group1)), e.oneIGMP().msg)

	e.igmpInput(group2, v3Query(10, group2, src2, src3))
	e.advance(time.Second)
	assert.Equal(t, v3Report(rec(header.IGMPModeIsInclude, group2, src2)), e.oneIGMP().msg)

	// EXCLUDE {} of group1 wants every source: IS_IN of those queried.
	e.igmpInput(group1, v3Query(10, group1, src3))
	e.advance(time.Second)
	assert.Equal(t, v3Report(rec(header.IGMPModeIsInclude, group1, src3)), e.oneIGMP().msg)

	e.igmpInput(group2, v3Query(10, group2, src3))
	e.advance(time.Second)
	assert.Empty(t, e.igmpSent())

	// A query for a group nobody joined is not even taken in.
	e.igmpInput(netip.MustParseAddr("239.9.9.9"), v3Query(10, netip.MustParseAddr("239.9.9.9")))
	assert.Equal(t, uint64(1), e.dev.Drops.Get(stat.DropIPMcastNotJoined))
	e.advance(time.Second)
	assert.Empty(t, e.igmpSent())
	e.requireNoLeak()
}

// An IGMPv2 query puts the host in IGMPv2 mode: queries, IGMPv3 ones
// included, are answered with IGMPv2 reports, another host's report of the
// group suppresses ours, and after the Older Version Querier Present
// Timeout the host speaks IGMPv3 again (RFC 3376 §7.2.1, RFC 2236 §3).
func TestIGMPv2QuerierFallback(t *testing.T) {
	e := newEnv(t, 0)
	e.joinQuiet(group1, group2)
	e.igmpInput(allSys, v2Msg(header.IGMPMembershipQuery, 50, netip.Addr{}))
	assert.True(t, e.l.igmpV2())
	assert.Equal(t, uint64(1), e.l.Stats().IGMPV2QuerierSeen.Load())
	e.advance(5 * time.Second)
	got := e.igmpSent()
	require.Len(t, got, 2)
	for _, s := range got {
		assert.Equal(t, header.IGMPv2MembershipReport, s.msg[0])
		assert.Equal(t, s.dst, header.U32Addr(binary.BigEndian.Uint32(s.msg[4:8])))
	}

	// Suppression: the group's report was heard from someone else.
	e.igmpInput(allSys, v3Query(100, netip.Addr{}))
	e.igmpInput(group1, v2Msg(header.IGMPv2MembershipReport, 0, group1))
	e.advance(10 * time.Second)
	s := e.oneIGMP()
	assert.Equal(t, []byte{0x16, 0, 0, 0, 239, 1, 2, 4}, s.msg)

	e.advance(igmpOlderQuerierTimeout)
	assert.False(t, e.l.igmpV2())
	assert.Equal(t, uint64(1), e.l.Stats().IGMPV3Resumed.Load())
	var ms MCSock
	require.NoError(t, e.l.JoinGroup(&ms, netip.MustParseAddr("239.1.2.5")))
	assert.Equal(t, header.IGMPv3MembershipReport, e.oneIGMP().msg[0])
	e.requireNoLeak()
}

// The interface state merges the sockets' filters (RFC 3376 §3.2), its
// changes go out as the records of §5.1, and each socket's filter decides
// for its own datagrams (ip_mc_sf_allow).
func TestMCSourceFiltersMerge(t *testing.T) {
	e := newEnv(t, 0)
	g := header.AddrU32(group1)
	state := func() (FilterMode, []netip.Addr) {
		grp := e.l.mc.find(g)
		var out []netip.Addr
		for _, s := range grp.state {
			out = append(out, header.U32Addr(s))
		}
		return grp.mode, out
	}
	var a, b, c, d MCSock
	require.NoError(t, e.l.JoinSource(&a, group1, src1))
	assert.Equal(t, v3Report(rec(header.IGMPAllowNewSources, group1, src1)), e.oneIGMP().msg)
	require.NoError(t, e.l.JoinSource(&a, group1, src2))
	require.NoError(t, e.l.JoinSource(&b, group1, src2))
	require.NoError(t, e.l.JoinSource(&b, group1, src3))
	mode, srcs := state()
	assert.Equal(t, ModeInclude, mode)
	assert.Equal(t, []netip.Addr{src1, src2, src3}, srcs)
	// Pending ALLOW records accumulate while retransmissions are due;
	// b's src2 changes nothing.
	got := e.igmpSent()
	require.Len(t, got, 2)
	assert.Equal(t, v3Report(rec(header.IGMPAllowNewSources, group1, src1, src2)), got[0].msg)
	assert.Equal(t, v3Report(rec(header.IGMPAllowNewSources, group1, src1, src2, src3)), got[1].msg)

	// c excludes src1 and src3: EXCLUDE of what c excludes and no one
	// includes: {}, and blocking changes nothing.
	require.NoError(t, e.l.JoinGroup(&c, group1))
	require.NoError(t, e.l.BlockSource(&c, group1, src1))
	require.NoError(t, e.l.BlockSource(&c, group1, src3))
	mode, srcs = state()
	assert.Equal(t, ModeExclude, mode)
	assert.Empty(t, srcs)
	assert.Equal(t, v3Report(rec(header.IGMPChangeToExclude, group1)), e.oneIGMP().msg)

	// Without the includers, c's exclusions show; d, excluding src1
	// only, leaves {src1}, the intersection.
	require.NoError(t, e.l.DropSocket(&a))
	require.NoError(t, e.l.LeaveSource(&b, group1, src2))
	require.NoError(t, e.l.LeaveSource(&b, group1, src3))
	mode, srcs = state()
	assert.Equal(t, ModeExclude, mode)
	assert.Equal(t, []netip.Addr{src1, src3}, srcs)
	require.NoError(t, e.l.JoinGroup(&d, group1))
	require.NoError(t, e.l.BlockSource(&d, group1, src1))
	mode, srcs = state()
	assert.Equal(t, ModeExclude, mode)
	assert.Equal(t, []netip.Addr{src1}, srcs)

	s1, s3, s2 := header.AddrU32(src1), header.AddrU32(src3), header.AddrU32(src2)
	assert.False(t, c.Allow(g, s1, true))
	assert.False(t, c.Allow(g, s3, true))
	assert.True(t, c.Allow(g, s2, false))
	assert.False(t, a.Allow(g, s2, false), "a left")
	assert.True(t, a.Allow(g, s2, true), "IP_MULTICAST_ALL")
	require.NoError(t, e.l.JoinSource(&a, group1, src2))
	assert.True(t, a.Allow(g, s2, false))
	assert.False(t, a.Allow(g, s1, true))

	mode2, list, ok := c.Filter(group1)
	assert.True(t, ok)
	assert.Equal(t, ModeExclude, mode2)
	assert.Equal(t, []netip.Addr{src1, src3}, list)

	for _, ms := range []*MCSock{&a, &b, &c, &d} {
		require.NoError(t, e.l.DropSocket(ms))
	}
	assert.False(t, e.l.Multicast().Joined(g))
	e.advance(time.Minute)
	e.takeFrames()
	assert.Empty(t, e.l.mc.groups)
	e.requireNoLeak()
}

// The socket calls fail as Linux's setsockopt does.
func TestMCSockErrors(t *testing.T) {
	e := newEnv(t, 0)
	var ms MCSock
	assert.ErrorIs(t, e.l.JoinGroup(&ms, peerAddr), syscall.EINVAL)
	assert.ErrorIs(t, e.l.LeaveGroup(&ms, group1), syscall.EADDRNOTAVAIL)
	require.NoError(t, e.l.JoinGroup(&ms, group1))
	assert.ErrorIs(t, e.l.JoinGroup(&ms, group1), syscall.EADDRINUSE)
	assert.ErrorIs(t, e.l.JoinSource(&ms, group1, src1), syscall.EINVAL)
	assert.ErrorIs(t, e.l.UnblockSource(&ms, group1, src1), syscall.EADDRNOTAVAIL)
	require.NoError(t, e.l.BlockSource(&ms, group1, src1))
	assert.ErrorIs(t, e.l.BlockSource(&ms, group1, src1), syscall.EADDRINUSE)
	assert.ErrorIs(t, e.l.BlockSource(&ms, group2, src1), syscall.EADDRNOTAVAIL)
	for i := range MaxSockSources - 1 {
		require.NoError(t, e.l.BlockSource(&ms, group1, netip.AddrFrom4([4]byte{198, 18, 2, byte(i)})))
	}
	assert.ErrorIs(t, e.l.BlockSource(&ms, group1, src2), syscall.ENOBUFS)
	for i := 1; i < MaxSockGroups; i++ {
		require.NoError(t, e.l.JoinGroup(&ms, netip.AddrFrom4([4]byte{239, 2, 0, byte(i)})))
	}
	assert.ErrorIs(t, e.l.JoinGroup(&ms, group2), syscall.ENOBUFS)
	require.NoError(t, e.l.DropSocket(&ms))
	e.advance(time.Minute)
	e.takeFrames()
	e.requireNoLeak()
}

// Datagrams to a group are delivered while some socket of the host is in
// it, and dropped, counted, before and after.
func TestMcastInputJoined(t *testing.T) {
	e := newEnv(t, 0)
	c := e.catchProto()
	dgram := func() *mbuf.Buf {
		return e.mbuf(ipSpec{src: peerAddr, dst: group1, proto: testProto, ttl: 1, payload: []byte("tick")}.bytes())
	}
	e.l.Input(dgram())
	assert.Empty(t, c.data)
	assert.Equal(t, uint64(1), e.dev.Drops.Get(stat.DropIPMcastNotJoined))
	var ms MCSock
	require.NoError(t, e.l.JoinGroup(&ms, group1))
	e.l.Input(dgram())
	require.Len(t, c.data, 1)
	assert.Equal(t, []byte("tick"), c.data[0])
	assert.Equal(t, uint64(1), e.l.Stats().InMcastPkts.Load())
	require.NoError(t, e.l.LeaveGroup(&ms, group1))
	e.l.Input(dgram())
	assert.Len(t, c.data, 1)
	assert.Equal(t, uint64(2), e.dev.Drops.Get(stat.DropIPMcastNotJoined))
	// An echo request to a group is not answered.
	e.joinQuiet(group1)
	e.l.Input(e.mbuf(ipSpec{src: peerAddr, dst: group1, proto: header.IPProtoICMP, ttl: 1,
		payload: icmpMsg(header.ICMPv4Echo, 0, 1, 1, nil)}.bytes()))
	assert.Equal(t, uint64(1), e.dev.Drops.Get(stat.DropICMPBroadcastEcho))
	e.advance(time.Minute)
	e.takeFrames()
	e.requireNoLeak()
}

// Malformed IGMP is dropped by reason; others' reports and leaves are
// counted and consumed.
func TestIGMPInputBad(t *testing.T) {
	e := newEnv(t, 0)
	send := func(msg []byte, fixSum bool) {
		if fixSum && len(msg) >= header.IGMPMinLen {
			header.IGMP(msg).SetChecksum()
		}
		e.l.Input(e.mbuf(ipSpec{src: peerAddr, dst: allSys, proto: header.IPProtoIGMP, ttl: 1, payload: msg}.bytes()))
	}
	send([]byte{0x11, 0, 0, 0}, false)
	bad := v2Msg(header.IGMPMembershipQuery, 10, netip.Addr{})
	bad[2] = 0x55
	send(bad, false)
	send(v3Query(10, netip.Addr{})[:10], true)
	send(v3Query(10, netip.Addr{}, src1)[:12], true)
	send(v3Query(10, netip.Addr{}, src1), true)
	send(v2Msg(header.IGMPMembershipQuery, 10, peerAddr), true)
	send(v2Msg(0x99, 0, group1), true)
	send(v3Report(rec(header.IGMPModeIsExclude, group1)), true)
	send(v2Msg(header.IGMPv2LeaveGroup, 0, group1), true)
	send(v2Msg(header.IGMPv1MembershipReport, 0, group1), true)
	st := e.l.Stats()
	assert.Equal(t, uint64(1), e.dev.Drops.Get(stat.DropIGMPTruncated))
	assert.Equal(t, uint64(1), e.dev.Drops.Get(stat.DropIGMPBadChecksum))
	assert.Equal(t, uint64(4), e.dev.Drops.Get(stat.DropIGMPBadQuery))
	assert.Equal(t, uint64(1), e.dev.Drops.Get(stat.DropIGMPUnknownType))
	assert.Equal(t, uint64(6), st.IGMPInErrors.Load())
	assert.Equal(t, uint64(1), st.IGMPInCsumErrors.Load())
	assert.Equal(t, uint64(1), st.IGMPInV3Reports.Load())
	assert.Equal(t, uint64(1), st.IGMPInLeaves.Load())
	assert.Equal(t, uint64(1), st.IGMPInV1Reports.Load())
	assert.Equal(t, uint64(10), st.IGMPInMsgs.Load())
	assert.False(t, e.l.igmpV2())
	assert.Empty(t, e.igmpSent())
	e.requireNoLeak()
}

// A report too big for one packet is split over several, each record's
// source list cut to fit (RFC 3376 §4.2.16).
func TestIGMPv3ReportSplit(t *testing.T) {
	e := newEnv(t, 0)
	var socks [MaxSockGroups]MCSock
	for i := range socks {
		for j := range MaxSockSources {
			g := netip.AddrFrom4([4]byte{239, 3, 0, byte(i)})
			require.NoError(t, e.l.JoinSource(&socks[i], g, netip.AddrFrom4([4]byte{198, 18, 3, byte(j)})))
		}
	}
	e.advance(time.Minute)
	e.takeFrames()
	// 20 records of 48 bytes: 960 bytes, one report at MTU 1500.
	e.igmpInput(allSys, v3Query(10, netip.Addr{}))
	e.advance(time.Second)
	s := e.oneIGMP()
	assert.Equal(t, 8+20*48, len(s.msg))
	// At the minimum MTU (68: 44 bytes of IGMP), a record of 10 sources
	// is cut into records of at most 7.
	e.dev.MTU = 68
	e.igmpInput(allSys, v3Query(10, netip.Addr{}))
	e.advance(time.Second)
	got := e.igmpSent()
	assert.Len(t, got, 40)
	for _, m := range got {
		assert.LessOrEqual(t, len(m.msg), 44)
	}
	for i := range socks {
		require.NoError(t, e.l.DropSocket(&socks[i]))
	}
	e.advance(time.Minute)
	e.takeFrames()
	e.requireNoLeak()
}

// FuzzIGMP feeds any bytes as an IGMP message (checksum fixed up when
// fixSum, so that the parser behind it is reached) to a layer that joined
// two groups, one with a source filter, to all-systems or to a group; then
// the timers run out. No panic, and every mbuf comes back.
func FuzzIGMP(f *testing.F) {
	f.Add(v2Msg(header.IGMPMembershipQuery, 100, netip.Addr{}), true, false)
	f.Add(v2Msg(header.IGMPMembershipQuery, 0, group1), true, true)
	f.Add(v3Query(100, netip.Addr{}), true, false)
	f.Add(v3Query(10, group2, src1, src3), true, true)
	f.Add(v3Query(10, group2, src1)[:14], true, true)
	f.Add(v3Report(rec(header.IGMPModeIsExclude, group1)), true, false)
	f.Add(v2Msg(header.IGMPv2MembershipReport, 0, group1), false, true)
	f.Add([]byte{0x11}, true, false)
	e := newEnv(f, 0)
	var a, b MCSock
	require.NoError(f, e.l.JoinGroup(&a, group1))
	require.NoError(f, e.l.JoinSource(&b, group2, src1))
	f.Fuzz(func(t *testing.T, msg []byte, fixSum, toGroup bool) {
		if len(msg) > 1400 {
			return
		}
		e.t = t
		msg = slices.Clone(msg)
		if fixSum && len(msg) >= header.IGMPMinLen {
			header.IGMP(msg).SetChecksum()
		}
		dst := allSys
		if toGroup {
			dst = group2
		}
		e.l.Input(e.mbuf(ipSpec{src: peerAddr, dst: dst, proto: header.IPProtoIGMP, ttl: 1,
			options: routerAlert[:], payload: msg}.bytes()))
		e.advance(igmpOlderQuerierTimeout + time.Minute)
		e.reset()
		require.Zero(t, e.pool.InUse())
	})
}

// Taking in a datagram to a joined group allocates nothing
// (ARCHITECTURE.md §5).
func TestMcastInputAllocs(t *testing.T) {
	e := newEnv(t, 0)
	e.l.RegisterProtocol(testProto, func(b *mbuf.Buf, ip header.IPv4) { e.dev.Free(b) })
	e.joinQuiet(group1, group2)
	pkt := ipSpec{src: peerAddr, dst: group2, proto: testProto, ttl: 1, payload: []byte("tick")}.bytes()
	allocs := testing.AllocsPerRun(100, func() {
		b := e.pool.Alloc()
		copy(b.Put(len(pkt)), pkt)
		e.l.Input(b)
	})
	assert.Zero(t, allocs)
	assert.Equal(t, uint64(101), e.l.Stats().InMcastPkts.Load())
	e.advance(time.Minute)
	e.takeFrames()
	e.requireNoLeak()
}

// A querier's Robustness Variable (QRV) sets how many times a state
// change is sent (RFC 3376 §4.1.6, §8.1), and its Query Interval how long
// an IGMPv2 querier is remembered (§8.12).
func TestIGMPQuerierRobustness(t *testing.T) {
	e := newEnv(t, 0)
	q := v3Query(10, netip.Addr{})
	q[8], q[9] = 3, 20 // QRV 3, QQIC 20 s
	e.igmpInput(allSys, q)
	e.advance(time.Second) // the query's answer: no group yet, no report
	assert.Empty(t, e.igmpSent())
	var ms MCSock
	require.NoError(t, e.l.JoinGroup(&ms, group1))
	for range 3 {
		assert.Len(t, e.igmpSent(), 1)
		e.advance(igmpV3UnsolicitedInterval)
	}
	assert.Empty(t, e.igmpSent())

	e.igmpInput(allSys, v2Msg(header.IGMPMembershipQuery, 10, netip.Addr{}))
	require.True(t, e.l.igmpV2())
	e.advance(3*20*time.Second + time.Second) // QRV × QI + QRI (1 s)
	assert.False(t, e.l.igmpV2())
	require.NoError(t, e.l.LeaveGroup(&ms, group1))
	e.advance(time.Minute)
	e.takeFrames()
	e.requireNoLeak()
}
