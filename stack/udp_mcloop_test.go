package stack_test

import (
	"net/netip"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dpstack/dpstack/stack/sock"
	"github.com/dpstack/dpstack/stack/udp"
)

// TestUDPMulticastLoopTwoCores: a datagram a socket of core 1 sends to a
// group reaches the member sockets of both cores on the group's port
// (IP_MULTICAST_LOOP): core 1's at once, core 0's through its inbox, as a
// received datagram handed over, from our own address; one copy leaves
// on the wire. The pools come back whole (newLoopHost's Close).
func TestUDPMulticastLoopTwoCores(t *testing.T) {
	lh := newLoopHost(t, 2)
	s0, s1 := lh.h.Stacks()[0], lh.h.Stacks()[1]
	group := netip.MustParseAddr("239.18.0.9")
	join := sock.MReq{Group: group}
	m0, err := lh.udpSock(0, 7310, true)
	require.NoError(t, err)
	m1, err := lh.udpSock(1, 7310, true)
	require.NoError(t, err)
	require.NoError(t, m0.SetSockOptMReq(syscall.IPPROTO_IP, syscall.IP_ADD_MEMBERSHIP, join))
	require.NoError(t, m1.SetSockOptMReq(syscall.IPPROTO_IP, syscall.IP_ADD_MEMBERSHIP, join))
	poll := func() {
		for range 3 {
			s0.Loop().Poll()
			s1.Loop().Poll()
		}
	}
	poll() // core 0 applies the joins
	lh.frames(0)
	lh.frames(1)
	cli, err := lh.udpSock(1, 7311, false)
	require.NoError(t, err)
	handoffs := s1.UDP().Stats().Handoffs.Load()
	_, err = cli.SendTo([]byte("tick"), 0, netip.AddrPortFrom(group, 7310))
	require.NoError(t, err)
	assert.Equal(t, 1, m1.ReceiveQueue.Len(), "the sending core's member, at once")
	s1.Loop().Flush()
	assert.Len(t, lh.frames(1), 1, "one datagram on the wire")
	poll()
	assert.Equal(t, 1, m0.ReceiveQueue.Len(), "the other core's, through its inbox")
	assert.Equal(t, handoffs+1, s1.UDP().Stats().Handoffs.Load())
	buf := make([]byte, 64)
	for _, m := range []*udp.Sock{m0, m1} {
		n, from, err := m.RecvFrom(buf, 0)
		require.NoError(t, err)
		assert.Equal(t, "tick", string(buf[:n]))
		assert.Equal(t, netip.AddrPortFrom(addrA.Addr(), 7311), from)
	}
}
