package tcp

import (
	"github.com/dpstack/dpstack/stack/header"
	"github.com/dpstack/dpstack/stack/tcp/seqnum"
)

// Receive offload in TCP input (Config.GRO): Linux's GRO (tcp_gro_receive)
// merges the in-order segments of a flow that one NAPI poll brings into
// one large segment, which tcp_rcv_established takes once: one ACK step,
// one wake-up of the reader, and one ACK, which the delayed-ACK rules,
// seeing two or more full segments, send at once. dpstack gets the same
// without building the large segment: the segments of one rx burst (from
// BurstStart to BurstEnd) that continue a group are taken one after the
// other as they come, each mbuf straight onto the receive queue, and what
// the socket does after a segment (push, the ACK decision, the events)
// is done once, when the group ends. Nothing is held back, so nothing is
// copied and no mbuf waits.
//
// A group starts with a data segment that header prediction takes
// (predicted: ESTABLISHED, ACK alone, SEG.SEQ = RCV.NXT, an acceptable ACK,
// the send window unchanged, PAWS passed, no SACK blocks) on a socket with
// no out-of-order data: while there is a hole, every segment gets its own
// ACK (RFC 5681 §4.2), as without GRO, so that loss recovery sees what it
// would see without it. A segment continues the group when it is what
// tcp_gro_receive would merge: the same connection (the next segment TCP
// input sees, with nothing between); ACK, perhaps with PSH, and no other
// flag; SEG.SEQ = RCV.NXT; the same SEG.ACK, window, header length and
// TSecr as the first, a TSval no older than the last (so that PAWS, RFC
// 7323 §5.3, passes it as it passed the first); no SACK blocks; the same
// IPv4 TOS (an ECN mark, RFC 3168 §6.1.1, ends a group as it ends one in
// inet_gro_receive); data no larger than the first's; 64 KiB in all
// (Linux's GRO_LEGACY_MAX_SIZE). A PSH or a segment shorter than the first
// ends the group after it, as in tcp_gro_receive. Anything else, or
// another connection's segment, ends the group before it and is processed
// alone, exactly as without GRO.
//
// Such a segment's ACK step changes only SND.WL1 (RFC 9293 §3.10.7.4's
// window update: the same ACK and window); TS.Recent stays the first
// segment's, as RFC 7323 §4.3 has it for segments beyond Last.ACK.sent,
// so the group's ACK echoes the earliest TSval it acknowledges (§4.2).
// The text step queues its data at RCV.NXT as fastRcv would (a zero
// window or a full buffer drops it there, as without GRO, and the next
// segment, no longer at RCV.NXT, ends the group). A socket that saw loss
// keeps its groups at two segments for a while (groLossSeen).

// groMaxBytes bounds the data of one group (GRO_LEGACY_MAX_SIZE).
const groMaxBytes = 64 << 10

// groWaryWindows is how many windows of data after a sign of loss groups
// stay at two segments (groLossSeen).
const groWaryWindows = 16

// groTrain is the group being received: its socket and what every
// segment that continues it must repeat.
type groTrain struct {
	s     *Sock        // nil: no group is open
	ack   seqnum.Value // SEG.ACK
	wnd   uint32       // the raw Window field
	tsecr uint32       // TSecr, when hasTS
	tsval uint32       // the last segment's TSval, when hasTS
	doff  int          // the TCP header length
	size  int          // the first segment's data length
	bytes int          // the group's data
	n     int          // its segments
	hasTS bool
	tos   uint8 // the IPv4 TOS byte
}

// SetGRO turns receive offload (Config.GRO) on or off from the next
// burst on.
func (p *Proto) SetGRO(on bool) { p.gro = on }

// BurstStart tells p that the segments Input gets until BurstEnd are one
// rx burst's (napi_gro_receive's poll): with Config.GRO, in-order segments
// of one connection among them are taken as a group.
func (p *Proto) BurstStart() { p.inBurst = p.gro }

// BurstEnd ends the burst BurstStart began (napi_gro_flush): the open
// group's socket sends what it owes, and the events of the burst's groups
// are delivered.
func (p *Proto) BurstEnd() {
	p.inBurst = false
	if p.train.s != nil {
		p.groFlush()
	}
	p.flushEvents()
}

