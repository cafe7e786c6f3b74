package mbuf_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dpstack/dpstack/dpdk/dpdktest"
	"github.com/dpstack/dpstack/mbuf"
)

// Sinks keep the compiler from dropping what the measured code returns.
var (
	sinkBytes []byte
	sinkCB    *[mbuf.CBSize]byte
	sinkBuf   *mbuf.Buf
	sinkInt   int
)

// TestZeroAllocs: the per-packet operations allocate nothing on the Go heap.
func TestZeroAllocs(t *testing.T) {
	p := dpdktest.Pool(t, 127)
	c := mbuf.NewCache(p)
	t.Cleanup(c.Drain)
	b := alloc(t, p)
	t.Cleanup(b.Free)
	fill(t, b, 100, 0)

	var q mbuf.Queue
	qb := make([]*mbuf.Buf, 3)
	for i := range qb {
		qb[i] = alloc(t, p)
		q.PushBack(qb[i])
	}
	t.Cleanup(func() { q.Purge(c) })

	tests := []struct {
		name string
		f    func()
	}{
		{"Push+Pull", func() { sinkBytes = b.Push(54); sinkBytes = b.Pull(54) }},
		{"Put+Trim", func() { sinkBytes = b.Put(20); b.Trim(100) }},
		{"Bytes", func() { sinkBytes = b.Bytes() }},
		{"Headroom+Tailroom+Len", func() { sinkInt = b.Headroom() + b.Tailroom() + b.Len() }},
		{"CB", func() { sinkCB = b.CB(); sinkCB[0]++ }},
		{"ReadAt", func() { var a [16]byte; sinkInt = b.ReadAt(a[:], 90) }},
		{"Queue PushBack+PopFront", func() { q.PushBack(q.PopFront()) }},
		{"Queue PushFront+Unlink", func() { m := q.Back(); q.Unlink(m); q.PushFront(m) }},
		{"Queue InsertAfter+Unlink", func() { m := q.Front(); q.Unlink(m); q.InsertAfter(q.Front(), m) }},
		{"Queue walk", func() {
			for m := q.Front(); m != nil; m = q.NextOf(m) {
				sinkBuf = m
			}
			sinkInt = q.Len() + q.Bytes()
		}},
		{"Cache Get+Free", func() { c.Free(c.Get()) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Zero(t, testing.AllocsPerRun(1000, tt.f))
		})
	}
	require.Equal(t, 100, b.Len())
	require.Equal(t, 3, q.Len())
}

func BenchmarkPushPull(b *testing.B) {
	p := dpdktest.Pool(b, 15)
	m := alloc(b, p)
	b.Cleanup(m.Free)
	fill(b, m, 64, 0)
	b.ReportAllocs()
	for b.Loop() {
		sinkBytes = m.Push(54)
		sinkBytes = m.Pull(54)
	}
}

func BenchmarkQueue(b *testing.B) {
	p := dpdktest.Pool(b, 63)
	c := mbuf.NewCache(p)
	b.Cleanup(c.Drain)
	var q mbuf.Queue
	b.Cleanup(func() { q.Purge(c) })
	for range 32 {
		m := c.Get()
		require.NotNil(b, m)
		q.PushBack(m)
	}
	b.ReportAllocs()
	for b.Loop() {
		q.PushBack(q.PopFront())
	}
}

func BenchmarkCacheGetFree(b *testing.B) {
	p := dpdktest.Pool(b, 127)
	c := mbuf.NewCache(p)
	b.Cleanup(c.Drain)
	b.ReportAllocs()
	for b.Loop() {
		c.Free(c.Get())
	}
}
