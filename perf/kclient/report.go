package kclient

import (
	"fmt"
	"github.com/dpstack/dpstack/perf/table"
	"io"
	"time"
)

// Row is one server's results; a zero field was not measured (CPUPer100k
// and IdleCPU: a negative one) and an error says why.
type Row struct {
	System          string
	Baseline        string        // the row its ratios are against; "": the report's
	Ping, PingMax   time.Duration // ping -i 0.002: average and maximum round trip
	Flood           time.Duration // ping -f: average round trip
	RTT             PingPong      // 64-byte ping-pong: TCP echo, or UDP for the floor
	AB, ABKeepAlive float64       // ab requests per second, a connection per request and kept alive
	Wrk             float64       // wrk requests per second
	WrkP50, WrkP99  time.Duration // wrk's latency percentiles
	BodyLen         int           // the HTTP answer's body length, as ab saw it
	CPUPer100k      float64       // server CPU seconds per 100,000 HTTP requests
	IdleCPU         float64       // server CPU while idle, percent of one core
	Errors          []string
}

func (r *Row) fail(what string, err error) {
	r.Errors = append(r.Errors, fmt.Sprintf("%s: %v", what, err))
}

// Report is the results of one run.
type Report struct {
	Rows     []Row
	Baseline string // the row ratios are taken against when a row names none

	FloorPing pingStats // ping through the floor's reflection: two TAP round trips
	Notes     []string
}

type column = table.Column[Row]

var col = table.NewColumn[Row]

func us(d time.Duration) (float64, bool) { return float64(d) / float64(time.Microsecond), d > 0 }

func ratio(a, b float64) (float64, bool) { return a / b, a > 0 && b > 0 }

var columns = []column{
	col("ping avg µs", "ping_avg_us", "%.1f", func(r, _ Row) (float64, bool) { return us(r.Ping) }),
	col("ping max µs", "ping_max_us", "%.0f", func(r, _ Row) (float64, bool) { return us(r.PingMax) }),
	col("flood avg µs", "flood_avg_us", "%.1f", func(r, _ Row) (float64, bool) { return us(r.Flood) }),
	col("rtt p50 µs", "rtt_p50_us", "%.1f", func(r, _ Row) (float64, bool) { return r.RTT.P50, r.RTT.Exchanges > 0 }),
	col("p99 µs", "rtt_p99_us", "%.1f", func(r, _ Row) (float64, bool) { return r.RTT.P99, r.RTT.Exchanges > 0 }),
	col("p99.9 µs", "rtt_p999_us", "%.1f", func(r, _ Row) (float64, bool) { return r.RTT.P999, r.RTT.Exchanges > 0 }),
	col("p50/kernel", "rtt_p50_vs_kernel", "%.2f×", func(r, b Row) (float64, bool) { return ratio(r.RTT.P50, b.RTT.P50) }),
	col("ab req/s", "ab_req_s", "%.0f", func(r, _ Row) (float64, bool) { return r.AB, r.AB > 0 }),
	col("ab/kernel", "ab_vs_kernel", "%.2f×", func(r, b Row) (float64, bool) { return ratio(r.AB, b.AB) }),
	col("ab -k req/s", "ab_keepalive_req_s", "%.0f", func(r, _ Row) (float64, bool) { return r.ABKeepAlive, r.ABKeepAlive > 0 }),
	col("ab -k/kernel", "ab_keepalive_vs_kernel", "%.2f×", func(r, b Row) (float64, bool) { return ratio(r.ABKeepAlive, b.ABKeepAlive) }),
	col("wrk req/s", "wrk_req_s", "%.0f", func(r, _ Row) (float64, bool) { return r.Wrk, r.Wrk > 0 }),
	col("wrk p50 µs", "wrk_p50_us", "%.0f", func(r, _ Row) (float64, bool) { return us(r.WrkP50) }),
	col("wrk p99 µs", "wrk_p99_us", "%.0f", func(r, _ Row) (float64, bool) { return us(r.WrkP99) }),
	col("CPU s/100k req", "server_cpu_s_per_100k_req", "%.2f", func(r, _ Row) (float64, bool) { return r.CPUPer100k, r.CPUPer100k >= 0 }),
	col("idle CPU %", "server_idle_cpu_pct", "%.1f", func(r, _ Row) (float64, bool) { return r.IdleCPU, r.IdleCPU >= 0 }),
}

// base is the row that r's ratios are taken against.
func (rep *Report) base(r Row) Row {
	name := r.Baseline
	if name == "" {
		name = rep.Baseline
	}
	for _, b := range rep.Rows {
		if b.System == name {
			return b
		}
	}
	return Row{}
}

// table is the report as a table.Table.
func (rep *Report) table() table.Table[Row] {
	return table.Table[Row]{
		Columns: columns,
		Rows:    rep.Rows,
		Name:    func(r Row) string { return r.System },
		Errors:  func(r Row) []string { return r.Errors },
		Base:    rep.base,
	}
}

// WriteTable prints the table, the errors, what the rows call for and
// the notes.
func (rep *Report) WriteTable(w io.Writer) error {
	return rep.table().WriteText(w, append(rep.findings(), rep.Notes...))
}

// findings are the notes the rows themselves call for: whether every
// server answered the same HTTP body, and the floor's ping.
func (rep *Report) findings() []string {
	var notes []string
	lens := map[int][]string{}
	for _, r := range rep.Rows {
		if r.BodyLen > 0 {
			lens[r.BodyLen] = append(lens[r.BodyLen], r.System)
		}
	}
	switch {
	case len(lens) == 1:
		for n := range lens {
			notes = append(notes, fmt.Sprintf("HTTP: every server answered GET / with the same %d-byte body", n))
		}
	case len(lens) > 1:
		notes = append(notes, fmt.Sprintf("HTTP: the servers' bodies differ in length (bytes: rows) %v: the HTTP columns do not compare like with like", lens))
	}
	if p := rep.FloorPing; p.avg > 0 {
		notes = append(notes, fmt.Sprintf("floor: 5tswap reflects an echo request as a request to the namespace, which the kernel answers "+
			"and testpmd reflects again, so ping there crosses the TAP twice (avg %.0f µs, max %.0f µs) and is left out; "+
			"the floor's rtt columns are a 64-byte UDP ping-pong, one TAP round trip",
			float64(p.avg)/1e3, float64(p.max)/1e3))
	}
	return notes
}

// WriteCSV writes the table with full-precision numbers, an empty cell
// where a value was not measured, and the errors in a last column.
func (rep *Report) WriteCSV(w io.Writer) error { return rep.table().WriteCSV(w) }
