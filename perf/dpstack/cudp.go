package dpstack

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"syscall"
	"time"

	"github.com/dpstack/dpstack/api"
	"github.com/dpstack/dpstack/lcore"
	"github.com/dpstack/dpstack/perf/harness"
)

// UDPCallback is dpstack's callback UDP sockets (api.ListenUDPCallback,
// api.DialUDPCallback) between two hosts: the server replies from inside
// its handler, in a packet it fills in place, and the client is a
// handler too.
type UDPCallback struct {
	*pair
	name string
}

// NewUDPCallback opens the pair of hosts.
func NewUDPCallback(name string, o Options) (*UDPCallback, error) {
	p, err := newPair(o)
	if err != nil {
		return nil, err
	}
	return &UDPCallback{pair: p, name: name}, nil
}

// Name implements harness.UDPSystem.
func (u *UDPCallback) Name() string { return u.name }

// Close implements harness.UDPSystem.
func (u *UDPCallback) Close() error { return u.close() }

// onCore runs fn on the client's core c belongs to.
func (u *UDPCallback) onCore(c *api.CUDPConn, fn func()) error {
	if !u.client.Loop(c.Core()).Post(fn) {
		return fmt.Errorf("client core: %w", syscall.EAGAIN)
	}
	return nil
}

// udpEcho sends every datagram back to its source from inside the
// handler: the reply is filled in place in its packet (SendBuffer) and
// sent (CommitTo).
type udpEcho struct{}

func (udpEcho) Datagram(c *api.CUDPConn, data []byte, from netip.AddrPort) {
	buf, err := c.SendBuffer(len(data))
	if err != nil {
		return // no mbuf: the client times out, as it would on a loss
	}
	c.CommitTo(copy(buf, data), from)
}

func (udpEcho) Error(*api.CUDPConn, error) {}

// send sends p on c, filled in place, to the connected peer.
func send(c *api.CUDPConn, p []byte) error {
	buf, err := c.SendBuffer(len(p))
	if err != nil {
		return err
	}
	if c.Commit(copy(buf, p)) == 0 {
		return errors.New("datagram not sent")
	}
	return nil
}

// udpRTTClient sends a request, waits for the response, records the time
// and sends the next, on the client's core, in slices that Ping starts;
// after a slice it reports on done.
type udpRTTClient struct {
	c         *api.CUDPConn
	req       [harness.MsgSize]byte
	exchanges int
	warm      int // untimed exchanges left in the slice
	left      int // timed exchanges left in the slice
	lat       []time.Duration
	t0        time.Time
	done      chan error
}

// report tells the measuring goroutine an outcome; the core never blocks
// on it.
func (h *udpRTTClient) report(err error) {
	select {
	case h.done <- err:
	default:
	}
}

// next sends the slice's next request, or reports the slice done.
func (h *udpRTTClient) next() {
	if h.warm == 0 && h.left == 0 {
		h.report(nil)
		return
	}
	h.exchanges++
	h.req[0] = byte(h.exchanges)
	h.t0 = time.Now()
	if err := send(h.c, h.req[:]); err != nil {
		h.report(fmt.Errorf("exchange %d: %w", h.exchanges, err))
	}
}

func (h *udpRTTClient) Datagram(_ *api.CUDPConn, data []byte, _ netip.AddrPort) {
	// Timed as harness.PacketScenarios times the other rows.
	rtt := time.Since(h.t0)
	if len(data) != len(h.req) || data[0] != h.req[0] {
		h.report(fmt.Errorf("exchange %d: response does not echo the request", h.exchanges))
		return
	}
	if h.warm > 0 {
		h.warm--
	} else {
		h.lat = append(h.lat, rtt)
		h.left--
	}
	h.next()
}

func (h *udpRTTClient) Error(_ *api.CUDPConn, err error) { h.report(err) }

// udpPinger drives a udpRTTClient from the measuring goroutine.
type udpPinger struct {
	u        *UDPCallback
	h        *udpRTTClient
	ln       *api.CUDPListener
	deadline time.Time
}

// RoundTrip implements harness.UDPSystem.
func (u *UDPCallback) RoundTrip(ctx context.Context, l harness.Limits) (harness.Pinger, error) {
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = harness.Deadline(ctx, l.RTTTime, l)
	}
	ln, err := api.ListenUDPCallback(u.server, serverAddr.Addr().String()+":0", udpEcho{})
	if err != nil {
		return nil, err
	}
	h := &udpRTTClient{done: make(chan error, 1)}
	if h.c, err = api.DialUDPCallback(u.client, ln.Addr().String(), h); err != nil {
		ln.Close()
		return nil, err
	}
	p := &udpPinger{u: u, h: h, ln: ln, deadline: deadline}
	if _, err := p.Ping(l.Warmup, 0, nil); err != nil {
		return nil, errors.Join(err, p.Close())
	}
	return p, nil
}

