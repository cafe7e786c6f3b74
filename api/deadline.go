package api

import (
	"sync"
	"sync/atomic"
	"time"
)

// deadline is one direction's deadline: a channel that is closed once the
// deadline has passed, re-made when the deadline moves into the future
// again, so that a goroutine parked on it wakes when the time comes or when
// SetDeadline moves it into the past. A deadline made with newDeadlineFunc
// also calls a function each time it passes, for waiters that are not
// parked on the channel.
type deadline struct {
	mu     sync.Mutex // serialises set
	timer  *time.Timer
	passed atomic.Pointer[chan struct{}] // closed when the deadline has passed; wait reads it without mu
	onPass func()                        // called, without mu, after passed is closed; may be nil
}

func newDeadline() *deadline { return newDeadlineFunc(nil) }

// newDeadlineFunc returns a deadline that calls onPass, from the goroutine
// that made it pass, each time it passes.
func newDeadlineFunc(onPass func()) *deadline {
	d := &deadline{onPass: onPass}
	d.renew()
	return d
}

// renew gives the deadline a new, open channel. It runs under mu.
func (d *deadline) renew() {
	ch := make(chan struct{})
	d.passed.Store(&ch)
}

// set moves the deadline to t; the zero t means none.
func (d *deadline) set(t time.Time) {
	if d.move(t) && d.onPass != nil {
		d.onPass()
	}
}

// move is set's work under the lock; it reports whether the deadline has
// just passed (t is not in the future).
func (d *deadline) move(t time.Time) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.timer != nil && !d.timer.Stop() {
		<-d.wait() // the timer fired: let it finish closing the channel
	}
	d.timer = nil
	closed := isClosed(d.wait())
	if t.IsZero() {
		if closed {
			d.renew()
		}
		return false
	}
	if wait := time.Until(t); wait > 0 {
		if closed {
			d.renew()
		}
		ch := *d.passed.Load()
		d.timer = time.AfterFunc(wait, func() {
			close(ch)
			if d.onPass != nil {
				d.onPass()
			}
		})
		return false
	}
	if !closed {
		close(*d.passed.Load())
		return true
	}
	return false
}

// wait returns the channel that is closed when the deadline passes. It
// takes no lock: a Read calls it every time.
func (d *deadline) wait() <-chan struct{} { return *d.passed.Load() }

// stop releases the deadline's timer.
func (d *deadline) stop() {
	d.set(time.Time{})
}

// isClosed reports whether ch is closed.
func isClosed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}
