// Package sockperf reads the summary the sockperf client prints, for the
// tests and the perf table that run it against dpstack.
package sockperf

import (
	"fmt"
	"regexp"
	"strconv"
	"time"
)

// Summary is what a sockperf client run reports. The latencies are
// sockperf's: half the round trip (ping-pong, under-load). Rate is the
// message rate of a throughput run.
type Summary struct {
	Sent, Received int
	Avg            time.Duration
	P50, P99, P999 time.Duration
	Rate           float64 // messages per second
	HasLatency     bool
	HasRate        bool
}

var (
	countsRE = regexp.MustCompile(`SentMessages=(\d+); ReceivedMessages=(\d+)`)
	avgRE    = regexp.MustCompile(`avg-latency=([0-9.]+)`)
	pctRE    = regexp.MustCompile(`percentile (\d+\.\d+) =\s*([0-9.]+)`)
	rateRE   = regexp.MustCompile(`Message Rate is (\d+) \[msg/sec\]`)
	sentRE   = regexp.MustCompile(`Total of (\d+) messages sent`)
)

// Parse reads a client's output (stdout and stderr together). A latency
// run must report its counts, average and the 50th, 99th and 99.9th
// percentiles; a throughput run its messages sent and rate.
func Parse(out string) (Summary, error) {
	var s Summary
	if m := rateRE.FindStringSubmatch(out); m != nil {
		s.Rate, _ = strconv.ParseFloat(m[1], 64)
		s.HasRate = true
		if m := sentRE.FindStringSubmatch(out); m != nil {
			s.Sent, _ = strconv.Atoi(m[1])
		}
		return s, nil
	}
	m := countsRE.FindStringSubmatch(out)
	a := avgRE.FindStringSubmatch(out)
	if m == nil || a == nil {
		return s, fmt.Errorf("sockperf: no summary in its output:\n%s", out)
	}
	s.Sent, _ = strconv.Atoi(m[1])
	s.Received, _ = strconv.Atoi(m[2])
	s.Avg = usec(a[1])
	for _, p := range pctRE.FindAllStringSubmatch(out, -1) {
		switch p[1] {
		case "50.000":
			s.P50 = usec(p[2])
		case "99.000":
			s.P99 = usec(p[2])
		case "99.900":
			s.P999 = usec(p[2])
		}
	}
	if s.P50 == 0 || s.P99 == 0 || s.P999 == 0 {
		return s, fmt.Errorf("sockperf: percentiles 50, 99, 99.9 missing from:\n%s", out)
	}
	s.HasLatency = true
	return s, nil
}

// usec converts sockperf's microseconds with decimals.
func usec(s string) time.Duration {
	f, _ := strconv.ParseFloat(s, 64)
	return time.Duration(f * float64(time.Microsecond))
}
