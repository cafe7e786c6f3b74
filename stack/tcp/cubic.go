package tcp

import (
	"math"

	"github.com/dpstack/dpstack/ktime"
)

// CUBIC's constants (RFC 9438 §4.1, §4.3).
const (
	// cubicC is C, the curve's aggressiveness, in segments per second
	// cubed (RFC 9438 §5: "C SHOULD be set to 0.4").
	cubicC = 0.4
	// cubicBeta is β_cubic, the multiplicative decrease factor (§4.6:
	// "β_cubic SHOULD be set to 0.7").
	cubicBeta = 0.7
	// cubicAlpha is α_cubic, the Reno-friendly region's additive increase
	// per RTT, 3(1 − β_cubic)/(1 + β_cubic) (§4.3), which makes it as fast
	// as Reno on average under the same losses.
	cubicAlpha = 3 * (1 - cubicBeta) / (1 + cubicBeta)
	// cubicMaxGrowth bounds the target to 1.5·cwnd (§4.2).
	cubicMaxGrowth = 1.5
)

// Cubic is CUBIC congestion control (RFC 9438), TCP_CONGESTION "cubic".
// Below ssthresh it is RFC 5681's slow start (no HyStart). Above it, in a
// congestion-avoidance stage that starts at t_epoch with the window at
// cwnd_epoch, the window follows the cubic function of the time t since
// t_epoch (§4.2):
//
//	W_cubic(t) = C·(t − K)³ + W_max,  K = ∛((W_max − cwnd_epoch)/C)
//
// concave below W_max (§4.4), flat around it and convex beyond it (§4.5):
// on each ACK the window moves by (target − cwnd)/cwnd per acknowledged
// segment, target being W_cubic(t + SRTT) clamped to [cwnd, 1.5·cwnd].
// Where Reno would do better, W_cubic(t) < W_est with W_est the window of
// a Reno-like flow started at cwnd_epoch, the window is W_est (the
// Reno-friendly region, §4.3). A loss sets ssthresh to β_cubic·cwnd (§4.6;
// cwnd rather than FlightSize, as Linux, which RFC 9438 §4.6 allows since
// the core grows the window only when it limits the sending, RFC 7661),
// and remembers W_max, lower when the flow lost before reaching the
// previous one (fast convergence, §4.7). After a retransmission timeout
// the next stage starts with K = 0 and W_max = W_est = cwnd_epoch (§4.8).
//
// Windows are counted in segments, as float64 inside the algorithm; the
// socket's integer cwnd takes the whole segments and the fraction waits
// for the next ACK. Time is the Proto's clock. A socket keeps its Cubic
// in itself: choosing it allocates nothing, and neither does an ACK.
type Cubic struct {
	wMax      float64    // W_max: the window at the last reduction, after fast convergence
	cwndPrior float64    // cwnd_prior: the window just before the last reduction (§4.3)
	origin    float64    // the plateau of this stage's curve: W_max, or cwnd_epoch above it
	k         float64    // K, in seconds
	wEst      float64    // W_est (§4.3)
	frac      float64    // growth of the window not yet a whole segment
	epoch     ktime.Time // t_epoch
	inEpoch   bool       // a congestion-avoidance stage has started since the last loss
	afterRTO  bool       // the next stage follows a retransmission timeout (§4.8)
}

// Name is "cubic".
func (*Cubic) Name() string { return "cubic" }

// Init forgets everything of a previous connection or algorithm
// (bictcp_init): no W_max yet, so that the first congestion-avoidance
// stage starts on the convex side with K = 0.
func (c *Cubic) Init(s *Sock) {
	*c = Cubic{}
	s.cwndCnt = 0
}

