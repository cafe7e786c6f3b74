package harness_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dpstack/dpstack/perf/gvisor"
	"github.com/dpstack/dpstack/perf/harness"
	"github.com/dpstack/dpstack/perf/kernel"
)

func TestSummarise(t *testing.T) {
	lat := make([]time.Duration, 1000)
	for i := range lat {
		lat[i] = time.Duration(1000-i) * time.Microsecond // reversed: Summarise sorts
	}
	got := harness.Summarise(lat)
	assert.Equal(t, harness.Latency{N: 1000, P50: 500 * time.Microsecond, P99: 990 * time.Microsecond, P999: 999 * time.Microsecond}, got)
	assert.Equal(t, harness.Latency{}, harness.Summarise(nil))
	one := harness.Summarise([]time.Duration{7})
	assert.Equal(t, time.Duration(7), one.P50)
	assert.Equal(t, time.Duration(7), one.P999)
}

// tiny are limits that make every scenario quick.
var tiny = harness.Limits{
	Warmup: 10, Exchanges: 200, Rounds: 4, RTTTime: time.Second,
	Conns: 20, ConnTime: time.Second,
	BulkBytes: 4 << 20, BulkTime: time.Second,
	Grace: 5 * time.Second,
}

// TestSystems runs every scenario of the systems that need no DPDK.
func TestSystems(t *testing.T) {
	lossy, err := gvisor.New("gvisor lossy", 0.01, 1)
	require.NoError(t, err)
	for _, tc := range []struct {
		sys      harness.System
		segments bool
	}{
		{kernel.New("kernel"), false},
		{must(gvisor.New("gvisor", 0, 1)), true},
	} {
		t.Run(tc.sys.Name(), func(t *testing.T) {
			row := harness.Row{System: tc.sys.Name()}
			harness.Run(&row, tc.sys, tiny, &bytes.Buffer{})
			require.NoError(t, tc.sys.Close())
			require.Empty(t, row.Errors)
			assert.Equal(t, 20, row.Conns.N)
			assert.Equal(t, int64(4<<20), row.Bulk.Bytes)
			assert.Equal(t, tc.segments, row.AllocsPerSeg >= 0)
		})
	}
	row := harness.Row{System: "gvisor lossy"}
	harness.RunLossy(&row, lossy, tiny, &bytes.Buffer{})
	require.NoError(t, lossy.Close())
	require.Empty(t, row.Errors)
	assert.Positive(t, row.BulkLoss.Bytes)
}

// TestRoundTripsReal interleaves the round trips of the systems that need
// no DPDK.
func TestRoundTripsReal(t *testing.T) {
	systems := []harness.System{kernel.New("kernel"), must(gvisor.New("gvisor", 0, 1))}
	lat, errs := harness.RoundTrips(systems, tiny, &bytes.Buffer{})
	for i, sys := range systems {
		require.NoError(t, errs[i])
		assert.Equal(t, 200, lat[i].N)
		assert.Positive(t, lat[i].P50)
		require.NoError(t, sys.Close())
	}
}

// fake is a system whose exchanges take a fixed time and which logs its
// Pings; failAt makes its Ping fail from that call on.
type fake struct {
	name   string
	rtt    time.Duration
	failAt int
	log    *[]string
	pings  int
	closed bool // its Pinger was closed
}

func (f *fake) Name() string { return f.name }
func (f *fake) Close() error { return nil }
func (f *fake) RoundTrip(context.Context, harness.Limits) (harness.Pinger, error) {
	return fakePinger{f}, nil
}
func (f *fake) Connections(context.Context, harness.Limits) (harness.Rate, error) {
	return harness.Rate{}, nil
}
func (f *fake) Bulk(context.Context, harness.Limits) (harness.Throughput, error) {
	return harness.Throughput{}, nil
}

type fakePinger struct{ *fake }

func (p fakePinger) Close() error {
	p.closed = true
	return nil
}

