package tcp

import (
	"github.com/dpstack/dpstack/mbuf"
	"github.com/dpstack/dpstack/stack/header"
	"github.com/dpstack/dpstack/stack/netdev"
	"github.com/dpstack/dpstack/stat"
)

// TCP segmentation offload. The write queue keeps one segment of the send
// MSS per mbuf, as it does without TSO; what changes is how new data goes
// out. On a port with TSO, push gathers the run of full-sized segments
// that the windows let go and sends them as one large segment: a header
// mbuf followed by a clone of each segment's data (mbuf.Buf.AppendSeg,
// CloneSeg), with RTE_MBUF_F_TX_TCP_SEG and the MSS as tso_segsz, and the
// port cuts it on the write queue's own boundaries. Each write-queue
// segment is therefore one segment on the wire, and everything that
// counts in segments (packets_out, SACK's scoreboard, RACK, the
// congestion window) counts as Linux counts tcp_skb_pcount: in MSS units.
// A retransmission, of one lost piece or of everything after a timeout,
// sends write-queue segments, so it is resegmented by construction: what
// Linux's tcp_fragment does to a TSO skb when part of it must go again
// has nothing left to do here.

const (
	// tsoMaxSize is the most data one large segment carries: IPv4's
	// Total Length less the largest IP and TCP headers (Linux's
	// GSO_LEGACY_MAX_SIZE, sk_gso_max_size).
	tsoMaxSize = 65535 - header.IPv4MaxHeaderLen - header.TCPMaxHeaderLen
	// tsoMaxSegs is the most segments one large segment is cut into
	// (sk_gso_max_segs): net_tap's GSO writes at most 64 pieces per
	// packet (MAX_GSO_MBUFS), and a NIC's limit is seldom lower.
	tsoMaxSegs = 64
)

// tsoMSS is the largest payload a segment may carry so that the port can
// cut a TSO segment into pieces of it: the MSS of the port's TSO MTU
// (netdev.Device.TSOMTU), or no bound (the send MSS) without TSO.
func (s *Sock) tsoMSS() int {
	dev := s.proto.dev
	if !dev.Features.Has(netdev.TxTSO) || dev.TSOMTU == 0 {
		return s.mss
	}
	return s.mtuToMSS(dev.TSOMTU)
}

// tsoSegs is how many write-queue segments, from b on, go out as one TSO
// segment (tcp_tso_segs bounded as tcp_write_xmit bounds it): full-sized
// segments with no SYN or FIN, within the congestion window and the
// peer's window, at most tsoMaxSegs and tsoMaxSize bytes, and more than
// one frame of the port holds. A result below 2 sends b alone, as do a port without TSO and limited transmit (one
// segment per duplicate ACK, RFC 3042); an MTU probe, larger than the
// goal, is never gathered.
func (s *Sock) tsoSegs(b *mbuf.Buf, limited bool) int {
	if limited || !s.proto.dev.Features.Has(netdev.TxTSO) {
		return 1
	}
	goal := s.sizeGoal()
	most := min(tsoMaxSegs, tsoMaxSize/goal, int(s.cwnd)-s.inflight())
	wndEnd := s.sndWndEnd()
	n := 0
	for ; b != nil && n < most; b = s.WriteQueue.NextOf(b) {
		c := cbOf(b)
		if b.Len() != goal || c.flags&(flagSYN|flagFIN) != 0 || b == s.pend ||
			c.endSeq.GreaterThan(wndEnd) {
			break
		}
		n++
	}
	if n*goal <= s.tsoMSS() {
		// Small segments (a clamped MSS) that one frame would hold: a
		// port leaves such a "TSO" frame whole (DPDK's rte_gso_segment
		// returns 0), which would put several segments in one.
		return 1
	}
	return n
}

// transmitTSO sends the n write-queue segments from first on as one TSO
// segment, each of them once for the first time (tcp_write_xmit's send of
// a TSO skb: tcp_transmit_skb, then tcp_event_new_data_sent per segment
// here). The header goes in an mbuf of its own and every segment's data is
// a clone, so that a clone of the same data still in flight does not
// matter. It reports false, having sent nothing, when no mbuf or route
// was found.
func (s *Sock) transmitTSO(first *mbuf.Buf, n int) bool {
	p := s.proto
	d := s.route()
	if d == nil {
		p.dev.Drops.Inc(stat.DropNoRoute)
		return false
	}
	h := p.alloc()
	if h == nil {
		return false
	}
	last, b := h, first
	for range n {
		cl := b.CloneSeg(p.dev.Cache)
		if cl == nil {
			p.stats.NoMbuf.Inc()
			p.dev.Drop(h, stat.DropNoMbuf)
			return false
		}
		// One segment each, tsoMaxSegs far below a chain's limit:
		// AppendSeg cannot refuse.
		last = h.AppendSeg(last, cl)
		b = s.WriteQueue.NextOf(b)
	}
	flags := uint8(flagACK)
	if b == nil {
		// The port leaves PSH on the last piece alone (as DPDK's GSO
		// does in update_tcp_header).
		flags |= flagPSH
	}
	// Every piece carries the header: SACK blocks go only where they fit
	// beside a full piece within the MTU the port cuts to, or the port
	// would refuse the frame (net_tap's pmd_tx_burst) and hold up the
	// queue behind it.
	goal := s.sizeGoal()
	mtu := mtuOf(d)
	if t := p.dev.TSOMTU; t > 0 && t < mtu {
		mtu = t
	}
	s.fillHeader(cbOf(first).seq, flags, goal, mtu)
	p.txh.tso = goal
	now := s.now()
	for b, i := first, 0; i < n; b, i = s.WriteQueue.NextOf(b), i+1 {
		cbOf(b).when = now
	}
	p.outputSegment(h, d)
	s.ackSent()
	p.stats.OutSegs.Add(uint64(n - 1))
	p.stats.TSOSegs.Inc()
	p.stats.TSOPieces.Add(uint64(n))
	for b, i := first, 0; i < n; i++ {
		next := s.WriteQueue.NextOf(b)
		s.newDataSent(b)
		b = next
	}
	return true
}
