package lcore

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/dpstack/dpstack/ktime"
)

// TestTurnClock: between anchors the turn clock counts counter ticks from
// its last reading of Now; it reads Now again after anchorSpan, when the
// counter goes back, and always without a counter; it never goes back.
func TestTurnClock(t *testing.T) {
	c := newTurnClock(2_000_000_000) // 2 ticks a nanosecond
	before := ktime.Now()
	t0 := c.at(1_000_000, 0)
	assert.GreaterOrEqual(t, t0, before, "the first reading anchors to Now")
	assert.Equal(t, t0+500, c.at(1_001_000, t0), "1000 ticks later")
	assert.Equal(t, t0+ktime.Time(anchorSpan/2), c.at(1_000_000+uint64(anchorSpan), t0), "half the span later")

	later := c.at(1_000_000+2*uint64(anchorSpan), t0) // a whole span: anchor again
	assert.GreaterOrEqual(t, later, t0)
	assert.Equal(t, uint64(1_000_000+2*uint64(anchorSpan)), c.tsc0)

	ahead := later + ktime.Time(time.Hour)
	assert.Equal(t, ahead, c.at(c.tsc0+10, ahead), "never behind the last turn")
	assert.Equal(t, ahead, c.at(5, ahead), "a counter gone back anchors again, clamped")
	assert.Equal(t, uint64(5), c.tsc0)

	none := newTurnClock(0)
	before = ktime.Now()
	assert.GreaterOrEqual(t, none.at(123, 0), before, "no counter: Now")
	assert.GreaterOrEqual(t, c.at(0, 0), before, "no reading: Now")
}
