package stacktest

import (
	"time"

	"github.com/dpstack/dpstack/ktime"
	"github.com/dpstack/dpstack/stack"
)

// Clock is a manual clock. It starts an hour ahead of the real one, so
// that the loops' own Poll, which advances the wheels to the real time,
// never reaches a deadline the stacks set from it: timers fire only when
// the test advances the clock (ARCHITECTURE.md §8).
type Clock struct{ t ktime.Time }

// NewClock returns a manual clock an hour ahead of ktime.Now.
func NewClock() *Clock { return &Clock{t: ktime.Now().Add(time.Hour)} }

// Now is the clock's time.
func (c *Clock) Now() ktime.Time { return c.t }

// Add moves the clock on by d. Nothing fires until the wheels run (Fire).
func (c *Clock) Add(d time.Duration) { c.t = c.t.Add(d) }

// Fire runs h's due timers at now and sends what they queued.
func Fire(h *stack.Host, now ktime.Time) {
	l := h.Stacks()[0].Loop()
	for range 64 {
		if l.Wheel().Advance(now, 1<<16) == 0 {
			break
		}
	}
	l.Flush()
}
