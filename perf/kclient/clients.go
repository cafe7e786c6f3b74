package kclient

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"time"
)

// clientGrace is how long past its own bound a client may run before it
// is killed and fails.
const clientGrace = 15 * time.Second

// httpPort and echoPort are the services' ports (cmd/dpstack/services.go).
const (
	echoPort = "7"
	httpPort = "8080"
)

// concurrency is ab's and wrk's number of connections.
const concurrency = "10"

// clients run the client programs in a target's namespace against its
// address.
type clients struct {
	t *target
	b *bins
	l Limits
}

// run runs name with args in the clients' namespace, killing it after
// bound plus clientGrace, and returns its standard output.
func (c clients) run(ctx context.Context, bound time.Duration, name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, bound+clientGrace)
	defer cancel()
	var stdout, stderr bytes.Buffer
	cmd := inNetns(ctx, c.t.ns, onCPU(c.t.cpu, name, args...)...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("%s: %w: %s", name, err, oneLine(stderr.String()+stdout.String()))
	}
	return stdout.String(), nil
}

// ping sends l.Pings echo requests 2 ms apart, or, flooding, l.Floods
// echo requests each as soon as the last was answered.
func (c clients) ping(ctx context.Context, flood bool) (pingStats, error) {
	n, mode := c.l.Pings, []string{"-i", "0.002"}
	bound := time.Duration(n)*2*time.Millisecond + 2*time.Second
	if flood {
		n, mode = c.l.Floods, []string{"-f"}
		bound = time.Duration(n)*time.Millisecond + 2*time.Second
	}
	secs := strconv.Itoa(int(bound.Seconds()) + 1)
	args := append(mode, "-q", "-n", "-c", strconv.Itoa(n), "-w", secs, c.t.addr)
	out, err := c.run(ctx, bound, "ping", args...)
	s, perr := parsePing(out)
	if perr != nil {
		return s, fmt.Errorf("%w; %v", perr, err)
	}
	if s.received < s.sent {
		return s, fmt.Errorf("%d of %d echo requests unanswered", s.sent-s.received, s.sent)
	}
	return s, nil
}

// pingpong runs cmd/pingpong over proto against port.
func (c clients) pingpong(ctx context.Context, proto, port string) (PingPong, error) {
	out, err := c.run(ctx, c.l.RTTTime+10*time.Second, c.b.pingpong, "-proto", proto,
		"-addr", c.t.addr+":"+port, "-warmup", strconv.Itoa(c.l.Warmup), "-n", strconv.Itoa(c.l.Exchanges),
		"-time", c.l.RTTTime.String())
	var r PingPong
	if err != nil {
		return r, err
	}
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		return r, fmt.Errorf("pingpong printed %q: %w", out, err)
	}
	return r, nil
}

// ab runs ApacheBench: l.Requests requests or l.LoadTime, with a
// connection per request or, keepAlive, connections kept alive. Its
// percentiles come from the file -e writes: its printed table rounds
// them to whole milliseconds.
func (c clients) ab(ctx context.Context, keepAlive bool) (abStats, error) {
	// -t first: it implies -n 50000, which the -n after it overrides.
	args := []string{"-q", "-r", "-s", "5", "-t", strconv.Itoa(int(c.l.LoadTime.Seconds())),
		"-n", strconv.Itoa(c.l.Requests), "-c", concurrency}
	if keepAlive {
		args = append(args, "-k")
	}
	pct, err := os.CreateTemp(c.b.dir, "ab-*.csv")
	if err != nil {
		return abStats{}, err
	}
	pct.Close()
	defer os.Remove(pct.Name())
	args = append(args, "-e", pct.Name())
	out, err := c.run(ctx, c.l.LoadTime, "ab", append(args, "http://"+c.t.addr+":"+httpPort+"/")...)
	if err != nil {
		return abStats{}, err
	}
	s, err := parseAB(out)
	if err == nil {
		var b []byte
		if b, err = os.ReadFile(pct.Name()); err == nil {
			s.p50, s.p99, err = parseABPercentiles(string(b))
		}
	}
	if err == nil && s.failed+s.non2xx > 0 {
		err = fmt.Errorf("%d of %d requests failed, %d answers not 2xx", s.failed, s.complete, s.non2xx)
	}
	return s, err
}

// wrk runs wrk with one thread and conns connections for l.LoadTime.
func (c clients) wrk(ctx context.Context, conns string) (wrkStats, error) {
	secs := strconv.Itoa(int(c.l.LoadTime.Seconds())) + "s"
	out, err := c.run(ctx, c.l.LoadTime, "wrk", "-t1", "-c"+conns, "-d"+secs, "--timeout", "2s", "--latency",
		"http://"+c.t.addr+":"+httpPort+"/")
	if err != nil {
		return wrkStats{}, err
	}
	s, err := parseWrk(out)
	if err == nil && s.errors > 0 {
		err = fmt.Errorf("%d socket errors or non-2xx/3xx answers in %d requests", s.errors, s.requests)
	}
	return s, err
}
