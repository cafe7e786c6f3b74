package tcp_test

import (
	"net/netip"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dpstack/dpstack/faultwire"
	"github.com/dpstack/dpstack/stack"
	"github.com/dpstack/dpstack/stack/sock"
	"github.com/dpstack/dpstack/stack/stacktest"
	"github.com/dpstack/dpstack/stack/tcp"
)

// newAutotunePair is newWirePair with pools of poolA and poolB mbufs (0:
// the default) and receive-buffer autotuning set on both hosts.
func newAutotunePair(t *testing.T, ab, ba faultwire.Faults, poolA, poolB int, moderate bool) *pair {
	t.Helper()
	p := &pair{stacktest.NewPair(t, stacktest.PairConfig{Name: uniq("tra"), ManualClock: true, KnownNeighbours: true,
		PoolA: poolA, PoolB: poolB, Wire: &stacktest.WireConfig{AB: ab, BA: ba, Seed: 7}})}
	p.ta().SetModerateRcvbuf(moderate, 0)
	p.tb().SetModerateRcvbuf(moderate, 0)
	return p
}

// bulk sends from cl to sv, which reads all it can after each step of
// tick, for total (simulated), and returns the rate of data delivered
// after warmup, in Mbit/s.
func (p *pair) bulk(cl, sv *tcp.Sock, tick, warmup, total time.Duration) float64 {
	t := p.T
	data := pattern(1<<16, 3)
	buf := make([]byte, 1<<16)
	var got, measured int64
	for el := time.Duration(0); el < total; el += tick {
		if el == warmup {
			measured = got
		}
		fill(t, cl, data)
		p.step(tick)
		got += int64(drain(t, sv, buf))
	}
	return float64(got-measured) * 8 / (total - warmup).Seconds() / 1e6
}

// One connection over a 250 Mbit/s path with a 20 ms round trip, whose
// bandwidth-delay product (625 kB) is far above the window a default
// receive buffer offers (64 KiB) and above what the largest SO_RCVBUF
// gives (208 KiB), in simulated time. With autotuning the receiver's
// buffer follows what its reader takes per round trip, and the sender
// fills the link; without it, or with SO_RCVBUF set, which locks the
// buffer, the window holds the connection to a fraction of the link, and
// the buffer stays as it was.
func TestRcvBufAutotuneFillsPath(t *testing.T) {
	const (
		rate  = 250e6 / 8 // bytes per second
		delay = 10 * time.Millisecond
		tick  = 200 * time.Microsecond
	)
	cases := []struct {
		name     string
		moderate bool
		rcvbuf   int // SO_RCVBUF on the listener; 0: none
	}{
		{"autotuned", true, 0},
		{"off", false, 0},
		{"SO_RCVBUF", true, sock.RmemMax},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			wp := newAutotunePair(t, faultwire.Faults{RateBps: rate, QueueLimit: 300, Delay: delay},
				faultwire.Faults{Delay: delay}, 8191, 8191, c.moderate)
			ln := listen(t, wp.B, 5001, 4)
			if c.rcvbuf > 0 {
				require.NoError(t, ln.SetSockOpt(syscall.SOL_SOCKET, syscall.SO_RCVBUF, c.rcvbuf))
			}
			wp.T = t
			cl, sv := wp.dialAcceptOn(wp.A, ln, netip.AddrPortFrom(addrB.Addr(), 5001), tick)
			start := sv.Info()
			mbps := wp.bulk(cl, sv, tick, time.Second, 2500*time.Millisecond)
			in := sv.Info()
			grown := wp.tb().Stats().RcvBufGrown.Load()
			t.Logf("%.1f Mbit/s of data; receive buffer %d -> %d (grown %d times), window %d, wscale %d, receiver RTT %v (sender's SRTT %v)",
				mbps, start.RcvBuf, in.RcvBuf, grown, in.RcvWnd, in.RcvWscale, in.RcvRTT, cl.Info().SRTT)
			switch {
			case c.moderate && c.rcvbuf == 0:
				assert.GreaterOrEqual(t, mbps, 0.8*rate*8/1e6, "the link is filled")
				assert.Greater(t, in.RcvBuf, 2*2*sock.RmemMax, "grown past twice SO_RCVBUF's largest")
				assert.Positive(t, grown)
				assert.GreaterOrEqual(t, in.RcvWscale, 6, "the window scale expresses half of tcp.DefaultRmemMax")
				assert.Greater(t, in.RcvSpace, 2*int(delay.Seconds()*rate)/2, "the reader takes a BDP per round trip")
				assert.InDelta(t, float64(2*delay), float64(in.RcvRTT), float64(2*delay), "the receiver's RTT")
				assert.LessOrEqual(t, in.RcvBuf, tcp.DefaultRmemMax)
			case c.rcvbuf > 0:
				assert.Less(t, mbps, 0.45*rate*8/1e6, "held back by the window")
				assert.Equal(t, 2*c.rcvbuf, in.RcvBuf, "SO_RCVBUF locks the buffer")
				assert.Zero(t, grown)
				assert.Equal(t, 2, in.RcvWscale, "the shift for SO_RCVBUF's largest")
			default:
				assert.Less(t, mbps, 0.2*rate*8/1e6, "held back by the window")
				assert.Equal(t, sock.DefaultRcvBuf, in.RcvBuf)
				assert.Zero(t, grown)
			}
		})
	}
}

