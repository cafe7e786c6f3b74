package kclient

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// PingPong is what cmd/pingpong prints, as JSON: how many timed exchanges
// there were, their nearest-rank percentiles in microseconds, and, over
// UDP, how many datagrams got no answer in time.
type PingPong struct {
	Exchanges int     `json:"exchanges"`
	P50       float64 `json:"p50_us"`
	P99       float64 `json:"p99_us"`
	P999      float64 `json:"p999_us"`
	Lost      int     `json:"lost"`
}

// pingStats is ping's summary: echo requests sent and answered, and the
// round trips' average and maximum.
type pingStats struct {
	sent, received int
	avg, max       time.Duration
}

var (
	pingCountRE = regexp.MustCompile(`(\d+) packets transmitted, (\d+) received`)
	pingRTTRE   = regexp.MustCompile(`rtt min/avg/max/mdev = ([\d.]+)/([\d.]+)/([\d.]+)/([\d.]+) ms`)
)

// parsePing reads the summary lines of iputils ping.
func parsePing(out string) (pingStats, error) {
	c := pingCountRE.FindStringSubmatch(out)
	r := pingRTTRE.FindStringSubmatch(out)
	if c == nil || r == nil {
		return pingStats{}, fmt.Errorf("no summary in ping's output: %.200q", out)
	}
	var s pingStats
	s.sent, _ = strconv.Atoi(c[1])
	s.received, _ = strconv.Atoi(c[2])
	s.avg, s.max = millis(r[2]), millis(r[3])
	return s, nil
}

func millis(s string) time.Duration {
	v, _ := strconv.ParseFloat(s, 64)
	return time.Duration(v * float64(time.Millisecond))
}

// abStats is ab's summary.
type abStats struct {
	complete, failed, non2xx int
	bodyLen                  int // "Document Length"
	perSecond                float64
	p50, p99                 time.Duration // from the percentiles file (ab -e)
}

var (
	abCompleteRE = regexp.MustCompile(`Complete requests:\s+(\d+)`)
	abFailedRE   = regexp.MustCompile(`Failed requests:\s+(\d+)`)
	abNon2xxRE   = regexp.MustCompile(`Non-2xx responses:\s+(\d+)`)
	abBodyRE     = regexp.MustCompile(`Document Length:\s+(\d+) bytes`)
	abRateRE     = regexp.MustCompile(`Requests per second:\s+([\d.]+)`)
)

// parseAB reads ab's report.
func parseAB(out string) (abStats, error) {
	rate := abRateRE.FindStringSubmatch(out)
	done := abCompleteRE.FindStringSubmatch(out)
	if rate == nil || done == nil {
		return abStats{}, fmt.Errorf("no \"Requests per second\" in ab's output: %.300q", out)
	}
	var s abStats
	s.perSecond, _ = strconv.ParseFloat(rate[1], 64)
	s.complete, _ = strconv.Atoi(done[1])
	for re, v := range map[*regexp.Regexp]*int{abFailedRE: &s.failed, abNon2xxRE: &s.non2xx, abBodyRE: &s.bodyLen} {
		if m := re.FindStringSubmatch(out); m != nil {
			*v, _ = strconv.Atoi(m[1])
		}
	}
	return s, nil
}

// parseABPercentiles reads the file "ab -e" writes: a header line, then
// "percent,milliseconds" for every percent from 0 to 100.
func parseABPercentiles(csv string) (p50, p99 time.Duration, err error) {
	for _, line := range strings.Split(csv, "\n") {
		pct, ms, ok := strings.Cut(strings.TrimSpace(line), ",")
		if !ok || (pct != "50" && pct != "99") {
			continue
		}
		v, err := strconv.ParseFloat(ms, 64)
		if err != nil {
			return 0, 0, fmt.Errorf("ab percentiles: %q: %w", line, err)
		}
		d := time.Duration(v * float64(time.Millisecond))
		if pct == "50" {
			p50 = d
		} else {
			p99 = d
		}
	}
	if p50 == 0 || p99 == 0 {
		return 0, 0, fmt.Errorf("ab percentiles: no 50 %% and 99 %% lines in %.200q", csv)
	}
	return p50, p99, nil
}

// wrkStats is wrk's summary, with --latency.
type wrkStats struct {
	requests  int
	errors    int // socket errors of every kind, and non-2xx/3xx answers
	perSecond float64
	p50, p99  time.Duration
}

var (
	wrkRequestsRE = regexp.MustCompile(`(\d+) requests in `)
	wrkRateRE     = regexp.MustCompile(`Requests/sec:\s+([\d.]+)`)
	wrkSocketRE   = regexp.MustCompile(`Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)`)
	wrkNon2xxRE   = regexp.MustCompile(`Non-2xx or 3xx responses: (\d+)`)
	wrkPctRE      = regexp.MustCompile(`(?m)^\s+(50|99)%\s+([\d.]+)(us|ms|s)\s*$`)
)

// parseWrk reads wrk's report.
func parseWrk(out string) (wrkStats, error) {
	rate := wrkRateRE.FindStringSubmatch(out)
	n := wrkRequestsRE.FindStringSubmatch(out)
	if rate == nil || n == nil {
		return wrkStats{}, fmt.Errorf("no \"Requests/sec\" in wrk's output: %.300q", out)
	}
	var s wrkStats
	s.perSecond, _ = strconv.ParseFloat(rate[1], 64)
	s.requests, _ = strconv.Atoi(n[1])
	if m := wrkSocketRE.FindStringSubmatch(out); m != nil {
		for _, v := range m[1:] {
			k, _ := strconv.Atoi(v)
			s.errors += k
		}
	}
	if m := wrkNon2xxRE.FindStringSubmatch(out); m != nil {
		k, _ := strconv.Atoi(m[1])
		s.errors += k
	}
	for _, m := range wrkPctRE.FindAllStringSubmatch(out, -1) {
		v, _ := strconv.ParseFloat(m[2], 64)
		unit := map[string]time.Duration{"us": time.Microsecond, "ms": time.Millisecond, "s": time.Second}[m[3]]
		d := time.Duration(v * float64(unit))
		if m[1] == "50" {
			s.p50 = d
		} else {
			s.p99 = d
		}
	}
	if s.p50 == 0 || s.p99 == 0 {
		return s, fmt.Errorf("no latency distribution in wrk's output (--latency): %.300q", out)
	}
	return s, nil
}

// oneLine shortens a command's output for an error message.
func oneLine(out string) string {
	out = strings.Join(strings.Fields(out), " ")
	if len(out) > 300 {
		out = out[len(out)-300:]
	}
	return out
}
