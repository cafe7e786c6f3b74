package kclient

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/dpstack/dpstack/internal/sockperf"
	"github.com/dpstack/dpstack/perf/table"
)

// The sockperf table: "sockperf ping-pong", a client neither server was
// written for, against "dpstack run --sockperf" over net_tap and against
// "sockperf server" on the kernel over the veth pair.
const (
	sockperfPort    = "11111" // dpstack run's default --sockperf, and the kernel server's
	sockperfMsgSize = "64"
	sockperfReady   = "to block on socket" // sockperf server's line once it listens
)

// SockperfRow is one server's ping-pong latencies, UDP and TCP: sockperf
// reports half the round trip.
type SockperfRow struct {
	System   string
	UDP, TCP sockperf.Summary
	Errors   []string
}

func (r *SockperfRow) fail(what string, err error) {
	r.Errors = append(r.Errors, fmt.Sprintf("%s: %v", what, err))
}

// SockperfReport is the results of RunSockperf; ratios are against the
// first row, the kernel's.
type SockperfReport struct {
	Rows  []SockperfRow
	Notes []string
}

// RunSockperf measures sockperf ping-pong, 64-byte messages over UDP and
// over TCP for l.RTTTime each, against the kernel, dpstack with the
// adaptive and with the busy idle policy, one after the other.
func RunSockperf(ctx context.Context, c Config) (*SockperfReport, error) {
	tmp, err := os.MkdirTemp("", "dpsperf-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	b, err := build(ctx, c, tmp)
	if err != nil {
		return nil, err
	}
	rep := &SockperfReport{}
	for _, s := range []struct {
		name  string
		start func(context.Context) (*target, error)
	}{
		{KernelRow, func(ctx context.Context) (*target, error) { return startSockperfKernel(ctx, b) }},
		{AdaptiveRow, func(ctx context.Context) (*target, error) { return startDpstack(ctx, b, "adaptive", "") }},
		{BusyRow, func(ctx context.Context) (*target, error) { return startDpstack(ctx, b, "busy", "") }},
	} {
		row := SockperfRow{System: s.name}
		fmt.Fprintf(c.Log, "kclient: sockperf, %s\n", s.name)
		if t, err := s.start(ctx); err != nil {
			row.fail("setup", err)
		} else {
			cl := clients{t: t, b: b, l: c.Limits}
			var errU, errT error
			if row.UDP, errU = cl.sockperf(ctx, false); errU != nil {
				row.fail("udp", errU)
			}
			if row.TCP, errT = cl.sockperf(ctx, true); errT != nil {
				row.fail("tcp", errT)
			}
			if err := t.stop(); err != nil {
				row.fail("stop", err)
			}
		}
		rep.Rows = append(rep.Rows, row)
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
	}
	rep.Notes = append(rep.Notes,
		fmt.Sprintf("sockperf ping-pong -m %s -t %d, UDP and --tcp; latencies are sockperf's, half the round trip; ratios against %q",
			sockperfMsgSize, sockperfSeconds(c.Limits), KernelRow),
		"client and servers are placed by the scheduler: whether the kernel's sockperf client and server share a CPU can change its latency several-fold from one run to the next (the kclient table's placements show why)")
	return rep, nil
}

// startSockperfKernel starts "sockperf server" for UDP and one for TCP
// (it serves one protocol per process) in the kernel's server namespace.
func startSockperfKernel(ctx context.Context, b *bins) (*target, error) {
	t, err := startVeth("")
	if err != nil {
		return nil, err
	}
	args := []string{"sockperf", "server", "-i", kernelSrvAddr, "-p", sockperfPort}
	if t, err = t.serve(ctx, "sockperf", inNetns(context.Background(), kernelSrvNS, args...), filepath.Join(b.dir, "sockperf-udp.log"), sockperfReady); err != nil {
		return nil, err
	}
	tcp := inNetns(context.Background(), kernelSrvNS, append(args, "--tcp")...)
	srv, err := startServer(ctx, "sockperf --tcp", tcp, filepath.Join(b.dir, "sockperf-tcp.log"), sockperfReady)
	if err != nil {
		return t.fail(err)
	}
	t.undo.add(srv.stop)
	return t, nil
}

// sockperfSeconds is how long each ping-pong runs: l.RTTTime, at least a
// second.
func sockperfSeconds(l Limits) int { return max(int(l.RTTTime/time.Second), 1) }

// sockperf runs one ping-pong against the target and reads its summary.
func (c clients) sockperf(ctx context.Context, tcp bool) (sockperf.Summary, error) {
	secs := sockperfSeconds(c.l)
	args := []string{"ping-pong", "-i", c.t.addr, "-p", sockperfPort, "-m", sockperfMsgSize, "-t", strconv.Itoa(secs)}
	if tcp {
		args = append(args, "--tcp")
	}
	// sockperf adds its warm-up (about 2 s) to -t.
	out, err := c.run(ctx, time.Duration(secs+3)*time.Second, "sockperf", args...)
	if err != nil {
		return sockperf.Summary{}, err
	}
	s, err := sockperf.Parse(out)
	if err == nil && !s.HasLatency {
		err = fmt.Errorf("sockperf: no latency summary: %s", oneLine(out))
	}
	return s, err
}

type sockperfColumn = table.Column[SockperfRow]

var spCol = table.NewColumn[SockperfRow]

func sockperfColumns() []sockperfColumn {
	var cs []sockperfColumn
	for _, p := range []struct {
		name string
		get  func(SockperfRow) sockperf.Summary
	}{
		{"udp", func(r SockperfRow) sockperf.Summary { return r.UDP }},
		{"tcp", func(r SockperfRow) sockperf.Summary { return r.TCP }},
	} {
		lat := func(name, csv string, v func(sockperf.Summary) time.Duration) sockperfColumn {
			return spCol(p.name+" "+name+" µs", p.name+"_"+csv+"_us", "%.1f", func(r, _ SockperfRow) (float64, bool) { return us(v(p.get(r))) })
		}
		cs = append(cs,
			lat("p50", "p50", func(s sockperf.Summary) time.Duration { return s.P50 }),
			lat("p99", "p99", func(s sockperf.Summary) time.Duration { return s.P99 }),
			lat("p99.9", "p999", func(s sockperf.Summary) time.Duration { return s.P999 }),
			spCol(p.name+" p50/kernel", p.name+"_p50_vs_kernel", "%.2f×", func(r, b SockperfRow) (float64, bool) {
				return ratio(float64(p.get(r).P50), float64(p.get(b).P50))
			}))
	}
	return cs
}

// table is the report as a table.Table.
func (rep *SockperfReport) table() table.Table[SockperfRow] {
	return table.Table[SockperfRow]{
		Columns: sockperfColumns(),
		Rows:    rep.Rows,
		Name:    func(r SockperfRow) string { return r.System },
		Errors:  func(r SockperfRow) []string { return r.Errors },
		Base: func(SockperfRow) SockperfRow {
			if len(rep.Rows) == 0 {
				return SockperfRow{}
			}
			return rep.Rows[0]
		},
	}
}

// WriteTable prints the table, the errors and the notes.
func (rep *SockperfReport) WriteTable(w io.Writer) error { return rep.table().WriteText(w, rep.Notes) }

// WriteCSV writes the table as CSV.
func (rep *SockperfReport) WriteCSV(w io.Writer) error { return rep.table().WriteCSV(w) }
