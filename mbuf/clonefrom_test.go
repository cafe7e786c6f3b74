package mbuf_test

import (
	"runtime"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dpstack/dpstack/dpdk/dpdktest"
	"github.com/dpstack/dpstack/mbuf"
)

// newCache returns a cache in front of p, drained when the test ends
// (before p's leak check, which was registered earlier).
func newCache(t testing.TB, p *mbuf.Pool) *mbuf.Cache {
	t.Helper()
	c := mbuf.NewCache(p)
	t.Cleanup(c.Drain)
	return c
}

// TestCloneFromMatchesRte: a clone made in Go is, byte for byte, the
// struct rte_mbuf that rte_pktmbuf_clone makes of the same mbuf from the
// same pool, and carries the same control block.
func TestCloneFromMatchesRte(t *testing.T) {
	tests := []struct {
		name  string
		prep  func(t *testing.T, b *mbuf.Buf)
		flags uint64
	}{
		{"fresh, empty", func(*testing.T, *mbuf.Buf) {}, 0},
		{"data and headers", func(t *testing.T, b *mbuf.Buf) {
			fill(t, b, 300, 7)
			require.NotNil(t, b.Push(54))
			mbuf.SetHeaderFields(b, 0x5a)
			b.SetTxOffload(14, 20, 20, mbuf.TxIPv4|mbuf.TxIPCksum|mbuf.TxTCPCksum)
		}, mbuf.RxRSSHash | mbuf.RxIPCksumGood | mbuf.RxL4CksumGood},
		{"headroom used up", func(t *testing.T, b *mbuf.Buf) {
			fill(t, b, 10, 1)
			require.NotNil(t, b.Push(b.Headroom()))
			mbuf.SetHeaderFields(b, 0xc3)
		}, mbuf.RxRSSHash},
		{"full buffer", func(t *testing.T, b *mbuf.Buf) {
			fill(t, b, b.Tailroom(), 0)
			mbuf.SetHeaderFields(b, 0xff)
		}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := dpdktest.Pool(t, 63)
			c := newCache(t, p)
			orig := alloc(t, p)
			tt.prep(t, orig)
			orig.SetOlFlags(orig.OlFlags() | tt.flags)
			for i := range orig.CB() {
				orig.CB()[i] = byte(0x80 + i)
			}
			before := append([]byte(nil), mbuf.MbufBytes(orig)...)

			require.True(t, mbuf.ClonesInGo(orig))
			g := orig.CloneFrom(c)
			require.NotNil(t, g)
			require.False(t, mbuf.ClonesInGo(orig), "a cloned mbuf is not cloned in Go again")
			r := orig.Clone(p)
			require.NotNil(t, r)

			assert.Equal(t, mbuf.MbufBytes(r), mbuf.MbufBytes(g))
			assert.Equal(t, *r.CB(), *g.CB())
			assert.Equal(t, *orig.CB(), *g.CB())
			assert.Equal(t, 3, orig.RefCount())
			assert.Equal(t, 3, g.RefCount())
			assert.Equal(t, 3, r.RefCount())
			if tt.flags&mbuf.RxRSSHash != 0 {
				want, ok := orig.RSSHash()
				require.True(t, ok)
				got, ok := g.RSSHash()
				require.True(t, ok)
				assert.Equal(t, want, got)
			}
			assert.Equal(t, orig.PacketType(), g.PacketType())
			assert.Equal(t, orig.Port(), g.Port())
			assert.Equal(t, orig.Bytes(), g.Bytes())
			assert.Equal(t, addr(orig.Bytes()), addr(g.Bytes()))

			c.Free(g)
			c.Free(r)
			c.Flush()
			assert.Equal(t, 1, orig.RefCount())
			assert.Equal(t, before, mbuf.MbufBytes(orig), "cloning and freeing the clones leaves the original as it was")
			orig.Free()
		})
	}
}

