package diag

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
)

// coreOf is the core of st numbered core, or an error.
func coreOf(st *State, core int) (*Core, error) {
	for i := range st.Cores {
		if c := &st.Cores[i]; c.Core == core {
			if c.Error != "" {
				return nil, fmt.Errorf("core %d: %s", core, c.Error)
			}
			return c, nil
		}
	}
	return nil, fmt.Errorf("no core %d (the host has %d)", core, len(st.Cores))
}

// WriteNeigh prints a core's neighbour table as `ip neigh` prints the
// kernel's: "ADDR dev PORT lladdr MAC STATE". Each core keeps its own
// table, kept in step with the others' (ARCHITECTURE.md §3).
func WriteNeigh(w io.Writer, st *State, core int) error {
	c, err := coreOf(st, core)
	if err != nil {
		return err
	}
	var b strings.Builder
	for _, n := range c.Neighbours {
		fmt.Fprintf(&b, "%s dev %s", n.Addr, st.Port.Name)
		if n.LLAddr != "" {
			fmt.Fprintf(&b, " lladdr %s", n.LLAddr)
		}
		fmt.Fprintf(&b, " %s\n", n.State)
	}
	_, err = io.WriteString(w, b.String())
	return err
}

// WriteRoute prints a core's routes as `ip route` prints the kernel's.
func WriteRoute(w io.Writer, st *State, core int) error {
	c, err := coreOf(st, core)
	if err != nil {
		return err
	}
	var b strings.Builder
	for _, r := range c.Routes {
		prefix := r.Prefix
		if prefix == "0.0.0.0/0" {
			prefix = "default"
		}
		b.WriteString(prefix)
		if r.Via != "" {
			fmt.Fprintf(&b, " via %s", r.Via)
		}
		fmt.Fprintf(&b, " dev %s", st.Port.Name)
		if r.Connected {
			b.WriteString(" proto kernel scope link")
		}
		if r.Src != "" {
			fmt.Fprintf(&b, " src %s", r.Src)
		}
		b.WriteString("\n")
	}
	_, err = io.WriteString(w, b.String())
	return err
}

// WriteStats prints counters as `nstat` does: a "#dpstack" line, then
// one counter a line with its value, in name order, leaving out those
// that are zero unless zeros is set. For deltas, pass the difference of
// two snapshots' counters (Delta).
func WriteStats(w io.Writer, counters map[string]uint64, zeros bool) error {
	var b strings.Builder
	b.WriteString("#dpstack\n")
	for _, name := range slices.Sorted(maps.Keys(counters)) {
		if v := counters[name]; v != 0 || zeros {
			fmt.Fprintf(&b, "%-32s %d\n", name, v)
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// Delta is what moved from then to now: each counter's increase, and
// the whole value of one that went down (the stack restarted) or is new.
func Delta(then, now map[string]uint64) map[string]uint64 {
	d := make(map[string]uint64, len(now))
	for name, v := range now {
		if old, ok := then[name]; ok && old <= v {
			v -= old
		}
		d[name] = v
	}
	return d
}
