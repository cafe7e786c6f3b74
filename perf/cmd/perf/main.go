// Command perf runs the side-by-side comparison: every scenario for every
// system, then prints the table and writes it as CSV and a PNG chart.
//
//	go run ./cmd/perf -out results
//
// It needs root for DPDK (the dpstack rows).
package main

import (
	"flag"
	"fmt"
	"github.com/dpstack/dpstack/perf/table"
	"io"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"runtime/trace"
	"slices"
	"strings"
	"time"

	"github.com/dpstack/dpstack/perf/gvisor"
	"github.com/dpstack/dpstack/perf/harness"
	"github.com/dpstack/dpstack/perf/kernel"
)

// Row names.
const (
	kernelName = "Linux kernel"
	gvisorName = "gVisor netstack"
)

// options are the command's flags, shared with the dpstack adapters.
type options struct {
	out   string
	root  string
	goBin string
	seed  uint64
	loss  float64
	idle  string
	quick bool
	only  *regexp.Regexp // measure only the systems whose name it matches; nil: all
	// rcvbuf is dpstack's TCP receive-buffer autotuning: "on" or "off" in
	// every dpstack row, or "both": each TCP row twice, off and on.
	rcvbuf string
	gro    string // dpstack's receive offload in every row: "on" or "off"
	prof   string // CPU profile file
	trace  string // execution trace file
}

// entry is a system to measure: new builds it; lossy, when set, builds
// the same system over a link that drops packets, for the lossy bulk
// column of its row.
type entry struct {
	name  string
	new   func() (harness.System, error)
	lossy func() (harness.System, error)
}

// extras are filled in by the files that add systems (dpstack.go): the
// entries, what runs before and after them, the goals and notes.
var extras struct {
	entries []func(o options) []entry
	finish  []func(o options, rep *harness.Report) // after every system ran
	goals   []harness.Goal
	notes   []string
}

func main() {
	var o options
	flag.StringVar(&o.out, "out", "results", "directory for perf.csv, perf.png and perf.txt")
	flag.StringVar(&o.root, "root", "..", "the dpstack module's directory (for the receive-path benchmark)")
	flag.StringVar(&o.goBin, "go", "go", "the go command")
	flag.Uint64Var(&o.seed, "seed", 1, "seed of the lossy links")
	flag.Float64Var(&o.loss, "loss", 0.01, "share of packets the lossy links drop")
	flag.StringVar(&o.idle, "idle", "adaptive", "dpstack poll loops' idle policy: adaptive or busy")
	flag.BoolVar(&o.quick, "quick", false, "a tenth of the counts and times, to check that everything runs")
	flag.Func("only", "measure only the systems whose name this regular expression matches, e.g. 'kernel|callback$' (ratios need the kernel row)", func(v string) (err error) {
		o.only, err = regexp.Compile(v)
		return err
	})
	flag.StringVar(&o.rcvbuf, "rcvbuf", "off", "dpstack's TCP receive-buffer autotuning (stack.Config.TCPModerateRcvbuf): off, on, or both (every dpstack TCP row twice)")
	flag.StringVar(&o.gro, "gro", "on", "dpstack's receive offload in every dpstack row (stack.Config.NoGRO when off): on or off")
	flag.StringVar(&o.prof, "cpuprofile", "", "write a CPU profile of the measurements to this file")
	flag.StringVar(&o.trace, "trace", "", "write an execution trace of the measurements to this file")
	flag.Parse()
	if err := run(o, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "perf:", err)
		os.Exit(1)
	}
}

func run(o options, stdout io.Writer) error {
	l := harness.DefaultLimits
	if o.quick {
		l.Warmup, l.Exchanges, l.Conns, l.BulkBytes = l.Warmup/10, l.Exchanges/10, l.Conns/10, l.BulkBytes/10
		l.RTTTime, l.ConnTime, l.BulkTime = l.RTTTime/10, l.ConnTime/10, l.BulkTime/10
		l.Datagrams, l.StreamTime = l.Datagrams/10, l.StreamTime/10
	}
	entries := []entry{
		{kernelName, func() (harness.System, error) { return kernel.New(kernelName), nil }, nil},
		{gvisorName,
			func() (harness.System, error) { return gvisor.New(gvisorName, 0, o.seed) },
			func() (harness.System, error) { return gvisor.New(gvisorName+" lossy", o.loss, o.seed) }},
	}
	for _, fn := range extras.entries {
		entries = append(entries, fn(o)...)
	}
	if o.only != nil {
		entries = slices.DeleteFunc(entries, func(e entry) bool { return !o.only.MatchString(e.name) })
	}
	for _, rec := range []struct {
		path  string
		start func(io.Writer) error
		stop  func()
	}{{o.prof, pprof.StartCPUProfile, pprof.StopCPUProfile}, {o.trace, trace.Start, trace.Stop}} {
		stop, err := record(rec.path, rec.start, rec.stop)
		if err != nil {
			return err
		}
		defer stop()
	}
	rep := &harness.Report{Baseline: kernelName, Loss: o.loss}
	start := time.Now()
	fmt.Fprintf(os.Stderr, "perf: %d systems; limits %+v\n", len(entries), l)
	rep.Rows = measure(entries, l)
	udp := measureUDP(udpEntries(o), l)
	for _, fn := range extras.finish {
		fn(o, rep)
	}
	rep.Notes = append(rep.Notes, extras.notes...)
	rep.Notes = append(rep.Notes, fmt.Sprintf("machine: %d CPUs, GOMAXPROCS %d, %s%s; other load on the machine shows in every row",
		runtime.NumCPU(), runtime.GOMAXPROCS(0), runtime.Version(), pgoNote()))
	rep.Notes = append(rep.Notes, fmt.Sprintf("rtt: the systems take turns, %d rounds of up to %d timed exchanges each (harness.RoundTrips)",
		l.Rounds, (l.Exchanges+l.Rounds-1)/l.Rounds))
	rep.Notes = append(rep.Notes, fmt.Sprintf("lossy links drop %.1f %% of packets (seed %d); ratios are against %s from the same run; run took %s",
		100*o.loss, o.seed, kernelName, time.Since(start).Round(time.Second)))
	rep.CheckGoals(gvisorName, extras.goals)
	return write(o.out, rep, udp, stdout)
}

