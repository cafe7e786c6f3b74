package tcp

import (
	"net/netip"
	"time"

	"github.com/dpstack/dpstack/mbuf"
	"github.com/dpstack/dpstack/stack/header"
	"github.com/dpstack/dpstack/stack/netdev"
	"github.com/dpstack/dpstack/stack/route"
	"github.com/dpstack/dpstack/stack/sock"
	"github.com/dpstack/dpstack/stack/tcp/seqnum"
	"github.com/dpstack/dpstack/stat"
)

// Acknowledgment timing (include/net/tcp.h).
const (
	// delackMin is the shortest delayed-ACK timeout (TCP_DELACK_MIN,
	// TCP_ATO_MIN).
	delackMin = 40 * time.Millisecond
	// delackMax is the longest (TCP_DELACK_MAX), well within RFC 1122
	// §4.2.3.2's 0.5 s.
	delackMax = 200 * time.Millisecond
	// maxQuickAcks is how many ACKs quickack mode sends at once
	// (TCP_MAX_QUICKACKS).
	maxQuickAcks = 16
	// oowInterval is the least time between two challenge or
	// out-of-window ACKs of one connection (net.ipv4.tcp_invalid_ratelimit).
	oowInterval = 500 * time.Millisecond
)

// Segment sizes.
const (
	// defaultMSS is the MSS assumed when the peer sends none (RFC 9293
	// §3.7.1, RFC 1122 §4.2.2.6).
	defaultMSS = 536
	// minMSS is the smallest send MSS (TCP_MIN_MSS).
	minMSS = 88
	// ipTCPHeaders is an IPv4 and a TCP header without options: MSS =
	// MTU - 40 (RFC 9293 §3.7.1).
	ipTCPHeaders = header.IPv4MinLen + header.TCPMinLen
	// segRoom is the most data one mbuf of the default data room holds:
	// the room less the headroom that the headers are pushed into. The
	// write queue's mbufs hold Proto.txRoom, the same for the pool's
	// own data room (larger in a pool made for jumbo frames).
	segRoom = mbuf.DefaultDataRoom - mbuf.DefaultHeadroom
)

// txHeader describes the TCP header of a segment to send; the Proto keeps
// one as scratch so that building a segment allocates nothing.
type txHeader struct {
	src, dst     netip.Addr
	sport, dport uint16
	seq, ack     seqnum.Value
	flags        uint8
	wnd          uint16
	// SYN options.
	mss      uint16 // 0: no MSS option
	ws       int    // -1: no Window Scale option
	sackPerm bool
	// Timestamps (RFC 7323), on a SYN or a synchronized segment.
	ts           bool
	tsVal, tsEcr uint32
	// SACK blocks (RFC 2018), first block first.
	sacks []header.SACKBlock
	// ipOpts are the IP options of the datagram: the socket's IP_OPTIONS.
	ipOpts []byte
	// tso is the payload of each segment the port cuts this one into
	// (TSO, tso.go); 0 sends the segment as it is.
	tso int
}

