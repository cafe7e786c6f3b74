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

// contest is one column of rows of type R on which two systems are
// compared.
type contest[R any] struct {
	name        string
	value       func(R) (float64, bool)
	lowerBetter bool
}

var contests = []contest[Row]{
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
			rep.Notes = append(rep.Notes, p50Note(g, rep.Baseline, r.RTT, base.RTT))
		}
		if haveRival {
			rep.Notes = append(rep.Notes, rivalNote(g.System, rival, r, riv, contests))
		}
	}
}

// p50Note says whether g's latency target was met, by rtt (the goal's
// system's) against base (the baseline's).
func p50Note(g Goal, baseline string, rtt, base Latency) string {
	q, ok := ratio(us(rtt.P50), us(base.P50))
	if !ok {
		return fmt.Sprintf("target %s: rtt p50 ≤ %.2f× %s: not measured", g.System, g.MaxP50, baseline)
	}
	return fmt.Sprintf("target %s: rtt p50 ≤ %.2f× %s: %.2f× (%s)", g.System, g.MaxP50, baseline, q, verdict(q <= g.MaxP50))
}

// rivalNote says on which of the contests the row r of system is ahead
// of rival's row riv, and on which it is behind.
func rivalNote[R any](system, rival string, r, riv R, cs []contest[R]) string {
	var ahead, behind []string
	for _, c := range cs {
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
	return fmt.Sprintf("target %s ahead of %s on every row: %s; ahead: [%s]; behind: [%s]",
		system, rival, verdict(len(behind) == 0 && len(ahead) > 0), strings.Join(ahead, ", "), strings.Join(behind, ", "))
}

func verdict(met bool) string {
	if met {
		return "met"
	}
	return "missed"
}
