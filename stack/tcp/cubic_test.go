package tcp

import (
	"math"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dpstack/dpstack/ktime"
)

// CUBIC (RFC 9438) against its formulas, on a bare socket whose Proto
// has only a manual clock: no packets, only the hooks the core calls.

// cubicRig is a socket running Cubic, with the clock it reads.
type cubicRig struct {
	s   *Sock
	c   *Cubic
	now ktime.Time
}

func newCubicRig(t *testing.T, cwnd, ssthresh uint32, srtt time.Duration) *cubicRig {
	t.Helper()
	r := &cubicRig{now: ktime.Time(time.Hour)}
	p := &Proto{clock: &r.now}
	r.s = &Sock{proto: p}
	r.s.Options.Congestion = "cubic"
	r.s.initCongestion()
	require.Equal(t, "cubic", r.s.cc.Name())
	r.c = &r.s.cubic
	r.s.cwnd, r.s.ssthresh, r.s.srtt = cwnd, ssthresh, srtt
	return r
}

// loss is a loss at the current window as fast retransmit sees it: the
// core sets ssthresh from SSThresh, and the window to it.
func (r *cubicRig) loss() {
	r.s.ssthresh = r.s.cc.SSThresh(r.s)
	r.s.cwnd = r.s.ssthresh
}

// round acknowledges a window of segments one ACK each, spread over an
// RTT.
func (r *cubicRig) round() {
	n := r.s.cwnd
	end := r.now.Add(r.s.srtt)
	for range n {
		r.s.cc.CongAvoid(r.s, 1)
		r.now = r.now.Add(r.s.srtt / time.Duration(n))
	}
	r.now = end
}

// kOf is RFC 9438 §4.2's K for a stage starting right after a reduction
// from wMax: ∛(W_max·(1 − β_cubic)/C).
func kOf(wMax float64) float64 { return math.Cbrt(wMax * (1 - 0.7) / 0.4) }

func TestCubicK(t *testing.T) {
	for _, tc := range []struct {
		wMax uint32
		k    float64 // seconds, computed by hand
	}{
		{10, 1.957434},   // ∛7.5
		{100, 4.217163},  // ∛75
		{1000, 9.085603}, // ∛750
		{4000, 14.42250}, // ∛3000
	} {
		r := newCubicRig(t, tc.wMax, maxCwnd, 100*time.Millisecond)
		r.loss()
		r.s.cc.CongAvoid(r.s, 1) // the stage starts
		assert.InDelta(t, tc.k, r.c.k, 1e-5, "W_max %d", tc.wMax)
		assert.InDelta(t, kOf(float64(tc.wMax)), r.c.k, 0.05, "W_max %d: cwnd_epoch is the integer ssthresh", tc.wMax)
	}
}

// W_cubic(t) = C·(t − K)³ + W_max (RFC 9438 §4.2 equation (1)), at
// several t for several W_max, the stage starting at exactly β·W_max.
func TestCubicWindowFunction(t *testing.T) {
	for _, wMax := range []uint32{20, 100, 1000} {
		r := newCubicRig(t, wMax, maxCwnd, 100*time.Millisecond)
		r.c.SSThresh(r.s)
		r.c.startEpoch(r.now, 0.7*float64(wMax))
		k := kOf(float64(wMax))
		require.InDelta(t, k, r.c.k, 1e-9)
		w := float64(wMax)
		for _, tc := range []struct {
			t, want float64
		}{
			{0, 0.7 * w},                        // the reduced window
			{k / 2, w - 0.4*math.Pow(k/2, 3)},   // concave
			{k, w},                              // the plateau
			{1.5 * k, w + 0.4*math.Pow(k/2, 3)}, // convex
			{2 * k, w + 0.4*k*k*k},              // convex, = 1.3 W_max
			{k + 10, w + 0.4*1000},              // far out
			{1, 0.4*math.Pow(1-k, 3) + w},       // one second in
			{0.25, 0.4*math.Pow(0.25-k, 3) + w}, // a quarter second in
			{2*k + 1, 0.4*math.Pow(k+1, 3) + w}, // beyond 1.3 W_max
			{k - 1, w - 0.4},                    // a second before the plateau
			{k + 1, w + 0.4},                    // a second after it
			{2 * k, 1.3 * w},                    // (1 − β)·W_max/C = K³
			{0, w - 0.4*math.Pow(k, 3)},         // the same as 0.7 W_max
			{3, 0.4*(3-k)*(3-k)*(3-k) + float64(wMax)},
		} {
			assert.InDelta(t, tc.want, r.c.wCubic(tc.t), 1e-6, "W_max %d, t %.3f", wMax, tc.t)
		}
	}
}

