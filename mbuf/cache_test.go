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

	for i := range burst - 1 {
		c.Free(got[i])
	}
	assert.Equal(t, 2*burst, p.InUse(), "frees wait for a burst")
	c.Free(got[burst-1])
	assert.Equal(t, burst, p.InUse(), "a burst of frees reaches the pool")

	c.Free(got[burst])
	assert.Equal(t, burst, p.InUse())
	c.Flush()
	assert.Equal(t, burst-1, p.InUse(), "Flush gives back pending frees; spares stay")

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

	// Pending frees are not in the pool yet; once flushed, Get recovers.
	c.Free(got[0])
	c.Free(got[1])
	assert.Nil(t, c.Get())
	c.Flush()
	assert.Equal(t, 2, p.Available())
	for i := range 2 {
		got[i] = c.Get()
		require.NotNil(t, got[i], "Get recovers after frees")
	}
	assert.Nil(t, c.Get())

	// A full burst of frees flushes itself, and Gets take a burst again.
	for _, b := range got {
		c.Free(b)
	}
	assert.Equal(t, size-burst, p.InUse(), "the last partial burst is pending")
	b := c.Get()
	require.NotNil(t, b)
	assert.Equal(t, size, p.InUse(), "a whole burst was free again")
	c.Free(b)
	c.Drain()
	assert.Equal(t, 0, p.InUse())
}
