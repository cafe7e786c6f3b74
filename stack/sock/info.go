package sock

import "time"

// TCPInfo is a snapshot of a TCP connection's variables, for diagnostics
// and tests (struct tcp_info, what getsockopt(TCP_INFO) and `ss -tni`
// show). It is a socket-layer type, as tcp_info is part of the socket
// API, so that the API layer needs no transport package.
type TCPInfo struct {
	State State

	MSS     int // send MSS: data bytes per segment
	AdvMSS  int // the MSS we advertised
	PeerMSS int // the MSS the peer advertised (536 when it sent none)
	RcvMSS  int // guess of the peer's segment size

	WindowScaling bool // both SYNs carried Window Scale
	SndWscale     int  // the peer's shift, applied to its windows
	RcvWscale     int  // our shift, applied to the windows we send
	SACK          bool // SACK permitted both ways
	Timestamps    bool // timestamps in use

	RTO         time.Duration
	SRTT        time.Duration
	RTTVar      time.Duration
	Backoff     int
	Retransmits int
	ProbesOut   int

	Congestion    string        // the congestion control's name (TCP_CONGESTION)
	MinRTT        time.Duration // RACK's windowed minimum RTT; 0 before a sample
	Cwnd          uint32
	Ssthresh      uint32
	PacketsOut    int
	BytesInFlight int
	InLoss        bool
	InRecovery    bool // in fast recovery: NewReno's (RFC 6582), or SACK's (RFC 6675) when SACK is on

	ISS, IRS       uint32
	SndUna, SndNxt uint32
	RcvNxt         uint32
	SndWnd         uint32 // the peer's window in bytes
	RcvWnd         uint32 // the window we last advertised, in bytes
	MaxSndWnd      uint32

	WriteQueue  int // bytes queued, sent or not, not yet acknowledged
	Unsent      int // bytes queued and not sent
	RecvQueue   int // bytes received, not yet read
	OFOQueue    int // out-of-order segments held
	SACKBlocks  int // SACK blocks we would report
	RmemAlloc   int
	RcvBuf      int           // the receive buffer (SO_RCVBUF), as autotuning grew it
	RcvSpace    int           // autotuning: the most the reader took in a receiver round trip (rcvq_space.space)
	RcvRTT      time.Duration // autotuning: the receiver's estimate of the round trip (rcv_rtt); 0 before a sample
	WmemQueued  int
	AcceptQueue int // listener: connections waiting for Accept
	SynQueue    int // listener: requests waiting for the ACK

	DelayedAckPending bool
	Pingpong          bool
	ATO               time.Duration
	Dead              bool
}
