package tcp

// initialCwnd is the initial congestion window in segments (RFC 6928:
// min(10*MSS, max(2*MSS, 14600)), which is 10 segments for any MSS up to
// 1460; Linux's TCP_INIT_CWND).
const initialCwnd = 10

// maxCwnd bounds the congestion window (Linux's snd_cwnd_clamp).
const maxCwnd = 1 << 20

// CongestionOps is a congestion-control algorithm (struct
// tcp_congestion_ops). The socket counts its window in segments, as Linux
// does; the algorithm reads and writes it through the methods below. The
// core calls the hooks on its own core, on the data path: they must not
// allocate.
//
// The core itself does what RFC 5681 leaves to no algorithm: it starts
// the window at initialCwnd with no threshold (RFC 6928) before Init;
// after a retransmission timeout it sets cwnd to 1 and ssthresh to
// SSThresh's answer, calls Loss, and retransmits in slow start; on the
// third duplicate ACK it sets ssthresh to SSThresh's answer and runs fast
// retransmit and NewReno fast recovery (RFC 5681 §3.2, RFC 6582;
// recovery.go), or, when SACK was negotiated, RFC 6675's SACK-based
// recovery with cwnd = ssthresh (sack.go); CongAvoid is not called during
// either.
type CongestionOps interface {
	// Name is the algorithm's TCP_CONGESTION name.
	Name() string
	// Init sets up the algorithm's own state for a connection, when it
	// is established or switches to this algorithm
	// (tcp_init_congestion_control); cwnd and ssthresh are the core's and
	// stay as they are.
	Init(s *Sock)
	// SSThresh returns the slow-start threshold after a loss: on the third
	// duplicate ACK, and on the first retransmission timeout of a loss
	// episode.
	SSThresh(s *Sock) uint32
	// CongAvoid grows the window on an ACK that acknowledged acked new
	// segments.
	CongAvoid(s *Sock, acked uint32)
	// Loss tells of a retransmission timeout, once cwnd is 1 (Linux's
	// set_state(TCP_CA_Loss)).
	Loss(s *Sock)
}

// Cwnd is the congestion window in segments.
func (s *Sock) Cwnd() uint32 { return s.cwnd }

// SetCwnd sets the congestion window, at least 1 and at most maxCwnd.
func (s *Sock) SetCwnd(n uint32) { s.cwnd = min(max(n, 1), maxCwnd) }

// Ssthresh is the slow-start threshold in segments.
func (s *Sock) Ssthresh() uint32 { return s.ssthresh }

// PacketsInFlight is the number of segments believed in the network.
func (s *Sock) PacketsInFlight() int { return s.inflight() }

// Reno is the congestion control of RFC 5681 §3.1: slow start below
// ssthresh (the window grows by the segments acknowledged), congestion
// avoidance above it (by one segment per window's worth of ACKs), and
// ssthresh = max(FlightSize/2, 2) after a loss.
type Reno struct{}

// Name is "reno".
func (Reno) Name() string { return "reno" }

// Init clears the congestion-avoidance counter.
func (Reno) Init(s *Sock) { s.cwndCnt = 0 }

// Loss does nothing: Reno keeps no state of its own.
func (Reno) Loss(*Sock) {}

// SSThresh is max(FlightSize/2, 2) (RFC 5681 §3.1, equation (4), in
// segments), FlightSize leaving out what limited transmit sent (RFC 5681
// §3.2 step 2).
func (Reno) SSThresh(s *Sock) uint32 {
	return max(uint32(s.flightSize())/2, 2)
}

// slowStart grows cwnd by the segments acked while it is below ssthresh,
// up to ssthresh (RFC 5681 §3.1; tcp_slow_start), and returns the acked
// segments left for congestion avoidance.
func slowStart(s *Sock, acked uint32) uint32 {
	if s.cwnd >= s.ssthresh {
		return acked
	}
	n := min(s.cwnd+acked, s.ssthresh)
	acked -= n - s.cwnd
	s.cwnd = n
	return acked
}

// CongAvoid grows the window (RFC 5681 §3.1; tcp_reno_cong_avoid).
func (Reno) CongAvoid(s *Sock, acked uint32) {
	if acked = slowStart(s, acked); acked == 0 {
		return
	}
	s.cwndCnt += acked
	if s.cwndCnt >= s.cwnd {
		s.cwndCnt -= s.cwnd
		s.cwnd = min(s.cwnd+1, maxCwnd)
	}
}

// congestionFor returns the algorithm for a TCP_CONGESTION name: "cubic"
// is the socket's own Cubic, "reno" and any other registered name Reno.
func (s *Sock) congestionFor(name string) CongestionOps {
	if name == "cubic" {
		return &s.cubic
	}
	return Reno{}
}

// initCongestion starts a connection's congestion control when it is
// established (tcp_init_transfer, tcp_init_congestion_control): the
// initial window of RFC 6928 with no threshold, and the algorithm that
// TCP_CONGESTION names.
func (s *Sock) initCongestion() {
	s.cwnd = initialCwnd
	s.ssthresh = maxCwnd
	s.cwndCnt = 0
	s.cc = s.congestionFor(s.Options.Congestion)
	s.cc.Init(s)
}

// SetSockOptString sets a string option (setsockopt): TCP_CONGESTION,
// validated by sock.Sock.SetOptionString. On a connection whose congestion
// control already runs, the new algorithm takes over at once, with its own
// state set up afresh and the window as it is (tcp_set_congestion_control,
// tcp_reinit_congestion_control); a connection not yet established takes
// it when it is.
func (s *Sock) SetSockOptString(level, name int, val string) error {
	if err := s.SetOptionString(level, name, val); err != nil {
		return err
	}
	if s.cc != nil {
		s.cc = s.congestionFor(val)
		s.cc.Init(s)
	}
	return nil
}

// GetSockOptString reads a string option: TCP_CONGESTION.
func (s *Sock) GetSockOptString(level, name int) (string, error) {
	return s.GetOptionString(level, name)
}
