package mbuf_test

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dpstack/dpstack/dpdk/dpdktest"
	"github.com/dpstack/dpstack/mbuf"
)

func TestClone(t *testing.T) {
	tests := []struct {
		name          string
		ownClonePool  bool // clones come from a second pool
		fromCache     bool // CloneFrom and Free through a cache in front of the clone pool
		freeOrigFirst bool
	}{
		{"same pool, free clone first", false, false, false},
		{"same pool, free original first", false, false, true},
		{"clone pool, free clone first", true, false, false},
		{"clone pool, free original first", true, false, true},
		{"cache, same pool, free clone first", false, true, false},
		{"cache, same pool, free original first", false, true, true},
		{"cache, clone pool, free clone first", true, true, false},
		{"cache, clone pool, free original first", true, true, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := dpdktest.Pool(t, 63)
			cp := p
			if tt.ownClonePool {
				cp = dpdktest.Pool(t, 63)
			}
			var cache *mbuf.Cache
			if tt.fromCache {
				cache = mbuf.NewCache(cp)
				t.Cleanup(cache.Drain) // before the pools' leak checks
			}
			// inUse counts the mbufs out of the pools; a cache's spares
			// go back first, so that the count is exact.
			inUse := func() int {
				if cache != nil {
					cache.Drain()
				}
				if cp == p {
					return p.InUse()
				}
				return p.InUse() + cp.InUse()
			}
			clone := func(b *mbuf.Buf) *mbuf.Buf {
				if cache != nil {
					return b.CloneFrom(cache)
				}
				return b.Clone(cp)
			}
			free := func(b *mbuf.Buf) {
				if cache != nil {
					cache.Free(b)
					return
				}
				b.Free()
			}
			orig := alloc(t, p)
			fill(t, orig, 100, 0)
			require.NotNil(t, orig.Push(14))
			for i := range orig.CB() {
				orig.CB()[i] = byte(i)
			}
			require.Equal(t, 1, orig.RefCount())

			c := clone(orig)
			require.NotNil(t, c)
			assert.NotSame(t, orig, c)
			assert.Equal(t, 2, orig.RefCount())
			assert.Equal(t, 2, c.RefCount(), "a clone reports the data's count")
			assert.Equal(t, 2, inUse(), "the clone is one more mbuf")
			if tt.ownClonePool {
				assert.Equal(t, 1, cp.InUse(), "the clone comes from its pool")
				assert.Equal(t, 1, p.InUse())
			}

			// Same data, same place; its own offsets.
			assert.Equal(t, orig.Len(), c.Len())
			assert.Equal(t, orig.Headroom(), c.Headroom())
			assert.Equal(t, addr(orig.Bytes()), addr(c.Bytes()))
			orig.Bytes()[20] = 0xee
			assert.Equal(t, byte(0xee), c.Bytes()[20], "a write through the original is visible in the clone")

			require.NotNil(t, c.Pull(14))
			assert.Equal(t, mbuf.DefaultHeadroom-14, orig.Headroom(), "the clone's Pull moved the original")
			assert.Equal(t, 114, orig.Len())
			assert.Equal(t, 100, c.Len())
			require.NotNil(t, c.Push(30))
			assert.Equal(t, mbuf.DefaultHeadroom-14, orig.Headroom(), "the clone's Push moved the original")
			assert.Equal(t, mbuf.DefaultHeadroom-30, c.Headroom())

			// The control block is copied, then separate.
			assert.Equal(t, *orig.CB(), *c.CB())
			assert.NotSame(t, orig.CB(), c.CB())
			c.CB()[0] = 0xff
			assert.Equal(t, byte(0), orig.CB()[0])

			first, second := c, orig
			if tt.freeOrigFirst {
				first, second = orig, c
			}
			free(first)
			if tt.freeOrigFirst {
				// The clone still holds the original's data (a cache's
				// held-back free counts once inUse has flushed it).
				assert.Equal(t, 2, inUse(), "the original stays out while cloned")
				assert.Equal(t, 1, c.RefCount())
				assert.Equal(t, byte(0xee), c.Bytes()[30+6], "original byte 20 is payload byte 6")
			} else {
				assert.Equal(t, 1, orig.RefCount())
				assert.Equal(t, 1, inUse())
			}
			free(second)
			assert.Equal(t, 0, inUse())
			assert.Equal(t, 0, p.InUse())
			assert.Equal(t, 0, cp.InUse())
		})
	}
}

func TestCloneExhausted(t *testing.T) {
	p := dpdktest.Pool(t, 1)
	b := alloc(t, p)
	defer b.Free()
	assert.Nil(t, b.Clone(p))
	assert.Equal(t, 1, b.RefCount())
	assert.Equal(t, 1, p.InUse())
}

// chain builds a packet from segments of the given lengths, filled so that
// the whole packet reads 0, 1, 2 ...; it returns the head and those bytes.
func chain(t testing.TB, p *mbuf.Pool, lens ...int) (*mbuf.Buf, []byte) {
	t.Helper()
	var head *mbuf.Buf
	var want []byte
	for _, n := range lens {
		s := alloc(t, p)
		want = append(want, fill(t, s, n, byte(len(want)))...)
		if head == nil {
			head = s
			continue
		}
		require.True(t, head.Chain(s))
	}
	return head, want
}

