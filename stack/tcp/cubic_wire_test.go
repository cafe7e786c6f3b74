package tcp_test

import (
	"net/netip"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dpstack/dpstack/faultwire"
	"github.com/dpstack/dpstack/stack/sock"
	"github.com/dpstack/dpstack/stack/stacktest"
	"github.com/dpstack/dpstack/stack/tcp"
)

// newWirePair is two hosts joined by a fault wire, on one manual clock
// that drives the stacks' timers and the wire's rate limiter and delay
// line alike: every time in these tests is simulated.
func newWirePair(t *testing.T, ab, ba faultwire.Faults) *pair {
	t.Helper()
	return &pair{stacktest.NewPair(t, stacktest.PairConfig{Name: uniq("tcw"), ManualClock: true,
		KnownNeighbours: true, Wire: &stacktest.WireConfig{AB: ab, BA: ba, Seed: 7}})}
}

// step moves the clock on by d, fires due timers and runs two turns.
func (p *pair) step(d time.Duration) {
	p.Fire(d)
	p.Pump(2)
}

// connectWire makes an established connection from a to b's port with
// TCP_CONGESTION cc on both ends.
func (p *pair) connectWire(port uint16, cc string) (cl, sv *tcp.Sock) {
	t := p.T
	ln := listen(t, p.B, port, 4)
	require.NoError(t, ln.SetSockOptString(syscall.IPPROTO_TCP, syscall.TCP_CONGESTION, cc))
	cl = p.A.Stacks()[0].TCP().NewSock()
	require.NoError(t, cl.SetSockOptString(syscall.IPPROTO_TCP, syscall.TCP_CONGESTION, cc))
	require.ErrorIs(t, cl.Connect(netip.AddrPortFrom(addrB.Addr(), port)), syscall.EINPROGRESS)
	for i := 0; sv == nil; i++ {
		require.Less(t, i, 1000, "no connection")
		p.step(100 * time.Microsecond)
		if s, err := ln.AcceptSock(); err == nil {
			sv = s
		}
	}
	require.Equal(t, sock.Established, cl.State())
	return cl, sv
}

// A CUBIC bulk transfer through a 20 Mbit/s bottleneck with a 10 ms RTT
// and a 16-packet queue, in simulated time: the sender fills the link
// (after the first losses, at least 80 % of the rate arrives as data),
// the queue overflows again and again, and each time the sender backs off
// by β_cubic (RFC 9438 §4.6): ssthresh is 0.7 times the window at the
// loss, so the window after a recovery is about 30 % below it, still
// above the path's 17-packet BDP, so that the link stays busy.
func TestCubicFillsLink(t *testing.T) {
	const (
		rate  = 20e6 / 8 // bytes per second
		delay = 5 * time.Millisecond
		tick  = 100 * time.Microsecond
	)
	wp := newWirePair(t,
		faultwire.Faults{RateBps: rate, QueueLimit: 16, Delay: delay},
		faultwire.Faults{Delay: delay})
	cl, sv := wp.connectWire(5001, "cubic")
	assert.Equal(t, "cubic", cl.CongestionName())
	assert.Equal(t, "cubic", sv.CongestionName())
	// TCP_CONGESTION on the open connection switches at once, keeping
	// the window.
	w := cl.Info().Cwnd
	require.NoError(t, cl.SetSockOptString(syscall.IPPROTO_TCP, syscall.TCP_CONGESTION, "reno"))
	assert.Equal(t, "reno", cl.CongestionName())
	require.NoError(t, cl.SetSockOptString(syscall.IPPROTO_TCP, syscall.TCP_CONGESTION, "cubic"))
	assert.Equal(t, "cubic", cl.CongestionName())
	assert.Equal(t, w, cl.Info().Cwnd)
	p := wp.ta()
	data := pattern(1<<16, 9)
	buf := make([]byte, 1<<16)
	var got int64
	recoveries := p.Stats().Recoveries.Load()
	type backoff struct{ before, ssthresh uint32 }
	var backoffs []backoff
	var lastCwnd uint32
	var measured int64
	const warmup, total = 2 * time.Second, 6 * time.Second
	for el := time.Duration(0); el < total; el += tick {
		if el == warmup {
			measured = got
		}
		fill(t, cl, data)
		wp.step(tick)
		got += int64(drain(t, sv, buf))
		in := cl.Info()
		if r := p.Stats().Recoveries.Load(); r != recoveries {
			recoveries = r
			if el > warmup {
				backoffs = append(backoffs, backoff{lastCwnd, in.Ssthresh})
			}
		}
		if !in.InRecovery && !in.InLoss {
			lastCwnd = in.Cwnd
		}
	}
	measured = got - measured
	secs := (total - warmup).Seconds()
	t.Logf("delivered %.2f Mbit/s of data over %.0f s; backoffs (cwnd before, ssthresh): %v; timeouts %d",
		float64(measured)*8/secs/1e6, secs, backoffs, p.Stats().Timeouts.Load())
	assert.GreaterOrEqual(t, float64(measured), 0.8*rate*secs, "the link is filled")
	require.NotEmpty(t, backoffs, "the queue overflows and the sender recovers")
	for _, b := range backoffs {
		assert.InDelta(t, 0.7*float64(b.before), float64(b.ssthresh), 2, "ssthresh = β_cubic·cwnd (cwnd %d)", b.before)
	}
}
