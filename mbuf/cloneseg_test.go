package mbuf_test

import (
	"testing"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dpstack/dpstack/dpdk/dpdktest"
	"github.com/dpstack/dpstack/mbuf"
)

// TestCloneSeg: clones of single segments of a chain share their data,
// one segment each, any number of times; the data lives until the last
// reference goes, whichever is freed first.
func TestCloneSeg(t *testing.T) {
	for _, origFirst := range []bool{true, false} {
		name := map[bool]string{true: "chain freed first", false: "clones freed first"}[origFirst]
		t.Run(name, func(t *testing.T) {
			p := dpdktest.Pool(t, 63)
			c := newCache(t, p)
			head, tail := alloc(t, p), alloc(t, p)
			fill(t, head, 100, 0)
			want := fill(t, tail, 200, 100)
			require.True(t, head.Chain(tail))

			second := head.Next()
			a := second.CloneSeg(c)
			b := second.CloneSeg(c)
			require.NotNil(t, a)
			require.NotNil(t, b)
			for _, cl := range []*mbuf.Buf{a, b} {
				assert.Equal(t, 1, cl.Segments())
				assert.Equal(t, 200, cl.Len())
				assert.Nil(t, cl.Next())
				assert.Equal(t, unsafe.SliceData(want), unsafe.SliceData(cl.Bytes()), "the same bytes, not a copy")
			}
			assert.Equal(t, 3, a.RefCount(), "the segment and its two clones")
			// A clone of the head takes only the head.
			h := head.CloneSeg(c)
			require.NotNil(t, h)
			assert.Equal(t, 100, h.Len())
			assert.Equal(t, 2, h.RefCount())
			// A clone of a clone shares the original's data.
			ab := a.CloneSeg(c)
			require.NotNil(t, ab)
			assert.Equal(t, 4, ab.RefCount())
			ab.Pull(50)
			assert.Equal(t, want[50:], ab.Bytes())
			assert.Equal(t, 200, a.Len(), "the clone's offsets are its own")

			if origFirst {
				c.Free(head)
				assert.Equal(t, want, a.Bytes(), "still there")
			}
			for _, cl := range []*mbuf.Buf{a, b, h, ab} {
				c.Free(cl)
			}
			if !origFirst {
				assert.Equal(t, 1, second.RefCount())
				c.Free(head)
			}
			c.Drain()
			assert.Zero(t, p.InUse())
		})
	}
}
