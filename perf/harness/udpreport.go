package harness

import (
	"fmt"
	"io"

	"github.com/dpstack/dpstack/perf/table"
)

// UDPRow is one system's UDP results; a zero field was not measured and
// an error says why.
type UDPRow struct {
	System string
	RTT    Latency
	Stream Stream
	// Allocs, when set, puts the stream's allocations per datagram in
	// the table (the dpstack rows: its data path allocates nothing).
	Allocs bool
	Errors []string
}

// Fail records that scenario failed with err.
func (r *UDPRow) Fail(scenario string, err error) {
	r.Errors = append(r.Errors, fmt.Sprintf("%s: %v", scenario, err))
}

var udpCol = table.NewColumn[UDPRow]

func rttOK(r UDPRow) bool    { return r.RTT.N > 0 }
func streamOK(r UDPRow) bool { return r.Stream.Received > 0 }

var udpColumns = []table.Column[UDPRow]{
	udpCol("udp rtt p50 µs", "udp_rtt_p50_us", "%.1f", func(r, _ UDPRow) (float64, bool) { return us(r.RTT.P50), rttOK(r) }),
	udpCol("p99 µs", "udp_rtt_p99_us", "%.1f", func(r, _ UDPRow) (float64, bool) { return us(r.RTT.P99), rttOK(r) }),
	udpCol("p99.9 µs", "udp_rtt_p999_us", "%.1f", func(r, _ UDPRow) (float64, bool) { return us(r.RTT.P999), rttOK(r) }),
	udpCol("p50/kernel", "udp_rtt_p50_vs_kernel", "%.2f×", func(r, b UDPRow) (float64, bool) { return ratio(us(r.RTT.P50), us(b.RTT.P50)) }),
	udpCol("exchanges", "udp_rtt_exchanges", "%.0f", func(r, _ UDPRow) (float64, bool) { return float64(r.RTT.N), rttOK(r) }),
	udpCol("dgram/s", "udp_dgram_per_s", "%.0f", func(r, _ UDPRow) (float64, bool) { return r.Stream.PerSecond(), streamOK(r) }),
	udpCol("dgram/kernel", "udp_dgram_vs_kernel", "%.2f×", func(r, b UDPRow) (float64, bool) {
		return ratio(r.Stream.PerSecond(), b.Stream.PerSecond())
	}),
	udpCol("sent", "udp_dgram_sent", "%.0f", func(r, _ UDPRow) (float64, bool) { return float64(r.Stream.Sent), r.Stream.Sent > 0 }),
	udpCol("lost %", "udp_dgram_lost_pct", "%.1f", func(r, _ UDPRow) (float64, bool) { return 100 * r.Stream.Lost(), r.Stream.Sent > 0 }),
	udpCol("allocs/dgram", "udp_allocs_per_dgram", "%.3g", func(r, _ UDPRow) (float64, bool) {
		a, ok := r.Stream.AllocsPerDatagram()
		return a, ok && r.Allocs
	}),
}

var udpContests = []contest[UDPRow]{
	{"udp rtt p50", func(r UDPRow) (float64, bool) { return us(r.RTT.P50), rttOK(r) }, true},
	{"udp rtt p99", func(r UDPRow) (float64, bool) { return us(r.RTT.P99), rttOK(r) }, true},
	{"udp rtt p99.9", func(r UDPRow) (float64, bool) { return us(r.RTT.P999), rttOK(r) }, true},
	{"dgram/s", func(r UDPRow) (float64, bool) { return r.Stream.PerSecond(), streamOK(r) }, false},
}

// UDPReport is the UDP results of one run: perf's second table.
type UDPReport struct {
	Rows     []UDPRow
	Baseline string // the row ratios are taken against (the kernel's)
	Notes    []string
}

func (rep *UDPReport) row(name string) (UDPRow, bool) {
	for _, r := range rep.Rows {
		if r.System == name {
			return r, true
		}
	}
	return UDPRow{}, false
}

func (rep *UDPReport) table() table.Table[UDPRow] {
	base, _ := rep.row(rep.Baseline)
	return table.Table[UDPRow]{
		Columns: udpColumns,
		Rows:    rep.Rows,
		Name:    func(r UDPRow) string { return r.System },
		Errors:  func(r UDPRow) []string { return r.Errors },
		Base:    func(UDPRow) UDPRow { return base },
	}
}

// WriteTable prints the table, the errors and the notes.
func (rep *UDPReport) WriteTable(w io.Writer) error { return rep.table().WriteText(w, rep.Notes) }

// WriteCSV writes the table as Report.WriteCSV writes the first.
func (rep *UDPReport) WriteCSV(w io.Writer) error { return rep.table().WriteCSV(w) }

// CheckGoals adds to the notes, for each goal, whether it was met: the
// round-trip p50 against the baseline, ahead of rival on every column,
// and no allocation per datagram.
func (rep *UDPReport) CheckGoals(rival string, goals []Goal) {
	base, haveBase := rep.row(rep.Baseline)
	riv, haveRival := rep.row(rival)
	for _, g := range goals {
		r, ok := rep.row(g.System)
		if !ok {
			continue
		}
		if g.MaxP50 > 0 && haveBase {
			rep.Notes = append(rep.Notes, "udp "+p50Note(g, rep.Baseline, r.RTT, base.RTT))
		}
		if haveRival {
			rep.Notes = append(rep.Notes, "udp "+rivalNote(g.System, rival, r, riv, udpContests))
		}
		if a, ok := r.Stream.AllocsPerDatagram(); ok && r.Allocs {
			rep.Notes = append(rep.Notes, fmt.Sprintf("udp target %s: 0 allocs/dgram: %.3g (%s)", g.System, a, verdict(a == 0)))
		}
	}
}
