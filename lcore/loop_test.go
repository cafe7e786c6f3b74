package lcore

import (
	"github.com/dpstack/dpstack/ktime"

	"runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dpstack/dpstack/dpdk"
	"github.com/dpstack/dpstack/dpdk/dpdktest"
	"github.com/dpstack/dpstack/mbuf"
)

func TestMain(m *testing.M) { dpdktest.Main(m, "lcore", dpdk.EALConfig{}) }

var ringSeq int

// ringLink returns two started ports joined by rings of size slots.
func ringLink(t testing.TB, pool *mbuf.Pool, size int) *dpdk.RingPair {
	t.Helper()
	ringSeq++
	rp, err := dpdk.NewRingPair("lc"+string(rune('a'+ringSeq)), size)
	require.NoError(t, err)
	for _, p := range []*dpdk.Port{rp.A, rp.B} {
		_, err := p.Configure(dpdk.PortConfig{RxQueues: 1, TxQueues: 1, Pool: pool})
		require.NoError(t, err)
		require.NoError(t, p.Start())
	}
	t.Cleanup(func() {
		rp.A.Stop()
		rp.B.Stop()
		assert.NoError(t, rp.Close())
	})
	return rp
}

func sendFrames(t *testing.T, pool *mbuf.Pool, port *dpdk.Port, n int) {
	t.Helper()
	bufs := make([]*mbuf.Buf, n)
	require.True(t, pool.AllocBulk(bufs))
	for i, b := range bufs {
		b.Put(64)[0] = byte(i)
	}
	require.Equal(t, n, port.TxBurst(0, bufs))
}

// TestLoopTurn: a turn receives a burst, runs due timers and posted work,
// and sends what the input queued in one burst.
func TestLoopTurn(t *testing.T) {
	pool := dpdktest.Pool(t, 1023)
	rp := ringLink(t, pool, 256)
	l := NewLoop(Config{})
	tx := l.AddTx(rp.A, 0)
	var got []byte
	l.AddRx(rp.A, 0, func(pkts []*mbuf.Buf) {
		for _, b := range pkts {
			got = append(got, b.Bytes()[0])
			require.True(t, tx.Enqueue(b)) // reflect it back
		}
	})
	var fired, worked bool
	var tm ktime.Timer
	tm.Init(func(*ktime.Timer, ktime.Time) { fired = true })
	l.Wheel().Schedule(&tm, ktime.Now().Add(-time.Millisecond)) // due
	require.True(t, l.Post(func() { worked = true }))

	sendFrames(t, pool, rp.B, 40)
	assert.True(t, l.Poll())
	assert.Equal(t, Burst, len(got), "one burst per turn")
	assert.True(t, fired)
	assert.True(t, worked)
	assert.True(t, l.Poll())
	assert.Len(t, got, 40)
	assert.False(t, l.Poll(), "nothing left to do")

	back := make([]*mbuf.Buf, 64)
	n := rp.B.RxBurst(0, back)
	assert.Equal(t, 40, n, "every reflected frame went out")
	for i, b := range back[:n] {
		assert.Equal(t, byte(i), b.Bytes()[0], "in order")
	}
	mbuf.FreeBulk(back[:n])
	st := l.Stats()
	assert.Equal(t, uint64(40), st.RxPackets.Load())
	assert.Equal(t, uint64(40), st.TxPackets.Load())
	assert.Equal(t, uint64(2), st.TxBursts.Load())
}

// TestTxBatchBackpressure: when the port takes nothing, the batch keeps
// what it holds in order and refuses more rather than dropping silently.
func TestTxBatchBackpressure(t *testing.T) {
	pool := dpdktest.Pool(t, 1023)
	rp := ringLink(t, pool, 64) // the ring holds 63
	l := NewLoop(Config{})
	tx := l.AddTx(rp.A, 0)
	bufs := make([]*mbuf.Buf, 63+2*Burst+1)
	require.True(t, pool.AllocBulk(bufs))
	accepted := 0
	for _, b := range bufs {
		if !tx.Enqueue(b) {
			b.Free()
			continue
		}
		accepted++
	}
	assert.Equal(t, 63+2*Burst, accepted)
	assert.Equal(t, 2*Burst, tx.Pending())
	assert.Equal(t, 2*Burst, tx.Drain())
	back := make([]*mbuf.Buf, 64)
	n := rp.B.RxBurst(0, back)
	assert.Equal(t, 63, n)
	mbuf.FreeBulk(back[:n])
}