// Over a path of a 200 µs round trip with a short queue, which the
// timestamps' millisecond ticks cannot measure, the receiver measures the
// round trip from when it first sent the TSval the sender echoes, and the
// buffer stays near its default, whose window (64 KiB) is already ten
// times the path's bandwidth-delay product (6 kB). Counting such an echo
// as a tick, as Linux does, would take the reader's take per millisecond
// for its take per round trip, and grow the buffer (to some 400 kB) for
// nothing but packets waiting in caches. (With a long queue at the bottleneck the default
// window alone fills it, the round trip is the queue's, milliseconds,
// and the buffer grows, here as in Linux.)
func TestRcvBufLowRTT(t *testing.T) {
	const (
		rate  = 250e6 / 8
		delay = 100 * time.Microsecond
		tick  = 20 * time.Microsecond
	)
	wp := newAutotunePair(t, faultwire.Faults{RateBps: rate, QueueLimit: 8, Delay: delay},
		faultwire.Faults{Delay: delay}, 0, 0, true)
	cl, sv := wp.dialAccept(wp.A, wp.B, 5001)
	mbps := wp.bulk(cl, sv, tick, 100*time.Millisecond, 300*time.Millisecond)
	in := sv.Info()
	t.Logf("%.1f Mbit/s of data; receive buffer %d, window %d, receiver RTT %v (sender's SRTT %v)", mbps, in.RcvBuf, in.RcvWnd, in.RcvRTT, cl.Info().SRTT)
	assert.GreaterOrEqual(t, mbps, 0.8*rate*8/1e6, "the link is filled")
	// The steps of 20 µs and the turns of the wire add to the path's own.
	assert.GreaterOrEqual(t, in.RcvRTT, 2*delay, "the receiver's RTT")
	assert.Less(t, in.RcvRTT, 2*delay+200*time.Microsecond, "the receiver's RTT")
	assert.LessOrEqual(t, in.RcvBuf, 2*sock.DefaultRcvBuf, "the buffer stays near its default")
}

// dialAccept connects a socket of from to port on to, where it listens,
// and returns both ends.
func (p *pair) dialAccept(from, to *stack.Host, port uint16) (cl, sv *tcp.Sock) {
	return p.dialAcceptOn(from, listen(p.T, to, port, 4), netip.AddrPortFrom(to.Addr().Addr(), port), time.Millisecond)
}

