package dpdk_test

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dpstack/dpstack/dpdk"
	"github.com/dpstack/dpstack/dpdk/dpdktest"
	"github.com/dpstack/dpstack/mbuf"
)

// TestTxFlat: a port whose driver sends from the given mbuf's own buffer
// (net_af_xdp, tx.h) gets a clone and a chain as copies in one direct
// mbuf each, with the same bytes, while a direct packet goes as it is;
// the clone's original stays with its holder. Without a free mbuf for a
// copy, the burst stops before that packet, which stays the caller's,
// and goes once an mbuf is free. Every mbuf comes back to the pool.
func TestTxFlat(t *testing.T) {
	pool := dpdktest.Pool(t, 63)
	rp, err := dpdk.NewRingPair("dpdkf", 64)
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, rp.Close()) })
	for _, p := range []*dpdk.Port{rp.A, rp.B} {
		_, err := p.Configure(dpdk.PortConfig{RxQueues: 1, TxQueues: 1, Pool: pool})
		require.NoError(t, err)
		require.NoError(t, p.Start())
		t.Cleanup(func() { assert.NoError(t, p.Stop()) })
	}
	dpdk.SetTxFlat(rp.A, true)

	fill := func(n int, seed byte) *mbuf.Buf {
		b := pool.Alloc()
		require.NotNil(t, b)
		for i, p := 0, b.Put(n); i < len(p); i++ {
			p[i] = seed + byte(i)
		}
		return b
	}
	orig := fill(100, 1)
	clone := orig.Clone(pool)
	require.NotNil(t, clone)
	clone.Pull(10) // the clone's view starts inside the original's data
	head, tail := fill(40, 2), fill(50, 3)
	require.True(t, head.Chain(tail))
	direct := fill(60, 4)
	want := [][]byte{
		append([]byte{}, clone.Bytes()...),
		append(append([]byte{}, head.Bytes()...), tail.Bytes()...),
		append([]byte{}, direct.Bytes()...),
	}
	require.Equal(t, 3, rp.A.TxBurst(0, []*mbuf.Buf{clone, head, direct}))
	assert.Equal(t, 1, orig.RefCount(), "the clone was let go once copied")

	in := make([]*mbuf.Buf, 8)
	require.Equal(t, 3, rp.B.RxBurst(0, in))
	for i, b := range in[:3] {
		assert.Equal(t, 1, b.Segments(), "packet %d", i)
		assert.True(t, bytes.Equal(want[i], b.Bytes()), "packet %d", i)
	}
	mbuf.FreeBulk(in[:3])

	// No mbuf for the copy: the clone stays the caller's.
	clone = orig.Clone(pool)
	require.NotNil(t, clone)
	var held []*mbuf.Buf
	for b := pool.Alloc(); b != nil; b = pool.Alloc() {
		held = append(held, b)
	}
	assert.Zero(t, rp.A.TxBurst(0, []*mbuf.Buf{clone}))
	assert.Equal(t, 2, orig.RefCount(), "the unsent clone is still the caller's")
	held[0].Free()
	require.Equal(t, 1, rp.A.TxBurst(0, []*mbuf.Buf{clone}))
	require.Equal(t, 1, rp.B.RxBurst(0, in))
	assert.Equal(t, orig.Bytes(), in[0].Bytes())
	in[0].Free()
	mbuf.FreeBulk(held[1:])
	orig.Free()
}
