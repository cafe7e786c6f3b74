package lcore

import (
	"math/bits"
	"time"

	"github.com/dpstack/dpstack/ktime"
)

// turnClock gives a loop its turn's time from the time stamp counter that
// comes back with the turn's I/O (dpdk.Batch.Run), so that a turn needs no
// clock call of its own (a clock_gettime through the vDSO costs several
// times the counter's conversion).
// It counts from an anchor, a reading of Now taken with the counter, and
// takes a new one every anchorSpan: the turn's time then strays from Now
// by no more than the counter's rate error over that span (EAL measures
// the rate at start), and never goes back.
// The anchor reads the wall clock at the same instant, so that the turn's
// time converts to wall-clock time (wall) for the packets' receive times.
type turnClock struct {
	mult  uint64     // nanoseconds per tick, 32.32 fixed point; 0: no counter
	span  uint64     // ticks between anchors
	tsc0  uint64     // the counter at the anchor; 0: none yet
	t0    ktime.Time // Now at the anchor
	wall0 int64      // the wall clock at the anchor, ns since the Unix epoch
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
func (c *turnClock) at(tsc uint64, last ktime.Time) ktime.Time {
	d := tsc - c.tsc0
	if c.mult == 0 || tsc == 0 || c.tsc0 == 0 || d >= c.span {
		c.t0, c.wall0 = ktime.NowWall()
		c.tsc0 = tsc
		return max(c.t0, last)
	}
	hi, lo := bits.Mul64(d, c.mult)
	return max(c.t0+ktime.Time(hi<<32|lo>>32), last)
}

// wall is the wall-clock time, in nanoseconds since the Unix epoch, of t,
// a time that at returned: the anchor's wall clock moved on by the
// monotonic time since. It follows the wall clock's corrections at every
// anchor, so it can go back by what NTP slewed since the last one (Linux's
// CLOCK_REALTIME timestamps are not monotonic either) or by a step.
func (c *turnClock) wall(t ktime.Time) int64 { return c.wall0 + int64(t-c.t0) }

// wallAt is the wall-clock time of counter reading tsc, taken since the
// anchor, or false without a counter or an anchor before tsc.
func (c *turnClock) wallAt(tsc uint64) (int64, bool) {
	if c.mult == 0 || c.tsc0 == 0 || tsc < c.tsc0 {
		return 0, false
	}
	hi, lo := bits.Mul64(tsc-c.tsc0, c.mult)
	return c.wall0 + int64(hi<<32|lo>>32), true
}