// TestCloneFromFallback: what CloneFrom does not clone in Go goes through
// rte_pktmbuf_clone, with the same result as Clone.
func TestCloneFromFallback(t *testing.T) {
	tests := []struct {
		name string
		// prep returns the mbuf to clone and the mbufs to free, other than
		// the clone, when done.
		prep func(t *testing.T, p *mbuf.Pool, c *mbuf.Cache) (*mbuf.Buf, []*mbuf.Buf)
		refs int // the data's count after the clone
	}{
		{"two segments", func(t *testing.T, p *mbuf.Pool, _ *mbuf.Cache) (*mbuf.Buf, []*mbuf.Buf) {
			head, _ := chain(t, p, 10, 20)
			return head, []*mbuf.Buf{head}
		}, 2},
		{"clone of a Go clone", func(t *testing.T, p *mbuf.Pool, c *mbuf.Cache) (*mbuf.Buf, []*mbuf.Buf) {
			orig := alloc(t, p)
			fill(t, orig, 30, 0)
			g := orig.CloneFrom(c)
			require.NotNil(t, g)
			return g, []*mbuf.Buf{orig, g}
		}, 3},
		{"clone of a DPDK clone", func(t *testing.T, p *mbuf.Pool, _ *mbuf.Cache) (*mbuf.Buf, []*mbuf.Buf) {
			orig := alloc(t, p)
			fill(t, orig, 30, 0)
			r := orig.Clone(p)
			require.NotNil(t, r)
			return r, []*mbuf.Buf{r, orig}
		}, 3},
		{"already cloned", func(t *testing.T, p *mbuf.Pool, c *mbuf.Cache) (*mbuf.Buf, []*mbuf.Buf) {
			orig := alloc(t, p)
			fill(t, orig, 30, 0)
			g := orig.CloneFrom(c)
			require.NotNil(t, g)
			return orig, []*mbuf.Buf{g, orig}
		}, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := dpdktest.Pool(t, 63)
			c := newCache(t, p)
			b, rest := tt.prep(t, p, c)
			require.False(t, mbuf.ClonesInGo(b))
			want := make([]byte, b.Len())
			require.Equal(t, b.Len(), b.ReadAt(want, 0))

			w := b.CloneFrom(c)
			require.NotNil(t, w)
			assert.Equal(t, tt.refs, w.RefCount())
			assert.Equal(t, tt.refs, b.RefCount())
			assert.Equal(t, b.Segments(), w.Segments())
			assert.Equal(t, *b.CB(), *w.CB())
			got := make([]byte, w.Len())
			require.Equal(t, len(want), w.ReadAt(got, 0))
			assert.Equal(t, want, got)
			assert.Equal(t, addr(b.Bytes()), addr(w.Bytes()))

			// Free the original first: the clone keeps the data.
			for _, m := range rest {
				m.Free()
			}
			assert.Equal(t, 1, w.RefCount())
			got = make([]byte, w.Len())
			require.Equal(t, len(want), w.ReadAt(got, 0))
			assert.Equal(t, want, got)
			w.Free()
			c.Drain()
			assert.Equal(t, 0, p.InUse())
		})
	}
}

// TestCloneFromExhausted: no mbuf for the clone, nil, and nothing changes.
func TestCloneFromExhausted(t *testing.T) {
	p := dpdktest.Pool(t, 1)
	c := newCache(t, p)
	b := alloc(t, p)
	defer b.Free()
	require.True(t, mbuf.ClonesInGo(b))
	assert.Nil(t, b.CloneFrom(c))
	assert.Equal(t, 1, b.RefCount())
	assert.True(t, mbuf.ClonesInGo(b))

	head, _ := chain(t, dpdktest.Pool(t, 2), 1, 1)
	defer head.Free()
	assert.Nil(t, head.CloneFrom(c), "the fallback has no mbuf either")
	assert.Equal(t, 1, head.RefCount())
	assert.Equal(t, 1, p.InUse())
}

// TestCloneFromFreedElsewhere: another thread frees each Go clone, as a
// peer loop does with a transmitted segment: through DPDK (its atomic
// decrement) or through a cache of its own (detached in Go). Once RefCount
// reads 1 again the original is ours alone, and the next clone is made in
// Go again. The count is polled, not timed; the peer's report that it freed
// the clone bounds the polling.
func TestCloneFromFreedElsewhere(t *testing.T) {
	for _, viaCache := range []bool{false, true} {
		name := map[bool]string{false: "DPDK", true: "cache"}[viaCache]
		t.Run(name, func(t *testing.T) { testCloneFreedElsewhere(t, viaCache) })
	}
}