// TestLoopRunPostStop: a running loop sleeps when idle, wakes for posted
// work, and stops cleanly.
func TestLoopRunPostStop(t *testing.T) {
	l := NewLoop(Config{Idle: IdleAdaptive})
	go l.Run()
	for deadline := time.Now().Add(10 * time.Second); l.IdleSleeps() == 0; {
		require.True(t, time.Now().Before(deadline), "the idle loop never slept")
		time.Sleep(time.Millisecond)
	}
	done := make(chan struct{})
	require.True(t, l.Post(func() { close(done) }))
	select {
	case <-done:
	case <-time.After(10 * time.Second): // a hang guard, not a timing assertion
		t.Fatal("posted work never ran")
	}
	l.Stop()
}

// TestLoopPollDoesNotAllocate: an empty turn and a turn with a burst cost
// no Go allocation.
func TestLoopPollDoesNotAllocate(t *testing.T) {
	pool := dpdktest.Pool(t, 1023)
	rp := ringLink(t, pool, 256)
	l := NewLoop(Config{})
	tx := l.AddTx(rp.A, 0)
	l.AddRx(rp.A, 0, func(pkts []*mbuf.Buf) {
		for _, b := range pkts {
			tx.Enqueue(b)
		}
	})
	back := make([]*mbuf.Buf, 64)
	allocs := testing.AllocsPerRun(100, func() {
		sendFrames(t, pool, rp.B, 8)
		l.Poll()
		n := rp.B.RxBurst(0, back)
		mbuf.FreeBulk(back[:n])
	})
	// sendFrames allocates its slice; the loop itself must not.
	assert.LessOrEqual(t, allocs, 1.0)
}

// TestLoopInbox: packets another core hands over are taken every turn, up
// to a burst per turn, after the rx bursts and before the timers; a full
// inbox refuses (the caller keeps the packet); a loop without an inbox
// refuses everything; DrainInbox frees what is left.
func TestLoopInbox(t *testing.T) {
	pool := dpdktest.Pool(t, 1023)
	l := NewLoop(Config{InboxSize: 64})
	b := pool.Alloc()
	require.NotNil(t, b)
	assert.False(t, l.Handoff(b), "no inbox yet")

	var order []string
	var got []*mbuf.Buf
	l.SetInbox(func(pkts []*mbuf.Buf) {
		order = append(order, "inbox")
		got = append(got, pkts...)
	})
	var tm ktime.Timer
	tm.Init(func(*ktime.Timer, ktime.Time) { order = append(order, "timer") })
	l.Wheel().Schedule(&tm, ktime.Now().Add(-time.Millisecond))
	require.True(t, l.Handoff(b))
	more := make([]*mbuf.Buf, 63)
	require.True(t, pool.AllocBulk(more))
	for _, m := range more {
		require.True(t, l.Handoff(m))
	}
	extra := pool.Alloc()
	assert.False(t, l.Handoff(extra), "full")
	extra.Free()

	assert.True(t, l.Poll())
	assert.Equal(t, []string{"inbox", "timer"}, order)
	require.Len(t, got, Burst, "one burst per turn")
	assert.Same(t, b, got[0], "in order")
	assert.True(t, l.Poll())
	assert.Len(t, got, 64)
	assert.Equal(t, uint64(64), l.Stats().HandoffsIn.Load())
	assert.False(t, l.Poll(), "nothing left")
	mbuf.FreeBulk(got)

	require.True(t, pool.AllocBulk(more[:5]))
	for _, m := range more[:5] {
		require.True(t, l.Handoff(m))
	}
	assert.Equal(t, 5, l.DrainInbox())
	assert.Zero(t, l.DrainInbox())
}

