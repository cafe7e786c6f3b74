package tcp

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/dpstack/dpstack/ktime"
)

// RACK's min_RTT is the least sample over a recent period (RFC 8985
// §6.2), kept by minFilter: each case feeds samples (at seconds from an
// origin) through a 100 s window and checks the minimum after each.
func TestMinFilter(t *testing.T) {
	const win = 100 * time.Second
	type sample struct {
		at   time.Duration // since the origin
		v    time.Duration
		want time.Duration // the filter's minimum after it
	}
	ms := time.Millisecond
	s := time.Second
	for _, tc := range []struct {
		name    string
		samples []sample
	}{
		{"a new least replaces at once", []sample{
			{0, 20 * ms, 20 * ms}, {1 * s, 30 * ms, 20 * ms}, {2 * s, 10 * ms, 10 * ms}, {3 * s, 15 * ms, 10 * ms},
		}},
		{"a small sample ages out after the window", []sample{
			{0, 5 * ms, 5 * ms},
			{10 * s, 20 * ms, 5 * ms},
			{100 * s, 20 * ms, 5 * ms}, // exactly the window: still in
			{101 * s, 20 * ms, 20 * ms},
		}},
		{"the least of what remains takes over, not the latest", []sample{
			{0, 5 * ms, 5 * ms},
			{30 * s, 12 * ms, 5 * ms}, // the second choice (after a quarter window)
			{60 * s, 15 * ms, 5 * ms}, // the third (after half)
			{101 * s, 40 * ms, 12 * ms},
			{131 * s, 40 * ms, 15 * ms},
			{161 * s, 40 * ms, 40 * ms},
		}},
		{"a smaller second choice replaces the earlier one", []sample{
			{0, 5 * ms, 5 * ms},
			{30 * s, 9 * ms, 5 * ms},
			{40 * s, 8 * ms, 5 * ms},
			{101 * s, 30 * ms, 8 * ms},
		}},
		{"within the first quarter window, a larger sample is not kept (the filter's approximation)", []sample{
			{0, 5 * ms, 5 * ms},
			{10 * s, 9 * ms, 5 * ms},
			{101 * s, 30 * ms, 30 * ms},
		}},
		{"every choice aged out: the new sample alone", []sample{
			{0, 5 * ms, 5 * ms},
			{50 * s, 7 * ms, 5 * ms},
			{500 * s, 60 * ms, 60 * ms},
			{501 * s, 70 * ms, 60 * ms},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var f minFilter
			_, ok := f.get()
			assert.False(t, ok, "empty")
			origin := ktime.Time(time.Hour)
			for i, x := range tc.samples {
				got := f.update(win, origin.Add(x.at), x.v)
				assert.Equal(t, x.want, got, "after sample %d", i)
				m, ok := f.get()
				assert.True(t, ok)
				assert.Equal(t, x.want, m, "get after sample %d", i)
			}
		})
	}
}

// The filter's work is constant and allocates nothing.
func TestMinFilterNoAllocs(t *testing.T) {
	var f minFilter
	at := ktime.Time(0)
	v := time.Duration(0)
	assert.Zero(t, testing.AllocsPerRun(1000, func() {
		at = at.Add(time.Second)
		v = (v + 7*time.Millisecond) % (50 * time.Millisecond)
		f.update(rackMinRTTWin, at, v+time.Microsecond)
	}))
}
