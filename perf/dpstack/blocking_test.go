package dpstack

import (
	"context"
	"io"
	"os"
	"testing"

	"github.com/stretchr/testify/require"
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