// outputSegment pushes the TCP header that p.txh describes in front of
// b's data, sums it, and hands the segment to IPv4 along d (the header
// half of tcp_transmit_skb, then ip_queue_xmit). It owns b. The checksum
// is the port's when the device offers TxTCPCksum: the field then holds
// the pseudo-header sum, as DPDK's rte_ipv4_phdr_cksum leaves it, and the
// mbuf asks for RTE_MBUF_F_TX_TCP_CKSUM; otherwise it is summed here
// (RFC 9293 §3.1).
func (p *Proto) outputSegment(b *mbuf.Buf, d *route.Dst) {
	h := &p.txh
	optLen := 0
	syn := h.flags&flagSYN != 0
	if syn {
		optLen = header.SYNOptionsLen(h.mss, h.ws, h.sackPerm, h.ts)
	} else {
		if h.ts {
			optLen = header.TCPTSOptionSpace
		}
		optLen += header.SACKOptionLen(len(h.sacks))
	}
	hl := header.TCPMinLen + optLen
	data := b.Push(hl)
	if data == nil {
		p.drop(b, stat.DropNoHeadroom)
		return
	}
	th := header.TCP(data)
	th.Encode(header.TCPFields{
		SrcPort:    h.sport,
		DstPort:    h.dport,
		SeqNum:     uint32(h.seq),
		AckNum:     uint32(h.ack),
		DataOffset: hl,
		Flags:      h.flags,
		Window:     h.wnd,
	})
	opts := data[header.TCPMinLen:hl]
	if syn {
		header.PutSYNOptions(opts, h.mss, h.ws, h.sackPerm, h.ts, h.tsVal, h.tsEcr)
	} else {
		n := 0
		if h.ts {
			n = header.PutTSOption(opts, h.tsVal, h.tsEcr)
		}
		header.PutSACKOption(opts[n:], h.sacks)
	}
	sum := header.PseudoHeaderSum(h.src, h.dst, header.IPProtoTCP, uint16(len(data)))
	dev := d.Dev
	if dev == nil {
		dev = p.dev
	}
	switch {
	case h.tso > 0:
		// Each piece's length is the port's to add: the field holds the
		// pseudo-header sum without it (rte_ipv4_phdr_cksum under
		// RTE_MBUF_F_TX_TCP_SEG).
		th.SetChecksum(^header.Fold(header.PseudoHeaderSum(h.src, h.dst, header.IPProtoTCP, 0)))
		b.SetTSO(hl, h.tso)
	case dev.Features.Has(netdev.TxTCPCksum):
		th.SetChecksum(^header.Fold(sum))
		b.SetOlFlags(b.OlFlags() | mbuf.TxTCPCksum)
	default:
		th.SetChecksum(th.CalculateChecksum(sum))
	}
	p.stats.OutSegs.Inc()
	if h.flags&flagRST != 0 {
		p.stats.OutRsts.Inc()
	}
	p.ip.OutputOptions(b, d, header.IPProtoTCP, h.src, h.dst, 0, 0, h.ipOpts)
}

// lookup finds the route from src to dst for a segment not sent by a
// socket (a reset, a SYN-ACK, a TIME-WAIT ACK).
func (p *Proto) lookup(src, dst netip.Addr) *route.Dst {
	p.fl = route.Flow4{Dst: dst, Src: src, Proto: header.IPProtoTCP}
	d, err := p.rt.Lookup(&p.fl)
	if err != nil {
		p.dev.Drops.Inc(stat.DropNoRoute)
		return nil
	}
	return d
}

// controlSegment prepares a segment sent outside a connection's output path
// (a RST, a SYN-ACK, an ACK from TIME-WAIT): the route from laddr to raddr
// and a fresh mbuf, or a nil mbuf, counted, when either is missing.
func (p *Proto) controlSegment(laddr, raddr netip.Addr) (*mbuf.Buf, *route.Dst) {
	d := p.lookup(laddr, raddr)
	if d == nil {
		return nil, nil
	}
	b := p.alloc()
	if b == nil {
		return nil, nil
	}
	return b, d
}

// alloc returns a fresh mbuf for a segment, or nil, counted.
func (p *Proto) alloc() *mbuf.Buf {
	b := p.dev.Alloc()
	if b == nil {
		p.stats.NoMbuf.Inc()
		p.dev.Drops.Inc(stat.DropNoMbuf)
	}
	return b
}

// sendResetFor answers g with a RST (RFC 9293 §3.10.7.1; tcp_v4_send_reset):
// <SEQ=SEG.ACK><CTL=RST> when g carries an ACK, else
// <SEQ=0><ACK=SEG.SEQ+SEG.LEN><CTL=RST,ACK>. A RST is never answered.
func (p *Proto) sendResetFor(g *segment) {
	if g.flags&flagRST != 0 {
		return
	}
	h := &p.txh
	*h = txHeader{src: g.dst, dst: g.src, sport: g.tuple.lport, dport: g.tuple.rport, ws: -1}
	if g.flags&flagACK != 0 {
		h.seq = g.ack
		h.flags = flagRST
	} else {
		h.ack = g.seq.Add(g.segLen())
		h.flags = flagRST | flagACK
	}
	if b, d := p.controlSegment(g.dst, g.src); b != nil {
		p.outputSegment(b, d)
	}
}

