package dpstack

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"
	"time"

	"github.com/dpstack/dpstack/api"
	"github.com/dpstack/dpstack/perf/harness"
)

// Callback is dpstack's callback API between two hosts: the scenarios'
// clients and servers are Handlers running on the hosts' cores, and the
// measuring goroutine only starts them and waits for the outcome.
type Callback struct {
	*pair
	name string
}

// NewCallback opens the pair of hosts.
func NewCallback(name string, o Options) (*Callback, error) {
	p, err := newPair(o)
	if err != nil {
		return nil, err
	}
	return &Callback{pair: p, name: name}, nil
}

// Name implements harness.System.
func (cb *Callback) Name() string { return cb.name }

// Close implements harness.System.
func (cb *Callback) Close() error { return cb.close() }

// listen starts a callback listener on a port of the server's choosing
// and returns it with the address to dial.
func (cb *Callback) listen(hd api.Handler) (io.Closer, string, error) {
	ln, err := api.ListenCallback(cb.server, serverAddr.Addr().String()+":0", hd)
	if err != nil {
		return nil, "", err
	}
	return ln, ln.Addr().String(), nil
}

// onClient runs fn on the client's core.
func (cb *Callback) onClient(fn func()) error {
	if !cb.client.Stacks()[0].Loop().Post(fn) {
		return fmt.Errorf("client core: %w", syscall.EAGAIN)
	}
	return nil
}

// wait waits for a handler's outcome until deadline; on timeout it closes
// the handler's connection on the client's core.
func (cb *Callback) wait(done <-chan error, deadline time.Time, c *conn) error {
	t := time.NewTimer(time.Until(deadline))
	defer t.Stop()
	select {
	case err := <-done:
		return err
	case <-t.C:
		cb.onClient(c.close)
		return errors.New("timed out")
	}
}

// conn is what the client handlers share: the connection they drive and
// the channel they report on. Its fields belong to the client's core.
type conn struct {
	c    *api.CConn
	done chan error
}

// finish closes the connection and reports err, once.
func (k *conn) finish(err error) {
	if k.c == nil {
		return
	}
	k.c.Close()
	k.c = nil
	k.report(err)
}

// report tells the measuring goroutine an outcome. The core never blocks
// on it: a report nobody took (the goroutine timed out) is dropped.
func (k *conn) report(err error) {
	select {
	case k.done <- err:
	default:
	}
}

// close is finish for the measuring goroutine's timeout.
func (k *conn) close() { k.finish(errors.New("timed out")) }

func (k *conn) accept(c *api.CConn) {
	k.c = c
	c.SetNoDelay(true)
}

// closed is the common Closed event of a client: the server went away
// before the client was done.
func (k *conn) closed(c *api.CConn, err error) {
	if err == nil {
		err = io.ErrUnexpectedEOF
	}
	if k.c == nil {
		c.Close()
		return
	}
	k.finish(err)
}

// echoServer answers every byte with the same byte: as it does not care
// where requests begin and end, it sends back each packet's payload as it
// comes.
type echoServer struct{}

func (echoServer) Accept(c *api.CConn) { c.SetNoDelay(true) }

func (echoServer) Data(c *api.CConn, data []byte) int {
	n, _ := c.Send(data)
	return n
}

func (echoServer) Writable(*api.CConn) {}

func (echoServer) Closed(c *api.CConn, _ error) { c.Close() }

// rttClient sends a request, waits for the whole response, records the
// time and sends the next, all on the client's core, in slices that Ping
// starts: after the last exchange of a slice it reports on done and waits
// for the next.
type rttClient struct {
	conn
	req  [harness.MsgSize]byte
	got  int
	warm int // untimed exchanges left in the slice
	left int // timed exchanges left in the slice
	lat  []time.Duration
	t0   time.Time
}

func (h *rttClient) Accept(c *api.CConn) {
	h.accept(c)
	h.next()
}

// next sends the slice's next request, or reports the slice done.
func (h *rttClient) next() {
	if h.warm == 0 && h.left == 0 {
		h.report(nil)
		return
	}
	h.t0 = time.Now()
	if n, err := h.c.Send(h.req[:]); n != len(h.req) {
		h.finish(fmt.Errorf("request took %d bytes: %v", n, err))
	}
}

