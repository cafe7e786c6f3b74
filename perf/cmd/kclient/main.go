// Command kclient prints the second table of `make perf`: servers measured
// with clients they do not control (ping, a TCP ping-pong client, ab and
// wrk) run in a network namespace, against "dpstack run" over net_tap and
// against the Linux kernel serving the same services over a veth pair,
// with the TAP's own floor (package kclient). It writes the table to
// kclient.txt and kclient.csv.
//
//	go run ./cmd/kclient -out results        # what make perf does
//	go run ./cmd/kclient -quick -out /tmp/k  # small counts: a smoke test
//
// It needs root (namespaces, TAP devices, DPDK), ping, ab, wrk and
// dpdk-testpmd. Ctrl-C stops it; it still stops what it started and
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
	flag.Parse()
	if *quick {
		c.Limits = c.Limits.Quick()
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, c, *out, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "kclient:", err)
		stop()
		os.Exit(1)
	}
}

func run(ctx context.Context, c kclient.Config, dir string, stdout io.Writer) error {
	rep, err := kclient.Run(ctx, c)
	if err != nil {
		return err
	}
	var text strings.Builder
	if err := rep.WriteTable(&text); err != nil {
		return err
	}
	if err := table.Save(dir, "kclient", text.String(), stdout, map[string]func(io.Writer) error{"kclient.csv": rep.WriteCSV}); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wrote %s/{kclient.txt,kclient.csv}\n", dir)
	return nil
}
