package dpstack

import (
	"bytes"
	"context"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dpstack/dpstack/perf/harness"
)

// TestUDPSystems runs the UDP scenarios of both APIs: every round trip
// answered, the stream counted, and no allocation per datagram. The
// meter counts the whole process's allocations, and now and then one
// lands in the window (a blocking row saw 1 in 17,000 datagrams), so the
// bound is one per thousand datagrams; api.TestUDPConnAllocs holds each
// call to zero.
func TestUDPSystems(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("DPDK needs root")
	}
	l := harness.Limits{Warmup: 10, Exchanges: 200, Rounds: 2, RTTTime: time.Second,
		Datagrams: 20000, StreamTime: time.Second, Grace: 5 * time.Second}
	for _, mk := range []func() (harness.UDPSystem, error){
		func() (harness.UDPSystem, error) { return NewUDPBlocking("blocking", Options{}) },
		func() (harness.UDPSystem, error) { return NewUDPCallback("callback", Options{}) },
	} {
		sys, err := mk()
		require.NoError(t, err)
		t.Run(sys.Name(), func(t *testing.T) {
			lat, errs := harness.RoundTrips([]harness.UDPSystem{sys}, l, &bytes.Buffer{})
			require.NoError(t, errs[0])
			assert.Equal(t, 200, lat[0].N)
			st, err := sys.Stream(context.Background(), l)
			require.NoError(t, err)
			assert.Positive(t, st.Received)
			a, ok := st.AllocsPerDatagram()
			assert.True(t, ok)
			assert.Less(t, a, 1e-3)
		})
		require.NoError(t, sys.Close()) // the pool back at zero in use
	}
}
