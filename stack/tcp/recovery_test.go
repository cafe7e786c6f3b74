package tcp_test

import (
	"bytes"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dpstack/dpstack/mbuf"
	"github.com/dpstack/dpstack/stack/stacktest"
	"github.com/dpstack/dpstack/stack/tcp"
)

// Fast retransmit and recovery (RFC 5681 §3.2, RFC 6582 NewReno) and
// limited transmit (RFC 3042). The raw peer's connections use MSS 1460
// and no timestamps, so every segment the host sends carries 1460 bytes
// and windows count whole segments.

const mss = 1460

// flight opens a connection from the host to the raw peer, has the host
// send n full segments, and returns the connection and the first
// initialCwnd segments it sent (RFC 6928's initial window: 10 segments).
func flight(t *testing.T, port uint16, n int) (*rawConn, []stacktest.Parsed) {
	t.Helper()
	pr := newPeer(t)
	rc := pr.dial(port, 7000, stacktest.OptMSS(mss))
	// The expectations below are RFC 5681/6582's, with Reno's
	// ssthresh = FlightSize/2.
	require.NoError(t, rc.s.SetSockOptString(syscall.IPPROTO_TCP, syscall.TCP_CONGESTION, "reno"))
	got, err := rc.s.SendMsg(pattern(n*mss, 3), 0)
	require.NoError(t, err)
	require.Equal(t, n*mss, got)
	segs := make([]stacktest.Parsed, 10)
	for i := range segs {
		segs[i] = rc.expect(stacktest.PayloadLen(mss))
	}
	rc.pr.expectNone()
	assert.Equal(t, uint32(10), rc.s.Info().Cwnd, "RFC 6928 initial window")
	return rc, segs
}

// ackWith sends the peer's ACK of everything before ack.
func (rc *rawConn) ackWith(ack uint32) {
	rc.pr.t.Helper()
	rc.ack = ack
	rc.send(fACK, nil)
}

// recoveryStats are the counters of a Proto that recovery moves.
type recoveryStats struct {
	fast, recoveries, partial, limited, timeouts, retrans uint64
}

func recoveryStatsOf(p *tcp.Proto) recoveryStats {
	st := p.Stats()
	return recoveryStats{
		fast:       st.FastRetransmits.Load(),
		recoveries: st.Recoveries.Load(),
		partial:    st.PartialAcks.Load(),
		limited:    st.LimitedTransmits.Load(),
		timeouts:   st.Timeouts.Load(),
		retrans:    st.RetransSegs.Load(),
	}
}

// enterRecovery sends three duplicate ACKs of segs[0] and checks RFC
// 3042's limited transmit on the first two and RFC 5681 §3.2's fast
// retransmit on the third. It returns the two segments limited transmit
// sent.
func enterRecovery(t *testing.T, rc *rawConn, segs []stacktest.Parsed) []stacktest.Parsed {
	t.Helper()
	una := segs[0].Seq
	next := segs[9].End()
	var lt []stacktest.Parsed
	for i := range 2 {
		rc.ackWith(una)
		lt = append(lt, rc.expect(stacktest.Seq(next), stacktest.PayloadLen(mss)))
		next += mss
		rc.pr.expectNone()
		assert.Equal(t, uint32(10), rc.s.Info().Cwnd, "RFC 3042: cwnd unchanged by limited transmit (dup ACK %d)", i+1)
	}
	rc.ackWith(una)
	again := rc.expect(stacktest.Seq(una), stacktest.PayloadLen(mss))
	assert.Equal(t, segs[0].Payload, again.Payload)
	rc.pr.expectNone()
	in := rc.s.Info()
	assert.True(t, in.InRecovery)
	// FlightSize 10: the two limited-transmit segments do not count
	// (RFC 5681 §3.2 step 2).
	assert.Equal(t, uint32(5), in.Ssthresh, "ssthresh = max(FlightSize/2, 2)")
	assert.Equal(t, uint32(5+3), in.Cwnd, "cwnd = ssthresh + 3")
	return lt
}