func (h *rttClient) Data(_ *api.CConn, data []byte) int {
	h.got += len(data)
	if h.got < len(h.req) {
		return len(data)
	}
	// Timed as harness.ConnScenarios times the other rows: time.Now
	// before the request, time.Since after the response.
	rtt := time.Since(h.t0)
	h.got -= len(h.req)
	if h.warm > 0 {
		h.warm--
	} else {
		h.lat = append(h.lat, rtt)
		h.left--
	}
	h.next()
	return len(data)
}

func (h *rttClient) Writable(*api.CConn) {}

func (h *rttClient) Closed(c *api.CConn, err error) { h.closed(c, err) }

// rttPinger drives an rttClient from the measuring goroutine.
type rttPinger struct {
	cb       *Callback
	h        *rttClient
	ln       io.Closer
	deadline time.Time
}

// RoundTrip implements harness.Scenarios.
func (cb *Callback) RoundTrip(ctx context.Context, l harness.Limits) (harness.Pinger, error) {
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = harness.Deadline(ctx, l.RTTTime, l)
	}
	ln, addr, err := cb.listen(echoServer{})
	if err != nil {
		return nil, err
	}
	p := &rttPinger{cb: cb, h: &rttClient{conn: conn{done: make(chan error, 1)}, warm: l.Warmup}, ln: ln,
		deadline: deadline}
	if err := api.DialCallback(cb.client, addr, p.h); err != nil {
		ln.Close()
		return nil, err
	}
	if err := cb.wait(p.h.done, deadline, &p.h.conn); err != nil {
		ln.Close()
		return nil, err
	}
	return p, nil
}

// Ping implements harness.Pinger.
func (p *rttPinger) Ping(warm, n int, lat []time.Duration) (out []time.Duration, err error) {
	if err := p.cb.onClient(func() {
		h := p.h
		if h.c == nil {
			h.report(net.ErrClosed)
			return
		}
		h.warm, h.left, h.lat = warm, n, lat
		h.next()
	}); err != nil {
		return lat, err
	}
	if err := p.cb.wait(p.h.done, p.deadline, &p.h.conn); err != nil {
		return lat, err
	}
	out, p.h.lat = p.h.lat, nil
	return out, nil
}

// Close implements harness.Pinger.
func (p *rttPinger) Close() error {
	done := make(chan struct{})
	err := p.cb.onClient(func() {
		if p.h.c != nil {
			p.h.c.Close()
			p.h.c = nil
		}
		close(done)
	})
	if err == nil {
		<-done
	}
	return errors.Join(err, p.ln.Close())
}

// connClient makes one exchange on a connection, then opens the next
// from the core before it closes this one (CConn.Dial, as a handler opens
// a second leg), until it has made total or the time is up; it reports
// after the last. So the connections follow one another on the client's
// core, as the rtt client's exchanges do, without a goroutine starting
// each.
type connClient struct {
	conn
	addr  string
	total int       // connections to make
	n     int       // connections made
	until time.Time // when to stop opening more (Limits.ConnTime)
	req   [harness.MsgSize]byte
	got   int
}

func (h *connClient) Accept(c *api.CConn) {
	h.accept(c)
	h.got = 0
	if n, err := c.Send(h.req[:]); n != len(h.req) {
		h.finish(fmt.Errorf("request took %d bytes: %v", n, err))
	}
}

func (h *connClient) Data(c *api.CConn, data []byte) int {
	h.got += len(data)
	if h.got < len(h.req) {
		return len(data)
	}
	h.n++
	if h.n == h.total || time.Now().After(h.until) {
		h.finish(nil)
		return len(data)
	}
	if _, err := c.Dial(h.addr, h); err != nil {
		h.finish(fmt.Errorf("dial %d: %w", h.n, err))
		return len(data)
	}
	h.c = nil // until the next one's Accept
	c.Close()
	return len(data)
}

func (h *connClient) Writable(*api.CConn) {}

func (h *connClient) Closed(c *api.CConn, err error) {
	if h.c == nil {
		h.c = c // the next connection failed before it came up
	}
	h.closed(c, err)
}

// Connections implements harness.Scenarios. The measuring goroutine
// dials the first connection and waits for the client's word that the
// last is done.
func (cb *Callback) Connections(ctx context.Context, l harness.Limits) (harness.Rate, error) {
	ln, addr, err := cb.listen(echoServer{})
	if err != nil {
		return harness.Rate{}, err
	}
	defer ln.Close()
	dl := harness.Deadline(ctx, l.ConnTime, l)
	start := time.Now()
	h := &connClient{conn: conn{done: make(chan error, 1)}, addr: addr, total: l.Conns, until: start.Add(l.ConnTime)}
	if err := api.DialCallback(cb.client, addr, h); err != nil {
		return harness.Rate{}, fmt.Errorf("dial: %w", err)
	}
	if err := cb.wait(h.done, dl, &h.conn); err != nil {
		return harness.Rate{}, fmt.Errorf("connections: %w", err)
	}
	return harness.Rate{N: h.n, Elapsed: time.Since(start)}, nil
}

