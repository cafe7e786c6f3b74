package tcp

import (
	"syscall"
	"time"

	"github.com/dpstack/dpstack/ktime"
	"github.com/dpstack/dpstack/mbuf"
	"github.com/dpstack/dpstack/stack/sock"
	"github.com/dpstack/dpstack/stack/tcp/seqnum"
)

// Packetization-layer PMTUD's constants (RFC 4821; Linux's sysctls).
const (
	// baseMSS is the MSS black hole detection falls back to first
	// (net.ipv4.tcp_base_mss; RFC 4821 §7.2 suggests starting the search
	// at 1024 bytes).
	baseMSS = 1024
	// probeThreshold ends the search once the MTU known to pass and the
	// one not known to fail are closer than this (net.ipv4.tcp_probe_threshold).
	probeThreshold = 8
	// reprobeInterval is how long a finished search holds before probing
	// resumes from the top, in case the path grew (net.ipv4.tcp_probe_interval;
	// RFC 4821 §7.7).
	reprobeInterval = 600 * time.Second
	// probeMinCwnd is the congestion window a probe needs, so that losing
	// it costs little (Linux's tcp_mtu_probe checks the same 11).
	probeMinCwnd = 11
)

// mtuProbe is the state of packetization-layer path MTU discovery (RFC
// 4821; Linux's icsk_mtup and tp->mtu_probe), in Linux's tcp_mtu_probing=1
// mode, which dpstack has on by default (Linux's default is 0, off): it is
// enabled when a connection suffers retries1 timeouts in a row, the mark
// of a black hole that drops big segments and the ICMP that would say so.
// From then on the send MSS is at most what searchLow allows; each further
// timeout halves it (mtuProbing), and probes search upwards for the
// largest MTU that passes (mtuProbe). The route's path MTU is not touched:
// what a connection finds this way is its own.
type mtuProbe struct {
	enabled    bool
	searchLow  int // the largest MTU known to pass
	searchHigh int // the largest MTU not known to fail

	// The probe in flight (probeSize data bytes; 0: none) and when the
	// search last ended.
	probeSize            int
	probeStart, probeEnd seqnum.Value
	doneAt               ktime.Time
}

// mtuToMSS is the send MSS that fits an MTU with this connection's
// options (tcp_mtu_to_mss).
func (s *Sock) mtuToMSS(mtu int) int { return max(mtu-ipTCPHeaders-s.tsLen()-s.extHdrLen(), minMSS) }

// mssToMTU is the inverse of mtuToMSS (tcp_mss_to_mtu).
func (s *Sock) mssToMTU(mss int) int { return mss + ipTCPHeaders + s.tsLen() + s.extHdrLen() }

// currentMSS brings the send MSS up to date with the route's MTU before
// segments go out (tcp_current_mss): a path MTU learnt or expired since
// the MSS was settled moves it, down or back up.
func (s *Sock) currentMSS() {
	if d := s.route(); d != nil && mtuOf(d) != s.pmtuCookie {
		s.setMSS()
	}
}

// fitMSS cuts segment b to the send MSS before it goes out, when it was
// queued or sent under a larger one (tcp_fragment from tcp_write_xmit and
// tcp_retransmit_skb); the rest becomes the next segment. It reports false
// when no mbuf was found for the rest: the caller tries again later.
func (s *Sock) fitMSS(b *mbuf.Buf) bool {
	goal := s.sizeGoal()
	if b.Len() <= goal || b == s.pend {
		return true
	}
	return s.split(b, goal)
}

// mtuReduced follows an ICMP Fragmentation Needed about one of the
// connection's segments (tcp_v4_mtu_reduced; RFC 1191 §3): the route's
// path MTU takes the report (route.Table.UpdatePMTU: a report below 552,
// such as 0, 40 or 68, sets 552 and locks it; one above the current MTU
// changes nothing), and when the MTU the MSS was computed from went down,
// the MSS follows and what was in flight is sent again at once,
// resegmented (simpleRetransmit): the segment the router refused is lost.
// A report that the route did not take (the floor, or a lower MTU known
// already) leaves EMSGSIZE as the soft error, as Linux does, in case the
// connection does not recover.
func (s *Sock) mtuReduced(mtu int) {
	if s.Common.State == sock.Closed || s.Common.State == sock.Listen {
		return
	}
	s.proto.rt.UpdatePMTU(s.Remote.Addr(), mtu)
	d := s.route()
	if d == nil {
		return
	}
	now := mtuOf(d)
	if mtu < now {
		s.ErrSoft = syscall.EMSGSIZE
	}
	if s.pmtuCookie > now {
		s.setMSS()
		s.proto.stats.PMTUReductions.Inc()
		s.simpleRetransmit()
	}
}

// simpleRetransmit sends again, at once, the segments in flight that the
// new MSS is too small for (tcp_simple_retransmit). They are marked lost
// and go out resegmented as the congestion window allows, without
// shrinking it: no more data is in the network than before, only in
// smaller units. The connection is in loss recovery until SND.NXT is
// acknowledged.
func (s *Sock) simpleRetransmit() {
	goal := s.sizeGoal()
	q := &s.WriteQueue
	for b := q.Front(); b != nil && b != s.sendHead; b = q.NextOf(b) {
		c := cbOf(b)
		if b.Len() <= goal || c.sacked&(cbSacked|cbLost) != 0 {
			continue
		}
		c.sacked = c.sacked&^cbRetrans | cbLost
		s.lostOut++
	}
	if s.lostOut == 0 {
		return
	}
	if !s.inLoss {
		s.exitRecovery()
		s.rackReset()
		s.inLoss = true
		s.highRxt = s.snd.nxt
	}
	s.rtxNext = q.Front()
	s.retransmitLost()
}