func (f *fake) Ping(warm, n int, lat []time.Duration) ([]time.Duration, error) {
	f.pings++
	if f.failAt > 0 && f.pings >= f.failAt {
		return lat, errors.New("link down")
	}
	*f.log = append(*f.log, fmt.Sprintf("%s %d+%d", f.name, warm, n))
	for range n {
		lat = append(lat, f.rtt)
	}
	return lat, nil
}

// TestRoundTripsInterleaves: the systems take turns, a slice each per
// round, each round starting with the next system; a system that fails
// drops out with its error and no latencies, and every Pinger is closed.
func TestRoundTripsInterleaves(t *testing.T) {
	var log []string
	a := &fake{name: "a", rtt: 1 * time.Microsecond, log: &log}
	b := &fake{name: "b", rtt: 2 * time.Microsecond, log: &log}
	c := &fake{name: "c", rtt: 3 * time.Microsecond, log: &log, failAt: 3}
	l := harness.Limits{Exchanges: 10, Rounds: 4, RTTTime: time.Minute, Grace: time.Second}
	lat, errs := harness.RoundTrips([]harness.System{a, b, c}, l, &bytes.Buffer{})
	assert.Equal(t, []string{
		"a 1+3", "b 1+3", "c 1+3",
		"b 1+3", "c 1+3", "a 1+3",
		"a 1+3", "b 1+3", // c failed on its third Ping
		"a 1+1", "b 1+1",
	}, log)
	assert.Equal(t, harness.Latency{N: 10, P50: time.Microsecond, P99: time.Microsecond, P999: time.Microsecond}, lat[0])
	assert.Equal(t, 10, lat[1].N)
	assert.NoError(t, errs[0])
	assert.NoError(t, errs[1])
	assert.ErrorContains(t, errs[2], "link down")
	assert.Zero(t, lat[2])
	for _, f := range []*fake{a, b, c} {
		assert.True(t, f.closed, f.name)
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

func TestReport(t *testing.T) {
	rep := &harness.Report{
		Baseline: "base",
		Loss:     0.01,
		Rows: []harness.Row{
			{System: "base", RTT: harness.Latency{N: 10, P50: 10 * time.Microsecond, P99: 20 * time.Microsecond, P999: 30 * time.Microsecond},
				Conns: harness.Rate{N: 100, Elapsed: time.Second}, Bulk: harness.Throughput{Bytes: 1e9, Elapsed: time.Second}, AllocsPerSeg: -1},
			{System: "fast", RTT: harness.Latency{N: 10, P50: 2 * time.Microsecond, P99: 4 * time.Microsecond, P999: 6 * time.Microsecond},
				Conns: harness.Rate{N: 200, Elapsed: time.Second}, Bulk: harness.Throughput{Bytes: 2e9, Elapsed: time.Second},
				BulkLoss: harness.Throughput{Bytes: 1e8, Elapsed: time.Second}, AllocsPerSeg: 0, Errors: []string{"x: y"}},
		},
	}
	rep.CheckGoals("base", []harness.Goal{{System: "fast", MaxP50: 0.25}})
	var table, csvOut, png bytes.Buffer
	require.NoError(t, rep.WriteTable(&table))
	assert.Contains(t, table.String(), "1% loss Mbit/s")
	assert.Contains(t, table.String(), "0.20×")
	assert.Contains(t, table.String(), "error: fast: x: y")
	assert.Contains(t, table.String(), "target fast: rtt p50 ≤ 0.25× base: 0.20× (met)")
	assert.Contains(t, table.String(), "target fast ahead of base on every row: met")

	require.NoError(t, rep.WriteCSV(&csvOut))
	recs, err := csv.NewReader(&csvOut).ReadAll()
	require.NoError(t, err)
	require.Len(t, recs, 3)
	head := strings.Join(recs[0], ",")
	assert.True(t, strings.HasPrefix(head, "system,rtt_p50_us,"), head)
	assert.Equal(t, []string{"fast", "2", "4", "6", "0.2", "10", "200", "2", "16000", "2", "800", "0", "", "x: y"}, recs[2])

	require.NoError(t, rep.WritePNG(&png))
	assert.True(t, bytes.HasPrefix(png.Bytes(), []byte("\x89PNG")))
}