func testCloneFreedElsewhere(t *testing.T, viaCache bool) {
	const rounds = 2000
	p := dpdktest.Pool(t, 63)
	c := newCache(t, p)
	orig := alloc(t, p)
	fill(t, orig, 64, 0)

	clones := make(chan *mbuf.Buf)
	freed := make(chan struct{}, 1)
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		peer := mbuf.NewCache(p)
		for w := range clones {
			if viaCache {
				// Once its spares are full, the cache holds frees
				// back: a loop flushes them every turn.
				peer.Free(w)
				peer.Flush()
			} else {
				w.Free()
			}
			freed <- struct{}{}
		}
		peer.Drain()
		close(freed)
	}()
	for i := range rounds {
		// Ours alone: writing the shared data is safe.
		orig.Bytes()[0] = byte(i)
		require.True(t, mbuf.ClonesInGo(orig))
		w := orig.CloneFrom(c)
		require.NotNil(t, w)
		require.Equal(t, byte(i), w.Bytes()[0])
		clones <- w
		reported := false
		for orig.RefCount() != 1 {
			select {
			case <-freed:
				reported = true
				require.Equal(t, 1, orig.RefCount(), "the peer freed the clone")
			default:
				runtime.Gosched()
			}
		}
		if !reported {
			<-freed
		}
	}
	close(clones)
	<-freed // the peer has drained its cache
	assert.Equal(t, 1, orig.RefCount())
	orig.Free()
	c.Drain()
	assert.Equal(t, 0, p.InUse())
}

func TestCloneFromAllocs(t *testing.T) {
	p := dpdktest.Pool(t, 127)
	c := newCache(t, p)
	b := alloc(t, p)
	t.Cleanup(b.Free)
	fill(t, b, 100, 0)

	tests := []struct {
		name string
		f    func()
	}{
		{"CloneFrom in Go+Free", func() { b.CloneFrom(c).Free() }},
		{"RefCount", func() { sinkInt = b.RefCount() }},
		{"RefCount of a clone", func() { w := b.CloneFrom(c); sinkInt = w.RefCount(); w.Free() }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.True(t, mbuf.ClonesInGo(b))
			assert.Zero(t, testing.AllocsPerRun(1000, tt.f))
			assert.Equal(t, 1, b.RefCount())
		})
	}
}

// BenchmarkClone clones and frees one segment: through rte_pktmbuf_clone
// and rte_pktmbuf_free (the cgo path), cloned in Go (CloneFrom a cache)
// and freed by DPDK, and both in Go (CloneFrom, then Cache.Free detaching
// the clone: what the data path does).
func BenchmarkClone(b *testing.B) {
	tests := []struct {
		name  string
		clone func(m *mbuf.Buf, p *mbuf.Pool, c *mbuf.Cache) *mbuf.Buf
		free  func(w *mbuf.Buf, c *mbuf.Cache)
	}{
		{"cgo",
			func(m *mbuf.Buf, p *mbuf.Pool, _ *mbuf.Cache) *mbuf.Buf { return m.Clone(p) },
			func(w *mbuf.Buf, _ *mbuf.Cache) { w.Free() }},
		{"go clone, cgo free",
			func(m *mbuf.Buf, _ *mbuf.Pool, c *mbuf.Cache) *mbuf.Buf { return m.CloneFrom(c) },
			func(w *mbuf.Buf, _ *mbuf.Cache) { w.Free() }},
		{"go",
			func(m *mbuf.Buf, _ *mbuf.Pool, c *mbuf.Cache) *mbuf.Buf { return m.CloneFrom(c) },
			func(w *mbuf.Buf, c *mbuf.Cache) { c.Free(w) }},
	}
	for _, tt := range tests {
		b.Run(tt.name, func(b *testing.B) {
			p := dpdktest.Pool(b, 127)
			c := newCache(b, p)
			m := alloc(b, p)
			b.Cleanup(m.Free)
			fill(b, m, 1448, 0)
			b.ReportAllocs()
			for b.Loop() {
				w := tt.clone(m, p, c)
				sinkInt = w.RefCount()
				tt.free(w, c)
			}
		})
	}
}
