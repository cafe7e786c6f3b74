package tcp

import (
	"time"

	"github.com/dpstack/dpstack/stack/sock"
)

// Info is a snapshot of a connection's variables, for tests and
// diagnostics (struct tcp_info, what `ss -tni` shows).
type Info struct {
	State sock.State

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
	WmemQueued  int
	AcceptQueue int // listener: connections waiting for Accept
	SynQueue    int // listener: requests waiting for the ACK

	DelayedAckPending bool
	Pingpong          bool
	ATO               time.Duration
	Dead              bool
}

// Info returns a snapshot of the connection.
func (s *Sock) Info() Info {
	in := Info{
		State:             s.Common.State,
		MSS:               s.mss,
		AdvMSS:            s.advMSS,
		PeerMSS:           s.peerMSS,
		RcvMSS:            s.rcvMSS,
		WindowScaling:     s.wscaleOK,
		SndWscale:         int(s.sndWscale),
		RcvWscale:         int(s.rcvWscale),
		SACK:              s.sackOK,
		Timestamps:        s.tsOK,
		RTO:               s.rto,
		SRTT:              s.srtt,
		RTTVar:            s.rttvar,
		Backoff:           s.backoff,
		Retransmits:       s.retransmits,
		ProbesOut:         s.probesOut,
		Cwnd:              s.cwnd,
		Ssthresh:          s.ssthresh,
		PacketsOut:        s.packetsOut,
		InLoss:            s.inLoss,
		InRecovery:        s.inRecovery,
		ISS:               uint32(s.iss),
		IRS:               uint32(s.irs),
		SndUna:            uint32(s.sndUna),
		SndNxt:            uint32(s.sndNxt),
		RcvNxt:            uint32(s.rcvNxt),
		SndWnd:            s.sndWnd,
		RcvWnd:            s.rcvWnd,
		MaxSndWnd:         s.maxWnd,
		WriteQueue:        s.WriteQueue.Bytes(),
		RecvQueue:         s.ReceiveQueue.Bytes(),
		OFOQueue:          s.ofo.Len(),
		SACKBlocks:        s.numSel,
		RmemAlloc:         s.RmemAlloc,
		WmemQueued:        s.WmemQueued,
		AcceptQueue:       len(s.acceptQ),
		SynQueue:          s.reqCount,
		DelayedAckPending: s.ackPending && s.delackT.on,
		Pingpong:          s.pingpong,
		ATO:               s.ato,
		Dead:              s.Dead,
	}
	if !s.wscaleOK {
		in.SndWscale, in.RcvWscale = -1, -1
	}
	if s.synchronized() {
		in.BytesInFlight = int(s.sndUna.Size(s.sndNxt))
	}
	for b := s.sendHead; b != nil; b = s.WriteQueue.NextOf(b) {
		in.Unsent += b.Len()
	}
	return in
}
