package kclient

import (
	"context"
	"fmt"
	"io"
	"time"
)

// settle is how long a server is left alone after the load before its
// idle CPU is measured.
const settle = time.Second

// measureServer runs every client against t into row: pings, the TCP
// ping-pong, the HTTP loads (with the server's CPU time over them) and
// then the server's CPU use while idle. A client that fails leaves its
// columns empty and its error in row; the others still run.
func measureServer(ctx context.Context, t *target, b *bins, l Limits, row *Row, log io.Writer) {
	c := clients{t, b, l}
	step := func(name string, fn func() error) { step(log, row, name, fn) }
	step("ping", func() error {
		s, err := c.ping(ctx, false)
		row.Ping, row.PingMax = s.avg, s.max
		return err
	})
	step("flood", func() error {
		s, err := c.ping(ctx, true)
		row.Flood = s.avg
		return err
	})
	step("pingpong", func() error {
		r, err := c.pingpong(ctx, "tcp", echoPort)
		row.RTT = r
		return err
	})
	cpu0, cpuErr := t.srv.cpu()
	requests, loadErr := 0, error(nil)
	step("ab", func() error {
		s, err := c.ab(ctx, false)
		row.AB, row.BodyLen, requests = s.perSecond, s.bodyLen, requests+s.complete
		loadErr = err
		return err
	})
	step("ab -k", func() error {
		s, err := c.ab(ctx, true)
		row.ABKeepAlive, requests = s.perSecond, requests+s.complete
		loadErr = firstErr(loadErr, err)
		return err
	})
	step("wrk", func() error {
		s, err := c.wrk(ctx, concurrency)
		row.Wrk, row.WrkP50, row.WrkP99, requests = s.perSecond, s.p50, s.p99, requests+s.requests
		loadErr = firstErr(loadErr, err)
		return err
	})
	cpu1, err := t.srv.cpu()
	cpuErr = firstErr(cpuErr, err)
	switch {
	case cpuErr != nil:
		row.fail("server CPU", cpuErr)
	case loadErr == nil && requests > 0:
		row.CPUPer100k = (cpu1 - cpu0).Seconds() * 100000 / float64(requests)
	}
	step("idle", func() error { return idleCPU(ctx, t.srv, l.Idle, row) })
}

// measureFloor runs the UDP ping-pong against testpmd's reflection into
// row's round-trip columns, and the server's idle CPU; it returns ping's
// figures, which cross the TAP twice (see Report.FloorPing).
func measureFloor(ctx context.Context, t *target, b *bins, l Limits, row *Row, log io.Writer) pingStats {
	c := clients{t, b, l}
	var ping pingStats
	step(log, row, "udp", func() (err error) { row.RTT, err = c.pingpong(ctx, "udp", floorPort); return err })
	step(log, row, "ping", func() (err error) { ping, err = c.ping(ctx, false); return err })
	step(log, row, "idle", func() error { return idleCPU(ctx, t.srv, l.Idle, row) })
	return ping
}

// step runs one client, logs how long it took, and records its error in
// row.
func step(log io.Writer, row interface{ fail(string, error) }, name string, fn func() error) {
	t0 := time.Now()
	err := fn()
	fmt.Fprintf(log, "  %-10s %6.2fs", name, time.Since(t0).Seconds())
	if err != nil {
		row.fail(name, err)
		fmt.Fprintf(log, "  error: %v", err)
	}
	fmt.Fprintln(log)
}

// idleCPU waits settle, then measures the server's CPU use over d as a
// percentage of one core, into row.
func idleCPU(ctx context.Context, srv *server, d time.Duration, row *Row) error {
	if err := sleep(ctx, settle); err != nil {
		return err
	}
	cpu0, err := srv.cpu()
	if err != nil {
		return err
	}
	t0 := time.Now()
	if err := sleep(ctx, d); err != nil {
		return err
	}
	cpu1, err := srv.cpu()
	if err != nil {
		return err
	}
	row.IdleCPU = 100 * (cpu1 - cpu0).Seconds() / time.Since(t0).Seconds()
	return nil
}

// sleep waits d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	select {
	case <-time.After(d):
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func firstErr(a, b error) error {
	if a != nil {
		return a
	}
	return b
}