// mtuProbing is black hole detection (tcp_mtu_probing), run on every
// retransmission timeout once retries1 have passed: the first enables
// packetization-layer PMTUD, capping the MSS at baseMSS and opening the
// search up to the peer's MSS; each next one halves the cap, down to the
// least MSS. The segment about to be retransmitted is cut to the new MSS
// (fitMSS).
func (s *Sock) mtuProbing() {
	if !s.mtup.enabled {
		s.mtup.enabled = true
		s.mtup.searchLow = s.mssToMTU(baseMSS)
		s.mtup.searchHigh = min(s.peerMSS+ipTCPHeaders, s.pmtuCookie)
	} else {
		mss := min(baseMSS, s.mtuToMSS(s.mtup.searchLow)/2)
		s.mtup.searchLow = s.mssToMTU(max(mss, minMSS))
	}
	before := s.mss
	s.setMSS()
	if s.mss < before {
		s.proto.stats.MTUProbeBlackHoles.Inc()
	}
}

// mtuProbe sends a probe when the search has room (tcp_mtu_probe; RFC 4821
// §7.3): one segment as large as the middle of searchLow..searchHigh,
// built from the unsent data at the head of the write queue. Its ACK
// raises searchLow, and the MSS with it (mtuProbeAcked); its loss lowers
// searchHigh (mtuProbeLost). It waits for a quiet moment: no probe in
// flight, no loss recovery, a congestion window of probeMinCwnd, and data
// and window enough. A search that has ended starts again after
// reprobeInterval.
func (s *Sock) mtuProbe() {
	m := &s.mtup
	if !m.enabled || m.probeSize != 0 || s.inRecovery || s.inLoss || s.cwnd < probeMinCwnd || s.pend != nil {
		return
	}
	if m.searchHigh-m.searchLow < probeThreshold {
		s.mtuReprobe()
		return
	}
	size := s.mtuToMSS((m.searchHigh + m.searchLow) / 2)
	head := s.sendHead
	if head == nil || size <= s.mss || size > s.proto.txRoom || s.inflight()+1 >= int(s.cwnd) ||
		cbOf(head).seq.Add(seqSize(size)).GreaterThan(s.sndWndEnd()) || !s.unsentData(size) {
		return
	}
	nb := s.proto.alloc()
	if nb == nil {
		return
	}
	data := nb.Put(size)
	if data == nil {
		s.proto.free(nb)
		return
	}
	q := &s.WriteQueue
	prev := q.PrevOf(head)
	start := cbOf(head).seq
	for off, b := 0, head; off < size; {
		next := q.NextOf(b)
		k := copy(data[off:], b.Bytes())
		off += k
		if k == b.Len() {
			q.Unlink(b)
			s.UnchargeW(b)
			s.proto.free(b)
		} else {
			b.Pull(k)
			q.Adjust(-k)
			cbOf(b).seq = cbOf(b).seq.Add(seqSize(k))
		}
		b = next
	}
	c := cbOf(nb)
	*c = cb{seq: start, endSeq: start.Add(seqSize(size))}
	s.ChargeW(nb)
	q.InsertAfter(prev, nb)
	s.sendHead = nb
	if s.sendNew(nb) {
		m.probeSize, m.probeStart, m.probeEnd = size, start, c.endSeq
		s.proto.stats.MTUProbes.Inc()
	}
}

// unsentData reports whether the unsent segments hold n bytes of data
// before any FIN, which a probe must not take.
func (s *Sock) unsentData(n int) bool {
	q := &s.WriteQueue
	for b := s.sendHead; b != nil && n > 0; b = q.NextOf(b) {
		if cbOf(b).flags&(flagSYN|flagFIN) != 0 {
			return false
		}
		n -= b.Len()
	}
	return n <= 0
}

// mtuProbeAcked ends the probe in flight when SND.UNA passes it: the MTU
// it tried passes, and the MSS grows to it (tcp_mtup_probe_success). A
// probe that was lost never gets here: its retransmission ended it.
func (s *Sock) mtuProbeAcked() {
	m := &s.mtup
	if m.probeSize == 0 || s.snd.una.LessThan(m.probeEnd) {
		return
	}
	m.searchLow = s.mssToMTU(m.probeSize)
	m.probeSize = 0
	s.proto.stats.MTUProbeSuccesses.Inc()
	s.setMSS()
}

// mtuProbeLost ends the probe when b, about to be retransmitted, is it:
// the MTU it tried is taken as too big (tcp_mtup_probe_failed), and the
// retransmission goes out cut to the MSS.
func (s *Sock) mtuProbeLost(b *mbuf.Buf) {
	m := &s.mtup
	if m.probeSize == 0 || cbOf(b).seq != m.probeStart {
		return
	}
	m.searchHigh = s.mssToMTU(m.probeSize) - 1
	m.probeSize = 0
	s.proto.stats.MTUProbeFailures.Inc()
}

// mtuReprobe restarts a finished search after reprobeInterval, from the
// largest MTU the peer's MSS and the route allow (tcp_mtu_check_reprobe).
func (s *Sock) mtuReprobe() {
	m := &s.mtup
	now := s.now()
	if m.doneAt == 0 {
		m.doneAt = now
		return
	}
	if now.Sub(m.doneAt) >= reprobeInterval {
		m.searchHigh = min(s.peerMSS+ipTCPHeaders, s.pmtuCookie)
		m.doneAt = 0
	}
}
