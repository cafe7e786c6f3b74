package mbuf_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dpstack/dpstack/dpdk/dpdktest"
	"github.com/dpstack/dpstack/mbuf"
)

// packets allocates n mbufs of lengths 10, 20, 30 ... whose first byte is
// their index. The test frees them through the returned Cache, drained when
// it ends.
func packets(t testing.TB, n int) (*mbuf.Cache, []*mbuf.Buf) {
	t.Helper()
	p := dpdktest.Pool(t, 63)
	c := mbuf.NewCache(p)
	t.Cleanup(c.Drain) // runs before the pool's leak check
	bs := make([]*mbuf.Buf, n)
	for i := range bs {
		bs[i] = c.Get()
		require.NotNil(t, bs[i])
		fill(t, bs[i], 10*(i+1), byte(i))
	}
	return c, bs
}

// contents lists q front to back and checks that the back-to-front links
// and the counts agree.
func contents(t testing.TB, q *mbuf.Queue) []*mbuf.Buf {
	t.Helper()
	var fwd []*mbuf.Buf
	bytes := 0
	for b := q.Front(); b != nil; b = q.NextOf(b) {
		fwd = append(fwd, b)
		bytes += b.Len()
		require.LessOrEqual(t, len(fwd), q.Len(), "queue loops")
	}
	var back []*mbuf.Buf
	for b := q.Back(); b != nil; b = q.PrevOf(b) {
		back = append([]*mbuf.Buf{b}, back...)
		require.LessOrEqual(t, len(back), q.Len(), "queue loops backwards")
	}
	require.Equal(t, fwd, back, "forward and backward links disagree")
	require.Len(t, fwd, q.Len())
	require.Equal(t, bytes, q.Bytes())
	require.Equal(t, len(fwd) == 0, q.Empty())
	return fwd
}

func freeQueue(q *mbuf.Queue, c *mbuf.Cache) { q.Purge(c) }

func TestQueueZero(t *testing.T) {
	var q mbuf.Queue
	assert.True(t, q.Empty())
	assert.Equal(t, 0, q.Len())
	assert.Equal(t, 0, q.Bytes())
	assert.Nil(t, q.Front())
	assert.Nil(t, q.Back())
	assert.Nil(t, q.PopFront())
	assert.Empty(t, contents(t, &q))
}

func TestQueueFIFO(t *testing.T) {
	c, bs := packets(t, 5)
	var q mbuf.Queue
	for i, b := range bs {
		q.PushBack(b)
		assert.Equal(t, i+1, q.Len())
		assert.Same(t, b, q.Back())
		assert.Same(t, bs[0], q.Front())
	}
	assert.Equal(t, bs, contents(t, &q))
	assert.Equal(t, 10+20+30+40+50, q.Bytes())

	for i, want := range bs {
		got := q.PopFront()
		require.Same(t, want, got, "pop %d", i)
		assert.Equal(t, byte(i), got.Bytes()[0])
		assert.Nil(t, q.NextOf(got), "a popped packet keeps no links")
		assert.Nil(t, q.PrevOf(got))
		c.Free(got)
		contents(t, &q)
	}
	assert.True(t, q.Empty())
	assert.Nil(t, q.PopFront(), "PopFront on empty")
	assert.Equal(t, 0, q.Bytes())
}

func TestQueuePushFront(t *testing.T) {
	c, bs := packets(t, 3)
	var q mbuf.Queue
	defer freeQueue(&q, c)
	q.PushFront(bs[0])
	q.PushFront(bs[1])
	q.PushBack(bs[2])
	assert.Equal(t, []*mbuf.Buf{bs[1], bs[0], bs[2]}, contents(t, &q))
	assert.Equal(t, 60, q.Bytes())
}

