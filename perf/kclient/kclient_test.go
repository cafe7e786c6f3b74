package kclient

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParsePing(t *testing.T) {
	out := `PING 198.19.2.2 (198.19.2.2) 56(84) bytes of data.

--- 198.19.2.2 ping statistics ---
50 packets transmitted, 49 received, 2% packet loss, time 97ms
rtt min/avg/max/mdev = 0.001/0.004/0.108/0.014 ms
`
	s, err := parsePing(out)
	require.NoError(t, err)
	assert.Equal(t, pingStats{sent: 50, received: 49, avg: 4 * time.Microsecond, max: 108 * time.Microsecond}, s)
	_, err = parsePing("ping: connect: Network is unreachable\n")
	assert.Error(t, err)
}

func TestParseAB(t *testing.T) {
	out := `Document Path:          /
Document Length:        19 bytes

Concurrency Level:      10
Time taken for tests:   0.012 seconds
Complete requests:      500
Failed requests:        3
Non-2xx responses:      2
Keep-Alive requests:    500
Requests per second:    40584.42 [#/sec] (mean)
Time per request:       0.246 [ms] (mean)
`
	s, err := parseAB(out)
	require.NoError(t, err)
	assert.Equal(t, abStats{complete: 500, failed: 3, non2xx: 2, bodyLen: 19, perSecond: 40584.42}, s)
	_, err = parseAB("apr_socket_recv: Connection refused (111)\n")
	assert.Error(t, err)
}

func TestParseABPercentiles(t *testing.T) {
	var csv strings.Builder
	csv.WriteString("Percentage served,Time in ms\n")
	for p := 0; p <= 100; p++ {
		fmt.Fprintf(&csv, "%d,%.3f\n", p, 0.1+float64(p)/100)
	}
	p50, p99, err := parseABPercentiles(csv.String())
	require.NoError(t, err)
	assert.Equal(t, 600*time.Microsecond, p50)
	assert.Equal(t, 1090*time.Microsecond, p99)
	_, _, err = parseABPercentiles("Percentage served,Time in ms\n")
	assert.Error(t, err, "ab wrote no percentiles (it failed before the first request)")
}

// TestProxyTableAgainstHAProxy: each row's ratios are against the
// HAProxy row of its placement, wherever that row is.
func TestProxyTableAgainstHAProxy(t *testing.T) {
	pinned := proxyPlacements[1].label
	rep := &ProxyReport{Rows: []ProxyRow{
		{System: GoProxyRow, Baseline: HAProxyRow, Wrk: 30000, WrkP99: 200 * time.Microsecond, AB: 5000, CPUPer100k: -1},
		{System: HAProxyRow, Baseline: HAProxyRow, Wrk: 20000, WrkP99: 400 * time.Microsecond, AB: 10000, CPUPer100k: 1.5},
		{System: ProxyAdaptive + pinned, Baseline: HAProxyRow + pinned, Wrk: 90000, CPUPer100k: -1},
		{System: HAProxyRow + pinned, Baseline: HAProxyRow + pinned, Wrk: 40000, CPUPer100k: -1},
	}}
	var text strings.Builder
	require.NoError(t, rep.WriteTable(&text))
	lines := strings.Split(text.String(), "\n")
	require.GreaterOrEqual(t, len(lines), 5)
	assert.Contains(t, lines[1], "1.50×", "wrk against HAProxy's row, which is not the first")
	assert.Contains(t, lines[1], "0.50×", "ab and p99 against HAProxy's row")
	assert.Contains(t, lines[3], "2.25×", "wrk against the HAProxy row of the same placement")
}

func TestParseWrk(t *testing.T) {
	out := `Running 1s test @ http://198.19.2.2:8080/
  1 threads and 10 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency   317.05us  756.56us  10.55ms   92.43%
    Req/Sec    82.74k     5.07k   90.81k    54.55%
  Latency Distribution
     50%   96.00us
     75%  157.00us
     90%  655.00us
     99%    3.86ms
  90348 requests in 1.10s, 11.72MB read
  Socket errors: connect 1, read 2, write 0, timeout 3
Requests/sec:  82117.52
Transfer/sec:     10.65MB
`
	s, err := parseWrk(out)
	require.NoError(t, err)
	assert.Equal(t, wrkStats{requests: 90348, errors: 6, perSecond: 82117.52, p50: 96 * time.Microsecond, p99: 3860 * time.Microsecond}, s)
	_, err = parseWrk(wrkPctRE.ReplaceAllString(out, "")) // run without --latency
	assert.Error(t, err)
}

func TestParseStatCPU(t *testing.T) {
	// The command name may hold spaces and parentheses.
	stat := "4242 (a b) c) S 1 4242 4242 0 -1 4194560 1000 0 0 0 250 125 0 0 20 0 5 0 100 1000000 500 18446744073709551615"
	d, err := parseStatCPU(stat)
	require.NoError(t, err)
	assert.Equal(t, 3750*time.Millisecond, d)
	_, err = parseStatCPU("4242 (x) S 1")
	assert.Error(t, err)
}

func TestWatchAcrossWrites(t *testing.T) {
	w := &watch{want: []byte("dpstack up"), seen: make(chan struct{})}
	for _, p := range []string{"level=INFO msg=\"dps", "tack", " up\" port=net_tap0\n"} {
		w.Write([]byte(p))
	}
	select {
	case <-w.seen:
	default:
		t.Fatal("a ready line written in three pieces was not seen")
	}
	w = &watch{want: []byte("dpstack up"), seen: make(chan struct{})}
	w.Write([]byte("dpstack starting\n"))
	select {
	case <-w.seen:
		t.Fatal("seen without the ready line")
	default:
	}
}

func TestReportRatiosAndFindings(t *testing.T) {
	rep := &Report{Baseline: KernelRow, Rows: []Row{
		{System: KernelRow, RTT: PingPong{Exchanges: 10, P50: 20}, AB: 1000, BodyLen: 19, CPUPer100k: 1, IdleCPU: 0},
		{System: AdaptiveRow, RTT: PingPong{Exchanges: 10, P50: 10}, AB: 500, BodyLen: 19, CPUPer100k: -1, IdleCPU: -1,
			Errors: []string{"wrk: boom"}},
	}}
	var b strings.Builder
	require.NoError(t, rep.WriteTable(&b))
	assert.Contains(t, b.String(), "0.50×")
	assert.Contains(t, b.String(), "error: "+AdaptiveRow+": wrk: boom")
	assert.Contains(t, b.String(), "same 19-byte body")
	b.Reset()
	require.NoError(t, rep.WriteCSV(&b))
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	require.Len(t, lines, 3)
	assert.True(t, strings.HasPrefix(lines[2], AdaptiveRow+",,,,10,"), lines[2])
	assert.True(t, strings.HasSuffix(lines[2], ",,wrk: boom"), lines[2])
}

// TestReportRowBaseline: a row that names its baseline takes its ratios
// against that row, not the report's.
func TestReportRowBaseline(t *testing.T) {
	pinned := KernelRow + placements[1].label
	rep := &Report{Baseline: KernelRow, Rows: []Row{
		{System: KernelRow, AB: 1000, CPUPer100k: -1, IdleCPU: -1},
		{System: pinned, AB: 400, CPUPer100k: -1, IdleCPU: -1},
		{System: AdaptiveRow + placements[1].label, Baseline: pinned, AB: 1200, CPUPer100k: -1, IdleCPU: -1},
	}}
	var b strings.Builder
	require.NoError(t, rep.WriteTable(&b))
	assert.Contains(t, b.String(), "3.00×")
	assert.NotContains(t, b.String(), "1.20×")
}
