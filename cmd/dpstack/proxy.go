package main

import (
	"errors"
	"flag"
	"fmt"
	"net/netip"
	"os"
	"strings"
	"time"

	"github.com/dpstack/dpstack/stack"
)

// proxyConfig is what "dpstack proxy" was asked to do, beside the stack's
// flags.
type proxyConfig struct {
	listen         netip.AddrPort
	upstreams      []netip.AddrPort
	balance        balance
	connectTimeout time.Duration
}

// balance is how the proxy picks the first upstream to try for a client.
type balance int

const (
	balanceRR     balance = iota // round robin, per core
	balanceSource                // a hash of the client's address
)

// parseProxyFlags parses "dpstack proxy": the stack's flags of "dpstack
// run" (no built-in services by default) and the proxy's.
func parseProxyFlags(args []string) (runConfig, proxyConfig, error) {
	var p proxyConfig
	var listen, ups, bal string
	c, err := parseStackFlags("dpstack proxy", "--listen ADDR:PORT --upstream ADDR:PORT[,...] ", false, args, func(fs *flag.FlagSet) {
		fs.StringVar(&listen, "listen", "", "the proxy's address and port, e.g. 198.18.0.2:80 or :80 (required)")
		fs.StringVar(&ups, "upstream", "", "upstream servers, tried in turn on failure: ADDR:PORT[,ADDR:PORT...] (required)")
		fs.StringVar(&bal, "balance", "rr", "how a client's first upstream is chosen: rr (round robin) or source (a hash of its address)")
		fs.DurationVar(&p.connectTimeout, "connect-timeout", 3*time.Second, "an upstream that has not answered by then is given up for the next")
	})
	if err != nil {
		return c, p, err
	}
	if p.listen, err = parseListen(listen); err != nil {
		return c, p, err
	}
	if ups == "" {
		return c, p, errors.New("--upstream: give at least one ADDR:PORT")
	}
	for _, f := range strings.Split(ups, ",") {
		u, err := netip.ParseAddrPort(strings.TrimSpace(f))
		if err != nil || !u.Addr().Is4() || u.Port() == 0 {
			return c, p, fmt.Errorf("--upstream %q: want IPv4 ADDR:PORT[,ADDR:PORT...]", ups)
		}
		p.upstreams = append(p.upstreams, u)
	}
	switch bal {
	case "rr":
		p.balance = balanceRR
	case "source":
		p.balance = balanceSource
	default:
		return c, p, fmt.Errorf("--balance %q: want rr or source", bal)
	}
	if p.connectTimeout <= 0 {
		return c, p, fmt.Errorf("--connect-timeout %v: want a positive duration", p.connectTimeout)
	}
	return c, p, nil
}

// parseListen reads --listen: ADDR:PORT, or :PORT for the stack's address.
func parseListen(s string) (netip.AddrPort, error) {
	bad := fmt.Errorf("--listen %q: want ADDR:PORT or :PORT", s)
	if port, ok := strings.CutPrefix(s, ":"); ok {
		a, err := netip.ParseAddrPort("0.0.0.0:" + port)
		if err != nil || a.Port() == 0 {
			return a, bad
		}
		return a, nil
	}
	a, err := netip.ParseAddrPort(s)
	if err != nil || !a.Addr().Is4() || a.Port() == 0 {
		return a, bad
	}
	return a, nil
}

// proxyMain runs "dpstack proxy" and returns the exit status.
func proxyMain(args []string) int {
	cfg, pcfg, err := parseProxyFlags(args)
	if errors.Is(err, errHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "dpstack:", err)
		return 2
	}
	log := newLogger(cfg.logLevel)
	err = run(cfg, log, func(h *stack.Host) (application, error) {
		p, err := startProxy(h, pcfg)
		if err == nil {
			log.Info("proxy", "listen", p.ln.Addr().String(), "upstreams", pcfg.upstreams, "balance", pcfg.balance.String(),
				"connect_timeout", pcfg.connectTimeout)
		}
		return p, err
	})
	if err != nil {
		log.Error("dpstack failed", "err", err)
		return 1
	}
	return 0
}

func (b balance) String() string {
	if b == balanceSource {
		return "source"
	}
	return "rr"
}