// TestLoopInboxWakes: a handoff wakes a sleeping loop, from another
// goroutine, and the handover neither allocates.
func TestLoopInboxWakes(t *testing.T) {
	pool := dpdktest.Pool(t, 1023)
	l := NewLoop(Config{Idle: IdleAdaptive})
	got := make(chan *mbuf.Buf, 1)
	l.SetInbox(func(pkts []*mbuf.Buf) {
		for _, b := range pkts {
			got <- b
		}
	})
	go l.Run()
	defer l.Stop()
	for deadline := time.Now().Add(10 * time.Second); l.IdleSleeps() == 0; {
		require.True(t, time.Now().Before(deadline), "the idle loop never slept")
		time.Sleep(time.Millisecond)
	}
	b := pool.Alloc()
	require.True(t, l.Handoff(b))
	select {
	case m := <-got:
		assert.Same(t, b, m)
		m.Free()
	case <-time.After(10 * time.Second): // a hang guard, not a timing assertion
		t.Fatal("the handed-over packet never arrived")
	}
}

func TestLoopInboxNoAllocs(t *testing.T) {
	pool := dpdktest.Pool(t, 1023)
	l := NewLoop(Config{})
	l.SetInbox(func(pkts []*mbuf.Buf) { mbuf.FreeBulk(pkts) })
	bufs := mbuf.NewBurst(8)
	allocs := testing.AllocsPerRun(100, func() {
		pool.AllocBulk(bufs)
		for _, b := range bufs {
			l.Handoff(b)
		}
		l.Poll()
	})
	assert.Zero(t, allocs)
}

// TestLoopYieldsToReadied: a shared loop whose input readied a goroutine
// lets it run within the turn, before the posted work, so that what the
// goroutine posts in answer runs in the same turn. With one processor the
// goroutine runs only when the loop yields; a loop on a thread of its own
// does not yield there. (Counted over several turns: the scheduler now
// and then takes the yielding goroutine back first, for fairness.)
func TestLoopYieldsToReadied(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	pool := dpdktest.Pool(t, 63)
	for _, shared := range []bool{true, false} {
		l := NewLoop(Config{Shared: shared})
		var answered int
		reply := func() { answered++ }
		l.SetInbox(func(pkts []*mbuf.Buf) {
			mbuf.FreeBulk(pkts)
			go func() { l.Post(reply) }() // an application answering
			l.Readied()
		})
		sameTurn := 0
		const turns = 20
		for range turns {
			b := pool.Alloc()
			require.NotNil(t, b)
			require.True(t, l.Handoff(b))
			before := answered
			l.Poll()
			if answered > before {
				sameTurn++
			}
			for answered == before { // let the goroutine post, and run it
				runtime.Gosched()
				l.Poll()
			}
		}
		if shared {
			assert.Greater(t, sameTurn, turns/2, "the answer ran in the turn that readied its goroutine")
		} else {
			assert.Zero(t, sameTurn, "no yield within the turn")
		}
	}
}

// TestLoopIdleLeavesNothingQueued: once a running loop idles, what its
// work queued has gone out and the frees it held back are in their pool.
func TestLoopIdleLeavesNothingQueued(t *testing.T) {
	pool, other := dpdktest.Pool(t, 1023), dpdktest.Pool(t, 63)
	rp := ringLink(t, pool, 256)
	l := NewLoop(Config{Idle: IdleAdaptive})
	tx := l.AddTx(rp.A, 0)
	c := mbuf.NewCache(pool)
	l.AddCache(c)
	go l.Run()
	defer l.Stop()

	b, stray := pool.Alloc(), other.Alloc()
	require.NotNil(t, b)
	require.NotNil(t, stray)
	b.Put(64)[0] = 7
	sleeps := l.IdleSleeps()
	require.True(t, l.Post(func() {
		require.True(t, tx.Enqueue(b))
		c.Free(stray) // another pool's mbuf: held back for the bulk free
	}))
	for deadline := time.Now().Add(10 * time.Second); l.IdleSleeps() == sleeps; {
		require.True(t, time.Now().Before(deadline), "the idle loop never slept")
		time.Sleep(time.Millisecond)
	}
	back := make([]*mbuf.Buf, 8)
	require.Equal(t, 1, rp.B.RxBurst(0, back), "sent before the loop slept")
	assert.Equal(t, byte(7), back[0].Bytes()[0])
	back[0].Free()
	assert.Zero(t, other.InUse(), "the held-back free was made before the sleep")
}

