package harness

import (
	"encoding/csv"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// column is one column of the table: its heading in the printed table and
// in the CSV file, and its value for a row given the baseline row.
type column struct {
	head, csv string
	format    string // fmt verb for the printed table
	value     func(r, base Row) (float64, bool)
}

func us(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }

func ratio(a, b float64) (float64, bool) { return a / b, a > 0 && b > 0 }

var columns = []column{
	{"rtt p50 µs", "rtt_p50_us", "%.1f", func(r, _ Row) (float64, bool) { return us(r.RTT.P50), r.RTT.N > 0 }},
	{"p99 µs", "rtt_p99_us", "%.1f", func(r, _ Row) (float64, bool) { return us(r.RTT.P99), r.RTT.N > 0 }},
	{"p99.9 µs", "rtt_p999_us", "%.1f", func(r, _ Row) (float64, bool) { return us(r.RTT.P999), r.RTT.N > 0 }},
	{"p50/kernel", "rtt_p50_vs_kernel", "%.2f×", func(r, b Row) (float64, bool) { return ratio(us(r.RTT.P50), us(b.RTT.P50)) }},
	{"exchanges", "rtt_exchanges", "%.0f", func(r, _ Row) (float64, bool) { return float64(r.RTT.N), r.RTT.N > 0 }},
	{"conn/s", "conn_per_s", "%.0f", func(r, _ Row) (float64, bool) { return r.Conns.PerSecond(), r.Conns.N > 0 }},
	{"conn/kernel", "conn_vs_kernel", "%.2f×", func(r, b Row) (float64, bool) { return ratio(r.Conns.PerSecond(), b.Conns.PerSecond()) }},
	{"bulk Mbit/s", "bulk_mbit_s", "%.0f", func(r, _ Row) (float64, bool) { return r.Bulk.Mbps(), r.Bulk.Bytes > 0 }},
	{"bulk/kernel", "bulk_vs_kernel", "%.2f×", func(r, b Row) (float64, bool) { return ratio(r.Bulk.Mbps(), b.Bulk.Mbps()) }},
	{"{loss} Mbit/s", "bulk_lossy_mbit_s", "%.0f", func(r, _ Row) (float64, bool) { return r.BulkLoss.Mbps(), r.BulkLoss.Bytes > 0 }},
	{"allocs/seg", "allocs_per_segment", "%.3g", func(r, _ Row) (float64, bool) { return r.AllocsPerSeg, r.AllocsPerSeg >= 0 }},
	{"rx ns/pkt", "rx_ns_per_pkt", "%.0f", func(r, _ Row) (float64, bool) { return r.RxNsPerPkt, r.RxNsPerPkt > 0 }},
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
	return strings.ReplaceAll(c.head, "{loss}", strconv.FormatFloat(100*rep.Loss, 'g', 3, 64)+"% loss")
}

func (rep *Report) row(name string) (Row, bool) {
	for _, r := range rep.Rows {
		if r.System == name {
			return r, true
		}
	}
	return Row{}, false
}

// WriteTable prints the table, the errors and the notes.
func (rep *Report) WriteTable(w io.Writer) error {
	base, _ := rep.row(rep.Baseline)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	heads := []string{"system"}
	for _, c := range columns {
		heads = append(heads, rep.heading(c))
	}
	// Right-aligned numbers, a left-aligned first column.
	pad := 0
	for _, r := range rep.Rows {
		pad = max(pad, len(r.System))
	}
	heads[0] = fmt.Sprintf("%-*s", pad, heads[0])
	fmt.Fprintln(tw, strings.Join(heads, "\t")+"\t")
	for _, r := range rep.Rows {
		cells := []string{fmt.Sprintf("%-*s", pad, r.System)}
		for _, c := range columns {
			cell := "-"
			if v, ok := c.value(r, base); ok {
				cell = fmt.Sprintf(c.format, v)
			}
			cells = append(cells, cell)
		}
		fmt.Fprintln(tw, strings.Join(cells, "\t")+"\t")
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, r := range rep.Rows {
		for _, e := range r.Errors {
			fmt.Fprintf(w, "error: %s: %s\n", r.System, e)
		}
	}
	for _, n := range rep.Notes {
		fmt.Fprintln(w, n)
	}
	return nil
}

// WriteCSV writes the table with full-precision numbers, an empty cell
// where a value was not measured, and the errors in a last column.
func (rep *Report) WriteCSV(w io.Writer) error {
	base, _ := rep.row(rep.Baseline)
	cw := csv.NewWriter(w)
	heads := []string{"system"}
	for _, c := range columns {
		heads = append(heads, c.csv)
	}
	if err := cw.Write(append(heads, "errors")); err != nil {
		return err
	}
	for _, r := range rep.Rows {
		rec := []string{r.System}
		for _, c := range columns {
			cell := ""
			if v, ok := c.value(r, base); ok {
				cell = strconv.FormatFloat(v, 'g', 6, 64)
			}
			rec = append(rec, cell)
		}
		if err := cw.Write(append(rec, strings.Join(r.Errors, "; "))); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}