// Multiplicative decrease: ssthresh = β_cubic·cwnd, at least 2 (RFC
// 9438 §4.6), cwnd_prior and W_max the window before it.
func TestCubicSSThresh(t *testing.T) {
	for _, tc := range []struct{ cwnd, want uint32 }{
		{1000, 700}, {100, 70}, {57, 39}, {10, 7}, {3, 2}, {2, 2}, {1, 2},
	} {
		r := newCubicRig(t, tc.cwnd, maxCwnd, 10*time.Millisecond)
		assert.Equal(t, tc.want, r.s.cc.SSThresh(r.s), "cwnd %d", tc.cwnd)
		assert.Equal(t, float64(tc.cwnd), r.c.wMax)
		assert.Equal(t, float64(tc.cwnd), r.c.cwndPrior)
	}
}

// A timeout in fast recovery reduces from FlightSize, not from the
// window the duplicate ACKs inflated.
func TestCubicRTOInRecovery(t *testing.T) {
	r := newCubicRig(t, 40, maxCwnd, 10*time.Millisecond)
	r.s.inRecovery = true
	r.s.packetsOut = 20
	r.s.enterLoss()
	assert.Equal(t, uint32(14), r.s.ssthresh, "0.7 · FlightSize 20")
	assert.Equal(t, 20.0, r.c.cwndPrior)
	assert.False(t, r.s.inRecovery)
}

// Fast convergence (RFC 9438 §4.7): a loss below the previous W_max
// leaves W_max at cwnd·(1 + β)/2; one at or above it at cwnd.
func TestCubicFastConvergence(t *testing.T) {
	r := newCubicRig(t, 100, maxCwnd, 10*time.Millisecond)
	r.loss()
	assert.Equal(t, 100.0, r.c.wMax)
	r.s.cwnd = 80
	r.loss()
	assert.InDelta(t, 80*1.7/2, r.c.wMax, 1e-9, "below the previous W_max: released")
	assert.Equal(t, 80.0, r.c.cwndPrior)
	assert.Equal(t, uint32(56), r.s.ssthresh)
	r.s.cwnd = 90
	r.loss()
	assert.Equal(t, 90.0, r.c.wMax, "above the previous W_max: kept")
	// The curve's plateau after a fast-convergence loss is the lowered
	// W_max.
	r.s.cwnd = 60
	r.loss()
	r.s.cc.CongAvoid(r.s, 1)
	assert.InDelta(t, 60*1.7/2, r.c.origin, 1e-9)
	assert.InDelta(t, math.Cbrt((51-42)/0.4), r.c.k, 1e-9)
}

