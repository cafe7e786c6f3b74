package lcore

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dpstack/dpstack/dpdk/dpdktest"
	"github.com/dpstack/dpstack/mbuf"
)

// TestRxTimeStamped: every packet of a burst carries the burst's receive
// time, a software one (a ring port has no hardware timestamps), which
// lies between the wall clock read before the turn and after it; later
// bursts are stamped no earlier; the loop allocates nothing for it.
func TestRxTimeStamped(t *testing.T) {
	pool := dpdktest.Pool(t, 1023)
	rp := ringLink(t, pool, 256)
	l := NewLoop(Config{})
	type stamp struct {
		ns int64
		hw bool
	}
	got := make([]stamp, 0, 64)
	l.AddRx(rp.A, 0, func(pkts []*mbuf.Buf) {
		for _, b := range pkts {
			l.StampRx(b)
			ns, hw := b.RxTime()
			got = append(got, stamp{ns, hw})
		}
		mbuf.FreeBulk(pkts)
	})
	var last int64
	for round := range 5 {
		got = got[:0]
		sendFrames(t, pool, rp.B, 8)
		before := time.Now().UnixNano()
		require.True(t, l.Poll())
		after := time.Now().UnixNano()
		require.Len(t, got, 8)
		for _, s := range got {
			assert.False(t, s.hw, "round %d: a ring port has no hardware timestamps", round)
			assert.Equal(t, got[0].ns, s.ns, "round %d: one time per burst", round)
		}
		assert.GreaterOrEqual(t, got[0].ns, before, "round %d: received after the turn began", round)
		assert.LessOrEqual(t, got[0].ns, after, "round %d: and before it ended", round)
		assert.GreaterOrEqual(t, got[0].ns, last, "round %d: never before the last burst", round)
		last = got[0].ns
	}

	allocs := testing.AllocsPerRun(50, func() {
		got = got[:0]
		sendFrames(t, pool, rp.B, 8)
		l.Poll()
	})
	assert.LessOrEqual(t, allocs, 1.0, "sendFrames allocates its slice; the stamping nothing")
}

// TestRxWallHoldsSlew: the receive time of a loop's bursts does not go back
// when the wall clock was slewed back a little between two anchors, but
// follows a step.
func TestRxWallHoldsSlew(t *testing.T) {
	l := NewLoop(Config{})
	l.clock = turnClock{t0: 1000, wall0: 5_000_000}
	l.now = 2000
	first := l.rxWall()
	assert.Equal(t, int64(5_001_000), first)

	l.clock.wall0 -= 300 // slewed back 300 ns at the next anchor
	l.now = 2100
	assert.Equal(t, first, l.rxWall(), "held at the last burst's time")

	l.clock.wall0 -= int64(time.Second) // stepped back
	l.now = 2200
	assert.Equal(t, int64(5_001_200-300)-int64(time.Second), l.rxWall(), "a step goes through")
}