// Ping implements harness.Pinger.
func (p *udpPinger) Ping(warm, n int, lat []time.Duration) ([]time.Duration, error) {
	if err := p.u.onCore(p.h.c, func() {
		p.h.warm, p.h.left, p.h.lat = warm, n, lat
		p.h.next()
	}); err != nil {
		return lat, err
	}
	if err := wait(p.h.done, p.deadline); err != nil {
		return lat, err
	}
	// The slice is over: the core no longer touches lat.
	out := p.h.lat
	p.h.lat = nil
	return out, nil
}

// Close implements harness.Pinger.
func (p *udpPinger) Close() error {
	closed := make(chan struct{})
	err := p.u.onCore(p.h.c, func() {
		p.h.c.Close()
		close(closed)
	})
	if err == nil {
		<-closed
	}
	return errors.Join(err, p.ln.Close())
}

// wait waits for an outcome on done until deadline.
func wait(done <-chan error, deadline time.Time) error {
	t := time.NewTimer(time.Until(deadline))
	defer t.Stop()
	select {
	case err := <-done:
		return err
	case <-t.C:
		return errors.New("timed out")
	}
}

// udpSink counts the datagrams that reach the server.
type udpSink struct{ rx *harness.Receiver }

func (s udpSink) Datagram(*api.CUDPConn, []byte, netip.AddrPort) { s.rx.Got() }

func (udpSink) Error(*api.CUDPConn, error) {}

// udpStreamer sends its datagrams on the client's core, a burst per turn
// (it defers itself to the next), until it sent total or its time is up;
// a send the pool or the device refuses is tried again next turn.
type udpStreamer struct {
	c     *api.CUDPConn
	loop  *lcore.Loop // c's core's
	msg   [harness.MsgSize]byte
	total int
	sent  int
	limit time.Duration
	start time.Time
	burst func()
	meter *harness.StreamMeter
	done  chan error
}

// streamBurst is how many datagrams the streamer sends per turn: a
// transmit burst.
const streamBurst = 32

func (h *udpStreamer) begin() {
	h.start = time.Now()
	h.burst = h.send
	h.send()
}

func (h *udpStreamer) send() {
	for range streamBurst {
		if h.sent >= h.total {
			break
		}
		if err := send(h.c, h.msg[:]); err != nil {
			if !errors.Is(err, syscall.ENOBUFS) {
				h.done <- fmt.Errorf("send after %d datagrams: %w", h.sent, err)
				return
			}
			break
		}
		h.sent++
		h.meter.Sent(h.total, h.start, h.limit)
	}
	if h.sent >= h.total || time.Since(h.start) >= h.limit {
		h.meter.Stop()
		h.done <- nil
		return
	}
	h.loop.Defer(h.burst)
}

func (*udpStreamer) Datagram(*api.CUDPConn, []byte, netip.AddrPort) {}

func (*udpStreamer) Error(*api.CUDPConn, error) {}

// Stream implements harness.UDPSystem.
func (u *UDPCallback) Stream(ctx context.Context, l harness.Limits) (st harness.Stream, err error) {
	deadline := harness.Deadline(ctx, l.StreamTime, l)
	var rx harness.Receiver
	ln, err := api.ListenUDPCallback(u.server, serverAddr.Addr().String()+":0", udpSink{&rx})
	if err != nil {
		return st, err
	}
	defer ln.Close()
	h := &udpStreamer{total: l.Datagrams, limit: l.StreamTime, meter: harness.NewStreamMeter(), done: make(chan error, 1)}
	if h.c, err = api.DialUDPCallback(u.client, ln.Addr().String(), h); err != nil {
		return st, err
	}
	h.loop = u.client.Loop(h.c.Core())
	defer func() {
		closed := make(chan struct{})
		if u.onCore(h.c, func() { h.c.Close(); close(closed) }) == nil {
			<-closed
		}
	}()
	if err := u.onCore(h.c, h.begin); err != nil {
		return st, err
	}
	if err := wait(h.done, deadline); err != nil {
		return st, fmt.Errorf("sender: %w", err)
	}
	st.Sent = h.sent
	h.meter.Record(&st)
	rx.Drain(st.Sent, deadline)
	st.Received, st.Elapsed = rx.Result(h.start)
	return st, nil
}
