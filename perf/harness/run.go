package harness

import (
	"context"
	"errors"
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

// Fail records that scenario failed with err.
func (r *Row) Fail(scenario string, err error) {
	r.Errors = append(r.Errors, fmt.Sprintf("%s: %v", scenario, err))
}

// Pingable is a system with a round-trip scenario: a System (TCP) or a
// UDPSystem.
type Pingable interface {
	Name() string
	RoundTrip(ctx context.Context, l Limits) (Pinger, error)
}

// RoundTrips measures the round-trip scenario of every system, the
// systems taking turns: in each of l.Rounds rounds every system makes a
// slice of its l.Exchanges timed exchanges, after a tenth as many untimed
// ones that bring it back from idle, and every round starts with the next
// system. On a shared machine whose speed drifts from one second to the
// next, every row then sees the same drift and the ratios between rows
// hold. A system stops after l.Exchanges timed exchanges or l.RTTTime
// spent exchanging, whichever comes first. The latencies of a system that
// failed are dropped and its error is in errs.
func RoundTrips[S Pingable](systems []S, l Limits, log io.Writer) (lat []Latency, errs []error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Duration(len(systems))*l.RTTTime+2*l.Grace)
	defer cancel()
	type run struct {
		p     Pinger
		lat   []time.Duration
		spent time.Duration
	}
	runs := make([]run, len(systems))
	errs = make([]error, len(systems))
	for i, sys := range systems {
		runs[i].p, errs[i] = sys.RoundTrip(ctx, l)
		runs[i].lat = make([]time.Duration, 0, l.Exchanges)
	}
	slice := max(1, (l.Exchanges+l.Rounds-1)/max(1, l.Rounds))
	warm := max(1, slice/10)
	for r := 0; ; r++ {
		busy := false
		for k := range systems {
			i := (r + k) % len(systems)
			run := &runs[i]
			if errs[i] != nil || len(run.lat) >= l.Exchanges || run.spent >= l.RTTTime {
				continue
			}
			busy = true
			t0 := time.Now()
			run.lat, errs[i] = run.p.Ping(warm, min(slice, l.Exchanges-len(run.lat)), run.lat)
			run.spent += time.Since(t0)
		}
		if !busy {
			break
		}
	}
	lat = make([]Latency, len(systems))
	for i, sys := range systems {
		if runs[i].p != nil {
			errs[i] = errors.Join(errs[i], runs[i].p.Close())
		}
		if errs[i] == nil {
			lat[i] = Summarise(runs[i].lat)
		}
		fmt.Fprintf(log, "  %-20s %-12s %6.2fs", sys.Name(), "round trip", runs[i].spent.Seconds())
		if errs[i] != nil {
			fmt.Fprintf(log, "  error: %v", errs[i])
		}
		fmt.Fprintln(log)
	}
	return lat, errs
}

// Run measures sys in the connection and bulk scenarios, into row.
// Progress goes to log.
func Run(row *Row, sys System, l Limits, log io.Writer) {
	step := func(name string, cap time.Duration, fn func(ctx context.Context) error) {
		ctx, cancel := context.WithTimeout(context.Background(), cap+2*l.Grace)
		defer cancel()
		t0 := time.Now()
		err := fn(ctx)
		fmt.Fprintf(log, "  %-20s %-12s %6.2fs", sys.Name(), name, time.Since(t0).Seconds())
		if err != nil {
			row.Fail(name, err)
			fmt.Fprintf(log, "  error: %v", err)
		}
		fmt.Fprintln(log)
	}
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
		row.Fail("bulk lossy", err)
		fmt.Fprintf(log, "  error: %v", err)
	}
	fmt.Fprintln(log)
}