// TestDevClock: the conversion of a device clock to wall-clock time, with
// a synthetic clock that ticks 1.5625 times a nanosecond (a 1.5625 GHz
// free-running counter) from an arbitrary start: timestamps before, at
// and after the reading convert to within a nanosecond (compared as
// offsets: a float64 does not hold a Unix time to the nanosecond); the rate follows
// the clock's drift at the next reading; a clock that does not move
// leaves the rate unknown.
func TestDevClock(t *testing.T) {
	const wallStart = int64(1_700_000_000_000_000_000)
	const devStart = uint64(987_654_321_000)
	devAt := func(ns int64, num, den uint64) uint64 { return devStart + uint64(ns)*num/den }

	var c devClock
	c.sample(devAt(0, 25, 16), wallStart)
	assert.False(t, c.ready(), "one reading: no rate yet")
	c.sample(devAt(int64(calStart), 25, 16), wallStart+int64(calStart))
	require.True(t, c.ready())
	for _, off := range []int64{-int64(time.Millisecond), -7, 0, 1, 640, int64(time.Second), 3 * int64(time.Second)} {
		got := c.wall(devAt(int64(calStart)+off, 25, 16)) - wallStart - int64(calStart)
		assert.InDelta(t, off, got, 1, "%d ns from the reading", off)
	}

	// The clock runs 100 ppm fast from here: the next reading, a
	// second on, measures the new rate.
	at := int64(calStart) + int64(time.Second)
	base := devAt(int64(calStart), 25, 16)
	fast := func(ns int64) uint64 { return base + uint64(ns-int64(calStart))*25*10001/(16*10000) }
	c.sample(fast(at), wallStart+at)
	for _, off := range []int64{-int64(time.Millisecond), 0, 5000, int64(time.Second)} {
		got := c.wall(fast(at+off)) - wallStart - at
		assert.InDelta(t, off, got, 1, "after the drift, %d ns from the reading", off)
	}

	var still devClock
	still.sample(42, wallStart)
	still.sample(42, wallStart+int64(calStart))
	assert.False(t, still.ready(), "a clock that did not move has no rate")
}

// TestDevClockWraps: a device clock that wraps around between the reading
// and the timestamp converts as if it had not.
func TestDevClockWraps(t *testing.T) {
	var c devClock
	c.sample(^uint64(0)-2_000_000, 0)
	c.sample(^uint64(0)-1_000_000, 1_000_000) // one tick a nanosecond
	require.True(t, c.ready())
	assert.Equal(t, int64(1_000_000+3_000_000), c.wall(2_000_000-1), "wrapped")
	assert.Equal(t, int64(1_000_000-500_000), c.wall(^uint64(0)-1_500_000), "before the reading")
}

// TestTurnClockWall: the turn clock's wall-clock time moves with its
// monotonic time from the anchor, and a counter reading converts alike.
func TestTurnClockWall(t *testing.T) {
	c := newTurnClock(2_000_000_000)
	before := time.Now().UnixNano()
	t0 := c.at(1_000_000, 0)
	after := time.Now().UnixNano()
	w0 := c.wall(t0)
	assert.GreaterOrEqual(t, w0, before)
	assert.LessOrEqual(t, w0, after)
	assert.Equal(t, w0+500, c.wall(c.at(1_001_000, t0)))
	w, ok := c.wallAt(1_002_000)
	assert.True(t, ok)
	assert.Equal(t, w0+1000, w)
	_, ok = c.wallAt(999_999)
	assert.False(t, ok, "before the anchor")
}

// TestStampHW: on a port that timestamps in hardware, a packet whose
// driver wrote its device clock is stamped with that time converted and
// marked hardware; one without (or before the clock has a rate) gets the
// burst's software time.
func TestStampHW(t *testing.T) {
	pool := dpdktest.Pool(t, 63)
	l := NewLoop(Config{})
	h := &hwClock{}
	h.sample(1_000_000, 1_700_000_000_000_000_000)
	l.rxAt, l.rxHW = 1_700_000_000_000_500_000, h

	b := pool.Alloc()
	require.NotNil(t, b)
	defer b.Free()
	b.SetRxTime(1_000_100, true) // as the driver leaves it: device ticks, the flag
	l.StampRx(b)
	ns, hw := b.RxTime()
	assert.Equal(t, l.rxAt, ns, "no rate yet: the burst's time")
	assert.False(t, hw)

	h.sample(3_000_000, 1_700_000_000_001_000_000) // two ticks a nanosecond
	b.SetRxTime(3_000_400, true)
	l.StampRx(b)
	ns, hw = b.RxTime()
	assert.Equal(t, int64(1_700_000_000_001_000_200), ns, "the device's time, converted")
	assert.True(t, hw)

	b.SetRxTime(0, false) // a packet the driver did not timestamp
	l.StampRx(b)
	ns, hw = b.RxTime()
	assert.Equal(t, l.rxAt, ns)
	assert.False(t, hw)
}
