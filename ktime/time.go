// Package ktime is the stack's time: a monotonic clock in nanoseconds
// (Linux's ktime_t) and a hierarchical timer wheel (kernel/time/timer.c)
// that each core keeps its timers on. A poll loop reads the time once per
// turn and advances its wheel; the protocols schedule on the wheel and
// never read a clock of their own (ARCHITECTURE.md §5).
package ktime

import (
	"math"
	"time"
)

// Time is a point on the monotonic clock of a core, in nanoseconds since an
// arbitrary origin fixed when the process started. It never jumps with the
// wall clock. Tests build Time values directly to drive a manual clock
// (ARCHITECTURE.md §5, §7); the zero value is the origin.
type Time int64

// epoch is the origin of Now. time.Since on a time.Time that carries a
// monotonic reading uses the runtime's monotonic clock and does not allocate.
var epoch = time.Now()

// Now reads the monotonic clock. It does not allocate.
func Now() Time {
	return Time(time.Since(epoch))
}

// NowWall reads the monotonic clock and the wall clock at one instant: Now,
// and the nanoseconds since the Unix epoch (CLOCK_REALTIME). It does not
// allocate.
func NowWall() (Time, int64) {
	t := time.Now()
	return Time(t.Sub(epoch)), t.UnixNano()
}

// Add returns t+d. The result saturates at the largest and smallest Time
// instead of wrapping, so t.Add(math.MaxInt64) is a usable "never".
func (t Time) Add(d time.Duration) Time {
	s := t + Time(d)
	switch {
	case d > 0 && s < t:
		return math.MaxInt64
	case d < 0 && s > t:
		return math.MinInt64
	}
	return s
}

// Sub returns the duration t-u.
func (t Time) Sub(u Time) time.Duration {
	return time.Duration(t - u)
}

// Before reports whether t is earlier than u.
func (t Time) Before(u Time) bool { return t < u }

// After reports whether t is later than u.
func (t Time) After(u Time) bool { return t > u }
