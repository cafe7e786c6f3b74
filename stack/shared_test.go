package stack_test

import (
	"net/netip"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dpstack/dpstack/dpdk"
	"github.com/dpstack/dpstack/lcore"
	"github.com/dpstack/dpstack/mbuf"
	"github.com/dpstack/dpstack/stack"
)

// TestSharedLoop: two hosts whose ports one loop polls (Config.Loops)
// resolve each other and exchange echoes; Start wants the loop running,
// Close wants it stopped; and only one-core hosts may share a loop.
func TestSharedLoop(t *testing.T) {
	rp, err := dpdk.NewRingPair(uniq("rps"), 256)
	require.NoError(t, err)
	defer func() { require.NoError(t, rp.Close()) }()
	l := lcore.NewLoop(lcore.Config{Shared: true})
	loops := []*lcore.Loop{l}

	_, err = stack.Open(stack.Config{Name: uniq("sl"), Port: rp.A, Addr: addrA, Cores: 2, Loops: loops})
	assert.ErrorIs(t, err, syscall.EINVAL, "two cores on one shared loop")

	a, err := stack.Open(stack.Config{Name: uniq("sla"), Port: rp.A, Addr: addrA, PoolSize: 2047, Loops: loops})
	require.NoError(t, err)
	b, err := stack.Open(stack.Config{Name: uniq("slb"), Port: rp.B, Addr: addrB, PoolSize: 2047, Loops: loops})
	require.NoError(t, err)
	assert.ErrorIs(t, a.Start(), syscall.EINVAL, "the shared loop is not running yet")

	l.Go()
	require.True(t, l.Running())
	require.NoError(t, a.Start())
	require.NoError(t, b.Start())
	pingRunning(t, a, addrB.Addr(), 3, 56)

	require.NoError(t, a.Stop())
	require.NoError(t, b.Stop())
	assert.True(t, l.Running(), "Stop leaves a shared loop to its owner")
	assert.ErrorIs(t, a.Close(), syscall.EBUSY, "close with the loop running")
	l.Stop()
	l.Close()
	assert.False(t, l.Running())
	require.NoError(t, a.Close())
	require.NoError(t, b.Close())
}

// TestSharedPool: two hosts on one mbuf pool (Config.Pool) exchange
// echoes; closing a host leaves the pool to its owner, and every mbuf is
// back once both are closed.
func TestSharedPool(t *testing.T) {
	rp, err := dpdk.NewRingPair(uniq("rpp"), 256)
	require.NoError(t, err)
	defer func() { require.NoError(t, rp.Close()) }()
	pool, err := mbuf.NewPool(mbuf.PoolConfig{Name: uniq("shp"), Size: 2047, CacheSize: 256, Socket: -1, Ops: mbuf.OpsLockFree})
	require.NoError(t, err)
	defer pool.Close()

	a, err := stack.Open(stack.Config{Name: uniq("spa"), Port: rp.A, Addr: addrA, Pool: pool})
	require.NoError(t, err)
	b, err := stack.Open(stack.Config{Name: uniq("spb"), Port: rp.B, Addr: addrB, Pool: pool})
	require.NoError(t, err)
	assert.Same(t, pool, a.Pool())
	require.NoError(t, a.Start())
	require.NoError(t, b.Start())
	pingRunning(t, a, addrB.Addr(), 3, 1000)

	require.NoError(t, a.Close())
	require.NoError(t, b.Close())
	assert.Equal(t, 0, pool.InUse(), "every mbuf back in the shared pool")
}

// pingRunning sends n echo requests of size bytes from running host h to
// dst, on h's core, and waits for their replies.
func pingRunning(t *testing.T, h *stack.Host, dst netip.Addr, n, size int) {
	t.Helper()
	ip := h.Stacks()[0].IPv4().Stats()
	want := ip.ICMPInEchoReps.Load() + uint64(n)
	for i := range n {
		var err error
		require.NoError(t, h.Do(0, func(*stack.Stack) { err = echoRequest(h, dst, 5, uint16(i), size) }))
		require.NoError(t, err)
	}
	deadline := time.Now().Add(30 * time.Second) // a hang guard, not a timing assertion
	for ip.ICMPInEchoReps.Load() < want && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	assert.Equal(t, want, ip.ICMPInEchoReps.Load(), "echo replies")
}
