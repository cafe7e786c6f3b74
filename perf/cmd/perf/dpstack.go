//go:build !nodpstack

package main

import (
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/dpstack/dpstack/lcore"
	"github.com/dpstack/dpstack/perf/dpstack"
	"github.com/dpstack/dpstack/perf/harness"
)

// Row names.
const (
	blockingName    = "dpstack blocking"
	callbackName    = "dpstack callback"
	blockingUDPName = "dpstack blocking UDP"
	callbackUDPName = "dpstack callback UDP"
	// loopEach names the rows whose hosts have a loop each.
	loopEach = ", 2 loops"
	// jumbo names the rows in the large-segment mode.
	jumbo = ", MTU 9000"
	// autotuned names the rows with TCP receive-buffer autotuning, when
	// -rcvbuf both measures each row with and without it.
	autotuned = ", autotuned"
)

func init() {
	extras.entries = append(extras.entries, dpstackEntries)
	udpExtras.entries = append(udpExtras.entries, dpstackUDPEntries)
	udpExtras.goals = append(udpExtras.goals,
		harness.Goal{System: blockingUDPName, MaxP50: 0.4},
		harness.Goal{System: callbackUDPName, MaxP50: 0.2})
	extras.finish = append(extras.finish, dpstackFinish)
	extras.goals = append(extras.goals,
		harness.Goal{System: blockingName, MaxP50: 0.5},
		harness.Goal{System: callbackName, MaxP50: 0.25})
}

func dpstackEntries(o options) []entry {
	idle, err := lcore.ParseIdlePolicy(o.idle)
	if err != nil {
		fmt.Fprintln(os.Stderr, "perf:", err)
		os.Exit(2)
	}
	extras.notes = append(extras.notes, fmt.Sprintf("dpstack hosts: one core each, joined by a DPDK ring pair that leaves TCP checksums to the link, as Linux loopback and veth do (lossy: through faultwire, and checksums in software), both polled by one loop (the kernel runs both ends of a loopback connection on the sending CPU too) or, in the rows marked%s, by a loop each; idle policy %s", loopEach, idle))
	extras.notes = append(extras.notes, fmt.Sprintf("segment size: every dpstack row at MTU 1500 (1,448-byte segments, no TSO: the ring pair has none), except the rows marked%s, the large-segment mode: the ring pair at MTU 9000, 8,948-byte segments each in one mbuf (Linux loopback's MTU is 64 KiB and its segments up to 64 KiB)", jumbo))
	var modes []bool // receive-buffer autotuning of each twin
	switch o.rcvbuf {
	case "off":
		modes = []bool{false}
	case "on":
		modes = []bool{true}
	case "both":
		modes = []bool{false, true}
	default:
		fmt.Fprintf(os.Stderr, "perf: -rcvbuf %q: want off, on or both\n", o.rcvbuf)
		os.Exit(2)
	}
	mode := o.rcvbuf
	if len(modes) > 1 {
		mode = "on in the rows marked" + autotuned + ", off in the others"
	}
	extras.notes = append(extras.notes, "TCP receive-buffer autotuning (stack.Config.TCPModerateRcvbuf): "+mode)
	if o.gro != "on" && o.gro != "off" {
		fmt.Fprintf(os.Stderr, "perf: -gro %q: want on or off\n", o.gro)
		os.Exit(2)
	}
	noGRO := o.gro == "off"
	extras.notes = append(extras.notes, "receive offload (GRO, stack.Config.NoGRO): "+o.gro+" in every dpstack row")
	// named is a row's name: base, then the twin's mark when both are measured.
	named := func(base string, moderate bool) string {
		if moderate && len(modes) > 1 {
			return base + autotuned
		}
		return base
	}
	// Each row and its autotuned twin are measured one after the other.
	var entries []entry
	for _, each := range []bool{false, true} {
		for _, moderate := range modes {
			opts := dpstack.Options{Idle: idle, Seed: o.seed, LoopEach: each, ModerateRcvbuf: moderate, NoGRO: noGRO}
			lossy := opts
			lossy.Loss = o.loss
			suffix := ""
			if each {
				suffix = loopEach
			}
			suffix = named(suffix, moderate)
			bn, cn := blockingName+suffix, callbackName+suffix
			entries = append(entries,
				entry{bn,
					func() (harness.System, error) { return dpstack.NewBlocking(bn, opts) },
					func() (harness.System, error) { return dpstack.NewBlocking(bn+" lossy", lossy) }},
				entry{cn,
					func() (harness.System, error) { return dpstack.NewCallback(cn, opts) },
					func() (harness.System, error) { return dpstack.NewCallback(cn+" lossy", lossy) }})
		}
	}
	for _, moderate := range modes {
		big := dpstack.Options{Idle: idle, Seed: o.seed, MTU: 9000, ModerateRcvbuf: moderate, NoGRO: noGRO}
		suffix := named(jumbo, moderate)
		bj, cj := blockingName+suffix, callbackName+suffix
		entries = append(entries,
			entry{bj, func() (harness.System, error) { return dpstack.NewBlocking(bj, big) }, nil},
			entry{cj, func() (harness.System, error) { return dpstack.NewCallback(cj, big) }, nil})
	}
	return entries
}

// dpstackUDPEntries are the UDP rows: the blocking and the callback API
// between hosts polled by one loop, as the first TCP rows.
func dpstackUDPEntries(o options) []udpEntry {
	idle, err := lcore.ParseIdlePolicy(o.idle)
	if err != nil {
		fmt.Fprintln(os.Stderr, "perf:", err)
		os.Exit(2)
	}
	opts := dpstack.Options{Idle: idle, Seed: o.seed}
	return []udpEntry{
		{blockingUDPName, func() (harness.UDPSystem, error) { return dpstack.NewUDPBlocking(blockingUDPName, opts) }},
		{callbackUDPName, func() (harness.UDPSystem, error) { return dpstack.NewUDPCallback(callbackUDPName, opts) }},
	}
}

// dpstackFinish runs the receive-path benchmark in a process of its own
// and puts its cost per packet on the dpstack rows.
func dpstackFinish(o options, rep *harness.Report) {
	if err := dpstack.StopEAL(); err != nil {
		fmt.Fprintln(os.Stderr, "perf: stopping EAL:", err)
	}
	fmt.Fprintln(os.Stderr, "  receive path: go test -p 1 -bench ^BenchmarkDispatch ./stack ./stack/tcp")
	res, err := dpstack.RunDispatch(context.Background(), o.goBin, o.root)
	if err != nil {
		rep.Notes = append(rep.Notes, "receive-path benchmark failed: "+firstLine(err.Error()))
		fmt.Fprintln(os.Stderr, "perf:", err)
		return
	}
	pick := res[0]
	var all []string
	for _, r := range res {
		all = append(all, fmt.Sprintf("%s %.0f ns/pkt", r.Name, r.NsPerPkt))
		if r.Name == "BenchmarkDispatchTCP/mss" {
			pick = r // full-sized segments, checksum in software
		}
	}
	rep.Notes = append(rep.Notes, "rx ns/pkt: "+pick.Name+" of "+pick.Package+" (rx burst to tx burst, per packet); all: "+strings.Join(all, ", "))
	for i := range rep.Rows {
		if strings.HasPrefix(rep.Rows[i].System, "dpstack") {
			rep.Rows[i].RxNsPerPkt = pick.NsPerPkt
		}
	}
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}