// dialAcceptOn connects a socket of from to addr, where ln listens,
// stepping by tick, and returns both ends.
func (p *pair) dialAcceptOn(from *stack.Host, ln *tcp.Sock, addr netip.AddrPort, tick time.Duration) (cl, sv *tcp.Sock) {
	t := p.T
	cl = from.Stacks()[0].TCP().NewSock()
	require.ErrorIs(t, cl.Connect(addr), syscall.EINPROGRESS)
	for i := 0; sv == nil; i++ {
		require.Less(t, i, 1000, "no connection")
		p.step(tick)
		sv, _ = ln.AcceptSock()
	}
	return cl, sv
}

// Memory pressure on the receiving core stops the growth: a reader that
// takes far more in a round trip than before leaves its buffer as it is
// while the core's sockets hold more than their pressure mark, and grows
// it once they are back below the low mark.
func TestRcvBufPressureStopsGrowth(t *testing.T) {
	const delay = 5 * time.Millisecond
	// Host b's sockets may hold 1008 mbufs (its pool less the receive
	// reserve and reassembly's share): under pressure above 672, until
	// back below 504.
	wp := newAutotunePair(t, faultwire.Faults{Delay: delay}, faultwire.Faults{Delay: delay}, 0, 2*stack.RxReserve, true)
	advance := func(d time.Duration) {
		for range int(d / time.Millisecond) {
			wp.step(time.Millisecond)
		}
	}
	// The connection measured, a to b, and one b to a whose sender fills
	// its write queue while a never reads.
	cl, reader := wp.dialAccept(wp.A, wp.B, 5001)
	hog, _ := wp.dialAccept(wp.B, wp.A, 5002)
	mem := wp.tb().Mem()
	grown := &wp.tb().Stats().RcvBufGrown
	buf := make([]byte, 1<<17)
	chunk := pattern(60000, 5)
	// Most of a window arrives and waits, unread: the receiver measures
	// its round trip from the timestamps.
	arrive := func() {
		for off, i := 0, 0; off < len(chunk); i++ {
			require.Less(t, i, 100, "sent %d", off)
			n, err := cl.SendMsg(chunk[off:], 0)
			if err != syscall.EAGAIN {
				require.NoError(t, err)
				off += n
			}
			wp.step(time.Millisecond)
		}
		advance(50 * time.Millisecond)
		require.Equal(t, len(chunk), reader.Info().RecvQueue)
	}
	arrive()
	in := reader.Info()
	// At least the path's round trip, more when the sender echoes the
	// TSval of a delayed ACK.
	assert.GreaterOrEqual(t, in.RcvRTT, 2*delay-time.Millisecond, "the receiver's RTT")
	assert.Less(t, in.RcvRTT, 50*time.Millisecond, "the receiver's RTT")
	space := in.RcvSpace

	_, err := hog.SendMsg(pattern(1200000, 6), sock.MsgForce)
	require.NoError(t, err)
	advance(20 * time.Millisecond)
	require.True(t, mem.UnderPressure(), "b's sockets hold %d bytes", mem.Held())
	// The reader takes four times its first take in a round trip: the
	// buffer would grow, but the core is under pressure.
	require.Equal(t, len(chunk), drain(t, reader, buf))
	in = reader.Info()
	assert.Equal(t, sock.DefaultRcvBuf, in.RcvBuf, "no growth under pressure")
	assert.Zero(t, grown.Load())
	assert.Equal(t, space, in.RcvSpace, "nor a larger take recorded")

	// The hog goes: b is no longer under pressure, and the same take
	// grows the buffer.
	require.NoError(t, hog.SetSockOptLinger(syscall.SOL_SOCKET, syscall.SO_LINGER, syscall.Linger{Onoff: 1, Linger: 0}))
	hog.Close()
	advance(10 * time.Millisecond)
	require.False(t, mem.UnderPressure(), "b's sockets hold %d bytes", mem.Held())
	arrive()
	require.Equal(t, len(chunk), drain(t, reader, buf))
	in = reader.Info()
	assert.Greater(t, in.RcvBuf, sock.DefaultRcvBuf, "grown")
	assert.Equal(t, uint64(1), grown.Load())
	assert.Equal(t, len(chunk), in.RcvSpace)
}