// tsClock is the timestamp clock: milliseconds (RFC 7323 §5.4 asks for a
// tick between 1 ms and 1 s; Linux uses 1 ms).
func (p *Proto) tsClock() uint32 { return uint32(int64(p.now()) / int64(time.Millisecond)) }

// tsVal is this connection's TSval now.
func (s *Sock) tsVal() uint32 { return s.proto.tsClock() + s.tsOff }

// fillHeader prepares p.txh for a segment of the socket starting at seq
// with flags and dataLen bytes of data: ports and addresses, ACK, the
// window (selectWindow; unscaled on a SYN, RFC 7323 §2.2), and the options
// the connection uses: on a SYN, MSS, Window Scale, SACK-Permitted and
// Timestamps (all offered actively; on a SYN-ACK only what the peer
// offered); otherwise Timestamps when negotiated (RFC 7323 §3.2: on every
// segment) and SACK blocks when there are any, a D-SACK first (RFC 2883),
// at most 4, or 3 beside Timestamps (RFC 2018 §3), and only as many as fit
// the MTU beside the data. The socket's IP options go with every segment.
func (s *Sock) fillHeader(seq seqnum.Value, flags uint8, dataLen int, mtu int) {
	p := s.proto
	h := &p.txh
	h.src, h.dst = s.Local.Addr(), s.Remote.Addr()
	h.sport, h.dport = s.Local.Port(), s.Remote.Port()
	h.seq = seq
	h.flags = flags
	h.ack = 0
	if flags&flagACK != 0 {
		h.ack = s.rcv.nxt
	}
	h.mss, h.ws, h.sackPerm = 0, -1, false
	h.sacks = nil
	h.ipOpts = s.Options.IPOptions
	h.tso = 0
	if flags&flagSYN != 0 {
		h.wnd = uint16(min(s.rcv.wnd, 0xffff))
		h.mss = uint16(s.advMSS)
		if s.Common.State == sock.SynSent {
			h.ws, h.sackPerm, h.ts = int(s.rcvWscale), true, true
		} else {
			if s.wscaleOK {
				h.ws = int(s.rcvWscale)
			}
			h.sackPerm, h.ts = s.sackOK, s.tsOK
		}
		h.tsVal = s.tsVal()
		h.tsEcr = 0
		if s.Common.State != sock.SynSent {
			h.tsEcr = s.tsRecent
		}
		return
	}
	h.wnd = s.selectWindow()
	h.ts = s.tsOK
	if h.ts {
		h.tsVal, h.tsEcr = s.tsVal(), s.tsRecent
		s.rcvTSvalSent(h.tsVal)
	}
	if !s.sackOK || (s.numSel == 0 && !s.dsackOn) || flags&flagRST != 0 {
		return
	}
	most := header.TCPMaxSACKBlocks
	room := header.TCPMaxOptionsLen
	if h.ts {
		most = header.TCPMaxSACKBlocksWithTS
		room -= header.TCPTSOptionSpace
	}
	if dataLen > 0 {
		room = min(room, mtu-ipTCPHeaders-dataLen-s.tsLen()-s.extHdrLen())
	}
	most = min(most, (room-4)/header.TCPOptionSACKBlockLen)
	n := 0
	blocks := p.sackScratch[:0]
	if s.dsackOn && n < most {
		blocks = append(blocks, header.SACKBlock{Start: uint32(s.dsack.start), End: uint32(s.dsack.end)})
		n++
	}
	for i := 0; i < s.numSel && n < most; i++ {
		blocks = append(blocks, header.SACKBlock{Start: uint32(s.selAcks[i].start), End: uint32(s.selAcks[i].end)})
		n++
	}
	h.sacks = blocks
}

