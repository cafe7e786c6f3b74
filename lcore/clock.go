package lcore

import (
	"math"
	"math/bits"
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

// turnClock gives a loop its turn's time from the time stamp counter that
// comes back with the turn's I/O (dpdk.Batch.Run), so that a turn needs no
// clock call of its own (a clock_gettime through the vDSO costs several
// times the counter's conversion).
// It counts from an anchor, a reading of Now taken with the counter, and
// takes a new one every anchorSpan: the turn's time then strays from Now
// by no more than the counter's rate error over that span (EAL measures
// the rate at start), and never goes back.
type turnClock struct {
	mult uint64 // nanoseconds per tick, 32.32 fixed point; 0: no counter
	span uint64 // ticks between anchors
	tsc0 uint64 // the counter at the anchor; 0: none yet
	t0   Time   // Now at the anchor
}

// anchorSpan is how long the turn clock counts ticks before it reads Now
// again.
const anchorSpan = 50 * time.Microsecond

func newTurnClock(hz uint64) turnClock {
	if hz == 0 {
		return turnClock{}
	}
	mult, _ := bits.Div64(uint64(time.Second)>>32, uint64(time.Second)<<32, hz)
	return turnClock{mult: mult, span: max(1, hz*uint64(anchorSpan)/uint64(time.Second))}
}

// at is the time of the counter reading tsc (0: none, read Now), for a
// loop whose last turn was at last.
func (c *turnClock) at(tsc uint64, last Time) Time {
	d := tsc - c.tsc0
	if c.mult == 0 || tsc == 0 || c.tsc0 == 0 || d >= c.span {
		c.t0, c.tsc0 = Now(), tsc
		return max(c.t0, last)
	}
	hi, lo := bits.Mul64(d, c.mult)
	return max(c.t0+Time(hi<<32|lo>>32), last)
}