// SSThresh is the multiplicative decrease of RFC 9438 §4.6, ssthresh =
// max(cwnd·β_cubic, 2), with the loss recorded: the stage ends,
// cwnd_prior is the window before the reduction, and W_max is the window
// too, or, under fast convergence (§4.7), cwnd·(1 + β_cubic)/2 when the
// window did not get back to the previous W_max, releasing bandwidth to
// newer flows. A timeout in fast recovery finds cwnd inflated by the
// duplicate ACKs (RFC 5681 §3.2 step 4): the reduction is then of
// FlightSize, RFC 9438 §4.6's own choice, when that is smaller.
func (c *Cubic) SSThresh(s *Sock) uint32 {
	cwnd := float64(s.cwnd)
	if s.inRecovery {
		cwnd = min(cwnd, float64(max(s.flightSize(), 1)))
	}
	c.inEpoch = false
	c.frac = 0
	if cwnd < c.wMax {
		c.wMax = cwnd * (1 + cubicBeta) / 2
	} else {
		c.wMax = cwnd
	}
	c.cwndPrior = cwnd
	return max(uint32(cwnd*cubicBeta), 2)
}

// Loss follows a retransmission timeout (RFC 9438 §4.8): the core has set
// cwnd to 1 and ssthresh from SSThresh, as Reno does; the next
// congestion-avoidance stage starts afresh from its own cwnd_epoch.
func (c *Cubic) Loss(*Sock) {
	c.inEpoch = false
	c.frac = 0
	c.afterRTO = true
}

// CongAvoid grows the window on an ACK of acked new segments: slow start
// below ssthresh (RFC 5681 §3.1), then CUBIC's congestion avoidance (RFC
// 9438 §4.2 to §4.5) for what remains.
func (c *Cubic) CongAvoid(s *Sock, acked uint32) {
	if acked = slowStart(s, acked); acked == 0 {
		return
	}
	now := s.now()
	cwnd := float64(s.cwnd)
	if !c.inEpoch {
		c.startEpoch(now, cwnd)
	}
	t := now.Sub(c.epoch).Seconds()
	// §4.3: W_est grows by α_cubic segments per window of ACKs, and as
	// fast as Reno (α_cubic = 1) once back at cwnd_prior.
	alpha := cubicAlpha
	if c.wEst >= c.cwndPrior {
		alpha = 1
	}
	c.wEst += alpha * float64(acked) / cwnd
	if c.wCubic(t) < c.wEst {
		// The Reno-friendly region: "cwnd SHOULD be set to W_est".
		if w := uint32(min(c.wEst, maxCwnd)); w > s.cwnd {
			s.SetCwnd(w)
		}
		return
	}
	// §4.4, §4.5: toward W_cubic one RTT ahead.
	target := c.wCubic(t + s.srtt.Seconds())
	target = min(max(target, cwnd), cubicMaxGrowth*cwnd)
	c.frac += float64(acked) * (target - cwnd) / cwnd
	if c.frac >= 1 {
		n := math.Floor(c.frac)
		c.frac -= n
		s.SetCwnd(s.cwnd + uint32(min(n, maxCwnd)))
	}
}

// startEpoch begins a congestion-avoidance stage at now with the window
// at cwnd, cwnd_epoch (§4.2): K = ∛((W_max − cwnd_epoch)/C) for the curve
// to reach W_max after K seconds, which is ∛(W_max·(1 − β_cubic)/C) when
// the stage starts right after a reduction. A stage that starts at or
// above W_max has K = 0 and its curve's plateau at cwnd_epoch, as Linux's
// bictcp_update; after an RTO, W_max itself is cwnd_epoch (§4.8). W_est
// starts at cwnd_epoch (§4.3).
func (c *Cubic) startEpoch(now ktime.Time, cwnd float64) {
	c.epoch, c.inEpoch = now, true
	c.frac = 0
	c.wEst = cwnd
	if c.afterRTO {
		c.afterRTO = false
		c.wMax = cwnd
	}
	if cwnd < c.wMax {
		c.k = math.Cbrt((c.wMax - cwnd) / cubicC)
		c.origin = c.wMax
	} else {
		c.k = 0
		c.origin = cwnd
	}
}

// wCubic is W_cubic(t) of RFC 9438 §4.2, equation (1), t in seconds.
func (c *Cubic) wCubic(t float64) float64 {
	d := t - c.k
	return cubicC*d*d*d + c.origin
}