// extHdrLen is the room the socket's IP options take in every datagram
// (icsk_ext_hdr_len).
func (s *Sock) extHdrLen() int { return len(s.Options.IPOptions) }

// tsLen is the option space Timestamps take on every segment.
func (s *Sock) tsLen() int {
	if s.tsOK {
		return header.TCPTSOptionSpace
	}
	return 0
}

// ackSent notes that an ACK went out (tcp_event_ack_sent): nothing is
// pending, the delayed-ACK timer is off, a D-SACK was reported.
func (s *Sock) ackSent() {
	s.ackPending = false
	s.ackNow = false
	s.ackLater = false
	s.delackT.on = false
	s.dsackOn = false
	if s.quick > 0 {
		s.quick--
	}
}

// mtu is the route's MTU.
func mtuOf(d *route.Dst) int {
	if d.MTU > 0 {
		return d.MTU
	}
	return d.Dev.MTU
}

// transmitSkb sends write-queue segment b (tcp_transmit_skb): a clone that
// shares b's data, with the headers pushed into the clone's headroom; or,
// when an earlier clone of b is still alive (in a tx ring, or held by the
// receiver of a ring pair), a copy, as Linux does with pskb_copy, so that
// two headers are never written into one buffer. b stays on the queue. It
// reports false when no mbuf or route was found; a timer tries again.
func (s *Sock) transmitSkb(b *mbuf.Buf) bool {
	p := s.proto
	d := s.route()
	if d == nil {
		p.dev.Drops.Inc(stat.DropNoRoute)
		return false
	}
	var w *mbuf.Buf
	if b.RefCount() == 1 {
		w = b.CloneFrom(p.dev.Cache)
		if w == nil {
			p.stats.NoMbuf.Inc()
			p.dev.Drops.Inc(stat.DropNoMbuf)
		}
	} else if w = p.alloc(); w != nil {
		copy(w.Put(b.Len()), b.Bytes())
	}
	if w == nil {
		return false
	}
	c := cbOf(b)
	flags := c.flags
	if s.Common.State != sock.SynSent {
		flags |= flagACK
	}
	if b.Len() > 0 && b == s.WriteQueue.Back() {
		flags |= flagPSH
	}
	s.fillHeader(c.seq, flags, b.Len(), mtuOf(d))
	c.when = s.now()
	p.outputSegment(w, d)
	if flags&flagACK != 0 {
		s.ackSent()
	}
	return true
}

// transmitNew sends write-queue segment b for the first time, cut to the
// send MSS (fitMSS), and moves SND.NXT past it (tcp_write_xmit's send of
// one segment, with tcp_event_new_data_sent); the retransmission timer
// starts if it is not running (RFC 6298 §5.1).
func (s *Sock) transmitNew(b *mbuf.Buf) bool {
	return s.fitMSS(b) && s.sendNew(b)
}

// sendNew is transmitNew for a segment of any size: an MTU probe.
func (s *Sock) sendNew(b *mbuf.Buf) bool {
	if !s.transmitSkb(b) {
		return false
	}
	s.newDataSent(b)
	return true
}

// newDataSent does the bookkeeping of write-queue segment b's first
// transmission (tcp_event_new_data_sent): the send head and SND.NXT move
// past it, it counts as in flight, and the retransmission and loss timers
// start.
func (s *Sock) newDataSent(b *mbuf.Buf) {
	c := cbOf(b)
	if b == s.sendHead {
		s.sendHead = s.WriteQueue.NextOf(b)
	}
	if c.endSeq.GreaterThan(s.snd.nxt) {
		s.snd.nxt = c.endSeq
	}
	s.packetsOut++
	n := b.Len()
	if n > 0 && n < s.sizeGoal() {
		s.snd.sml = c.endSeq
	}
	if !s.rtxT.on || s.probing {
		s.probing = false
		s.arm(&s.rtxT, s.now().Add(s.currentRTO()))
	}
	if s.sackOK && !s.rack.reoOn && !s.rack.tlpOn {
		s.armLossTimer() // RFC 8985 §7.2: the PTO restarts on new data
	}
	if n > 0 {
		s.dataSent()
	}
}

