package kclient

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dpstack/dpstack/internal/sockperf"
)

// TestSockperfTable: the sockperf table's ratios are against each row's
// baseline, the kernel row with its placement; a row that failed keeps
// its error and empty cells, and the floor has no TCP cells.
func TestSockperfTable(t *testing.T) {
	lat := func(p50 time.Duration) sockperf.Summary {
		return sockperf.Summary{P50: p50, P99: 2 * p50, P999: 3 * p50, HasLatency: true}
	}
	failed := SockperfRow{System: BusyRow, Baseline: KernelRow}
	failed.fail("setup", errors.New("no TAP"))
	rep := &SockperfReport{Rows: []SockperfRow{
		{System: KernelRow, Baseline: KernelRow, UDP: lat(20 * time.Microsecond), TCP: lat(10 * time.Microsecond)},
		{System: AdaptiveRow, Baseline: KernelRow, UDP: lat(10 * time.Microsecond), TCP: lat(20 * time.Microsecond)},
		failed,
		{System: KernelRow + ", pinned", Baseline: KernelRow + ", pinned", UDP: lat(40 * time.Microsecond), TCP: lat(40 * time.Microsecond)},
		{System: FloorRow, Baseline: KernelRow + ", pinned", UDP: lat(10 * time.Microsecond)},
	}}
	var csv strings.Builder
	require.NoError(t, rep.WriteCSV(&csv))
	lines := strings.Split(strings.TrimSpace(csv.String()), "\n")
	require.Len(t, lines, 6)
	assert.Equal(t, "system,udp_p50_us,udp_p99_us,udp_p999_us,udp_p50_vs_kernel,tcp_p50_us,tcp_p99_us,tcp_p999_us,tcp_p50_vs_kernel,errors", strings.ToLower(lines[0]))
	assert.Equal(t, AdaptiveRow+",10,20,30,0.5,20,40,60,2,", lines[2])
	assert.Equal(t, BusyRow+",,,,,,,,,setup: no TAP", lines[3])
	assert.Equal(t, FloorRow+",10,20,30,0.25,,,,,", lines[5])
}
