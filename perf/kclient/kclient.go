// Package kclient measures servers with clients that they do not control:
// ping, a compiled TCP ping-pong client (cmd/pingpong), ab and wrk, run
// inside a network namespace against "dpstack run" on net_tap and,
// unchanged, against the Linux kernel serving the same services over a
// veth pair (cmd/kserve); plus the TAP's own floor, dpdk-testpmd
// reflecting UDP. It is the second table of `make perf` (../README.md,
// "With a kernel client").
//
// Every name it creates (namespaces, interfaces, EAL file prefixes)
// starts with "dpsperf-", every address is in 198.19.0.0/16 and lives
// only in namespaces it creates, and everything it starts or creates is
// stopped or removed before Run returns.
package kclient

import (
	"context"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
	"time"
)

// Row names; the rows with a placement add its label.
const (
	KernelRow      = "kernel over veth"
	AdaptiveRow    = "dpstack over net_tap (adaptive)"
	BusyRow        = "dpstack over net_tap (busy)"
	KernelAgainRow = "kernel over veth (again)"
	FloorRow       = "TAP floor (testpmd 5tswap)"
)

// placement is where a row's server and clients run. The zero placement
// leaves both to the scheduler, as a user would (dpstack's lcore may run
// on every CPU, dpstackLcores); the others put the server on CPU 0
// (dpstack's lcore with --cores, kserve under taskset) and every client
// on cpu. Whether a client shares the
// server's CPU decides, on a VM whose idle CPUs halt, whether each
// exchange pays for waking a halted CPU twice (README, "Idle policies"),
// and the scheduler's choice can go either way from one run to the next:
// the pinned rows show both cases on purpose.
type placement struct {
	label string // appended to the row's name
	cpu   string // the clients' CPU (taskset -c), "" for any
}

var placements = []placement{
	{},
	{", clients on its CPU 0", "0"},
	{", clients on CPU 1", "1"},
}

// serverCPU is the CPU of dpstack's lcore (--cores), and of kserve in the
// rows with a placement.
const serverCPU = "0"

// Limits bound every client by a count and by time, whichever comes first.
type Limits struct {
	Pings     int           // ping -i 0.002 echo requests
	Floods    int           // ping -f echo requests
	Warmup    int           // untimed ping-pong exchanges
	Exchanges int           // timed ping-pong exchanges
	RTTTime   time.Duration // cap on the timed exchanges
	Requests  int           // requests of each ab run
	LoadTime  time.Duration // cap on each ab run, and wrk's duration
	Idle      time.Duration // how long the server's idle CPU is measured
}

// DefaultLimits are the limits `make perf` runs with.
var DefaultLimits = Limits{
	Pings:     2000,
	Floods:    10000,
	Warmup:    2000,
	Exchanges: 20000,
	RTTTime:   5 * time.Second,
	Requests:  20000,
	LoadTime:  5 * time.Second,
	Idle:      2 * time.Second,
}

// Quick returns a tenth of l's counts and shorter times: a smoke test.
func (l Limits) Quick() Limits {
	return Limits{
		Pings: l.Pings / 10, Floods: l.Floods / 10, Warmup: l.Warmup / 10, Exchanges: l.Exchanges / 10,
		RTTTime: time.Second, Requests: l.Requests / 10, LoadTime: time.Second, Idle: time.Second,
	}
}

// Config is what Run needs.
type Config struct {
	Root   string // the dpstack module's directory (cmd/dpstack is built from it, perf/ is below it)
	Go     string // the go command
	Limits Limits
	Log    io.Writer // progress
}

// Run builds the servers and the ping-pong client, measures every row one
// after the other (kernel, dpstack adaptive and dpstack busy in each
// placement, the kernel again to show how far the machine's speed drifted
// meanwhile, the TAP floor) and returns the report. A row that fails keeps its error and
// the others go on; Run itself fails only when nothing can be built or
// ctx ends.
func Run(ctx context.Context, c Config) (*Report, error) {
	start := time.Now()
	b, err := build(ctx, c)
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(b.dir)
	l := c.Limits
	rep := &Report{Baseline: KernelRow}
	type server struct {
		name, baseline string
		start          func(context.Context) (*target, error)
	}
	var tcp []server
	for _, p := range placements {
		kernel := KernelRow + p.label
		kserveCPU := ""
		if p.cpu != "" {
			kserveCPU = serverCPU
		}
		tcp = append(tcp,
			server{kernel, kernel, func(ctx context.Context) (*target, error) { return startKernel(ctx, b, kserveCPU, p.cpu) }},
			server{AdaptiveRow + p.label, kernel, func(ctx context.Context) (*target, error) { return startDpstack(ctx, b, "adaptive", p.cpu) }},
			server{BusyRow + p.label, kernel, func(ctx context.Context) (*target, error) { return startDpstack(ctx, b, "busy", p.cpu) }})
	}
	tcp = append(tcp, server{KernelAgainRow, KernelRow, func(ctx context.Context) (*target, error) { return startKernel(ctx, b, "", "") }})
	for _, s := range tcp {
		row := Row{System: s.name, Baseline: s.baseline, CPUPer100k: -1, IdleCPU: -1}
		fmt.Fprintf(c.Log, "kclient: %s\n", s.name)
		if t, err := s.start(ctx); err != nil {
			row.fail("setup", err)
		} else {
			measureServer(ctx, t, b, l, &row, c.Log)
			if err := t.stop(); err != nil {
				row.fail("stop", err)
			}
		}
		rep.Rows = append(rep.Rows, row)
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
	}
	floor := Row{System: FloorRow, CPUPer100k: -1, IdleCPU: -1}
	fmt.Fprintf(c.Log, "kclient: %s\n", FloorRow)
	if t, err := startFloor(ctx, b); err != nil {
		floor.fail("setup", err)
	} else {
		rep.FloorPing = measureFloor(ctx, t, b, l, &floor, c.Log)
		if err := t.stop(); err != nil {
			floor.fail("stop", err)
		}
	}
	rep.Rows = append(rep.Rows, floor)
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	rep.Notes = append(rep.Notes,
		"ratios (×): against the kernel row with the same placement; the floor's and the kernel's again against the first kernel row",
		fmt.Sprintf("limits: ping -i 0.002 -c %d, ping -f -c %d, ping-pong %d+%d exchanges or %v, ab -n %d -t %v, wrk -d %v, idle %v",
			l.Pings, l.Floods, l.Warmup, l.Exchanges, l.RTTTime, l.Requests, l.LoadTime, l.LoadTime, l.Idle),
		fmt.Sprintf("machine: %d CPUs, Linux %s, %s; rows measured one after another, run took %s",
			runtime.NumCPU(), kernelRelease(), runtime.Version(), time.Since(start).Round(time.Second)))
	return rep, nil
}

// kernelRelease is the running kernel's version, or "?".
func kernelRelease() string {
	b, err := os.ReadFile("/proc/sys/kernel/osrelease")
	if err != nil {
		return "?"
	}
	return strings.TrimSpace(string(b))
}