// dataSent notes data going out (tcp_event_data_sent): a reply within the
// delayed-ACK timeout of the last data received marks the connection
// interactive, so that ACKs wait to ride on replies.
func (s *Sock) dataSent() {
	now := s.now()
	s.lsndTime = now
	if s.lrcvTime != 0 && now.Sub(s.lrcvTime) < s.ato {
		s.setPingpong(true)
	}
}

// setPingpong enters or leaves interactive mode; TCP_QUICKACK reads its
// opposite, as in Linux.
func (s *Sock) setPingpong(on bool) {
	s.pingpong = on
	s.Options.QuickAck = !on
}

// sizeGoal is how much data one segment carries: the send MSS, bounded by
// what one mbuf holds (txRoom) and, on a port with TSO, by the segments the port
// cuts (tsoMSS), so that every write-queue segment is one segment on the
// wire.
func (s *Sock) sizeGoal() int { return max(min(s.mss, s.proto.txRoom, s.tsoMSS()), 1) }

// inflight is the number of segments believed in the network
// (tcp_packets_in_flight; RFC 6675 §4's SetPipe in segments): those
// sent, less those marked lost and not yet retransmitted, less those the
// peer SACKed.
func (s *Sock) inflight() int { return s.packetsOut - s.lostOut - s.sackedOut }

// canSend reports whether the state lets data and FINs go out.
func (s *Sock) canSend() bool {
	switch s.Common.State {
	case sock.Established, sock.CloseWait, sock.FinWait1, sock.Closing, sock.LastAck:
		return true
	}
	return false
}

// push sends what the windows allow from the unsent part of the write
// queue (tcp_write_xmit): within the congestion window (or one segment
// beyond it per early duplicate ACK: RFC 3042 limited transmit) and the
// peer's window, a last partial segment held back by Nagle's algorithm, and
// starts the persist timer when the peer's window stops everything.
func (s *Sock) push() {
	if !s.canSend() {
		return
	}
	if s.finPending {
		s.queueFin()
	}
	s.currentMSS()
	s.mtuProbe()
	for b := s.sendHead; b != nil; b = s.sendHead {
		limited := false
		if s.inflight() >= int(s.cwnd) {
			if !s.limitedTransmit() {
				break
			}
			limited = true
		}
		c := cbOf(b)
		if c.endSeq.GreaterThan(s.sndWndEnd()) {
			break
		}
		if b == s.WriteQueue.Back() && c.flags&flagFIN == 0 && b.Len() < s.sizeGoal() && s.nagle() {
			break
		}
		var ok bool
		if n := s.tsoSegs(b, limited); n > 1 {
			ok = s.transmitTSO(b, n)
		} else {
			ok = s.transmitNew(b)
		}
		if !ok {
			if !s.rtxT.on {
				// No mbuf or route: try again with the RTO.
				s.arm(&s.rtxT, s.now().Add(s.currentRTO()))
			}
			break
		}
		if limited {
			s.ltOut++
			s.proto.stats.LimitedTransmits.Inc()
		}
	}
	s.checkProbeTimer()
}

// nagle reports whether Nagle's algorithm holds back a partial segment
// (RFC 896; RFC 1122 §4.2.3.4), in Minshall's variant as Linux
// (tcp_nagle_check, tcp_minshall_check): only while a previous partial
// segment is unacknowledged, so that a request-response exchange of small
// messages is not delayed. TCP_NODELAY turns it off.
func (s *Sock) nagle() bool {
	if s.Options.NoDelay {
		return false
	}
	return s.packetsOut > 0 && s.snd.sml.GreaterThan(s.snd.una) && s.snd.sml.LessThanEq(s.snd.nxt)
}

