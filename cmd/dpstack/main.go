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
	"log/slog"
	"os"
)

const usage = `usage: dpstack run [flags]
       dpstack proxy --listen ADDR:PORT --upstream ADDR:PORT[,ADDR:PORT...] [flags]

run: run the stack on a DPDK port. proxy: run it as an L4 TCP proxy.
"dpstack run -h" and "dpstack proxy -h" list the flags.
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
	default:
		fmt.Fprintf(os.Stderr, "dpstack: unknown command %q\n%s", os.Args[1], usage)
		os.Exit(2)
	}
}

func newLogger(level slog.Level) *slog.Logger {
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
}
