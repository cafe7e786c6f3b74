package harness_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dpstack/dpstack/perf/gvisor"
	"github.com/dpstack/dpstack/perf/harness"
	"github.com/dpstack/dpstack/perf/kernel"
)

// tinyUDP are limits that make the UDP scenarios quick.
var tinyUDP = harness.Limits{
	Warmup: 10, Exchanges: 200, Rounds: 4, RTTTime: time.Second,
	Datagrams: 5000, StreamTime: time.Second,
	Grace: 5 * time.Second,
}

// TestUDPSystems runs the UDP scenarios of the systems that need no DPDK.
func TestUDPSystems(t *testing.T) {
	systems := []harness.UDPSystem{kernel.NewUDP("kernel"), must(gvisor.NewUDP("gvisor"))}
	lat, errs := harness.RoundTrips(systems, tinyUDP, &bytes.Buffer{})
	for i, sys := range systems {
		t.Run(sys.Name(), func(t *testing.T) {
			require.NoError(t, errs[i])
			assert.Equal(t, 200, lat[i].N)
			assert.Positive(t, lat[i].P50)
			st, err := sys.Stream(context.Background(), tinyUDP)
			require.NoError(t, err)
			assert.Positive(t, st.Sent)
			assert.Positive(t, st.Received)
			assert.LessOrEqual(t, st.Received, st.Sent)
			assert.Positive(t, st.PerSecond())
			_, metered := st.AllocsPerDatagram()
			assert.True(t, metered)
			require.NoError(t, sys.Close())
		})
	}
}

func TestUDPReport(t *testing.T) {
	rep := &harness.UDPReport{
		Baseline: "base",
		Rows: []harness.UDPRow{
			{System: "base", RTT: harness.Latency{N: 10, P50: 10 * time.Microsecond, P99: 20 * time.Microsecond, P999: 30 * time.Microsecond},
				Stream: harness.Stream{Sent: 100, Received: 50, Elapsed: time.Second}},
			{System: "fast", RTT: harness.Latency{N: 10, P50: 2 * time.Microsecond, P99: 4 * time.Microsecond, P999: 6 * time.Microsecond},
				Stream: harness.Stream{Sent: 100, Received: 100, Elapsed: time.Second, Metered: 80}, Allocs: true},
		},
	}
	rep.CheckGoals("base", []harness.Goal{{System: "fast", MaxP50: 0.2}})
	var text, out bytes.Buffer
	require.NoError(t, rep.WriteTable(&text))
	for _, s := range []string{
		"udp target fast: rtt p50 ≤ 0.20× base: 0.20× (met)",
		"udp target fast ahead of base on every row: met",
		"udp target fast: 0 allocs/dgram: 0 (met)",
	} {
		assert.Contains(t, text.String(), s)
	}
	require.NoError(t, rep.WriteCSV(&out))
	recs, err := csv.NewReader(&out).ReadAll()
	require.NoError(t, err)
	require.Len(t, recs, 3)
	assert.Equal(t, []string{"base", "10", "20", "30", "1", "10", "50", "1", "100", "50", "", ""}, recs[1])
	assert.Equal(t, []string{"fast", "2", "4", "6", "0.2", "10", "100", "2", "100", "0", "0", ""}, recs[2])
}