// Three duplicate ACKs: limited transmit sends a new segment on each of
// the first two, the third brings exactly one retransmission of the
// first hole with ssthresh and cwnd set by RFC 5681 §3.2, each further
// duplicate inflates cwnd by one segment (new data going out once cwnd
// passes the segments in flight), and the ACK of everything sent before
// recovery started ends it (RFC 6582 §3.2 step 3).
func TestFastRetransmit(t *testing.T) {
	rc, segs := flight(t, 9001, 20)
	s := rc.s
	p := rc.pr.tcp()
	before := recoveryStatsOf(p)
	lt := enterRecovery(t, rc, segs)
	una := segs[0].Seq
	// 12 segments in flight, cwnd 8: the duplicates 4 to 7 raise cwnd to
	// 12 and send nothing; the 8th lets one new segment out.
	for i := 4; i <= 7; i++ {
		rc.ackWith(una)
		rc.pr.expectNone()
		assert.Equal(t, uint32(5+i), s.Info().Cwnd, "dup ACK %d inflates cwnd", i)
	}
	rc.ackWith(una)
	extra := rc.expect(stacktest.Seq(lt[1].End()), stacktest.PayloadLen(mss))
	rc.pr.expectNone()
	assert.Equal(t, uint32(13), s.Info().Cwnd)
	d := recoveryStatsOf(p)
	assert.Equal(t, before.fast+1, d.fast, "one fast retransmission")
	assert.Equal(t, before.retrans+1, d.retrans)
	assert.Equal(t, before.recoveries+1, d.recoveries)
	assert.Equal(t, before.limited+2, d.limited)
	// The full ACK: everything up to recover, the last limited-transmit
	// segment. One segment (extra) is still in flight: cwnd =
	// min(ssthresh, FlightSize + 1) = 2, so one more goes out.
	rc.ackWith(lt[1].End())
	in := s.Info()
	assert.False(t, in.InRecovery)
	assert.Equal(t, uint32(2), in.Cwnd, "cwnd = min(ssthresh, FlightSize + SMSS)")
	assert.Equal(t, uint32(5), in.Ssthresh)
	rc.expect(stacktest.Seq(extra.End()), stacktest.PayloadLen(mss))
	rc.pr.expectNone()
	d = recoveryStatsOf(p)
	assert.Equal(t, before.partial, d.partial)
	assert.Equal(t, before.timeouts, d.timeouts, "no RTO")
}

// Two losses in one window (RFC 6582): the partial ACK that the first
// retransmission brings retransmits the next hole at once, without
// waiting for duplicate ACKs or an RTO, deflates cwnd by what it
// acknowledged less one segment, and recovery goes on until everything
// sent before it began is acknowledged.
func TestPartialAck(t *testing.T) {
	rc, segs := flight(t, 9002, 20)
	s := rc.s
	p := rc.pr.tcp()
	before := recoveryStatsOf(p)
	lt := enterRecovery(t, rc, segs)
	// The retransmission of segment 0 fills the first hole; segment 3 is
	// the second: the peer acknowledges up to it.
	rc.ackWith(segs[3].Seq)
	again := rc.expect(stacktest.Seq(segs[3].Seq), stacktest.PayloadLen(mss))
	assert.Equal(t, segs[3].Payload, again.Payload)
	rc.pr.expectNone()
	in := s.Info()
	assert.True(t, in.InRecovery, "a partial ACK stays in recovery")
	assert.Equal(t, uint32(8-3+1), in.Cwnd, "cwnd deflated by the 3 segments acknowledged, plus one")
	d := recoveryStatsOf(p)
	assert.Equal(t, before.partial+1, d.partial)
	assert.Equal(t, before.fast+2, d.fast)
	assert.Equal(t, before.recoveries+1, d.recoveries, "one recovery for both losses")
	// Duplicates for the segments after the second hole inflate cwnd
	// again: 9 in flight, cwnd 6 -> 10 sends one new segment.
	next := lt[1].End()
	for range 3 {
		rc.ackWith(segs[3].Seq)
		rc.pr.expectNone()
	}
	rc.ackWith(segs[3].Seq)
	rc.expect(stacktest.Seq(next), stacktest.PayloadLen(mss))
	next += mss
	rc.pr.expectNone()
	// The full ACK ends recovery: one segment in flight, cwnd 2.
	rc.ackWith(lt[1].End())
	in = s.Info()
	assert.False(t, in.InRecovery)
	assert.Equal(t, uint32(2), in.Cwnd)
	rc.expect(stacktest.Seq(next), stacktest.PayloadLen(mss))
	rc.pr.expectNone()
	d = recoveryStatsOf(p)
	assert.Equal(t, before.timeouts, d.timeouts, "no RTO")
	assert.Equal(t, before.retrans+2, d.retrans)
}

