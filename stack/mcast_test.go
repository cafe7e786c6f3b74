package stack_test

import (
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dpstack/dpstack/ktime"
	"github.com/dpstack/dpstack/mbuf"
	"github.com/dpstack/dpstack/stack/header"
	"github.com/dpstack/dpstack/stack/ipv4"
	"github.com/dpstack/dpstack/stack/route"
	"github.com/dpstack/dpstack/stack/stacktest"
	"github.com/dpstack/dpstack/stat"
)

// igmpSent takes what core q transmitted and returns the IGMP messages.
func (lh *loopHost) igmpSent(q int) []header.IGMP {
	var out []header.IGMP
	for _, ip := range lh.sentIPv4(q, header.IPProtoIGMP) {
		out = append(out, header.IGMP(ip.Payload()))
	}
	return out
}

// injectIP transmits an IPv4 packet from the peer to group into queue q.
func (lh *loopHost) injectIP(q int, group netip.Addr, proto uint8, payload []byte) {
	lh.t.Helper()
	frame := stacktest.EthFrame(route.MulticastMAC(header.AddrU32(group)), loopPeerMAC, header.EtherTypeIPv4,
		stacktest.IPv4Packet(addrB.Addr(), group, proto, 1, payload))
	b := lh.h.Pool().Alloc()
	require.NotNil(lh.t, b)
	copy(b.Put(len(frame)), frame)
	require.Equal(lh.t, 1, lh.port.TxBurst(uint16(q), []*mbuf.Buf{b}))
}

// TestMulticastTwoCores: membership is host-wide and core 0 speaks IGMP.
// A socket of core 1 joins: the change is posted to core 0, which sends
// the report and publishes the group, so that core 1 takes the group's
// datagrams. A query that reaches core 1 is handed to core 0, which
// answers it.
func TestMulticastTwoCores(t *testing.T) {
	lh := newLoopHost(t, 2)
	s0, s1 := lh.h.Stacks()[0], lh.h.Stacks()[1]
	group := netip.MustParseAddr("239.18.0.9")
	var delivered int
	s1.IPv4().RegisterProtocol(253, func(b *mbuf.Buf, ip header.IPv4) {
		delivered++
		s1.Device().Free(b)
	})

	var ms ipv4.MCSock
	require.NoError(t, s1.IPv4().JoinGroup(&ms, group))
	g := header.AddrU32(group)
	assert.False(t, lh.h.Multicast().Joined(g), "not before core 0 ran the change")
	s0.Loop().Poll()
	s0.Loop().Flush()
	assert.True(t, lh.h.Multicast().Joined(g))
	out := lh.igmpSent(0)
	require.Len(t, out, 1)
	assert.Equal(t, header.IGMPv3MembershipReport, out[0].Type())
	assert.Empty(t, lh.igmpSent(1), "core 1 does not speak IGMP")

	lh.injectIP(1, group, 253, []byte("tick"))
	s1.Loop().Poll()
	assert.Equal(t, 1, delivered)

	query := []byte{header.IGMPMembershipQuery, 10, 0, 0, 0, 0, 0, 0, 2, 125, 0, 0}
	header.IGMP(query).SetChecksum()
	lh.injectIP(1, netip.MustParseAddr("224.0.0.1"), header.IPProtoIGMP, query)
	s1.Loop().Poll()
	assert.Equal(t, uint64(1), s1.IPv4().Stats().IGMPHandoffs.Load())
	s0.Loop().Poll()
	assert.Equal(t, uint64(1), s0.IPv4().Stats().IGMPInQueriesV3.Load())
	stacktest.Fire(lh.h, ktime.Now().Add(time.Minute))
	var reports int
	for _, m := range lh.igmpSent(0) {
		if m.Type() == header.IGMPv3MembershipReport {
			reports++
		}
	}
	assert.GreaterOrEqual(t, reports, 2, "the retransmitted join and the query's answer")

	require.NoError(t, s1.IPv4().LeaveGroup(&ms, group))
	s0.Loop().Poll()
	assert.False(t, lh.h.Multicast().Joined(g))
	lh.injectIP(1, group, 253, []byte("tock"))
	s1.Loop().Poll()
	assert.Equal(t, 1, delivered)
	assert.Equal(t, uint64(1), s1.Device().Drops.Get(stat.DropIPMcastNotJoined))
	stacktest.Fire(lh.h, ktime.Now().Add(2*time.Minute))
	lh.igmpSent(0)
}
