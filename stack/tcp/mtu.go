package tcp

import (
	"syscall"

	"github.com/dpstack/dpstack/mbuf"
	"github.com/dpstack/dpstack/stack/sock"
)

// baseMSS is the MSS that packetization-layer PMTUD falls back to first
// when a path seems to drop big segments (net.ipv4.tcp_base_mss; RFC 4821
// §7.2 suggests starting the search at 1024 bytes).
const baseMSS = 1024

// mtuProbe is the state of packetization-layer path MTU discovery (RFC
// 4821; Linux's icsk_mtup), in Linux's tcp_mtu_probing=1 mode, which
// dpstack has on by default (Linux's default is 0, off): it is enabled
// when a connection suffers retries1 timeouts in a row, the mark of a
// black hole that drops big segments and the ICMP that would say so. From
// then on the send MSS is at most what searchLow allows, and each further
// timeout halves it.
//
// dpstack does not probe back up (Linux's tcp_mtu_probe, RFC 4821 §7.3):
// a connection that lowered its MSS this way keeps it. The route's path
// MTU is not touched, so new connections start at full size again.
type mtuProbe struct {
	enabled   bool
	searchLow int // the largest MTU believed to pass
}

// mtuToMSS is the send MSS that fits an MTU with this connection's
// options (tcp_mtu_to_mss).
func (s *Sock) mtuToMSS(mtu int) int { return max(mtu-ipTCPHeaders-s.tsLen(), minMSS) }

// mssToMTU is the inverse of mtuToMSS (tcp_mss_to_mtu).
func (s *Sock) mssToMTU(mss int) int { return mss + ipTCPHeaders + s.tsLen() }

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
// packetization-layer PMTUD, capping the MSS at baseMSS; each next one
// halves the cap, down to the least MSS. The segment about to be
// retransmitted is cut to the new MSS (fitMSS).
func (s *Sock) mtuProbing() {
	if !s.mtup.enabled {
		s.mtup.enabled = true
		s.mtup.searchLow = s.mssToMTU(baseMSS)
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
