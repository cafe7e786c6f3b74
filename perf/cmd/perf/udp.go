package main

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/dpstack/dpstack/perf/gvisor"
	"github.com/dpstack/dpstack/perf/harness"
	"github.com/dpstack/dpstack/perf/kernel"
)

// Rows of the UDP table.
const (
	kernelUDPName = "Linux kernel UDP"
	gvisorUDPName = "gVisor netstack UDP"
)

// udpEntry is a UDP system to measure.
type udpEntry struct {
	name string
	new  func() (harness.UDPSystem, error)
}

// udpEntries are the UDP systems, the ones that add systems' (udpExtras)
// after the kernel's and gVisor's, filtered by -only.
func udpEntries(o options) []udpEntry {
	entries := []udpEntry{
		{kernelUDPName, func() (harness.UDPSystem, error) { return kernel.NewUDP(kernelUDPName), nil }},
		{gvisorUDPName, func() (harness.UDPSystem, error) { return gvisor.NewUDP(gvisorUDPName) }},
	}
	for _, fn := range udpExtras.entries {
		entries = append(entries, fn(o)...)
	}
	if o.only != nil {
		entries = slices.DeleteFunc(entries, func(e udpEntry) bool { return !o.only.MatchString(e.name) })
	}
	return entries
}

// udpExtras are filled in by the files that add UDP systems.
var udpExtras struct {
	entries []func(o options) []udpEntry
	goals   []harness.Goal
}

// measureUDP builds every UDP system and measures their round trips,
// interleaved as the TCP rows' are, and closes them; then, one system at
// a time, built again, the one-way stream.
func measureUDP(entries []udpEntry, l harness.Limits) *harness.UDPReport {
	rep := &harness.UDPReport{Baseline: kernelUDPName, Rows: make([]harness.UDPRow, len(entries))}
	var built []harness.UDPSystem
	var at []int // rep.Rows[at[k]] is built[k]'s
	for i, e := range entries {
		rep.Rows[i] = harness.UDPRow{System: e.name, Allocs: strings.HasPrefix(e.name, "dpstack")}
		sys, err := e.new()
		if err != nil {
			rep.Rows[i].Fail("setup", err)
			continue
		}
		built, at = append(built, sys), append(at, i)
	}
	lat, errs := harness.RoundTrips(built, l, os.Stderr)
	for k, sys := range built {
		row := &rep.Rows[at[k]]
		row.RTT = lat[k]
		if errs[k] != nil {
			row.Fail("udp round trip", errs[k])
		}
		if err := sys.Close(); err != nil {
			row.Fail("close", err)
		}
	}
	for _, i := range at {
		row := &rep.Rows[i]
		sys, err := entries[i].new()
		if err != nil {
			row.Fail("setup", err)
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), l.StreamTime+2*l.Grace)
		t0 := time.Now()
		row.Stream, err = sys.Stream(ctx, l)
		cancel()
		fmt.Fprintf(os.Stderr, "  %-20s %-12s %6.2fs", sys.Name(), "udp stream", time.Since(t0).Seconds())
		if err != nil {
			row.Fail("udp stream", err)
			fmt.Fprintf(os.Stderr, "  error: %v", err)
		}
		fmt.Fprintln(os.Stderr)
		if err := sys.Close(); err != nil {
			row.Fail("close", err)
		}
	}
	rep.Notes = append(rep.Notes,
		fmt.Sprintf("udp rtt: a %d-byte datagram to an echo server and back, the systems taking turns as in the TCP table", harness.MsgSize),
		fmt.Sprintf("dgram/s: up to %d %d-byte datagrams one way as fast as the sender can, for at most %s; received per second, from the first sent to the last received; lost: not received (receive buffers or queues full)",
			l.Datagrams, harness.MsgSize, l.StreamTime),
		"allocs/dgram: the process's Go heap allocations per datagram sent, from an eighth of the stream to the last send (harness.Meter, as allocs/seg; dpstack rows)")
	rep.CheckGoals(gvisorUDPName, udpExtras.goals)
	return rep
}
