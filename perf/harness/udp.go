package harness

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync/atomic"
	"time"
)

// Stream is what the one-way datagram scenario moved: Sent datagrams of
// MsgSize bytes, of which the receiver got Received, the last of them
// Elapsed after the first was sent; and the Go heap allocations the
// process made while the sender sent the last Metered of them (a Meter's
// window: from an eighth of the way to the last send, so that setting up
// and draining stay out of it).
type Stream struct {
	Sent, Received int
	Elapsed        time.Duration
	Mallocs        uint64
	Metered        uint64
}

// StreamMeter is a Meter over the datagrams a stream's sender has sent.
type StreamMeter struct {
	*Meter
	sent uint64
}

// NewStreamMeter returns a meter for one stream's sender.
func NewStreamMeter() *StreamMeter {
	m := &StreamMeter{}
	m.Meter = NewMeter(func() uint64 { return m.sent })
	return m
}

// Sent counts a datagram sent and moves the window: the time is looked
// at once every 256 datagrams.
func (m *StreamMeter) Sent(total int, start time.Time, limit time.Duration) {
	m.sent++
	if m.sent%256 == 0 {
		m.Progress(int64(m.sent), int64(total), time.Since(start), limit)
	}
}

// Record puts the window's counts into st.
func (m *StreamMeter) Record(st *Stream) {
	st.Mallocs, st.Metered, _ = m.Window()
}

// PerSecond is the datagrams received per second.
func (s Stream) PerSecond() float64 {
	if s.Elapsed <= 0 {
		return 0
	}
	return float64(s.Received) / s.Elapsed.Seconds()
}

// Lost is the share of the sent datagrams the receiver did not get.
func (s Stream) Lost() float64 {
	if s.Sent == 0 {
		return 0
	}
	return 1 - float64(s.Received)/float64(s.Sent)
}

// AllocsPerDatagram is Mallocs per Metered datagram; ok false when no
// window was metered.
func (s Stream) AllocsPerDatagram() (float64, bool) {
	if s.Metered == 0 {
		return 0, false
	}
	return float64(s.Mallocs) / float64(s.Metered), true
}

// UDPSystem is one UDP implementation set up as a client and a server
// joined by a link.
type UDPSystem interface {
	// Name labels the system's row.
	Name() string
	// RoundTrip opens a client socket and an echo server, makes l.Warmup
	// untimed MsgSize-byte exchanges and returns the client, for
	// RoundTrips to time exchanges on in slices.
	RoundTrip(ctx context.Context, l Limits) (Pinger, error)
	// Stream sends up to l.Datagrams MsgSize-byte datagrams one way, as
	// fast as the sender can, for at most l.StreamTime, and reports what
	// the receiver got.
	Stream(ctx context.Context, l Limits) (Stream, error)
	// Close releases the system.
	Close() error
}

// PacketConn is the part of a UDP socket the scenarios use: Go's
// *net.UDPConn has it, and so has dpstack's *api.UDPConn.
type PacketConn interface {
	ReadFromUDPAddrPort(b []byte) (int, netip.AddrPort, error)
	WriteToUDPAddrPort(b []byte, addr netip.AddrPort) (int, error)
	LocalAddr() net.Addr
	SetDeadline(t time.Time) error
	SetReadDeadline(t time.Time) error
	Close() error
}

// Packets is what a system that offers UDP sockets provides: a socket on
// the server's side and one on the client's, each bound to a port of the
// system's choosing. Its scenarios are PacketScenarios'.
type Packets interface {
	ServerPacket() (PacketConn, error)
	ClientPacket() (PacketConn, error)
}

// PacketScenarios runs the UDP scenarios over a system's PacketConns.
type PacketScenarios struct{ Packets }

// drainQuiet is how long the stream's receiver may go without a datagram
// once the sender is done before the scenario takes the rest as lost.
const drainQuiet = 100 * time.Millisecond

// sockets opens the server's and the client's socket, with deadline.
func (s PacketScenarios) sockets(deadline time.Time) (srv, cli PacketConn, to netip.AddrPort, err error) {
	if srv, err = s.ServerPacket(); err != nil {
		return nil, nil, to, fmt.Errorf("server socket: %w", err)
	}
	if cli, err = s.ClientPacket(); err != nil {
		srv.Close()
		return nil, nil, to, fmt.Errorf("client socket: %w", err)
	}
	ua, ok := srv.LocalAddr().(*net.UDPAddr)
	if !ok {
		srv.Close()
		cli.Close()
		return nil, nil, to, fmt.Errorf("server address %v is not UDP", srv.LocalAddr())
	}
	srv.SetDeadline(deadline)
	cli.SetDeadline(deadline)
	return srv, cli, ua.AddrPort(), nil
}

