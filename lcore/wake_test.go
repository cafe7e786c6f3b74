package lcore

import (
	"github.com/dpstack/dpstack/ktime"

	"os"
	"runtime"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/dpstack/dpstack/dpdk"
	"github.com/dpstack/dpstack/dpdk/dpdktest"
	"github.com/dpstack/dpstack/mbuf"
)

// These tests check behaviour, not timing: a loop that sleeps until an
// interrupt has no timer and no step to wake it, so if the event under
// test did not wake it the test would wait for hangGuard and fail.

// sleepingLoop runs l and waits until it is asleep, its sleeps count past
// after (the loop may sleep and wake more than once on the way).
func sleepingLoop(t *testing.T, l *Loop) {
	t.Helper()
	after := l.IdleSleeps()
	go l.Run()
	t.Cleanup(func() {
		l.Stop()
		l.Close()
	})
	waitAsleep(t, l, after)
}

// waitAsleep waits until l has slept more than after times and is asleep.
func waitAsleep(t *testing.T, l *Loop, after uint64) {
	t.Helper()
	for deadline := time.Now().Add(hangGuard); l.IdleSleeps() <= after || l.idler.state.Load()&idleSleeping == 0; {
		require.True(t, time.Now().Before(deadline), "the idle loop never slept")
		time.Sleep(time.Millisecond)
	}
}

// within fails the test if ch receives nothing within hangGuard.
func within[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(hangGuard):
		t.Fatalf("%s never woke the sleeping loop", what)
	}
	panic("unreachable")
}

// TestLoopWakesForPacket: a loop asleep on its ring port's doorbell wakes
// for a packet the peer sends, handles it, and sleeps again; Stop ends it
// while it sleeps.
func TestLoopWakesForPacket(t *testing.T) {
	eachLoop(t, func(t *testing.T, shared bool) {
		pool := dpdktest.Pool(t, 1023)
		rp := ringLink(t, pool, 256)
		l := NewLoop(Config{Idle: IdleAdaptive, Shared: shared})
		got := make(chan int, 16)
		l.AddRx(rp.B, 0, func(pkts []*mbuf.Buf) {
			got <- len(pkts)
			mbuf.FreeBulk(pkts)
		})
		l.idler.spin = 0 // sleep at the first empty turn
		sleepingLoop(t, l)
		require.True(t, l.Interruptible(), "a ring pair's ports have doorbells")
		for range 3 {
			sleeps := l.IdleSleeps()
			sendFrames(t, pool, rp.A, 2)
			n := within(t, got, "a packet")
			if n == 1 {
				n += within(t, got, "a packet")
			}
			assert.Equal(t, 2, n)
			waitAsleep(t, l, sleeps)
		}
	})
}

// eachLoop runs fn for a loop on a thread of its own (which blocks the
// thread when it sleeps) and for one on an ordinary goroutine (shared,
// which parks in Go's netpoller).
func eachLoop(t *testing.T, fn func(t *testing.T, shared bool)) {
	for _, shared := range []bool{false, true} {
		t.Run(map[bool]string{false: "thread", true: "shared"}[shared], func(t *testing.T) { fn(t, shared) })
	}
}

// TestLoopWakesForPostAndTimer: a sleeping loop wakes for work posted to
// it, and for its next timer, which work posted while it slept armed.
func TestLoopWakesForPostAndTimer(t *testing.T) {
	eachLoop(t, func(t *testing.T, shared bool) {
		pool := dpdktest.Pool(t, 63)
		rp := ringLink(t, pool, 64)
		l := NewLoop(Config{Idle: IdleAdaptive, Shared: shared})
		l.AddRx(rp.B, 0, func(pkts []*mbuf.Buf) { mbuf.FreeBulk(pkts) })
		l.idler.spin = 0
		sleepingLoop(t, l)

		ran := make(chan struct{})
		require.True(t, l.Post(func() { close(ran) }))
		within(t, ran, "posted work")

		sleeps := l.IdleSleeps()
		fired := make(chan ktime.Time, 1)
		var tm ktime.Timer
		tm.Init(func(_ *ktime.Timer, now ktime.Time) { fired <- now })
		var at ktime.Time
		require.True(t, l.Post(func() {
			at = l.Now().Add(20 * time.Millisecond)
			l.Wheel().Schedule(&tm, at)
		}))
		now := within(t, fired, "the timer")
		assert.False(t, now.Before(at), "not early")
		assert.Greater(t, l.IdleSleeps(), sleeps, "the loop slept until the timer")
	})
}

