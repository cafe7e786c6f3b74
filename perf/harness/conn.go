package harness

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"
)

// ConnScenarios runs the scenarios over a system's net.Conn values.
type ConnScenarios struct {
	Conns
	// Segments, when set, counts the TCP segments both ends have sent, for
	// the allocations per segment of the bulk scenario.
	Segments func() uint64
}

// server accepts connections on a fresh listener and runs handle on each
// in its own goroutine until stop is called, which closes the listener
// and waits for the handlers.
type server struct {
	ln   net.Listener
	wg   sync.WaitGroup
	errs chan error
}

func serve(c Conns, deadline time.Time, handle func(net.Conn) error) (*server, error) {
	ln, err := c.Listen()
	if err != nil {
		return nil, fmt.Errorf("listen: %w", err)
	}
	s := &server{ln: ln, errs: make(chan error, 1)}
	s.wg.Go(func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return // closed by stop
			}
			s.wg.Go(func() {
				defer conn.Close()
				conn.SetDeadline(deadline)
				noDelay(conn)
				if err := handle(conn); err != nil {
					select {
					case s.errs <- err:
					default:
					}
				}
			})
		}
	})
	return s, nil
}

// stop closes the listener, waits for the handlers and returns the first
// error one of them had.
func (s *server) stop() error {
	s.ln.Close()
	s.wg.Wait()
	select {
	case err := <-s.errs:
		return fmt.Errorf("server: %w", err)
	default:
		return nil
	}
}

// noDelay turns Nagle's algorithm off where the conn lets it be set, as
// Go's net package does for kernel sockets (gVisor's default is off too).
func noDelay(conn net.Conn) {
	if c, ok := conn.(interface{ SetNoDelay(bool) error }); ok {
		c.SetNoDelay(true)
	}
}

// dial dials and turns Nagle's algorithm off.
func (s ConnScenarios) dial(ctx context.Context, addr net.Addr) (net.Conn, error) {
	conn, err := s.Dial(ctx, addr)
	if err != nil {
		return nil, err
	}
	noDelay(conn)
	return conn, nil
}

// echo answers every MsgSize-byte request with the same bytes until the
// client closes.
func echo(conn net.Conn) error {
	var buf [MsgSize]byte
	for {
		if _, err := io.ReadFull(conn, buf[:]); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
		if _, err := conn.Write(buf[:]); err != nil {
			return err
		}
	}
}

// exchange sends one request on conn and reads its response.
func exchange(conn net.Conn, req, resp []byte) error {
	if _, err := conn.Write(req); err != nil {
		return err
	}
	_, err := io.ReadFull(conn, resp)
	return err
}

// Deadline is when a scenario capped at limit gives up: l.Grace after the
// cap, or at the end of ctx if that is sooner.
func Deadline(ctx context.Context, limit time.Duration, l Limits) time.Time {
	d := time.Now().Add(limit + l.Grace)
	if cd, ok := ctx.Deadline(); ok && cd.Before(d) {
		d = cd
	}
	return d
}

// RoundTrip implements Scenarios.
func (s ConnScenarios) RoundTrip(ctx context.Context, l Limits) (Pinger, error) {
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = Deadline(ctx, l.RTTTime, l)
	}
	srv, err := serve(s.Conns, deadline, echo)
	if err != nil {
		return nil, err
	}
	conn, err := s.dial(ctx, srv.ln.Addr())
	if err != nil {
		return nil, errors.Join(fmt.Errorf("dial: %w", err), srv.stop())
	}
	conn.SetDeadline(deadline)
	p := &connPinger{srv: srv, conn: conn, req: make([]byte, MsgSize), resp: make([]byte, MsgSize)}
	if _, err := p.Ping(l.Warmup, 0, nil); err != nil {
		return nil, errors.Join(err, p.Close())
	}
	return p, nil
}

// connPinger is the round-trip scenario's net.Conn and echo server.
type connPinger struct {
	srv       *server
	conn      net.Conn
	req, resp []byte
	exchanges int
}