// Concave then convex (RFC 9438 §4.4, §4.5): after a loss at 100
// segments with a 200 ms RTT, the window grows fast, slows down near
// W_max around t = K, then speeds up beyond it, following W_cubic one
// RTT ahead, each RTT by at most half the window.
func TestCubicConcaveConvex(t *testing.T) {
	const rtt = 200 * time.Millisecond
	r := newCubicRig(t, 100, maxCwnd, rtt)
	r.loss()
	require.Equal(t, uint32(70), r.s.cwnd)
	start := r.now
	var cw []uint32 // the window at each whole second
	for i := 0; i < 45; i++ {
		if i%5 == 0 {
			cw = append(cw, r.s.cwnd)
		}
		before := r.s.cwnd
		r.round()
		assert.LessOrEqual(t, r.s.cwnd, before+before/2+1, "at most 1.5·cwnd per RTT")
		ts := r.now.Sub(start).Seconds()
		assert.InDelta(t, r.c.wCubic(ts), float64(r.s.cwnd), 3, "cwnd follows W_cubic at t %.1f", ts)
		assert.Greater(t, r.c.wCubic(ts), r.c.wEst, "the cubic region, not the Reno-friendly one")
	}
	t.Logf("cwnd each second: %v (K %.2f s)", cw, r.c.k)
	// K = 4.2 s: growth each second shrinks up to it, grows after it.
	for i := 1; i < 4; i++ {
		assert.Less(t, cw[i+1]-cw[i], cw[i]-cw[i-1], "concave in second %d", i)
	}
	for i := 5; i < len(cw)-1; i++ {
		assert.Greater(t, cw[i+1]-cw[i], cw[i]-cw[i-1], "convex in second %d", i)
	}
	assert.InDelta(t, 100, float64(cw[4]), 2, "near W_max at K")
}

// The Reno-friendly region (RFC 9438 §4.3): with a short RTT, ACKs come
// fast and W_est, growing by α_cubic per RTT, outruns W_cubic, which
// barely moves in a few milliseconds: cwnd is W_est. Once W_est reaches
// cwnd_prior, it grows by one segment per RTT, as Reno.
func TestCubicRenoFriendly(t *testing.T) {
	r := newCubicRig(t, 40, maxCwnd, time.Millisecond)
	r.loss()
	require.Equal(t, uint32(28), r.s.cwnd)
	start := r.now
	r.round()
	for range 20 {
		before, est := r.s.cwnd, r.c.wEst
		r.round()
		ts := r.now.Sub(start).Seconds()
		require.Less(t, r.c.wCubic(ts), r.c.wEst, "W_est > W_cubic")
		assert.Equal(t, uint32(r.c.wEst), r.s.cwnd, "cwnd = W_est")
		assert.InDelta(t, cubicAlpha, r.c.wEst-est, 0.05, "α_cubic per RTT (cwnd was %d)", before)
	}
	assert.InDelta(t, 0.529, cubicAlpha, 0.001, "3(1 − 0.7)/(1 + 0.7)")
	// Up to cwnd_prior (40) at α_cubic ≈ 0.53 per RTT, then 1 per RTT.
	for r.c.wEst < 40 {
		r.round()
	}
	w := r.s.cwnd
	for range 5 {
		r.round()
	}
	assert.InDelta(t, float64(w+5), float64(r.s.cwnd), 1, "Reno's one segment per RTT above cwnd_prior")
}

