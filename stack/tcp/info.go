package tcp

import "github.com/dpstack/dpstack/stack/sock"

// Info returns a snapshot of the connection.
func (s *Sock) Info() sock.TCPInfo {
	in := sock.TCPInfo{
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
		ISS:               uint32(s.snd.iss),
		IRS:               uint32(s.rcv.irs),
		SndUna:            uint32(s.snd.una),
		SndNxt:            uint32(s.snd.nxt),
		RcvNxt:            uint32(s.rcv.nxt),
		SndWnd:            s.snd.wnd,
		RcvWnd:            s.rcv.wnd,
		MaxSndWnd:         s.snd.maxWnd,
		WriteQueue:        s.WriteQueue.Bytes(),
		RecvQueue:         s.ReceiveQueue.Bytes(),
		OFOQueue:          s.ofo.Len(),
		SACKBlocks:        s.numSel,
		RmemAlloc:         s.RmemAlloc,
		RcvBuf:            s.RcvBuf,
		RcvSpace:          int(s.rcvq.space),
		RcvRTT:            s.rcvRTT.rtt,
		WmemQueued:        s.WmemQueued,
		DelayedAckPending: s.ackPending && s.delackT.on,
		Pingpong:          s.pingpong,
		ATO:               s.ato,
		Dead:              s.Dead,
	}
	if s.cc != nil {
		in.Congestion = s.cc.Name()
	}
	if s.lq != nil {
		in.AcceptQueue, in.SynQueue = len(s.lq.accept), s.lq.reqCount
	}
	if rtt, ok := s.rack.minRTT.get(); ok {
		in.MinRTT = rtt
	}
	if !s.wscaleOK {
		in.SndWscale, in.RcvWscale = -1, -1
	}
	if s.synchronized() {
		in.BytesInFlight = int(s.snd.una.Size(s.snd.nxt))
	}
	for b := s.sendHead; b != nil; b = s.WriteQueue.NextOf(b) {
		in.Unsent += b.Len()
	}
	return in
}
