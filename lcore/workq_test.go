package lcore

import (
	"runtime"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestWorkQueueCapRounding(t *testing.T) {
	tests := []struct{ size, want int }{
		{-5, 2}, {0, 2}, {1, 2}, {2, 2}, {3, 4}, {4, 4}, {5, 8}, {1000, 1024}, {4096, 4096},
	}
	for _, tc := range tests {
		assert.Equal(t, tc.want, NewWorkQueue(tc.size).Cap(), "size %d", tc.size)
	}
}

func TestWorkQueueFIFO(t *testing.T) {
	q := NewWorkQueue(128)
	var got []int
	for i := range 100 {
		require.True(t, q.Post(func() { got = append(got, i) }))
	}
	assert.Equal(t, 30, q.Drain(30), "Drain stops at its limit")
	assert.Equal(t, 70, q.Drain(1000))
	assert.Zero(t, q.Drain(1000), "empty")
	want := make([]int, 100)
	for i := range want {
		want[i] = i
	}
	assert.Equal(t, want, got)
}

func TestWorkQueueFull(t *testing.T) {
	q := NewWorkQueue(5) // 8 cells
	ran := 0
	fn := func() { ran++ }
	for range 8 {
		require.True(t, q.Post(fn))
	}
	assert.False(t, q.Post(fn), "full")
	assert.Equal(t, 1, q.Drain(1))
	assert.True(t, q.Post(fn), "room again")
	assert.False(t, q.Post(fn))
	// Many laps round the ring.
	for range 1000 {
		require.Equal(t, 8, q.Drain(100))
		for range 8 {
			require.True(t, q.Post(fn))
		}
		require.False(t, q.Post(fn))
	}
	assert.Equal(t, 8, q.Drain(100))
	assert.Equal(t, 1+8000+8, ran)
}

func TestWorkQueueNil(t *testing.T) {
	q := NewWorkQueue(4)
	assert.False(t, q.Post(nil))
	assert.Zero(t, q.Drain(10))
}

func TestWorkQueuePostFromDrained(t *testing.T) {
	q := NewWorkQueue(4)
	var got []string
	require.True(t, q.Post(func() {
		got = append(got, "a")
		q.Post(func() { got = append(got, "b") })
	}))
	assert.Equal(t, 2, q.Drain(10))
	assert.Equal(t, []string{"a", "b"}, got)
}

func TestWorkQueueNoAllocs(t *testing.T) {
	q := NewWorkQueue(64)
	n := 0
	fn := func() { n++ }
	allocs := testing.AllocsPerRun(100, func() {
		for range 32 {
			q.Post(fn)
		}
		q.Drain(64)
	})
	assert.Zero(t, allocs)
	assert.Equal(t, 32*101, n)
}

func TestWorkQueueManyProducers(t *testing.T) {
	const producers, posts = 8, 10000
	q := NewWorkQueue(1024)
	// Only the consumer goroutine touches these.
	runs := make([]int, producers*posts)
	last := make([]int, producers)
	for p := range last {
		last[p] = -1
	}
	outOfOrder := 0

	var wg sync.WaitGroup
	for p := range producers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range posts {
				fn := func() {
					runs[p*posts+i]++
					if i <= last[p] {
						outOfOrder++
					}
					last[p] = i
				}
				for !q.Post(fn) {
					runtime.Gosched() // full: let the consumer catch up
				}
			}
		}()
	}
	done := make(chan int)
	go func() {
		total := 0
		for total < producers*posts {
			n := q.Drain(64)
			if n == 0 {
				runtime.Gosched()
			}
			total += n
		}
		done <- total
	}()
	wg.Wait()
	total := <-done
	assert.Equal(t, producers*posts, total)
	assert.Zero(t, q.Drain(100), "nothing extra")
	for k, n := range runs {
		if n != 1 {
			t.Fatalf("function %d (producer %d, post %d) ran %d times", k, k/posts, k%posts, n)
		}
	}
	assert.Zero(t, outOfOrder, "per-producer FIFO")
}

func BenchmarkWorkQueuePostDrain(b *testing.B) {
	q := NewWorkQueue(1024)
	fn := func() {}
	b.ReportAllocs()
	for range b.N {
		q.Post(fn)
		q.Drain(1)
	}
}

// Queue is generic: the same ring for any value type, FIFO, bounded, with
// PopBurst taking what is there up to the slice's length.
func TestQueueOfInts(t *testing.T) {
	q := NewQueue[int](6) // 8 cells
	assert.Equal(t, 8, q.Cap())
	_, ok := q.Pop()
	assert.False(t, ok, "empty")
	for i := range 8 {
		require.True(t, q.Push(i))
	}
	assert.False(t, q.Push(8), "full")
	v, ok := q.Pop()
	require.True(t, ok)
	assert.Zero(t, v)
	require.True(t, q.Push(8))
	dst := make([]int, 5)
	assert.Equal(t, 5, q.PopBurst(dst))
	assert.Equal(t, []int{1, 2, 3, 4, 5}, dst)
	assert.Equal(t, 3, q.PopBurst(dst))
	assert.Equal(t, []int{6, 7, 8}, dst[:3])
	assert.Zero(t, q.PopBurst(dst))
}

func TestQueueManyProducers(t *testing.T) {
	const producers, pushes = 4, 20000
	q := NewQueue[uint32](256)
	var wg sync.WaitGroup
	for p := range producers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range pushes {
				for !q.Push(uint32(p)<<24 | uint32(i)) {
					runtime.Gosched()
				}
			}
		}()
	}
	next := make([]uint32, producers)
	buf := make([]uint32, 32)
	for total := 0; total < producers*pushes; {
		n := q.PopBurst(buf)
		if n == 0 {
			runtime.Gosched()
		}
		for _, v := range buf[:n] {
			p, i := v>>24, v&0xffffff
			require.Equal(t, next[p], i, "producer %d out of order", p)
			next[p]++
		}
		total += n
	}
	wg.Wait()
	_, ok := q.Pop()
	assert.False(t, ok)
}
