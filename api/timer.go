package api

import (
	"sync/atomic"
	"time"

	"github.com/dpstack/dpstack/ktime"
	"github.com/dpstack/dpstack/lcore"
)

// appTimer states.
const (
	timerPending int32 = iota
	timerFired
	timerStopped
)

// appTimer is an application's timer on a core's wheel (ktime.Timer).
// Arming and firing happen on the core; stop may be called from anywhere:
// it settles the race with firing through state and cancels the wheel entry
// lazily, so that it never waits for the core.
type appTimer struct {
	loop  *lcore.Loop
	t     ktime.Timer
	fn    func()
	state atomic.Int32
}

func newAppTimer(loop *lcore.Loop, fn func()) *appTimer {
	a := &appTimer{loop: loop, fn: fn}
	a.t.Init(func(*ktime.Timer, ktime.Time) {
		if a.state.CompareAndSwap(timerPending, timerFired) {
			a.fn()
		}
	})
	return a
}

// arm schedules the timer d from now. It runs on the core.
func (a *appTimer) arm(d time.Duration) {
	if a.state.Load() == timerPending {
		a.loop.Wheel().Schedule(&a.t, a.loop.Now().Add(d))
	}
}

// stop keeps fn from running and reports whether it did so, as
// time.Timer.Stop: false when fn already ran or stop was called before.
func (a *appTimer) stop() bool {
	if !a.state.CompareAndSwap(timerPending, timerStopped) {
		return false
	}
	// Take the entry off the wheel; if the post fails, the entry fires
	// later into nothing.
	a.loop.Post(func() { a.loop.Wheel().Cancel(&a.t) })
	return true
}

// AfterFunc runs fn on core's loop once d has passed (on the core's timer
// wheel, with its tick's granularity, 1 ms by default) and returns a
// function that stops it, as time.AfterFunc's Stop: true if it kept fn from
// running. fn runs on the core, like a Handler's methods: it must not
// block, and may use that core's CConns. AfterFunc itself never waits and
// may be called from any goroutine, a Handler's methods included.
func AfterFunc(h Host, core int, d time.Duration, fn func()) (stop func() bool) {
	loop := h.Loop(core)
	t := newAppTimer(loop, fn)
	arm := func() { t.arm(d) }
	if !loop.Post(arm) {
		// The core's work queue is full: keep trying from a goroutine
		// rather than make the caller, perhaps the core itself, wait.
		go func() {
			for post(loop, arm) != nil {
				// post slept between its tries; try again.
			}
		}()
	}
	return t.stop
}