// checkProbeTimer starts the persist timer when data waits, nothing is in
// flight, and so no ACK will come to open the window
// (tcp_check_probe_timer; RFC 9293 §3.8.6.1).
func (s *Sock) checkProbeTimer() {
	if s.packetsOut == 0 && s.sendHead != nil && !s.rtxT.on {
		s.probing = true
		s.arm(&s.rtxT, s.now().Add(s.probeInterval()))
	}
}

// scheduleAck notes that an ACK is owed; now asks for it without delay
// (out-of-order data, a filled hole, a duplicate).
func (s *Sock) scheduleAck(now bool) {
	s.ackPending = true
	if now {
		s.ackNow = true
	}
}

// ackSndCheck sends or delays the ACK that received data is owed
// (__tcp_ack_snd_check): at once when more than one full segment is
// unacknowledged (RFC 1122 §4.2.3.2, RFC 5681 §4.2: "an ACK SHOULD be
// generated for at least every second full-sized segment"), for
// out-of-order data or when asked; at the end of the turn in quickack
// mode (deferAck); otherwise on the delayed-ACK timer. (Linux also waits
// while the ACK would offer a smaller window than the last; with buffers
// as small as dpstack's that would delay the ACK of every second segment
// until the reader runs, so dpstack follows the RFCs.)
func (s *Sock) ackSndCheck() {
	if !s.ackPending {
		return
	}
	if s.ackNow || !s.ofo.Empty() || int(s.rcv.wup.Size(s.rcv.nxt)) > s.rcvMSS {
		s.sendAck()
		return
	}
	if s.ackLater {
		return // held for the end of the turn already
	}
	if s.quick > 0 && !s.pingpong {
		s.deferAck()
		return
	}
	s.sendDelayedAck()
}

// deferAck holds an ACK that is owed at once until the end of the loop's
// turn (TurnDone), when the turn's output goes to the port
// anyway: a segment the socket sends meanwhile carries it instead, as the
// reply an application makes to a request in the same turn does, or its
// FIN. The wire sees the ACK no later than before, and one segment fewer
// when it rides on another (Linux holds the handshake's ACK back for the
// same reason while a write is pending, sk_write_pending in
// tcp_rcv_synsent_state_process). The next segment to arrive for the
// socket sends it first (Input), so every segment still gets its ACK.
func (s *Sock) deferAck() {
	s.ackLater = true
	s.proto.ackLater = append(s.proto.ackLater, s)
}

// sendDeferredAck sends the ACK deferAck held back, if no segment has
// carried it since.
func (s *Sock) sendDeferredAck() {
	if s.ackLater {
		s.ackLater = false
		if s.ackPending && s.synchronized() {
			s.sendAck()
		}
	}
}

// sendDeferredAcks sends the ACKs that deferAck held back this turn and
// no segment carried (TurnDone).
func (p *Proto) sendDeferredAcks() {
	for i, s := range p.ackLater {
		s.sendDeferredAck()
		p.ackLater[i] = nil
	}
	p.ackLater = p.ackLater[:0]
}

// sendDelayedAck arms the delayed-ACK timer (tcp_send_delayed_ack) for
// the current ATO, between 40 and 200 ms, keeping an earlier deadline.
func (s *Sock) sendDelayedAck() {
	ato := min(max(s.ato, delackMin), delackMax)
	at := s.now().Add(ato)
	if s.delackT.on && s.delackT.at < at {
		return
	}
	s.arm(&s.delackT, at)
}

// eventDataRecv adapts the delayed-ACK timeout to the arrival of data
// (tcp_event_data_recv): the first data starts quickack mode; closely
// spaced segments shrink the ATO, sparse ones grow it; a gap longer than
// the RTO restarts quickack mode.
func (s *Sock) eventDataRecv() {
	now := s.now()
	if s.lrcvTime == 0 {
		s.incrQuickack()
		s.ato = delackMin
	} else {
		m := now.Sub(s.lrcvTime)
		switch {
		case m <= delackMin/2:
			s.ato = s.ato/2 + delackMin/2
		case m < s.ato:
			s.ato = min(s.ato/2+m, s.rto)
		case m > s.rto:
			s.incrQuickack()
		}
	}
	s.lrcvTime = now
}

