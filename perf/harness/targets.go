package harness

import (
	"fmt"
	"strings"
)

// Goal is a target for one system: its round-trip p50 at most MaxP50 times
// the baseline's, and ahead of the rival system on every measured column.
type Goal struct {
	System string
	MaxP50 float64 // 0: no latency target
}

// contest is one column on which two systems are compared.
type contest struct {
	name        string
	value       func(Row) (float64, bool)
	lowerBetter bool
}

var contests = []contest{
	{"rtt p50", func(r Row) (float64, bool) { return us(r.RTT.P50), r.RTT.N > 0 }, true},
	{"rtt p99", func(r Row) (float64, bool) { return us(r.RTT.P99), r.RTT.N > 0 }, true},
	{"rtt p99.9", func(r Row) (float64, bool) { return us(r.RTT.P999), r.RTT.N > 0 }, true},
	{"conn/s", func(r Row) (float64, bool) { return r.Conns.PerSecond(), r.Conns.N > 0 }, false},
	{"bulk", func(r Row) (float64, bool) { return r.Bulk.Mbps(), r.Bulk.Bytes > 0 }, false},
	{"bulk lossy", func(r Row) (float64, bool) { return r.BulkLoss.Mbps(), r.BulkLoss.Bytes > 0 }, false},
}

// CheckGoals adds to the report's notes, for each goal, whether it was met
// in this run: the p50 ratio against the baseline, and the columns on which
// the system is ahead of or behind rival.
func (rep *Report) CheckGoals(rival string, goals []Goal) {
	base, haveBase := rep.row(rep.Baseline)
	riv, haveRival := rep.row(rival)
	for _, g := range goals {
		r, ok := rep.row(g.System)
		if !ok {
			continue
		}
		if g.MaxP50 > 0 && haveBase {
			if q, ok := ratio(us(r.RTT.P50), us(base.RTT.P50)); ok {
				rep.Notes = append(rep.Notes, fmt.Sprintf("target %s: rtt p50 ≤ %.2f× %s: %.2f× (%s)",
					g.System, g.MaxP50, rep.Baseline, q, verdict(q <= g.MaxP50)))
			} else {
				rep.Notes = append(rep.Notes, fmt.Sprintf("target %s: rtt p50 ≤ %.2f× %s: not measured", g.System, g.MaxP50, rep.Baseline))
			}
		}
		if !haveRival {
			continue
		}
		var ahead, behind []string
		for _, c := range contests {
			a, okA := c.value(r)
			b, okB := c.value(riv)
			if !okA || !okB {
				continue
			}
			cell := fmt.Sprintf("%s %.4g vs %.4g", c.name, a, b)
			if (a < b) == c.lowerBetter && a != b {
				ahead = append(ahead, cell)
			} else {
				behind = append(behind, cell)
			}
		}
		rep.Notes = append(rep.Notes, fmt.Sprintf("target %s ahead of %s on every row: %s; ahead: [%s]; behind: [%s]",
			g.System, rival, verdict(len(behind) == 0 && len(ahead) > 0), strings.Join(ahead, ", "), strings.Join(behind, ", ")))
	}
}

func verdict(met bool) string {
	if met {
		return "met"
	}
	return "missed"
}
