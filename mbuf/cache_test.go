package mbuf_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dpstack/dpstack/dpdk/dpdktest"
	"github.com/dpstack/dpstack/mbuf"
)

// burst is the Cache's batch size (cacheBurst in cache.go).
const burst = 32

func TestCacheBatching(t *testing.T) {
	p := dpdktest.Pool(t, 127)
	c := mbuf.NewCache(p)
	assert.Same(t, p, c.Pool())

	b := c.Get()
	require.NotNil(t, b)
	assert.Equal(t, burst, p.InUse(), "the first Get takes a burst")
	assert.Equal(t, mbuf.DefaultHeadroom, b.Headroom())
	assert.Equal(t, 0, b.Len())

	got := []*mbuf.Buf{b}
	for range burst - 1 {
		got = append(got, c.Get())
	}
	assert.Equal(t, burst, p.InUse(), "a burst serves %d Gets", burst)
	got = append(got, c.Get())
	assert.Equal(t, 2*burst, p.InUse(), "the next Get takes the next burst")
	seen := map[*mbuf.Buf]bool{}
	for _, m := range got {
		require.NotNil(t, m)
		require.False(t, seen[m], "Get handed out one mbuf twice")
		seen[m] = true
	}

	// Own plain mbufs go back among the spares (31 were left of the
	// second burst: room for one), the rest wait for a burst of frees.
	c.Free(got[0])
	assert.Equal(t, 2*burst, p.InUse(), "a recycled mbuf stays in the cache")
	assert.Same(t, got[0], c.Get(), "and is the next one handed out")
	c.Free(got[0])
	for i := 1; i < burst; i++ {
		c.Free(got[i])
	}
	assert.Equal(t, 2*burst, p.InUse(), "frees wait for a burst")
	c.Free(got[burst])
	assert.Equal(t, burst, p.InUse(), "a burst of frees reaches the pool; the spares stay")

	// A clone comes back detached, among the spares, when there is room...
	orig := c.Get()
	cl := orig.Clone(p)
	require.NotNil(t, cl)
	assert.Equal(t, burst+1, p.InUse())
	c.Free(cl)
	assert.Equal(t, 1, orig.RefCount(), "the clone's reference is dropped")
	assert.Equal(t, burst+1, p.InUse(), "and the clone stays in the cache")
	spare := c.Get()
	assert.Same(t, cl, spare)
	// ...and waits for a burst of frees or a Flush when there is none.
	cl = orig.Clone(p)
	require.NotNil(t, cl)
	c.Free(spare)
	c.Free(cl)
	assert.Equal(t, burst+2, p.InUse(), "pending")
	c.Flush()
	assert.Equal(t, burst+1, p.InUse(), "Flush gives back pending frees; spares stay")
	assert.Equal(t, 1, orig.RefCount())
	c.Free(orig)

	c.Drain()
	assert.Equal(t, 0, p.InUse(), "Drain gives back the spares")
	assert.Equal(t, p.Size(), p.Available())

	c.Drain() // nothing held: harmless
	assert.Equal(t, 0, p.InUse())
}

// TestCacheFreesReset: an mbuf that comes back through the cache is fresh
// again (headroom, no data, one segment).
func TestCacheFreesReset(t *testing.T) {
	p := dpdktest.Pool(t, 1)
	c := mbuf.NewCache(p)
	defer c.Drain()
	b := c.Get()
	require.NotNil(t, b)
	fill(t, b, 100, 0)
	require.NotNil(t, b.Push(10))
	c.Free(b)
	c.Flush()
	b = c.Get()
	require.NotNil(t, b)
	assert.Equal(t, mbuf.DefaultHeadroom, b.Headroom())
	assert.Equal(t, 0, b.Len())
	c.Free(b)
}