// Duplicate ACKs after an RTO are below recover (RFC 6582 §3.2 step 1):
// they bring no fast retransmit and no new ssthresh; and an RTO during
// fast recovery ends it with ssthresh = max(FlightSize/2, 2) and cwnd 1
// (RFC 6582 §3.2 step 6, RFC 5681 §3.1).
func TestRecoveryAndRTO(t *testing.T) {
	rc, segs := flight(t, 9003, 20)
	s := rc.s
	p := rc.pr.tcp()
	before := recoveryStatsOf(p)
	enterRecovery(t, rc, segs)
	rc.pr.advance(s.Info().RTO + time.Millisecond)
	rc.expect(stacktest.Seq(segs[0].Seq), stacktest.PayloadLen(mss))
	rc.pr.expectNone()
	in := s.Info()
	assert.False(t, in.InRecovery, "the RTO ends fast recovery")
	assert.True(t, in.InLoss)
	assert.Equal(t, uint32(1), in.Cwnd)
	assert.Equal(t, uint32(12/2), in.Ssthresh, "FlightSize 12 at the RTO")
	assert.Equal(t, before.timeouts+1, recoveryStatsOf(p).timeouts)
	// Duplicates of the same hole now are below recover.
	for range 5 {
		rc.ackWith(segs[0].Seq)
		rc.pr.expectNone()
	}
	in = s.Info()
	assert.False(t, in.InRecovery)
	assert.Equal(t, uint32(6), in.Ssthresh, "ssthresh not reset by duplicates below recover")
	assert.Equal(t, before.recoveries+1, recoveryStatsOf(p).recoveries)
	// A partial ACK after the RTO goes on with slow-start retransmission.
	rc.ackWith(segs[1].Seq)
	rc.expect(stacktest.Seq(segs[1].Seq), stacktest.PayloadLen(mss))
	rc.expect(stacktest.Seq(segs[2].Seq), stacktest.PayloadLen(mss))
	rc.pr.expectNone()
}

// dropFrames takes what host a sent towards b off the ring, loses the
// frames whose indices are in lose, and puts the rest back in order. It
// reports how many frames it found.
func dropFrames(t testing.TB, p *pair, burst []*mbuf.Buf, lose ...int) int {
	p.A.Stacks()[0].Loop().Flush()
	n := p.Rings.B.RxBurst(0, burst)
	keep := burst[:0]
	for i, b := range burst[:n] {
		lost := false
		for _, l := range lose {
			lost = lost || l == i
		}
		if lost {
			b.Free()
			continue
		}
		keep = append(keep, b)
	}
	if k := p.Rings.A.TxBurst(0, keep); k != len(keep) {
		t.Fatalf("%d of %d frames put back", k, len(keep))
	}
	clear(burst)
	return n
}

