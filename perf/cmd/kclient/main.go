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
	"path/filepath"
	"strings"
	"syscall"

	"github.com/dpstack/dpstack/perf/kclient"
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
	var table strings.Builder
	if err := rep.WriteTable(&table); err != nil {
		return err
	}
	fmt.Fprint(stdout, table.String())
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "kclient.txt"), []byte(table.String()), 0o644); err != nil {
		return err
	}
	f, err := os.Create(filepath.Join(dir, "kclient.csv"))
	if err != nil {
		return err
	}
	if err := rep.WriteCSV(f); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wrote %s/{kclient.txt,kclient.csv}\n", dir)
	return nil
}
