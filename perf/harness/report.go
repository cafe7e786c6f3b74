package harness

import (
	"github.com/dpstack/dpstack/perf/table"
	"io"
	"strconv"
	"strings"
	"time"
)

type column = table.Column[Row]

var col = table.NewColumn[Row]

func us(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }

func ratio(a, b float64) (float64, bool) { return a / b, a > 0 && b > 0 }

var columns = []column{
	col("rtt p50 µs", "rtt_p50_us", "%.1f", func(r, _ Row) (float64, bool) { return us(r.RTT.P50), r.RTT.N > 0 }),
	col("p99 µs", "rtt_p99_us", "%.1f", func(r, _ Row) (float64, bool) { return us(r.RTT.P99), r.RTT.N > 0 }),
	col("p99.9 µs", "rtt_p999_us", "%.1f", func(r, _ Row) (float64, bool) { return us(r.RTT.P999), r.RTT.N > 0 }),
	col("p50/kernel", "rtt_p50_vs_kernel", "%.2f×", func(r, b Row) (float64, bool) { return ratio(us(r.RTT.P50), us(b.RTT.P50)) }),
	col("exchanges", "rtt_exchanges", "%.0f", func(r, _ Row) (float64, bool) { return float64(r.RTT.N), r.RTT.N > 0 }),
	col("conn/s", "conn_per_s", "%.0f", func(r, _ Row) (float64, bool) { return r.Conns.PerSecond(), r.Conns.N > 0 }),
	col("conn/kernel", "conn_vs_kernel", "%.2f×", func(r, b Row) (float64, bool) { return ratio(r.Conns.PerSecond(), b.Conns.PerSecond()) }),
	col("bulk Mbit/s", "bulk_mbit_s", "%.0f", func(r, _ Row) (float64, bool) { return r.Bulk.Mbps(), r.Bulk.Bytes > 0 }),
	col("bulk/kernel", "bulk_vs_kernel", "%.2f×", func(r, b Row) (float64, bool) { return ratio(r.Bulk.Mbps(), b.Bulk.Mbps()) }),
	col("{loss} Mbit/s", "bulk_lossy_mbit_s", "%.0f", func(r, _ Row) (float64, bool) { return r.BulkLoss.Mbps(), r.BulkLoss.Bytes > 0 }),
	col("allocs/seg", "allocs_per_segment", "%.3g", func(r, _ Row) (float64, bool) { return r.AllocsPerSeg, r.AllocsPerSeg >= 0 }),
	col("rx ns/pkt", "rx_ns_per_pkt", "%.0f", func(r, _ Row) (float64, bool) { return r.RxNsPerPkt, r.RxNsPerPkt > 0 }),
}

// Report is the results of one run.
type Report struct {
	Rows     []Row
	Baseline string  // the row ratios are taken against (the kernel's)
	Loss     float64 // the lossy links' drop rate, for the lossy column's heading
	Notes    []string
}

// heading is a column's heading in the printed table.
func (rep *Report) heading(c column) string {
	return strings.ReplaceAll(c.Head, "{loss}", strconv.FormatFloat(100*rep.Loss, 'g', 3, 64)+"% loss")
}

func (rep *Report) row(name string) (Row, bool) {
	for _, r := range rep.Rows {
		if r.System == name {
			return r, true
		}
	}
	return Row{}, false
}

// table is the report as a table.Table.
func (rep *Report) table() table.Table[Row] {
	base, _ := rep.row(rep.Baseline)
	return table.Table[Row]{
		Columns: columns,
		Rows:    rep.Rows,
		Name:    func(r Row) string { return r.System },
		Errors:  func(r Row) []string { return r.Errors },
		Base:    func(Row) Row { return base },
		Heading: rep.heading,
	}
}

// WriteTable prints the table, the errors and the notes.
func (rep *Report) WriteTable(w io.Writer) error { return rep.table().WriteText(w, rep.Notes) }

// WriteCSV writes the table with full-precision numbers, an empty cell
// where a value was not measured, and the errors in a last column.
func (rep *Report) WriteCSV(w io.Writer) error { return rep.table().WriteCSV(w) }