// Between two stacks, one loss and two losses in one window are repaired
// in one recovery: everything arrives with the clock standing still, so
// no RTO could have fired. Both stacks permit SACK, so the recovery is
// RFC 6675's, with no partial ACK of NewReno's: each hole goes once.
func TestFastRecoveryBetweenStacks(t *testing.T) {
	for _, tc := range []struct {
		name string
		lose []int
	}{
		{"one loss", []int{0}},
		{"two losses", []int{0, 2}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := newPair(t)
			c := p.connect(80)
			data := pattern(40_000, 5)
			n, err := c.cl.SendMsg(data, 0)
			require.NoError(t, err)
			require.Greater(t, dropFrames(t, p, mbuf.NewBurst(64), tc.lose...), tc.lose[len(tc.lose)-1])
			got := p.recvAll(c.sv, n)
			assert.True(t, bytes.Equal(data[:n], got))
			st := recoveryStatsOf(p.ta())
			assert.Zero(t, st.timeouts, "no RTO")
			assert.Equal(t, uint64(1), st.recoveries)
			assert.Equal(t, uint64(len(tc.lose)), st.fast)
			assert.Zero(t, st.partial)
			assert.Equal(t, uint64(1), p.ta().Stats().SACKRecoveries.Load())
			assert.Positive(t, st.limited)
			p.PumpUntil("all acknowledged", func() bool { return c.cl.Info().PacketsOut == 0 })
			assert.False(t, c.cl.Info().InRecovery)
			c.cl.Close()
			c.sv.Close()
		})
	}
}

// A bulk transfer over a wire that loses 1 % of the frames (fixed seed)
// arrives byte for byte, its losses repaired mostly by fast retransmit.
func TestLossyTransferFastRetransmit(t *testing.T) {
	p := newPair(t)
	c := p.connect(80)
	w := newFaultyWire(p, 7)
	w.loss = 0.01
	data := pattern(2_000_000, 6)
	var got []byte
	buf := make([]byte, 65536)
	sent := 0
	for i := 0; len(got) < len(data); i++ {
		require.Less(t, i, 200000, "%d/%d bytes", len(got), len(data))
		if n, err := c.cl.SendMsg(data[sent:], 0); err == nil {
			sent += n
		}
		w.turn(time.Millisecond)
		for {
			n, err := c.sv.RecvMsg(buf, 0)
			if err != nil {
				break
			}
			got = append(got, buf[:n]...)
		}
	}
	assert.True(t, bytes.Equal(data, got))
	st := recoveryStatsOf(p.ta())
	require.Positive(t, w.dropped)
	assert.Positive(t, st.fast)
	assert.Positive(t, st.recoveries)
	t.Logf("%d dropped; fast retransmits %d, recoveries %d, partial ACKs %d, limited transmits %d, RTOs %d",
		w.dropped, st.fast, st.recoveries, st.partial, st.limited, st.timeouts)
	c.cl.Close()
	c.sv.Close()
}

// Fast retransmit, limited transmit and recovery (RFC 6675's, the stacks
// permitting SACK) allocate nothing on the Go heap (ARCHITECTURE.md §5).
// Each run grows the window with a clean transfer, then loses the first
// and third frames of the next flight.
func TestFastRecoveryNoAllocs(t *testing.T) {
	p := newPair(t)
	c := p.connect(80)
	clean := pattern(200_000, 7)
	data := clean[:20_000]
	buf := make([]byte, 65536)
	burst := mbuf.NewBurst(64)
	move := func(d []byte, lose bool) {
		sent, got := 0, 0
		for i := 0; got < len(d); i++ {
			if i > 100000 {
				t.Fatalf("stalled at %d/%d: %+v", got, len(d), c.cl.Info())
			}
			if sent < len(d) {
				if n, err := c.cl.SendMsg(d[sent:], 0); err == nil {
					sent += n
				}
			}
			if lose {
				// Lose two frames of a flight large enough for three
				// duplicate ACKs to follow.
				if c.cl.Info().Cwnd >= 6 {
					dropFrames(t, p, burst, 0, 2)
				}
				lose = false
			}
			p.Pump(1)
			if n, err := c.sv.RecvMsg(buf, 0); err == nil {
				got += n
			}
		}
		p.Pump(4)
	}
	run := func() {
		move(clean, false)
		move(data, true)
	}
	run()
	before := recoveryStatsOf(p.ta())
	assert.Zero(t, testing.AllocsPerRun(10, run), "fast recovery")
	after := recoveryStatsOf(p.ta())
	assert.Greater(t, after.recoveries, before.recoveries)
	assert.Equal(t, before.timeouts, after.timeouts)
}