// incrQuickack enters quickack mode for up to half a window of segments
// (tcp_incr_quickack).
func (s *Sock) incrQuickack() {
	n := int(s.rcv.wnd) / (2 * max(s.rcvMSS, 1))
	if n == 0 {
		n = 2
	}
	s.quick = max(s.quick, min(n, maxQuickAcks))
}

// sendAck sends a bare ACK <SEQ=SND.NXT><ACK=RCV.NXT><CTL=ACK> with the
// current window and options (tcp_send_ack). Without an mbuf the ACK
// stays owed and the delayed-ACK timer tries again.
func (s *Sock) sendAck() {
	s.sendCtl(s.snd.nxt, flagACK)
}

// sendProbe sends <SEQ=SND.UNA-1><ACK=RCV.NXT><CTL=ACK>, a segment the
// peer must answer with an ACK: the zero-window and keepalive probe
// (tcp_xmit_probe_skb; RFC 1122 §4.2.3.6 allows the old sequence number).
func (s *Sock) sendProbe() {
	s.sendCtl(s.snd.una.Sub(1), flagACK)
}

// sendActiveReset aborts the connection on the wire
// (tcp_send_active_reset): <SEQ=SND.NXT><ACK=RCV.NXT><CTL=RST,ACK>.
func (s *Sock) sendActiveReset() {
	s.sendCtl(s.snd.nxt, flagRST|flagACK)
}

// sendCtl sends a segment without data from the socket.
func (s *Sock) sendCtl(seq seqnum.Value, flags uint8) {
	p := s.proto
	d := s.route()
	if d == nil {
		p.dev.Drops.Inc(stat.DropNoRoute)
		return
	}
	b := p.alloc()
	if b == nil {
		if flags&flagRST == 0 && s.ackPending {
			s.arm(&s.delackT, s.now().Add(delackMax))
		}
		return
	}
	s.fillHeader(seq, flags, 0, mtuOf(d))
	p.outputSegment(b, d)
	if flags&flagACK != 0 && flags&flagRST == 0 {
		s.ackSent()
	}
}

// oowLimited reports whether an ACK answering a bad segment must be
// skipped by the per-connection rate limit (tcp_oow_rate_limited): one
// per oowInterval, except that segments carrying data are always answered
// (their sender waits for the ACK).
func (s *Sock) oowLimited(g *segment) bool {
	if g != nil && g.dataLen > 0 && g.flags&flagSYN == 0 {
		return false
	}
	now := s.now()
	if s.oowStamp != 0 && now.Sub(s.oowStamp) < oowInterval {
		s.proto.stats.OOWRateLimited.Inc()
		return true
	}
	s.oowStamp = now
	return false
}

// challengeAck sends RFC 5961's challenge ACK <SEQ=SND.NXT><ACK=RCV.NXT>
// <CTL=ACK>, at most one per oowInterval per connection (RFC 5961 §7 asks
// for a limit; a per-connection one, unlike Linux's additional host-wide
// one, leaks nothing about other connections).
func (s *Sock) challengeAck() {
	if s.oowLimited(nil) {
		return
	}
	s.proto.stats.ChallengeACKs.Inc()
	s.sendAck()
}

// oowAck answers an unacceptable segment without data with a
// rate-limited ACK.
func (s *Sock) oowAck() {
	if !s.oowLimited(nil) {
		s.sendAck()
	}
}

// sendDupAck answers a segment that failed the sequence check or PAWS
// (tcp_send_dupack): data we already have gets a D-SACK and an immediate
// ACK; a segment without data a rate-limited one.
func (s *Sock) sendDupAck(g *segment) {
	if g.dataLen > 0 && g.seq.LessThan(s.rcv.nxt) {
		end := seqnum.Min(g.end(), s.rcv.nxt)
		s.setDSACK(g.seq, end)
		s.incrQuickack()
		s.groLossSeen()
	}
	if !s.oowLimited(g) {
		s.sendAck()
	}
}