func TestCacheExhausted(t *testing.T) {
	const size = burst + 8 // one burst, then single mbufs
	p := dpdktest.Pool(t, size)
	c := mbuf.NewCache(p)
	defer c.Drain()

	var got []*mbuf.Buf
	for range size {
		b := c.Get()
		require.NotNil(t, b, "after %d", len(got))
		got = append(got, b)
	}
	assert.Equal(t, size, p.InUse())
	assert.Equal(t, 0, p.Available())
	assert.Nil(t, c.Get(), "pool exhausted")
	assert.Nil(t, c.Get(), "still exhausted")

	// Frees of its own plain mbufs refill the cache at once.
	c.Free(got[0])
	c.Free(got[1])
	assert.Equal(t, 0, p.Available(), "recycled, not given back")
	for i := range 2 {
		got[i] = c.Get()
		require.NotNil(t, got[i], "Get recovers after frees")
	}
	assert.Nil(t, c.Get())

	// A packet of two segments is not recycled; a Get that finds the pool
	// short gives such pending frees back first.
	require.True(t, got[0].Chain(got[1]))
	c.Free(got[0])
	assert.Equal(t, 0, p.Available(), "pending")
	got[0], got[1] = c.Get(), nil
	require.NotNil(t, got[0], "Get flushed the pending frees")
	assert.Equal(t, 1, p.Available())
	got[1] = c.Get()
	require.NotNil(t, got[1])

	// Frees fill the spares, then wait for a burst.
	for _, b := range got {
		c.Free(b)
	}
	assert.Equal(t, size, p.InUse(), "a burst of spares and the rest pending")
	c.Flush()
	assert.Equal(t, burst, p.InUse(), "the spares stay")
	for i := range burst {
		got[i] = c.Get()
		require.NotNil(t, got[i])
	}
	assert.Equal(t, burst, p.InUse(), "Gets took the spares")
	assert.Equal(t, size-burst, p.Available())
	for _, b := range got[:burst] {
		c.Free(b)
	}
}

// TestCacheRecycleMatchesDPDK: an mbuf the cache recycles is, byte for
// byte, what DPDK's free and allocation make of the same used mbuf
// (rte_pktmbuf_free, then rte_pktmbuf_alloc's reset).
func TestCacheRecycleMatchesDPDK(t *testing.T) {
	p, err := mbuf.NewPool(mbuf.PoolConfig{Name: "recycle", Size: 15, Socket: -1, Ops: mbuf.OpsLockFree})
	require.NoError(t, err)
	defer p.Close()
	use := func(b *mbuf.Buf) {
		mbuf.SetHeaderFields(b, 0x5a)
		fill(t, b, 300, 7)
		require.NotNil(t, b.Push(14))
		b.SetOlFlags(mbuf.TxIPv4 | mbuf.TxIPCksum)
	}
	b := p.Alloc()
	require.NotNil(t, b)
	use(b)
	b.Free()
	again := p.Alloc() // the lock-free stack hands back the last freed
	require.Same(t, b, again)
	want := append([]byte(nil), mbuf.MbufBytes(again)...)

	use(again)
	c := mbuf.NewCache(p)
	c.Free(again)
	got := c.Get()
	require.Same(t, again, got, "recycled, not through the pool")
	assert.Equal(t, want, mbuf.MbufBytes(got))
	c.Free(got)
	c.Drain()
	assert.Equal(t, 0, p.InUse())
}

// TestCacheDetachMatchesDPDK: a clone that the cache detaches and recycles
// is, byte for byte, what DPDK's free and allocation make of the same clone
// (rte_pktmbuf_free detaching it, then rte_pktmbuf_alloc's reset).
func TestCacheDetachMatchesDPDK(t *testing.T) {
	p, err := mbuf.NewPool(mbuf.PoolConfig{Name: "detach", Size: 15, Socket: -1, Ops: mbuf.OpsLockFree})
	require.NoError(t, err)
	defer p.Close()
	orig := p.Alloc()
	require.NotNil(t, orig)
	defer orig.Free()
	mbuf.SetHeaderFields(orig, 0x3c)
	fill(t, orig, 200, 5)
	orig.SetOlFlags(mbuf.TxIPv4 | mbuf.TxTCPCksum)

	cl := orig.Clone(p)
	require.NotNil(t, cl)
	require.NotNil(t, cl.Push(20))
	cl.Free()
	again := p.Alloc() // the lock-free stack hands back the last freed
	require.Same(t, cl, again)
	want := append([]byte(nil), mbuf.MbufBytes(again)...)

	c := mbuf.NewCache(p)
	c.Free(again) // a plain mbuf now: the next Get, and so the clone
	w := orig.CloneFrom(c)
	require.Same(t, again, w, "cloned in Go into the recycled mbuf")
	require.Equal(t, 2, orig.RefCount())
	require.NotNil(t, w.Push(20))
	c.Free(w)
	assert.Equal(t, 1, orig.RefCount())
	got := c.Get()
	require.Same(t, w, got, "detached and recycled, not through the pool")
	assert.Equal(t, want, mbuf.MbufBytes(got))
	c.Free(got)
	c.Drain()
	assert.Equal(t, 1, p.InUse(), "only the original is out")
}
