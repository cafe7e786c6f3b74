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
	blockingName = "dpstack blocking"
	callbackName = "dpstack callback"
)

func init() {
	extras.entries = append(extras.entries, dpstackEntries)
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
	opts := dpstack.Options{Idle: idle, Seed: o.seed}
	lossy := opts
	lossy.Loss = o.loss
	extras.notes = append(extras.notes, fmt.Sprintf("dpstack hosts: one core each, idle policy %s, joined by a DPDK ring pair (lossy: through faultwire)", idle))
	return []entry{
		{blockingName,
			func() (harness.System, error) { return dpstack.NewBlocking(blockingName, opts) },
			func() (harness.System, error) { return dpstack.NewBlocking(blockingName+" lossy", lossy) }},
		{callbackName,
			func() (harness.System, error) { return dpstack.NewCallback(callbackName, opts) },
			func() (harness.System, error) { return dpstack.NewCallback(callbackName+" lossy", lossy) }},
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
		if strings.Contains(r.Name, "TCP") {
			pick = r
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
