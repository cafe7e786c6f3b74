package stat

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestCounterAndVisit(t *testing.T) {
	var s struct {
		In    Counter `stat:"in"`
		Out   Counter `stat:"out"`
		plain int
	}
	s.In.Inc()
	s.In.Add(4)
	s.Out.Inc()
	got := map[string]uint64{}
	Visit(&s, func(name string, v uint64) { got[name] = v })
	assert.Equal(t, map[string]uint64{"in": 5, "out": 1}, got)
}

func TestGaugeAndVisitGauges(t *testing.T) {
	var s struct {
		Held  Gauge   `stat:"held"`
		Level Gauge   `stat:"level"`
		In    Counter `stat:"in"`
	}
	s.Held.Add(5)
	s.Held.Add(-2)
	s.Level.Set(-1)
	s.In.Inc()
	got := map[string]int64{}
	VisitGauges(&s, func(name string, v int64) { got[name] = v })
	assert.Equal(t, map[string]int64{"held": 3, "level": -1}, got, "gauges only")
	counters := map[string]uint64{}
	Visit(&s, func(name string, v uint64) { counters[name] = v })
	assert.Equal(t, map[string]uint64{"in": 1}, counters, "counters only")
}

func TestDropReasonsAllNamed(t *testing.T) {
	seen := map[string]bool{}
	for r := DropReason(0); r < NumDropReasons; r++ {
		name := r.String()
		require.NotEmpty(t, name, "reason %d has no name", r)
		require.False(t, seen[name], "duplicate name %s", name)
		seen[name] = true
	}
	assert.Equal(t, "unknown", NumDropReasons.String())
}

func TestCounterIncDoesNotAllocate(t *testing.T) {
	var d Drops
	assert.Zero(t, testing.AllocsPerRun(100, func() { d.Inc(DropIPBadChecksum) }))
	assert.Equal(t, uint64(101), d.Get(DropIPBadChecksum))
}

// BenchmarkCounterInc is the cost of one increment on the owning core.
func BenchmarkCounterInc(b *testing.B) {
	var c Counter
	for range b.N {
		c.Inc()
	}
	if c.Load() != uint64(b.N) {
		b.Fatal("lost increments")
	}
}

func TestHistogram(t *testing.T) {
	var h Histogram
	for _, d := range []time.Duration{0, 1, 256, 257, 512, time.Millisecond, time.Hour} {
		h.Observe(d)
	}
	counts, sum := h.Load()
	assert.Equal(t, uint64(3), counts[0], "0, 1 and 256 ns: up to 256 ns")
	assert.Equal(t, uint64(2), counts[1], "257 and 512 ns")
	assert.Equal(t, uint64(1), counts[12], "1 ms: up to 2^20 ns")
	assert.Equal(t, uint64(1), counts[HistogramBuckets-1], "an hour: past the last bound")
	assert.Equal(t, 0+1+256+257+512+time.Millisecond+time.Hour, sum)
	assert.Equal(t, 256*time.Nanosecond, HistogramBound(0))
	assert.Greater(t, HistogramBound(HistogramBuckets-2), 4*time.Second)

	type stats struct {
		A Histogram `stat:"a"`
		B Counter   `stat:"b"`
	}
	var s stats
	var names []string
	VisitHistograms(&s, func(name string, _ *Histogram) { names = append(names, name) })
	assert.Equal(t, []string{"a"}, names)
}
