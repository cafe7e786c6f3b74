// Command dpstack runs the dpstack TCP/IP stack on a DPDK port.
//
//	dpstack run --vdev net_tap0 --addr 198.18.0.2/24 --netns dpstack --peer-addr 198.18.0.1/24
//
// runs it on a TAP virtual device whose kernel side is moved into the
// network namespace "dpstack" with address 198.18.0.1, so that the kernel
// there can ping it. With --pci instead of --vdev it runs on a NIC bound to
// a DPDK driver.
package main

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"

	"github.com/dpstack/dpstack/diag"
)

const usage = `usage: dpstack COMMAND [flags]

  run     run the stack on a DPDK port ("dpstack run -h" lists the flags)
  proxy   run it as an L4 TCP proxy: --listen ADDR:PORT --upstream ADDR:PORT[,...] ("dpstack proxy -h")
  ss      the running stack's sockets, as ss prints them
  neigh   its neighbour table, as ip neigh prints it
  route   its routes, as ip route prints them
  stats   its counters that moved since the last call, as nstat prints them
  capture what it receives and sends, to a pcapng file (tcpdump -r reads it)

ss, neigh, route, stats and capture find the stack through its management
listener (--metrics, as given to dpstack run or proxy).
`

func main() {
	if len(os.Args) < 2 || os.Args[1] == "-h" || os.Args[1] == "--help" || os.Args[1] == "help" {
		fmt.Fprint(os.Stderr, usage)
		os.Exit(2)
	}
	switch os.Args[1] {
	case "run":
		cfg, err := parseRunFlags(os.Args[2:])
		if errors.Is(err, errHelp) {
			os.Exit(0)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "dpstack:", err)
			os.Exit(2)
		}
		log := newLogger(cfg.logLevel)
		if err := run(cfg, log, nil); err != nil {
			log.Error("dpstack failed", "err", err)
			os.Exit(1)
		}
	case "proxy":
		os.Exit(proxyMain(os.Args[2:]))
	case "ss", "neigh", "route", "stats", "capture":
		if err := inspect(os.Args[1], os.Args[2:], os.Stdout); err != nil {
			if errors.Is(err, errHelp) {
				os.Exit(0)
			}
			fmt.Fprintln(os.Stderr, "dpstack:", err)
			os.Exit(1)
		}
	default:
		fmt.Fprintf(os.Stderr, "dpstack: unknown command %q\n%s", os.Args[1], usage)
		os.Exit(2)
	}
}

// inspect runs one of the subcommands that read a running stack.
func inspect(cmd string, args []string, w io.Writer) error {
	switch cmd {
	case "ss":
		return ssCmd(args, w)
	case "neigh":
		return tableCmd(cmd, diag.WriteNeigh, args, w)
	case "route":
		return tableCmd(cmd, diag.WriteRoute, args, w)
	case "capture":
		return captureCmd(args, os.Stderr)
	}
	return statsCmd(args, w)
}

func newLogger(level slog.Level) *slog.Logger {
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
}