// TestLoopSendsBeforeYielding: what a shared loop's turn queued goes out
// before the loop yields to the goroutine the turn readied, not with the
// next turn's I/O. With one processor the goroutine runs only when the
// loop yields, and it looks for the packet on the peer port. (Counted over
// several turns, as in TestLoopYieldsToReadied.)
func TestLoopSendsBeforeYielding(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	pool := dpdktest.Pool(t, 1023)
	rp := ringLink(t, pool, 256)
	l := NewLoop(Config{Shared: true})
	tx := l.AddTx(rp.A, 0)
	seen := make(chan int, 1)
	back := make([]*mbuf.Buf, 8)
	const turns = 20
	arrived := 0
	for range turns {
		b := pool.Alloc()
		require.NotNil(t, b)
		require.True(t, l.Post(func() {
			require.True(t, tx.Enqueue(b))
			go func() { seen <- rp.B.RxBurst(0, back) }()
			l.Readied()
		}))
		for len(seen) == 0 {
			l.idler.Idle(l.turn())
		}
		if <-seen == 1 {
			arrived++
			back[0].Free()
		}
		l.Flush()
		if n := rp.B.RxBurst(0, back); n > 0 {
			mbuf.FreeBulk(back[:n])
		}
	}
	assert.Greater(t, arrived, turns/2, "the packet was on the wire when the goroutine ran")
}

// BenchmarkIdleTurn is the cost of a turn that finds nothing, on a loop
// polling the two ports of a ring pair: the floor of every turn.
func BenchmarkIdleTurn(b *testing.B) {
	pool := dpdktest.Pool(b, 1023)
	rp := ringLink(b, pool, 256)
	l := NewLoop(Config{})
	for _, p := range []*dpdk.Port{rp.A, rp.B} {
		l.AddTx(p, 0)
		l.AddRx(p, 0, func(pkts []*mbuf.Buf) { mbuf.FreeBulk(pkts) })
	}
	b.ReportAllocs()
	for b.Loop() {
		l.Poll()
	}
}

// TestLoopDefer: deferred functions run in the turn, after the timers and
// before the posted work; what they defer runs in the next turn; and
// deferring allocates nothing once the loop has room.
func TestLoopDefer(t *testing.T) {
	l := NewLoop(Config{})
	var order []string
	var tm ktime.Timer
	tm.Init(func(*ktime.Timer, ktime.Time) {
		order = append(order, "timer")
		l.Defer(func() {
			order = append(order, "deferred")
			l.Defer(func() { order = append(order, "deferred again") })
		})
	})
	l.Wheel().Schedule(&tm, ktime.Now().Add(-time.Millisecond))
	require.True(t, l.Post(func() { order = append(order, "posted") }))
	assert.True(t, l.Poll())
	assert.Equal(t, []string{"timer", "deferred", "posted"}, order)
	assert.True(t, l.Poll())
	assert.Equal(t, []string{"timer", "deferred", "posted", "deferred again"}, order)
	assert.False(t, l.Poll())
	assert.Equal(t, uint64(2), l.Stats().DeferredRun.Load())

	n := 0
	fn := func() { n++ }
	allocs := testing.AllocsPerRun(100, func() {
		l.Defer(fn)
		l.Poll()
	})
	assert.Zero(t, allocs)
	assert.Equal(t, 101, n)
}
