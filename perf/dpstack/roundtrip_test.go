package dpstack

import (
	"context"
	"io"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/dpstack/dpstack/lcore"
	"github.com/dpstack/dpstack/perf/harness"
)

// BenchmarkBlockingRoundTrip is the blocking API's 64-byte round trip
// between the two hosts of a pair, alone: what make perf's rtt column
// measures for the dpstack blocking row, in a form that go test's
// -cpuprofile and -trace can record.
func BenchmarkBlockingRoundTrip(b *testing.B) {
	if os.Geteuid() != 0 {
		b.Skip("DPDK needs root")
	}
	sys, err := NewBlocking("blocking", Options{})
	require.NoError(b, err)
	defer func() { require.NoError(b, sys.Close()) }()
	ln, err := sys.Listen()
	require.NoError(b, err)
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		io.Copy(c, c)
	}()
	c, err := sys.Dial(context.Background(), ln.Addr())
	require.NoError(b, err)
	defer c.Close()
	msg, buf := make([]byte, 64), make([]byte, 64)
	exchange := func() {
		if _, err := c.Write(msg); err != nil {
			b.Fatal(err)
		}
		if _, err := io.ReadFull(c, buf); err != nil {
			b.Fatal(err)
		}
	}
	for range 1000 {
		exchange() // warm up
	}
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		exchange()
	}
	b.StopTimer()
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N), "ns/roundtrip")
}

// BenchmarkCallbackRoundTrip is the callback API's 64-byte round trip
// between the two hosts of a pair (make perf's rtt column of the dpstack
// callback row), reporting the median as well as the mean.
func BenchmarkCallbackRoundTrip(b *testing.B) {
	if os.Geteuid() != 0 {
		b.Skip("DPDK needs root")
	}
	sys, err := NewCallback("callback", Options{})
	require.NoError(b, err)
	defer func() { require.NoError(b, sys.Close()) }()
	l := harness.DefaultLimits
	l.RTTTime = time.Minute
	b.ReportAllocs()
	loops := []*lcore.Loop{sys.client.Stacks()[0].Loop()}
	if sv := sys.server.Stacks()[0].Loop(); sv != loops[0] {
		loops = append(loops, sv)
	}
	count := func() (tx, rx, turns uint64) {
		for _, lp := range loops {
			tx += lp.Stats().TxPackets.Load()
			rx += lp.Stats().RxPackets.Load()
			turns += lp.Stats().Turns.Load()
		}
		return tx, rx, turns
	}
	p, err := sys.RoundTrip(context.Background(), l)
	require.NoError(b, err)
	defer func() { require.NoError(b, p.Close()) }()
	tx0, rx0, turns0 := count()
	b.ResetTimer()
	lat, err := p.Ping(0, b.N, make([]time.Duration, 0, b.N))
	b.StopTimer()
	tx, rx, turns := count()
	b.ReportMetric(float64(tx-tx0)/float64(b.N), "tx/op")
	b.ReportMetric(float64(rx-rx0)/float64(b.N), "rx/op")
	b.ReportMetric(float64(turns-turns0)/float64(b.N), "turns/op")
	require.NoError(b, err)
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Nanoseconds()), "p50-ns")
}

// BenchmarkCallbackConnections is make perf's conn/s scenario for the
// callback row, b.N connections one after another (connect, one 64-byte
// exchange, the client closes): in a form that callgrind and -benchmem
// can measure per connection.
func BenchmarkCallbackConnections(b *testing.B) {
	if os.Geteuid() != 0 {
		b.Skip("DPDK needs root")
	}
	sys, err := NewCallback("callback", Options{})
	require.NoError(b, err)
	defer func() { require.NoError(b, sys.Close()) }()
	l := harness.DefaultLimits
	l.ConnTime = time.Hour
	l.Conns = b.N
	tx := func() uint64 {
		return sys.client.Stacks()[0].TCP().Stats().OutSegs.Load() + sys.server.Stacks()[0].TCP().Stats().OutSegs.Load()
	}
	b.ReportAllocs()
	tx0 := tx()
	b.ResetTimer()
	r, err := sys.Connections(context.Background(), l)
	b.StopTimer()
	require.NoError(b, err)
	require.Equal(b, b.N, r.N)
	b.ReportMetric(r.PerSecond(), "conn/s")
	b.ReportMetric(float64(tx()-tx0)/float64(b.N), "segs/op")
}