// bulkClient fills the send buffer in place whenever it has room, until
// it has sent total bytes or the time is up, then closes.
type bulkClient struct {
	conn
	src     []byte
	total   int64
	sent    int64
	limit   time.Duration
	start   time.Time
	up      chan struct{}
	started bool
	meter   *harness.Meter
}

func (h *bulkClient) Accept(c *api.CConn) {
	h.accept(c)
	h.up <- struct{}{}
}

// begin runs on the core once the measuring goroutine has started its
// meter.
func (h *bulkClient) begin() {
	h.started = true
	h.start = time.Now()
	h.fill()
}

func (h *bulkClient) fill() {
	for h.c != nil && h.sent < h.total && time.Since(h.start) < h.limit {
		buf, err := h.c.SendBuffer(int(min(int64(len(h.src)), h.total-h.sent)))
		if err != nil {
			if !errors.Is(err, syscall.EAGAIN) {
				h.finish(fmt.Errorf("send buffer after %d bytes: %w", h.sent, err))
			}
			return // Writable follows
		}
		n := copy(buf, h.src)
		h.c.Commit(n)
		h.sent += int64(n)
		h.meter.Progress(h.sent, h.total, time.Since(h.start), h.limit)
	}
	if h.c != nil {
		h.meter.Stop()
		h.finish(nil) // Close: the FIN follows the queued data
	}
}

func (h *bulkClient) Data(_ *api.CConn, data []byte) int { return len(data) }

func (h *bulkClient) Writable(*api.CConn) {
	if h.started {
		h.fill()
	}
}

func (h *bulkClient) Closed(c *api.CConn, err error) { h.closed(c, err) }

// sink counts what arrives until the end of the stream.
type sink struct {
	n    int64
	end  time.Time
	done chan error
}

func (s *sink) Accept(c *api.CConn) {}

func (s *sink) Data(_ *api.CConn, data []byte) int {
	s.n += int64(len(data))
	return len(data)
}

func (s *sink) Writable(*api.CConn) {}

func (s *sink) Closed(c *api.CConn, err error) {
	s.end = time.Now()
	c.Close()
	s.done <- err
}

// Bulk implements harness.Scenarios.
func (cb *Callback) Bulk(ctx context.Context, l harness.Limits) (harness.Throughput, error) {
	srv := &sink{done: make(chan error, 1)}
	ln, addr, err := cb.listen(srv)
	if err != nil {
		return harness.Throughput{}, err
	}
	defer ln.Close()
	dl := harness.Deadline(ctx, l.BulkTime, l)
	h := &bulkClient{conn: conn{done: make(chan error, 1)}, src: make([]byte, 64<<10), total: l.BulkBytes,
		limit: l.BulkTime, up: make(chan struct{}, 1), meter: harness.NewMeter(cb.segments)}
	if err := api.DialCallback(cb.client, addr, h); err != nil {
		return harness.Throughput{}, err
	}
	select {
	case <-h.up:
	case err := <-h.done:
		return harness.Throughput{}, fmt.Errorf("connect: %v", err)
	case <-time.After(time.Until(dl)):
		cb.onClient(h.close)
		return harness.Throughput{}, errors.New("connect: timed out")
	}
	if err := cb.onClient(h.begin); err != nil {
		cb.onClient(h.close)
		return harness.Throughput{}, err
	}
	if err := cb.wait(h.done, dl, &h.conn); err != nil {
		return harness.Throughput{}, fmt.Errorf("sender: %w", err)
	}
	var serr error
	select {
	case serr = <-srv.done:
	case <-time.After(time.Until(dl)):
		return harness.Throughput{}, errors.New("receiver did not see the end of the stream")
	}
	t := harness.Throughput{Bytes: srv.n, Elapsed: srv.end.Sub(h.start)}
	h.meter.Record(&t)
	if serr != nil {
		return t, fmt.Errorf("receiver: %w", serr)
	}
	if srv.n != h.sent {
		return t, fmt.Errorf("receiver got %d of %d bytes", srv.n, h.sent)
	}
	return t, nil
}
