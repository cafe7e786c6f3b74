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
// reports half the round trip. Its ratios are against the row named
// Baseline.
type SockperfRow struct {
	System, Baseline string
	UDP, TCP         sockperf.Summary
	Errors           []string
}

func (r *SockperfRow) fail(what string, err error) {
	r.Errors = append(r.Errors, fmt.Sprintf("%s: %v", what, err))
}

// SockperfReport is the results of RunSockperf.
type SockperfReport struct {
	Rows  []SockperfRow
	Notes []string
}

// floorCPU is where the floor's client runs: testpmd forwards on lcore 1
// (-l 0-1: its main lcore 0 only waits for the terminal) and never
// yields it, so the client has CPU 0 to itself, and each exchange crosses
// CPUs as in the placement with the clients on CPU 1.
const floorCPU = "0"

// RunSockperf measures sockperf ping-pong, 64-byte messages over UDP and
// over TCP for l.RTTTime each, against the kernel and dpstack with the
// adaptive and with the busy idle policy, in each of the kclient table's
// placements (the server on CPU 0 and the client on CPU 0 or on CPU 1, or
// both where the scheduler puts them), one after the other; then UDP
// against the TAP's floor, testpmd reflecting the client's datagrams.
func RunSockperf(ctx context.Context, c Config) (*SockperfReport, error) {
	b, err := build(ctx, c)
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(b.dir)
	type server struct {
		name, baseline string
		floor          bool // testpmd's reflection, not a sockperf server
		start          func(context.Context) (*target, error)
	}
	var servers []server
	for _, p := range placements {
		kernel := KernelRow + p.label
		srvCPU := ""
		if p.cpu != "" {
			srvCPU = serverCPU
		}
		servers = append(servers,
			server{kernel, kernel, false, func(ctx context.Context) (*target, error) { return startSockperfKernel(ctx, b, srvCPU, p.cpu) }},
			server{AdaptiveRow + p.label, kernel, false, func(ctx context.Context) (*target, error) { return startDpstack(ctx, b, "adaptive", p.cpu) }},
			server{BusyRow + p.label, kernel, false, func(ctx context.Context) (*target, error) { return startDpstack(ctx, b, "busy", p.cpu) }})
	}
	floor := FloorRow + ", client on CPU " + floorCPU
	servers = append(servers, server{floor, KernelRow + placements[2].label, true, func(ctx context.Context) (*target, error) {
		t, err := startFloor(ctx, b)
		if err == nil {
			t.cpu = floorCPU
		}
		return t, err
	}})
	rep := &SockperfReport{}
	for _, s := range servers {
		row := SockperfRow{System: s.name, Baseline: s.baseline}
		fmt.Fprintf(c.Log, "kclient: sockperf, %s\n", s.name)
		if t, err := s.start(ctx); err != nil {
			row.fail("setup", err)
		} else {
			cl := clients{t: t, b: b, l: c.Limits}
			var err error
			if s.floor {
				if row.UDP, err = cl.floorPingPong(ctx); err != nil {
					row.fail("udp", err)
				}
			} else {
				if row.UDP, err = cl.sockperf(ctx, false); err != nil {
					row.fail("udp", err)
				}
				if row.TCP, err = cl.sockperf(ctx, true); err != nil {
					row.fail("tcp", err)
				}
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
		fmt.Sprintf("sockperf ping-pong -m %s -t %d, UDP and --tcp; latencies are sockperf's, half the round trip; ratios against the kernel row with the same placement",
			sockperfMsgSize, sockperfSeconds(c.Limits)),
		"placements: the rows without one leave server and client to the scheduler (dpstack's lcore may run on every CPU: --cores 0@(0-N)), whose choice can change the kernel's latency several-fold from one run to the next; "+
			"the others pin the server (sockperf server under taskset, dpstack's lcore with --cores) on CPU "+serverCPU+" and the client on the CPU named",
		fmt.Sprintf("floor: dpdk-testpmd --forward-mode=5tswap on a TAP of its own (--no-huge, its own --file-prefix, forwarding on lcore 1) sends each datagram back with addresses and ports swapped: "+
			"the TAP's kernel crossings and a DPDK poll, with no stack. sockperf takes no such reply (the message comes back with its client flag still set; it reports no messages received), "+
			"so the floor's UDP cells are perf's pingpong client (64 bytes, the kclient table's floor) with its round trip halved as sockperf reports it; its ratio is against %q; "+
			"TCP has no floor (a reflected SYN is no answer)", KernelRow+placements[2].label))
	return rep, nil
}

// startSockperfKernel starts "sockperf server" for UDP and one for TCP
// (it serves one protocol per process) in the kernel's server namespace,
// on srvCPU if one is given; the clients run on cliCPU if one is given.
func startSockperfKernel(ctx context.Context, b *bins, srvCPU, cliCPU string) (*target, error) {
	t, err := startVeth(cliCPU)
	if err != nil {
		return nil, err
	}
	args := onCPU(srvCPU, "sockperf", "server", "-i", kernelSrvAddr, "-p", sockperfPort)
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

// floorPingPong measures the floor with the pingpong client, 64-byte UDP
// messages that testpmd reflects, and gives its latencies as sockperf
// does: half the round trip.
func (c clients) floorPingPong(ctx context.Context) (sockperf.Summary, error) {
	r, err := c.pingpong(ctx, "udp", floorPort)
	if err != nil {
		return sockperf.Summary{}, err
	}
	half := func(us float64) time.Duration { return time.Duration(us * float64(time.Microsecond) / 2) }
	return sockperf.Summary{Sent: r.Exchanges + r.Lost, Received: r.Exchanges,
		P50: half(r.P50), P99: half(r.P99), P999: half(r.P999), HasLatency: r.Exchanges > 0}, nil
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
		Base: func(r SockperfRow) SockperfRow {
			for _, b := range rep.Rows {
				if b.System == r.Baseline {
					return b
				}
			}
			return SockperfRow{}
		},
	}
}

// WriteTable prints the table, the errors and the notes.
func (rep *SockperfReport) WriteTable(w io.Writer) error { return rep.table().WriteText(w, rep.Notes) }

// WriteCSV writes the table as CSV.
func (rep *SockperfReport) WriteCSV(w io.Writer) error { return rep.table().WriteCSV(w) }
