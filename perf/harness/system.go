// Package harness runs the side-by-side scenarios (request/response round
// trip, connections per second, bulk throughput) against TCP systems and
// reports them as a table, a CSV file and a PNG chart.
//
// A system is a small adapter behind Scenarios: one that hands out
// net.Conn values implements Conns and gets the scenarios from this
// package; one that cannot (dpstack's callback API) implements them itself.
package harness

import (
	"context"
	"net"
	"runtime"
	"time"
)

// MsgSize is the request and response size of the round-trip and
// connection scenarios.
const MsgSize = 64

// Limits bound every scenario by a count and by time, whichever comes
// first.
type Limits struct {
	Warmup     int           // round trips before timing starts
	Exchanges  int           // timed round trips
	Rounds     int           // slices the timed round trips come in (see RoundTrips)
	RTTTime    time.Duration // cap on the timed round trips
	Conns      int           // connections to open, one after another
	ConnTime   time.Duration // cap on the connection scenario
	BulkBytes  int64         // bytes to send in the bulk scenario
	BulkTime   time.Duration // cap on the bulk scenario
	Datagrams  int           // datagrams to send in the UDP stream scenario
	StreamTime time.Duration // cap on the UDP stream scenario
	Grace      time.Duration // how long past a cap a stuck scenario may take before it fails
}

// DefaultLimits are the limits `make perf` runs with.
var DefaultLimits = Limits{
	Warmup:     2000,
	Exchanges:  20000,
	Rounds:     20,
	RTTTime:    3 * time.Second,
	Conns:      2000,
	ConnTime:   3 * time.Second,
	BulkBytes:  256 << 20,
	BulkTime:   5 * time.Second,
	Datagrams:  500000,
	StreamTime: 3 * time.Second,
	Grace:      10 * time.Second,
}

// Rate is a count of events over a time.
type Rate struct {
	N       int
	Elapsed time.Duration
}

// PerSecond is the rate in events per second.
func (r Rate) PerSecond() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.N) / r.Elapsed.Seconds()
}

// Throughput is what the bulk scenario moved and, when the system counts
// TCP segments, the Go heap allocations the process made and the segments
// both ends sent over the transfer's steady state (see Meter).
type Throughput struct {
	Bytes    int64
	Elapsed  time.Duration
	Mallocs  uint64 // runtime.MemStats.Mallocs delta over the window
	Segments uint64 // TCP segments sent over the window; 0 if not counted
}

// Mbps is the throughput in megabits (10^6 bits) per second.
func (t Throughput) Mbps() float64 {
	if t.Elapsed <= 0 {
		return 0
	}
	return float64(t.Bytes) * 8 / 1e6 / t.Elapsed.Seconds()
}

// AllocsPerSegment is Mallocs / Segments, or -1 when segments were not
// counted.
func (t Throughput) AllocsPerSegment() float64 {
	if t.Segments == 0 {
		return -1
	}
	return float64(t.Mallocs) / float64(t.Segments)
}

// Meter counts the process's Go heap allocations and a system's TCP
// segments over a window of a bulk transfer: from when the sender has
// written an eighth of its bytes (or spent an eighth of its time) to its
// last write, so that connection setup and teardown stay out of it. It
// belongs to the sending goroutine or core.
type Meter struct {
	segments  func() uint64
	ms        runtime.MemStats // here rather than on the stack: reading it allocates nothing
	m0, s0    uint64
	on, done  bool
	mallocs   uint64
	segsTotal uint64
}

// NewMeter returns a meter for a system whose segment counter is segments;
// with nil it measures nothing.
func NewMeter(segments func() uint64) *Meter { return &Meter{segments: segments} }

// Progress opens the window once the sender is an eighth of the way
// (sent of total bytes, or elapsed of limit).
func (m *Meter) Progress(sent, total int64, elapsed, limit time.Duration) {
	if m.on || m.segments == nil || (sent < total/8 && elapsed < limit/8) {
		return
	}
	m.on = true
	m.s0 = m.segments()
	runtime.ReadMemStats(&m.ms)
	m.m0 = m.ms.Mallocs
}

// Stop closes the window after the sender's last write.
func (m *Meter) Stop() {
	if !m.on || m.done {
		return
	}
	m.done = true
	runtime.ReadMemStats(&m.ms)
	m.mallocs = m.ms.Mallocs - m.m0
	m.segsTotal = m.segments() - m.s0
}

// Window is the window's allocations and segments (or whatever the
// meter counts); ok false when the window never closed.
func (m *Meter) Window() (mallocs, segments uint64, ok bool) {
	return m.mallocs, m.segsTotal, m.done
}

// Record puts the window's counts into t.
func (m *Meter) Record(t *Throughput) {
	if m.done {
		t.Mallocs, t.Segments = m.mallocs, m.segsTotal
	}
}

// Scenarios are the measurements a system takes part in. Each call sets up
// what it needs (listener, connections) and tears it down before it
// returns.
type Scenarios interface {
	// RoundTrip opens one connection, makes l.Warmup untimed
	// MsgSize-byte request/response exchanges on it and returns it, for
	// RoundTrips to time exchanges on in slices. ctx bounds the whole
	// scenario, the Pinger's exchanges included.
	RoundTrip(ctx context.Context, l Limits) (Pinger, error)
	// Connections opens connections one after another, each carrying one
	// exchange and then closed by the client.
	Connections(ctx context.Context, l Limits) (Rate, error)
	// Bulk sends bytes one way on one connection and returns what the
	// receiver got by the time it read the end of the stream.
	Bulk(ctx context.Context, l Limits) (Throughput, error)
}

// Pinger is the round-trip scenario's connection, open between slices of
// exchanges.
type Pinger interface {
	// Ping makes warm untimed exchanges, then n timed ones, and appends
	// the latency of each timed exchange to lat.
	Ping(warm, n int, lat []time.Duration) ([]time.Duration, error)
	// Close closes the connection and what the scenario set up for it.
	Close() error
}

// System is one TCP implementation set up as a client and a server joined
// by a link.
type System interface {
	Scenarios
	// Name labels the system's row.
	Name() string
	// Close releases the system.
	Close() error
}

// Conns is what a system that offers net.Conn provides: a listener on the
// server side and a dialer on the client side. Its Scenarios are this
// package's.
type Conns interface {
	Listen() (net.Listener, error)
	Dial(ctx context.Context, addr net.Addr) (net.Conn, error)
}