func TestChain(t *testing.T) {
	p := dpdktest.Pool(t, 15)
	head, want := chain(t, p, 10, 20)
	require.Equal(t, 2, p.InUse())

	assert.Equal(t, 30, head.Len(), "Len is the whole packet")
	assert.Equal(t, 10, head.SegLen())
	assert.Equal(t, 2, head.Segments())
	second := head.Next()
	require.NotNil(t, second)
	assert.Equal(t, 20, second.SegLen())
	assert.Nil(t, second.Next())

	// Put and Trim work on single-segment packets only.
	assert.Nil(t, head.Put(1))
	assert.False(t, head.Trim(5))
	assert.Equal(t, 30, head.Len())

	// Push and Pull act on the first segment, counted in the total.
	require.NotNil(t, head.Push(4))
	assert.Equal(t, 34, head.Len())
	require.NotNil(t, head.Pull(4))
	assert.Nil(t, head.Pull(11), "Pull past the first segment")
	assert.Equal(t, 30, head.Len())

	got := make([]byte, 30)
	assert.Equal(t, 30, head.ReadAt(got, 0))
	assert.Equal(t, want, got)

	head.Free()
	assert.Equal(t, 0, p.InUse(), "Free frees every segment")
}

func TestChainOfChains(t *testing.T) {
	p := dpdktest.Pool(t, 15)
	ab, wab := chain(t, p, 10, 20)
	cd, wcd := chain(t, p, 5, 7)
	c, d := cd, cd.Next()

	require.True(t, ab.Chain(cd))
	assert.Equal(t, 42, ab.Len())
	assert.Equal(t, 4, ab.Segments())
	assert.Equal(t, 5, c.Len(), "the old head's pkt_len is its own segment's")
	assert.Same(t, c, ab.Next().Next())
	assert.Same(t, d, c.Next())

	got := make([]byte, 42)
	require.Equal(t, 42, ab.ReadAt(got, 0))
	// cd was filled from 0 again, so compare the halves.
	assert.Equal(t, wab, got[:30])
	assert.Equal(t, wcd, got[30:])

	ab.Free()
	assert.Equal(t, 0, p.InUse())
}

func TestReadAt(t *testing.T) {
	p := dpdktest.Pool(t, 15)
	head, want := chain(t, p, 10, 20, 5)
	defer head.Free()
	require.Equal(t, 35, head.Len())

	tests := []struct {
		off, n int
		want   int // bytes copied
	}{
		{0, 35, 35},
		{0, 100, 35},
		{3, 5, 5},    // inside the first segment
		{8, 5, 5},    // across the first boundary
		{10, 20, 20}, // exactly the second segment
		{5, 28, 28},  // across both boundaries
		{28, 7, 7},   // across the second boundary to the end
		{30, 10, 5},  // short: the last segment only
		{34, 1, 1},
		{35, 5, 0},
		{100, 5, 0},
		{-1, 5, 0},
		{0, 0, 0},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("off=%d,n=%d", tt.off, tt.n), func(t *testing.T) {
			buf := make([]byte, tt.n)
			n := head.ReadAt(buf, tt.off)
			require.Equal(t, tt.want, n)
			if n > 0 {
				assert.Equal(t, want[tt.off:tt.off+n], buf[:n])
			}
		})
	}
}

func TestCloneChain(t *testing.T) {
	p := dpdktest.Pool(t, 15)
	head, want := chain(t, p, 10, 20)
	c := head.Clone(p)
	require.NotNil(t, c)
	assert.Equal(t, 4, p.InUse(), "a clone of two segments is two mbufs")
	assert.Equal(t, 30, c.Len())
	assert.Equal(t, 2, c.Segments())
	got := make([]byte, 30)
	require.Equal(t, 30, c.ReadAt(got, 0))
	assert.Equal(t, want, got)

	head.Free()
	assert.Equal(t, 4, p.InUse())
	c.Free()
	assert.Equal(t, 0, p.InUse())
}

// TestChainSegmentLimit fills a packet up to RTE_MBUF_MAX_NB_SEGS (65535)
// segments; one more is refused and nothing changes.
func TestChainSegmentLimit(t *testing.T) {
	const maxSegs = 65535
	p, err := mbuf.NewPool(mbuf.PoolConfig{
		Name:     "chainlimit",
		Size:     maxSegs + 1,
		DataRoom: mbuf.DefaultHeadroom + 64, // small mbufs: ~25 MB in all
		Socket:   -1,
	})
	require.NoError(t, err)
	t.Cleanup(func() {
		require.Equal(t, 0, p.InUse())
		p.Close()
	})
	bufs := make([]*mbuf.Buf, maxSegs+1)
	require.True(t, p.AllocBulk(bufs))

	// Halves by recursion, so that chaining walks O(n log n) segments.
	var build func([]*mbuf.Buf) *mbuf.Buf
	build = func(s []*mbuf.Buf) *mbuf.Buf {
		if len(s) == 1 {
			return s[0]
		}
		h, tl := build(s[:len(s)/2]), build(s[len(s)/2:])
		require.True(t, h.Chain(tl))
		return h
	}
	a := build(bufs[:32768])
	b := build(bufs[32768:maxSegs])
	one := bufs[maxSegs]
	fill(t, one, 7, 0)
	require.Equal(t, 32768, a.Segments())
	require.Equal(t, maxSegs-32768, b.Segments())

	require.True(t, a.Chain(b))
	assert.Equal(t, maxSegs, a.Segments())
	assert.False(t, a.Chain(one), "a segment past RTE_MBUF_MAX_NB_SEGS")
	assert.Equal(t, maxSegs, a.Segments())
	assert.Equal(t, 0, a.Len())
	assert.Equal(t, 7, one.Len())
	assert.Equal(t, 1, one.Segments())
	assert.Equal(t, 7, one.ReadAt(make([]byte, 8), 0))
	last := a
	for last.Next() != nil {
		last = last.Next()
	}
	assert.Same(t, bufs[maxSegs-1], last, "the refused chain was not linked")

	a.Free()
	one.Free()
}
