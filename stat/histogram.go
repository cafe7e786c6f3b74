package stat

import (
	"math/bits"
	"reflect"
	"time"
)

// HistogramBuckets is how many buckets a Histogram has: bucket i < the
// last counts durations up to HistogramBound(i), 256 ns doubling to about
// 4.3 s, and the last the longer ones.
const HistogramBuckets = 26

// histogramBase is the first bucket's upper bound, as a shift.
const histogramBase = 8 // 256 ns

// Histogram counts durations in power-of-two buckets with a single
// writer, as Counter counts; the scrape makes Prometheus's cumulative
// buckets from them.
type Histogram struct {
	counts [HistogramBuckets]Counter
	sum    Counter // nanoseconds
}

// HistogramBound is bucket i's upper bound; the last has none.
func HistogramBound(i int) time.Duration { return time.Duration(1) << (histogramBase + i) }

// Observe counts d. Only the owning core may call it.
func (h *Histogram) Observe(d time.Duration) {
	d = max(d, 0)
	i := 0
	if d > 1<<histogramBase {
		// the first bucket whose bound 2^(base+i) is at least d
		i = min(bits.Len64(uint64(d-1))-histogramBase, HistogramBuckets-1)
	}
	h.counts[i].Inc()
	h.sum.Add(uint64(d))
}

// Load reads the buckets' counts (not cumulative) and the sum; any
// goroutine may call it.
func (h *Histogram) Load() (counts [HistogramBuckets]uint64, sum time.Duration) {
	for i := range h.counts {
		counts[i] = h.counts[i].Load()
	}
	return counts, time.Duration(h.sum.Load())
}

var histogramType = reflect.TypeFor[Histogram]()

// VisitHistograms is Visit for the Histogram fields.
func VisitHistograms(s any, fn func(name string, h *Histogram)) {
	visit(s, histogramType, func(name string, f any) { fn(name, f.(*Histogram)) })
}