// After a retransmission timeout (RFC 9438 §4.8) the core sets cwnd to 1
// and ssthresh from SSThresh (β·cwnd); slow start climbs back to ssthresh;
// the next congestion-avoidance stage has K = 0 and W_max = W_est =
// cwnd_epoch, so it grows on the convex side from there.
func TestCubicAfterRTO(t *testing.T) {
	r := newCubicRig(t, 100, maxCwnd, 50*time.Millisecond)
	r.s.enterLoss()
	assert.Equal(t, uint32(1), r.s.cwnd)
	assert.Equal(t, uint32(70), r.s.ssthresh)
	assert.True(t, r.c.afterRTO)
	for r.s.cwnd < r.s.ssthresh {
		before := r.s.cwnd
		for range before {
			r.s.cc.CongAvoid(r.s, 1)
			if r.s.cwnd == r.s.ssthresh {
				break
			}
		}
		assert.Equal(t, min(2*before, 70), r.s.cwnd, "slow start doubles per RTT")
		r.now = r.now.Add(r.s.srtt)
	}
	assert.False(t, r.c.inEpoch, "no stage yet")
	r.s.cc.CongAvoid(r.s, 1)
	assert.True(t, r.c.inEpoch)
	assert.Zero(t, r.c.k, "K = 0")
	assert.Equal(t, 70.0, r.c.wMax, "W_max = cwnd_epoch")
	assert.Equal(t, 70.0, r.c.origin)
	assert.InDelta(t, 70, r.c.wEst, 0.1, "W_est = cwnd_epoch")
	assert.False(t, r.c.afterRTO)
	start := r.now
	for range 30 {
		r.round()
		w := max(r.c.wCubic(r.now.Sub(start).Seconds()), r.c.wEst)
		assert.InDelta(t, w, float64(r.s.cwnd), 2, "cwnd follows the larger of W_cubic and W_est")
	}
	assert.Greater(t, r.s.cwnd, uint32(80))
	// Another timeout right away keeps ssthresh (RFC 5681 §3.1: it is held
	// constant for a segment retransmitted again).
	r.s.enterLoss()
	r.s.retransmits = 1
	th := r.s.ssthresh
	r.s.enterLoss()
	assert.Equal(t, th, r.s.ssthresh)
}

// Slow start below ssthresh is RFC 5681's, and an ACK that crosses
// ssthresh spends the rest on congestion avoidance.
func TestCubicSlowStart(t *testing.T) {
	r := newCubicRig(t, 10, 16, 10*time.Millisecond)
	r.s.cc.CongAvoid(r.s, 4)
	assert.Equal(t, uint32(14), r.s.cwnd)
	assert.False(t, r.c.inEpoch)
	r.s.cc.CongAvoid(r.s, 4)
	assert.Equal(t, uint32(16), r.s.cwnd)
	assert.True(t, r.c.inEpoch, "two segments of the ACK went to congestion avoidance")
}

// Switching TCP_CONGESTION on a connection whose congestion control runs
// swaps the algorithm at once and keeps the window
// (tcp_reinit_congestion_control).
func TestCubicSwitch(t *testing.T) {
	r := newCubicRig(t, 50, 30, 10*time.Millisecond)
	r.loss()
	require.NoError(t, r.s.SetSockOptString(syscall.IPPROTO_TCP, syscall.TCP_CONGESTION, "reno"))
	assert.Equal(t, "reno", r.s.cc.Name())
	assert.Equal(t, uint32(35), r.s.cwnd)
	assert.Equal(t, uint32(35), r.s.ssthresh)
	require.NoError(t, r.s.SetSockOptString(syscall.IPPROTO_TCP, syscall.TCP_CONGESTION, "cubic"))
	assert.Equal(t, "cubic", r.s.cc.Name())
	assert.Zero(t, r.c.wMax, "state set up afresh")
	assert.Error(t, r.s.SetSockOptString(syscall.IPPROTO_TCP, syscall.TCP_CONGESTION, "vegas"))
	assert.Equal(t, "cubic", r.s.cc.Name())
	// Not yet established: only the name changes.
	s := &Sock{proto: r.s.proto}
	s.Options.Congestion = "reno"
	require.NoError(t, s.SetSockOptString(syscall.IPPROTO_TCP, syscall.TCP_CONGESTION, "cubic"))
	assert.Nil(t, s.cc)
	s.initCongestion()
	assert.Equal(t, "cubic", s.cc.Name())
	assert.Equal(t, uint32(initialCwnd), s.cwnd)
}

// An ACK in congestion avoidance allocates nothing.
func TestCubicCongAvoidNoAllocs(t *testing.T) {
	r := newCubicRig(t, 100, 50, 10*time.Millisecond)
	r.loss()
	allocs := testing.AllocsPerRun(1000, func() {
		r.s.cc.CongAvoid(r.s, 1)
		r.now = r.now.Add(time.Millisecond)
	})
	assert.Zero(t, allocs)
}