// Ping implements Pinger.
func (p *connPinger) Ping(warm, n int, lat []time.Duration) ([]time.Duration, error) {
	for i := range warm + n {
		p.exchanges++
		p.req[0] = byte(p.exchanges)
		t0 := time.Now()
		if err := exchange(p.conn, p.req, p.resp); err != nil {
			return lat, fmt.Errorf("exchange %d: %w", p.exchanges, err)
		}
		if i >= warm {
			lat = append(lat, time.Since(t0))
		}
		if p.resp[0] != p.req[0] {
			return lat, fmt.Errorf("exchange %d: response does not echo the request", p.exchanges)
		}
	}
	return lat, nil
}

// Close implements Pinger.
func (p *connPinger) Close() error {
	p.conn.Close()
	return p.srv.stop()
}

// Connections implements Scenarios. The server answers the one request,
// then waits for the client's FIN before closing its side.
func (s ConnScenarios) Connections(ctx context.Context, l Limits) (r Rate, err error) {
	deadline := Deadline(ctx, l.ConnTime, l)
	srv, err := serve(s.Conns, deadline, echo)
	if err != nil {
		return Rate{}, err
	}
	defer func() { err = errors.Join(err, srv.stop()) }()
	req, resp := make([]byte, MsgSize), make([]byte, MsgSize)
	start := time.Now()
	for r.N < l.Conns && time.Since(start) < l.ConnTime {
		conn, err := s.dial(ctx, srv.ln.Addr())
		if err != nil {
			return r, fmt.Errorf("dial %d: %w", r.N, err)
		}
		conn.SetDeadline(deadline)
		err = exchange(conn, req, resp)
		conn.Close()
		if err != nil {
			return r, fmt.Errorf("connection %d: %w", r.N, err)
		}
		r.N++
	}
	r.Elapsed = time.Since(start)
	return r, nil
}

// Bulk implements Scenarios. The client writes 64 KiB at a time until it
// has sent l.BulkBytes or l.BulkTime has passed, then closes; the time is
// taken when the server reads the end of the stream.
func (s ConnScenarios) Bulk(ctx context.Context, l Limits) (t Throughput, err error) {
	deadline := Deadline(ctx, l.BulkTime, l)
	type got struct {
		n   int64
		end time.Time
	}
	done := make(chan got, 1)
	srv, err := serve(s.Conns, deadline, func(conn net.Conn) error {
		n, err := io.CopyBuffer(io.Discard, conn, make([]byte, 64<<10))
		done <- got{n, time.Now()}
		return err
	})
	if err != nil {
		return Throughput{}, err
	}
	defer func() { err = errors.Join(err, srv.stop()) }()
	conn, err := s.dial(ctx, srv.ln.Addr())
	if err != nil {
		return Throughput{}, fmt.Errorf("dial: %w", err)
	}
	conn.SetDeadline(deadline)
	buf := make([]byte, 64<<10)
	var sent int64
	m := NewMeter(s.Segments)
	start := time.Now()
	for sent < l.BulkBytes && time.Since(start) < l.BulkTime {
		n, err := conn.Write(buf[:min(int64(len(buf)), l.BulkBytes-sent)])
		sent += int64(n)
		if err != nil {
			conn.Close()
			return Throughput{}, fmt.Errorf("write after %d bytes: %w", sent, err)
		}
		m.Progress(sent, l.BulkBytes, time.Since(start), l.BulkTime)
	}
	m.Stop()
	if err := conn.Close(); err != nil {
		return Throughput{}, fmt.Errorf("close: %w", err)
	}
	select {
	case g := <-done:
		if g.n != sent {
			return Throughput{}, fmt.Errorf("receiver got %d of %d bytes", g.n, sent)
		}
		t := Throughput{Bytes: g.n, Elapsed: g.end.Sub(start)}
		m.Record(&t)
		return t, nil
	case <-time.After(time.Until(deadline)):
		return Throughput{}, fmt.Errorf("receiver did not see the end of the stream after %d bytes", sent)
	}
}
