package harness

import (
	"context"
	"fmt"
	"io"
	"slices"
	"time"
)

// Latency summarises the round-trip scenario.
type Latency struct {
	N              int
	P50, P99, P999 time.Duration
}

// Summarise returns the nearest-rank percentiles of lat (sorted in place).
func Summarise(lat []time.Duration) Latency {
	if len(lat) == 0 {
		return Latency{}
	}
	slices.Sort(lat)
	rank := func(p float64) time.Duration {
		i := int(p*float64(len(lat))+0.999999) - 1
		return lat[max(0, min(i, len(lat)-1))]
	}
	return Latency{N: len(lat), P50: rank(0.50), P99: rank(0.99), P999: rank(0.999)}
}

// Row is one system's results; a zero field was not measured and an error
// says why a scenario has no result.
type Row struct {
	System       string
	RTT          Latency
	Conns        Rate
	Bulk         Throughput
	BulkLoss     Throughput // bulk through a link that drops packets
	AllocsPerSeg float64    // Go heap allocations per TCP segment during bulk; <0 when not measured
	RxNsPerPkt   float64    // per-packet cost of the L2–L4 receive path; 0 when not measured
	Errors       []string
}

func (r *Row) fail(scenario string, err error) {
	r.Errors = append(r.Errors, fmt.Sprintf("%s: %v", scenario, err))
}

// Run measures sys in every scenario and fills a row. Progress goes to
// log.
func Run(sys System, l Limits, log io.Writer) Row {
	row := Row{System: sys.Name(), AllocsPerSeg: -1}
	step := func(name string, cap time.Duration, fn func(ctx context.Context) error) {
		ctx, cancel := context.WithTimeout(context.Background(), cap+2*l.Grace)
		defer cancel()
		t0 := time.Now()
		err := fn(ctx)
		fmt.Fprintf(log, "  %-20s %-12s %6.2fs", sys.Name(), name, time.Since(t0).Seconds())
		if err != nil {
			row.fail(name, err)
			fmt.Fprintf(log, "  error: %v", err)
		}
		fmt.Fprintln(log)
	}
	step("round trip", l.RTTTime, func(ctx context.Context) error {
		lat, err := sys.RoundTrip(ctx, l)
		row.RTT = Summarise(lat)
		return err
	})
	step("connections", l.ConnTime, func(ctx context.Context) error {
		var err error
		row.Conns, err = sys.Connections(ctx, l)
		return err
	})
	step("bulk", l.BulkTime, func(ctx context.Context) error {
		var err error
		row.Bulk, err = sys.Bulk(ctx, l)
		row.AllocsPerSeg = row.Bulk.AllocsPerSegment()
		return err
	})
	return row
}

// RunLossy measures the bulk scenario of sys, a system whose link drops
// packets, into row.BulkLoss.
func RunLossy(row *Row, sys System, l Limits, log io.Writer) {
	ctx, cancel := context.WithTimeout(context.Background(), l.BulkTime+2*l.Grace)
	defer cancel()
	t0 := time.Now()
	var err error
	row.BulkLoss, err = sys.Bulk(ctx, l)
	fmt.Fprintf(log, "  %-20s %-12s %6.2fs", sys.Name(), "bulk lossy", time.Since(t0).Seconds())
	if err != nil {
		row.fail("bulk lossy", err)
		fmt.Fprintf(log, "  error: %v", err)
	}
	fmt.Fprintln(log)
}