func TestQueueInsertAfter(t *testing.T) {
	tests := []struct {
		name  string
		at    int // index in bs of the anchor, -1 for nil
		order []int
	}{
		{"front (nil)", -1, []int{3, 0, 1, 2}},
		{"after head", 0, []int{0, 3, 1, 2}},
		{"middle", 1, []int{0, 1, 3, 2}},
		{"end", 2, []int{0, 1, 2, 3}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, bs := packets(t, 4)
			var q mbuf.Queue
			defer freeQueue(&q, c)
			for _, b := range bs[:3] {
				q.PushBack(b)
			}
			var at *mbuf.Buf
			if tt.at >= 0 {
				at = bs[tt.at]
			}
			q.InsertAfter(at, bs[3])
			var want []*mbuf.Buf
			for _, i := range tt.order {
				want = append(want, bs[i])
			}
			assert.Equal(t, want, contents(t, &q))
			assert.Equal(t, 100, q.Bytes())
		})
	}
}

func TestQueueUnlink(t *testing.T) {
	tests := []struct {
		name   string
		unlink []int // indices in bs, in order
		order  []int
	}{
		{"head", []int{0}, []int{1, 2}},
		{"middle", []int{1}, []int{0, 2}},
		{"tail", []int{2}, []int{0, 1}},
		{"head then tail", []int{0, 2}, []int{1}},
		{"all", []int{1, 0, 2}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, bs := packets(t, 3)
			var q mbuf.Queue
			defer freeQueue(&q, c)
			for _, b := range bs {
				q.PushBack(b)
			}
			for _, i := range tt.unlink {
				q.Unlink(bs[i])
				assert.Nil(t, q.NextOf(bs[i]))
				assert.Nil(t, q.PrevOf(bs[i]))
				c.Free(bs[i])
			}
			var want []*mbuf.Buf
			bytes := 0
			for _, i := range tt.order {
				want = append(want, bs[i])
				bytes += bs[i].Len()
			}
			assert.Equal(t, want, contents(t, &q))
			assert.Equal(t, bytes, q.Bytes())
		})
	}
}

// TestQueueRequeue moves packets between queues: the links are reused.
func TestQueueRequeue(t *testing.T) {
	c, bs := packets(t, 3)
	var a, b mbuf.Queue
	defer freeQueue(&a, c)
	defer freeQueue(&b, c)
	for _, m := range bs {
		a.PushBack(m)
	}
	a.Unlink(bs[1])
	b.PushBack(bs[1])
	b.PushFront(a.PopFront())
	assert.Equal(t, []*mbuf.Buf{bs[2]}, contents(t, &a))
	assert.Equal(t, []*mbuf.Buf{bs[0], bs[1]}, contents(t, &b))
}

func TestQueueAdjust(t *testing.T) {
	c, bs := packets(t, 2)
	var q mbuf.Queue
	defer freeQueue(&q, c)
	q.PushBack(bs[0]) // 10 bytes
	q.PushBack(bs[1]) // 20 bytes
	require.Equal(t, 30, q.Bytes())

	require.NotNil(t, bs[1].Pull(5))
	q.Adjust(-5)
	assert.Equal(t, 25, q.Bytes())
	require.True(t, bs[0].Trim(4))
	q.Adjust(-6)
	assert.Equal(t, 19, q.Bytes())
	require.NotNil(t, bs[0].Push(2))
	q.Adjust(2)
	contents(t, &q) // byte count agrees with the packets

	q.Unlink(bs[1])
	assert.Equal(t, 6, q.Bytes())
	c.Free(bs[1])
	c.Free(q.PopFront())
	assert.Equal(t, 0, q.Bytes())
}

func TestQueuePurge(t *testing.T) {
	c, bs := packets(t, 40)
	p := c.Pool()
	var q mbuf.Queue
	for _, b := range bs {
		q.PushBack(b)
	}
	q.Purge(c)
	assert.True(t, q.Empty())
	assert.Equal(t, 0, q.Len())
	assert.Equal(t, 0, q.Bytes())
	assert.Nil(t, q.Front())
	assert.Nil(t, q.Back())
	c.Drain()
	assert.Equal(t, 0, p.InUse(), "Purge freed every packet")

	q.Purge(c) // empty: nothing
	assert.True(t, q.Empty())
}