// RoundTrip implements UDPSystem: the server echoes every datagram to
// its source.
func (s PacketScenarios) RoundTrip(ctx context.Context, l Limits) (Pinger, error) {
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = Deadline(ctx, l.RTTTime, l)
	}
	srv, cli, to, err := s.sockets(deadline)
	if err != nil {
		return nil, err
	}
	p := &packetPinger{srv: srv, cli: cli, to: to, req: make([]byte, MsgSize), resp: make([]byte, MsgSize),
		echoed: make(chan error, 1)}
	go func() { p.echoed <- echoPackets(srv, &p.closing) }()
	if _, err := p.Ping(l.Warmup, 0, nil); err != nil {
		return nil, errors.Join(err, p.Close())
	}
	return p, nil
}

// echoPackets sends every datagram back to its source until the socket
// is closed (closing is set first: not every system's read fails with
// net.ErrClosed then).
func echoPackets(c PacketConn, closing *atomic.Bool) error {
	var buf [MsgSize]byte
	for {
		n, from, err := c.ReadFromUDPAddrPort(buf[:])
		if err != nil {
			if closing.Load() {
				return nil
			}
			return err
		}
		if _, err := c.WriteToUDPAddrPort(buf[:n], from); err != nil {
			return err
		}
	}
}

// packetPinger is the UDP round-trip scenario's client and echo server.
type packetPinger struct {
	srv, cli  PacketConn
	to        netip.AddrPort
	req, resp []byte
	exchanges int
	closing   atomic.Bool
	echoed    chan error // the echo server's end
}

// Ping implements Pinger.
func (p *packetPinger) Ping(warm, n int, lat []time.Duration) ([]time.Duration, error) {
	for i := range warm + n {
		p.exchanges++
		p.req[0] = byte(p.exchanges)
		t0 := time.Now()
		if _, err := p.cli.WriteToUDPAddrPort(p.req, p.to); err != nil {
			return lat, fmt.Errorf("exchange %d: %w", p.exchanges, err)
		}
		m, _, err := p.cli.ReadFromUDPAddrPort(p.resp)
		if err != nil {
			return lat, fmt.Errorf("exchange %d: %w", p.exchanges, err)
		}
		if i >= warm {
			lat = append(lat, time.Since(t0))
		}
		if m != len(p.req) || p.resp[0] != p.req[0] {
			return lat, fmt.Errorf("exchange %d: response does not echo the request", p.exchanges)
		}
	}
	return lat, nil
}

// Close implements Pinger.
func (p *packetPinger) Close() error {
	p.closing.Store(true)
	p.cli.Close()
	p.srv.Close()
	if err := <-p.echoed; err != nil {
		return fmt.Errorf("server: %w", err)
	}
	return nil
}

// Stream implements UDPSystem. A goroutine reads and counts on the
// server's socket while this one sends; once the sender is done, the
// receiver has until it got every datagram or drainQuiet passed without
// one.
func (s PacketScenarios) Stream(ctx context.Context, l Limits) (st Stream, err error) {
	deadline := Deadline(ctx, l.StreamTime, l)
	srv, cli, to, err := s.sockets(deadline)
	if err != nil {
		return st, err
	}
	defer cli.Close()
	var rx Receiver
	var closing atomic.Bool
	read := make(chan error, 1)
	go func() {
		var buf [MsgSize]byte
		for {
			if _, _, err := srv.ReadFromUDPAddrPort(buf[:]); err != nil {
				if closing.Load() {
					err = nil
				}
				read <- err
				return
			}
			rx.Got()
		}
	}()
	m := NewStreamMeter()
	msg := make([]byte, MsgSize)
	start := time.Now()
	for st.Sent < l.Datagrams && (st.Sent%256 != 0 || time.Since(start) < l.StreamTime) {
		if _, err := cli.WriteToUDPAddrPort(msg, to); err != nil {
			closing.Store(true)
			srv.Close()
			<-read
			return st, fmt.Errorf("send after %d datagrams: %w", st.Sent, err)
		}
		st.Sent++
		m.Sent(l.Datagrams, start, l.StreamTime)
	}
	m.Stop()
	m.Record(&st)
	rx.Drain(st.Sent, deadline)
	closing.Store(true)
	srv.Close()
	if rerr := <-read; rerr != nil {
		return st, fmt.Errorf("receiver: %w", rerr)
	}
	st.Received, st.Elapsed = rx.Result(start)
	return st, nil
}

// Receiver counts a stream's datagrams on the receiving side and the
// time of the last; the sending side reads it.
type Receiver struct {
	n    atomic.Int64
	last atomic.Int64 // UnixNano of the last datagram
}

// Got counts one datagram, received now.
func (r *Receiver) Got() {
	r.last.Store(time.Now().UnixNano())
	r.n.Add(1)
}

// Drain waits until the receiver has sent datagrams, or has had none for
// drainQuiet, or deadline passed.
func (r *Receiver) Drain(sent int, deadline time.Time) {
	seen, since := r.n.Load(), time.Now()
	for int(seen) < sent && time.Since(since) < drainQuiet && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
		if n := r.n.Load(); n != seen {
			seen, since = n, time.Now()
		}
	}
}

// Result is how many datagrams arrived and when the last did, after
// start.
func (r *Receiver) Result(start time.Time) (int, time.Duration) {
	n := int(r.n.Load())
	if n == 0 {
		return 0, 0
	}
	return n, time.Unix(0, r.last.Load()).Sub(start)
}