// TestLoopDisarmsWhilePolling: a loop that a packet woke disarms its
// doorbell, so that the peer's sends while it polls ring nothing; only
// its next sleep arms it again.
func TestLoopDisarmsWhilePolling(t *testing.T) {
	pool := dpdktest.Pool(t, 1023)
	rp := ringLink(t, pool, 256)
	ri, err := rp.B.RxInterrupt(0)
	require.NoError(t, err)
	ep, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	require.NoError(t, err)
	defer unix.Close(ep)
	require.NoError(t, unix.EpollCtl(ep, unix.EPOLL_CTL_ADD, ri.FD(),
		&unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLET, Fd: int32(ri.FD())}))
	rings := func() int {
		ev := make([]unix.EpollEvent, 1)
		n, err := unix.EpollWait(ep, ev, 0)
		require.NoError(t, err)
		return n
	}

	l := NewLoop(Config{Idle: IdleAdaptive})
	var got atomic.Int64
	l.AddRx(rp.B, 0, func(pkts []*mbuf.Buf) {
		got.Add(int64(len(pkts)))
		mbuf.FreeBulk(pkts)
	})
	l.idler.spin = 0
	sleepingLoop(t, l)
	polling := make(chan struct{})
	require.True(t, l.Post(func() {
		l.idler.spin = 1 << 62 // from now on, never sleep
		close(polling)
	}))
	within(t, polling, "posted work")
	rings() // the Post's own wake, if the doorbell saw one
	for i := range 10 {
		sendFrames(t, pool, rp.A, 1)
		for deadline := time.Now().Add(hangGuard); got.Load() <= int64(i); {
			require.True(t, time.Now().Before(deadline), "the polling loop never received")
			runtime.Gosched()
		}
	}
	assert.Zero(t, rings(), "no doorbell while the loop polls")
}

// TestLoopWithoutInterruptSteps: a loop with an rx queue that gives no
// interrupt (a net_tap port configured without) falls back to sleeping in
// steps, and still wakes for posted work and stops cleanly.
func TestLoopWithoutInterruptSteps(t *testing.T) {
	if _, err := os.Stat("/dev/net/tun"); err != nil {
		t.Skip("no /dev/net/tun")
	}
	pool := dpdktest.Pool(t, 2047)
	p, err := dpdk.Probe("net_tap_lcw,iface=dpslcw0") // down, no address: it receives nothing
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, p.Close()) })
	_, err = p.Configure(dpdk.PortConfig{RxQueues: 1, TxQueues: 1, Pool: pool})
	require.NoError(t, err)
	require.NoError(t, p.Start())
	t.Cleanup(func() { assert.NoError(t, p.Stop()) })
	_, err = p.RxInterrupt(0)
	require.ErrorIs(t, err, syscall.ENOTSUP)

	l := NewLoop(Config{Idle: IdleAdaptive})
	l.AddRx(p, 0, func(pkts []*mbuf.Buf) { mbuf.FreeBulk(pkts) })
	l.idler.spin = 0
	sleepingLoop(t, l)
	assert.False(t, l.Interruptible())
	ran := make(chan struct{})
	require.True(t, l.Post(func() { close(ran) }))
	within(t, ran, "posted work")
	sleeps := l.IdleSleeps()
	waitAsleep(t, l, sleeps+3) // it goes on sleeping, in steps
}
