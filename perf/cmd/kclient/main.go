// Command kclient prints the second table of `make perf`: servers measured
// with clients they do not control (ping, a TCP ping-pong client, ab and
// wrk) run in a network namespace, against "dpstack run" over net_tap and
// against the Linux kernel serving the same services over a veth pair,
// with the TAP's own floor (package kclient). It writes the table to
// kclient.txt and kclient.csv. With -sockperf it prints the sockperf
// table instead (make perf-sockperf): sockperf ping-pong, UDP and TCP,
// against "dpstack run --sockperf" and against "sockperf server" on the
// kernel, to sockperf.txt and sockperf.csv. With -proxy it prints the
// proxy table (make perf-proxy): wrk and ab through "dpstack proxy",
// HAProxy and a Go io.Copy proxy to the same kernel backend, to proxy.txt
// and proxy.csv.
//
//	go run ./cmd/kclient -out results           # what make perf does
//	go run ./cmd/kclient -sockperf -out results # what make perf-sockperf does
//	go run ./cmd/kclient -proxy -out results    # what make perf-proxy does
//	go run ./cmd/kclient -quick -out /tmp/k     # small counts: a smoke test
//
// It needs root (namespaces, TAP devices, DPDK), ping, ab, wrk,
// dpdk-testpmd, sockperf, haproxy and curl. Ctrl-C stops it; it still stops what it started and
// removes the namespaces it created.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/dpstack/dpstack/perf/kclient"
	"github.com/dpstack/dpstack/perf/table"
)

func main() {
	c := kclient.Config{Limits: kclient.DefaultLimits, Log: os.Stderr}
	out := flag.String("out", "results", "directory for kclient.txt and kclient.csv")
	flag.StringVar(&c.Root, "root", "..", "the dpstack module's directory (cmd/dpstack is built from it)")
	flag.StringVar(&c.Go, "go", "go", "the go command")
	quick := flag.Bool("quick", false, "a tenth of the counts and one-second loads, to check that everything runs")
	sp := flag.Bool("sockperf", false, "the sockperf table (sockperf.{txt,csv}) instead of the kernel-client one")
	px := flag.Bool("proxy", false, "the proxy table (proxy.{txt,csv}) instead of the kernel-client one")
	flag.Parse()
	if *quick {
		c.Limits = c.Limits.Quick()
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	run := runKclient
	switch {
	case *sp:
		run = runSockperf
	case *px:
		run = runProxy
	}
	if err := run(ctx, c, *out, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "kclient:", err)
		stop()
		os.Exit(1)
	}
}

func runKclient(ctx context.Context, c kclient.Config, dir string, stdout io.Writer) error {
	rep, err := kclient.Run(ctx, c)
	if err != nil {
		return err
	}
	return save(dir, "kclient", rep, stdout)
}

func runSockperf(ctx context.Context, c kclient.Config, dir string, stdout io.Writer) error {
	rep, err := kclient.RunSockperf(ctx, c)
	if err != nil {
		return err
	}
	return save(dir, "sockperf", rep, stdout)
}

func runProxy(ctx context.Context, c kclient.Config, dir string, stdout io.Writer) error {
	rep, err := kclient.RunProxy(ctx, c)
	if err != nil {
		return err
	}
	return save(dir, "proxy", rep, stdout)
}

// report is a table to save: kclient.Report, SockperfReport or ProxyReport.
type report interface {
	WriteTable(io.Writer) error
	WriteCSV(io.Writer) error
}

// save writes rep as dir/name.txt (also to stdout) and dir/name.csv.
func save(dir, name string, rep report, stdout io.Writer) error {
	var text strings.Builder
	if err := rep.WriteTable(&text); err != nil {
		return err
	}
	if err := table.Save(dir, name, text.String(), stdout, map[string]func(io.Writer) error{name + ".csv": rep.WriteCSV}); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wrote %s/{%s.txt,%s.csv}\n", dir, name, name)
	return nil
}