// record starts a recording (a CPU profile, an execution trace) into a new
// file at path and returns what ends it; an empty path records nothing.
func record(path string, start func(io.Writer) error, stop func()) (func(), error) {
	if path == "" {
		return func() {}, nil
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := start(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() {
		stop()
		f.Close()
	}, nil
}

// measure builds every system and measures the round trips of all of
// them, interleaved (harness.RoundTrips), and closes them; then, one
// system at a time, built again so that the others are gone, the other
// scenarios, and the lossy bulk on the system's lossy twin.
func measure(entries []entry, l harness.Limits) []harness.Row {
	rows := make([]harness.Row, len(entries))
	var built []harness.System
	var at []int // rows[at[k]] is built[k]'s
	for i, e := range entries {
		rows[i] = harness.Row{System: e.name, AllocsPerSeg: -1}
		sys, err := e.new()
		if err != nil {
			rows[i].Fail("setup", err)
			continue
		}
		built, at = append(built, sys), append(at, i)
	}
	lat, errs := harness.RoundTrips(built, l, os.Stderr)
	for k, sys := range built {
		row := &rows[at[k]]
		row.RTT = lat[k]
		if errs[k] != nil {
			row.Fail("round trip", errs[k])
		}
		if err := sys.Close(); err != nil {
			row.Fail("close", err)
		}
	}
	for _, i := range at {
		e, row := entries[i], &rows[i]
		build(row, "", e.new, func(sys harness.System) { harness.Run(row, sys, l, os.Stderr) })
		if e.lossy != nil {
			build(row, "lossy ", e.lossy, func(sys harness.System) { harness.RunLossy(row, sys, l, os.Stderr) })
		}
	}
	return rows
}

// build builds a system with fn, runs run on it and closes it; a failure
// to build or to close goes into row, prefixed.
func build(row *harness.Row, prefix string, fn func() (harness.System, error), run func(harness.System)) {
	sys, err := fn()
	if err != nil {
		row.Fail(prefix+"setup", err)
		return
	}
	run(sys)
	if err := sys.Close(); err != nil {
		row.Fail(prefix+"close", err)
	}
}

// write prints the tables, TCP's then UDP's, and writes perf.txt, perf.csv
// (the two tables one after the other, a blank line between them) and
// perf.png (TCP's) into dir. A table that -only left without rows is left
// out, and perf.png with the TCP table.
func write(dir string, rep *harness.Report, udp *harness.UDPReport, stdout io.Writer) error {
	type part struct {
		table, csv func(io.Writer) error
	}
	var parts []part
	files := map[string]func(io.Writer) error{}
	if len(rep.Rows) > 0 {
		parts = append(parts, part{rep.WriteTable, rep.WriteCSV})
		files["perf.png"] = rep.WritePNG
	}
	if len(udp.Rows) > 0 {
		parts = append(parts, part{udp.WriteTable, udp.WriteCSV})
	}
	var text strings.Builder
	for i, p := range parts {
		if i > 0 {
			text.WriteString("\n")
		}
		if err := p.table(&text); err != nil {
			return err
		}
	}
	files["perf.csv"] = func(w io.Writer) error {
		for i, p := range parts {
			if i > 0 {
				if _, err := io.WriteString(w, "\n"); err != nil {
					return err
				}
			}
			if err := p.csv(w); err != nil {
				return err
			}
		}
		return nil
	}
	if err := table.Save(dir, "perf", text.String(), stdout, files); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wrote %s/perf.txt and %s\n", dir, strings.Join(slices.Sorted(maps.Keys(files)), ", "))
	return nil
}

// pgoNote says which profile, if any, the binary was built with
// (profile-guided optimization: cmd/perf/default.pgo, make pgo).
func pgoNote() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return ""
	}
	for _, s := range bi.Settings {
		if s.Key == "-pgo" && s.Value != "" {
			return ", built with PGO profile " + filepath.Base(s.Value)
		}
	}
	return ", built without a PGO profile"
}