// groStart takes g, a segment of s, as the first of a group when it may
// start one, and reports whether it did.
func (p *Proto) groStart(s *Sock, g *segment, ip header.IPv4) bool {
	if g.dataLen == 0 || g.flags&flagPSH != 0 || !s.ofo.Empty() || !s.predicted(g) {
		return false
	}
	p.train = groTrain{s: s, ack: g.ack, wnd: g.wnd, tsecr: g.opts.TSEcr, tsval: g.opts.TSVal,
		doff: g.hdr.DataOffset(), size: g.dataLen, bytes: g.dataLen, n: 1, hasTS: g.opts.HasTS, tos: ip.TOS()}
	s.fastRcv(g)
	p.freeSeg(g)
	return true
}

// groJoin takes g, a segment of the open group's socket, into the group
// when it continues it, and reports whether it did; a segment that ends
// the group after it flushes it.
func (p *Proto) groJoin(g *segment, ip header.IPv4) bool {
	t := &p.train
	s := t.s
	if g.flags&^flagPSH != flagACK || g.seq != s.rcv.nxt || g.ack != t.ack || g.wnd != t.wnd ||
		g.dataLen == 0 || g.dataLen > t.size || t.bytes+g.dataLen > groMaxBytes ||
		g.hdr.DataOffset() != t.doff || g.opts.NumSACK != 0 || g.opts.HasTS != t.hasTS || ip.TOS() != t.tos ||
		t.hasTS && (g.opts.TSEcr != t.tsecr || int32(g.opts.TSVal-t.tsval) < 0) {
		return false
	}
	if s.groWary && t.n >= 2 {
		if s.rcv.nxt.LessThan(s.groCalm) {
			return false
		}
		s.groWary = false
	}
	t.tsval = g.opts.TSVal
	t.bytes += g.dataLen
	t.n++
	s.groRcv(g)
	p.freeSeg(g)
	if g.flags&flagPSH != 0 || g.dataLen < t.size {
		p.groFlush()
	}
	return true
}

// groRcv is fastRcv for a segment that continues a group: the ACK step
// reduced to what it changes (see above), then the data at RCV.NXT.
func (s *Sock) groRcv(g *segment) {
	s.proto.stats.HPHits.Inc()
	s.snd.wl1 = g.seq
	s.updateTSRecent(g)
	if !s.rcvFastOK() {
		s.textStep(g)
		return
	}
	g.b.Pull(g.hdr.DataOffset())
	if s.rcvQueue(g) {
		s.rcv.nxt = g.seq.Add(seqnum.Size(g.dataLen))
	}
}

// groLossSeen notes a sign of loss on the path: a hole in the data, or
// data received twice (the peer retransmitted what it had no ACK for).
// For two windows of data from here, groups end at two segments, so that
// the socket acknowledges every second segment, as without GRO (RFC 5681
// §4.2): a group's one ACK is all that clocks the sender, and on a path
// that loses packets it loses that ACK too, and the sender stalls until
// its probe timeout (RFC 8985 §7.2, 10 ms at least). On such a path an ACK
// for every second segment keeps the next ACK close behind a lost one;
// on a clean path the groups stay large.
func (s *Sock) groLossSeen() {
	s.groWary = true
	s.groCalm = s.rcv.nxt.Add(seqnum.Size(groWaryWindows * max(s.rcv.wnd, uint32(s.advMSS))))
}

// groFlush ends the open group: the socket's receive-side bookkeeping
// that Linux does once per merged segment (window timing of the receiver's
// round trip), then what doRcv does after a segment: push and the ACK
// decision, which sees every segment of the group unacknowledged.
//
// A group of two or more segments also leaves the socket in quickack mode
// for one ACK (a departure from Linux, whose GRO leaves the delayed-ACK
// state as it is): where the per-segment path sends an ACK for every
// second segment, the group sends one, and when that one is lost on the
// way back the sender has nothing left to clock it out. Its tail-loss
// probe (RFC 8985 §7.3), one segment, would then wait for the
// delayed-ACK timer: a stall of 40 ms for each lost ACK. In a bulk
// transfer the next group is acknowledged at once anyway, so the mode
// costs an ACK only for a lone segment after a group.
func (p *Proto) groFlush() {
	t := &p.train
	s := t.s
	t.s = nil
	if t.n > 1 {
		p.stats.GROGroups.Inc()
		p.stats.GROMerged.Add(uint64(t.n))
		if !s.tsOK {
			s.rcvRTTMeasure(s.now())
		}
	}
	if s.synchronized() {
		s.push()
		s.ackSndCheck()
		if t.n > 1 {
			s.quick = max(s.quick, 1)
		}
	}
}
