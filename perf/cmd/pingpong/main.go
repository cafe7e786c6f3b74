// Command pingpong measures request/response round trips over kernel
// sockets: one TCP connection (Nagle off) to an echo server, or one
// connected UDP socket to a reflector, 64-byte messages, one at a time.
// It prints the nearest-rank percentiles as one JSON object
// (kclient.PingPong) on stdout.
//
//	pingpong -proto tcp -addr 198.19.2.2:7 -warmup 2000 -n 20000 -time 5s
//	pingpong -proto udp -addr 198.19.3.2:9000 -wait 10s
//
// It is the compiled client of cmd/kclient, run inside a network namespace
// against the kernel, dpstack and the TAP floor alike.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/dpstack/dpstack/perf/harness"
	"github.com/dpstack/dpstack/perf/kclient"
)

// config is the command's flags.
type config struct {
	proto, addr  string
	size         int
	warmup, n    int
	limit, wait  time.Duration
	replyTimeout time.Duration
}

func main() {
	var c config
	flag.StringVar(&c.proto, "proto", "tcp", "tcp (an echo server) or udp (a reflector)")
	flag.StringVar(&c.addr, "addr", "", "server address, host:port")
	flag.IntVar(&c.size, "size", harness.MsgSize, "message size in bytes (at least 8)")
	flag.IntVar(&c.warmup, "warmup", 2000, "untimed exchanges first")
	flag.IntVar(&c.n, "n", 20000, "timed exchanges")
	flag.DurationVar(&c.limit, "time", 5*time.Second, "stop the timed exchanges after this long")
	flag.DurationVar(&c.wait, "wait", 10*time.Second, "how long to wait for the server's first answer")
	flag.DurationVar(&c.replyTimeout, "reply-timeout", time.Second, "how long one exchange may take before it fails (tcp) or counts as lost (udp)")
	flag.Parse()
	res, err := run(c)
	if err != nil {
		fmt.Fprintln(os.Stderr, "pingpong:", err)
		os.Exit(1)
	}
	json.NewEncoder(os.Stdout).Encode(res)
}

// exchanger makes one exchange; lost reports a UDP datagram that got no
// answer in time.
type exchanger interface {
	exchange(seq uint64) (lost bool, err error)
	Close() error
}

func run(c config) (kclient.PingPong, error) {
	if c.addr == "" || c.size < 8 || c.n <= 0 {
		return kclient.PingPong{}, fmt.Errorf("want -addr, -size ≥ 8 and -n > 0")
	}
	var x exchanger
	var err error
	switch c.proto {
	case "tcp":
		x, err = dialTCP(c)
	case "udp":
		x, err = dialUDP(c)
	default:
		err = fmt.Errorf("-proto %q: want tcp or udp", c.proto)
	}
	if err != nil {
		return kclient.PingPong{}, err
	}
	defer x.Close()
	var res kclient.PingPong
	seq := uint64(0)
	for ; seq < uint64(c.warmup); seq++ {
		if _, err := x.exchange(seq); err != nil {
			return res, fmt.Errorf("warm-up: %w", err)
		}
	}
	lat := make([]time.Duration, 0, c.n)
	start := time.Now()
	for len(lat) < c.n && time.Since(start) < c.limit {
		t0 := time.Now()
		lost, err := x.exchange(seq)
		d := time.Since(t0)
		seq++
		if err != nil {
			return res, fmt.Errorf("exchange %d: %w", len(lat), err)
		}
		if lost {
			res.Lost++
			continue
		}
		lat = append(lat, d)
	}
	s := harness.Summarise(lat)
	us := func(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }
	res.Exchanges, res.P50, res.P99, res.P999 = s.N, us(s.P50), us(s.P99), us(s.P999)
	return res, nil
}
