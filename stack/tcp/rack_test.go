package tcp_test

import (
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dpstack/dpstack/mbuf"
	"github.com/dpstack/dpstack/stack/stacktest"
	"github.com/dpstack/dpstack/stack/tcp"
)

// RACK-TLP (RFC 8985): time-based loss detection with a reordering
// window, and tail loss probes.

// rackStats are the counters RACK-TLP moves, with the RTO's.
type rackStats struct {
	losses, reoTimeouts, probes, tlpRecoveries, timeouts, retrans, recoveries uint64
}

func rackStatsOf(p *tcp.Proto) rackStats {
	st := p.Stats()
	return rackStats{
		losses:        st.RACKLosses.Load(),
		reoTimeouts:   st.RACKReoTimeouts.Load(),
		probes:        st.TLPProbes.Load(),
		tlpRecoveries: st.TLPRecoveries.Load(),
		timeouts:      st.Timeouts.Load(),
		retrans:       st.RetransSegs.Load(),
		recoveries:    st.SACKRecoveries.Load(),
	}
}

func (a rackStats) sub(b rackStats) rackStats {
	return rackStats{a.losses - b.losses, a.reoTimeouts - b.reoTimeouts, a.probes - b.probes,
		a.tlpRecoveries - b.tlpRecoveries, a.timeouts - b.timeouts, a.retrans - b.retrans,
		a.recoveries - b.recoveries}
}

// rackFlight opens a SACK connection from the host to the raw peer with
// Reno, has the host send n full segments (n <= 10, the initial window)
// and returns them.
func rackFlight(t *testing.T, port uint16, n int) (*rawConn, []stacktest.Parsed) {
	t.Helper()
	pr := newPeer(t)
	rc := pr.dial(port, 7000, stacktest.Options(stacktest.OptMSS(mss), stacktest.OptSACKPerm()))
	require.True(t, rc.s.Info().SACK)
	require.NoError(t, rc.s.SetSockOptString(syscall.IPPROTO_TCP, syscall.TCP_CONGESTION, "reno"))
	return rc, rackSend(t, rc, n)
}

// The last segment of a short flight is lost: no ACK can reveal it, but
// the probe timeout (RFC 8985 §7.2, 2·SRTT plus the worst-case delayed
// ACK with one segment in flight) sends it again, its ACK ends the
// episode as a repaired loss (§7.4), and the RTO never fires.
func TestTLPTailLoss(t *testing.T) {
	rc, segs := rackFlight(t, 9201, 4)
	pr := rc.pr
	p := pr.tcp()
	before := rackStatsOf(p)
	rc.ackWith(segs[3].Seq) // the first three arrive, the last is lost
	pr.expectNone()
	pr.advance(150 * time.Millisecond)
	pr.expectNone() // the PTO is still ahead
	pr.advance(60 * time.Millisecond)
	probe := rc.expect(stacktest.Seq(segs[3].Seq), stacktest.PayloadLen(mss))
	assert.Equal(t, segs[3].Payload, probe.Payload)
	rc.ackWith(probe.End())
	pr.expectNone()
	d := rackStatsOf(p).sub(before)
	assert.Equal(t, uint64(1), d.probes, "one probe")
	assert.Equal(t, uint64(1), d.tlpRecoveries, "a tail loss repaired by the probe")
	assert.Zero(t, d.timeouts, "no RTO")
	assert.Equal(t, uint64(1), d.retrans)
	assert.Zero(t, rc.s.Info().PacketsOut)
	// Nothing more is sent: the RTO has nothing left to do.
	pr.advance(2 * time.Second)
	pr.expectNone()
	assert.Zero(t, rackStatsOf(p).sub(before).timeouts)
}

// RACK marks a segment lost by time (RFC 8985 §6.2): after 20 ms the
// first segment is acknowledged (RACK.rtt and min_RTT 20 ms, so a
// reordering window of 5 ms) and the third SACKed, the second missing.
// When the 5 ms pass with no word of it, the reordering timer (§6.3)
// marks it lost and SACK recovery retransmits it, without an RTO; when
// it arrives within the window, the reordering is tolerated: nothing is
// marked, nothing retransmitted.
func TestRACKReorderingWindow(t *testing.T) {
	for _, tc := range []struct {
		name  string
		port  uint16
		late  time.Duration // when the second segment arrives after the SACK; 0: never
		lost  bool
		ahead time.Duration // how far the clock goes on afterwards
	}{
		{"lost after the window", 9211, 0, true, 5 * time.Millisecond},
		{"reordered within the window", 9212, 2 * time.Millisecond, false, 3 * time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rc, segs := rackFlight(t, tc.port, 10)
			pr := rc.pr
			p := pr.tcp()
			before := rackStatsOf(p)
			// Time passes without firing timers: the ACKs carry it.
			pr.clk.Add(20 * time.Millisecond)
			rc.ackWith(segs[1].Seq)
			rc.sackAck(segs[1].Seq, [2]uint32{segs[2].Seq, segs[2].End()})
			pr.expectNone()
			if tc.late > 0 {
				pr.advance(tc.late)
				pr.expectNone()
				rc.sackAck(segs[3].Seq) // the second arrived late
			}
			pr.advance(tc.ahead)
			d := rackStatsOf(p).sub(before)
			assert.Zero(t, d.timeouts, "no RTO")
			if !tc.lost {
				pr.expectNone()
				assert.Zero(t, d.losses, "reordering tolerated")
				assert.Zero(t, d.reoTimeouts)
				assert.Zero(t, d.retrans)
				assert.Zero(t, d.recoveries)
				return
			}
			rc.expect(stacktest.Seq(segs[1].Seq), stacktest.PayloadLen(mss))
			assert.Equal(t, uint64(1), d.losses, "RACK marked the second lost")
			assert.Equal(t, uint64(1), d.reoTimeouts)
			assert.Equal(t, uint64(1), d.recoveries)
			assert.Equal(t, uint64(1), d.retrans)
			assert.True(t, rc.s.Info().InRecovery)
		})
	}
}

// RACK's reordering timer and TLP's probe allocate nothing on the Go
// heap (ARCHITECTURE.md §5): each run between two stacks loses the last frame
// of a three-segment flight (repaired by a probe) and then the first
// (two SACKs: repaired at RACK's reordering timeout).
func TestRACKTLPNoAllocs(t *testing.T) {
	p := newPair(t)
	c := p.connect(80)
	data := pattern(3*1400, 9)
	buf := make([]byte, 65536)
	burst := mbuf.NewBurst(64)
	move := func(lose int) {
		n, err := c.cl.SendMsg(data, 0)
		if err != nil || n != len(data) {
			t.Fatalf("sent %d: %v", n, err)
		}
		dropFrames(t, p, burst, lose)
		got := 0
		for i := 0; got < len(data) || c.cl.Info().PacketsOut > 0; i++ {
			if i > 100000 {
				t.Fatalf("stalled at %d/%d: %+v", got, len(data), c.cl.Info())
			}
			p.Advance(time.Millisecond)
			if k, err := c.sv.RecvMsg(buf, 0); err == nil {
				got += k
			}
		}
	}
	run := func() {
		move(2)
		move(0)
	}
	run()
	before := rackStatsOf(p.ta())
	assert.Zero(t, testing.AllocsPerRun(10, run), "RACK-TLP")
	d := rackStatsOf(p.ta()).sub(before)
	assert.Positive(t, d.probes)
	assert.Positive(t, d.reoTimeouts)
	assert.Positive(t, d.losses)
	assert.Zero(t, d.timeouts, "no RTO")
}

// The reordering window grows with D-SACKs (RFC 8985 §6.2 step 4): by
// one multiple of min_RTT/4 per round trip that sees one, never twice in
// a round (RACK.dsack_round is SND.NXT at the growth, and the round ends
// when SND.UNA reaches it), and never beyond SRTT. The first segment is
// acknowledged after 4 ms and the next after 200 ms: min_RTT is 4 ms, so
// a multiple is 1 ms, well below SRTT, which only many rounds reach.
func TestRACKReoWndDSACKGrowth(t *testing.T) {
	rc, segs := rackFlight(t, 9221, 10)
	pr := rc.pr
	pr.clk.Add(4 * time.Millisecond)
	rc.ackWith(segs[1].Seq)
	pr.clk.Add(196 * time.Millisecond)
	rc.ackWith(segs[2].Seq)
	wnd, mult, minRTT, srtt := rc.s.RACKReoWnd()
	require.Equal(t, 4*time.Millisecond, minRTT)
	require.Greater(t, srtt, 20*time.Millisecond)
	require.Equal(t, 1, mult)
	require.Equal(t, time.Millisecond, wnd)
	dsack := [2]uint32{segs[0].Seq, segs[0].End()} // below the ACK: a D-SACK
	for _, step := range []struct {
		name string
		ack  uint32
		mult int
	}{
		{"the first D-SACK grows the window", segs[3].Seq, 2},
		{"a second in the same round does not", segs[4].Seq, 2},
		{"nor a third, SND.UNA short of the round's SND.NXT", segs[9].Seq, 2},
		{"the round over, the next grows it", segs[9].End(), 3},
		// Nothing in flight: every ACK ends a round.
		{"and the next", segs[9].End(), 4},
		{"and the next", segs[9].End(), 5},
	} {
		rc.sackAck(step.ack, dsack)
		wnd, mult, _, _ := rc.s.RACKReoWnd()
		assert.Equal(t, step.mult, mult, step.name)
		assert.Equal(t, time.Duration(step.mult)*time.Millisecond, wnd, step.name)
	}
	// Enough rounds with a D-SACK reach SRTT, which caps the window; the
	// multiplier itself stops at 255.
	for range 300 {
		rc.sackAck(segs[9].End(), dsack)
	}
	wnd, mult, _, srtt = rc.s.RACKReoWnd()
	assert.Equal(t, 255, mult)
	assert.Greater(t, time.Duration(mult)*time.Millisecond, srtt)
	assert.Equal(t, srtt, wnd, "capped by SRTT")
	pr.expectNone()
	assert.Positive(t, pr.tcp().Stats().DSACKsReceived.Load())
}

// rackWarm is rackFlight's connection after its ten segments were each
// acknowledged 20 ms after they went: min_RTT 20 ms, SRTT near 15 ms
// (the handshake's sample is nearly 0), so a reordering window of 5 ms
// per multiple, 10 ms below SRTT; nothing in flight.
func rackWarm(t *testing.T, port uint16) *rawConn {
	t.Helper()
	rc, segs := rackFlight(t, port, 10)
	rc.pr.clk.Add(20 * time.Millisecond)
	for _, sg := range segs {
		rc.ackWith(sg.End())
	}
	rc.pr.expectNone()
	wnd, mult, minRTT, srtt := rc.s.RACKReoWnd()
	require.Equal(t, 20*time.Millisecond, minRTT)
	require.Greater(t, srtt, 10*time.Millisecond)
	require.Equal(t, 1, mult)
	require.Equal(t, 5*time.Millisecond, wnd)
	return rc
}

// rackSend has the host send n full segments on rc and returns them.
func rackSend(t *testing.T, rc *rawConn, n int) []stacktest.Parsed {
	t.Helper()
	got, err := rc.s.SendMsg(pattern(n*mss, 6), 0)
	require.NoError(t, err)
	require.Equal(t, n*mss, got)
	f := make([]stacktest.Parsed, n)
	for i := range f {
		f[i] = rc.expect(stacktest.PayloadLen(mss))
	}
	rc.pr.expectNone()
	return f
}

// rackRecovery runs one loss recovery on rc, whose SRTT and min_RTT are
// 20 ms: two segments go, the first goes missing and the second is
// SACKed 20 ms later; RACK marks the first lost at its reordering
// timer (the window is at most SRTT), SACK recovery retransmits it, and
// the ACK of both, with no D-SACK, ends the recovery.
func rackRecovery(t *testing.T, rc *rawConn) {
	t.Helper()
	pr := rc.pr
	n, err := rc.s.SendMsg(pattern(2*mss, 3), 0)
	require.NoError(t, err)
	require.Equal(t, 2*mss, n)
	a, b := rc.expect(stacktest.PayloadLen(mss)), rc.expect(stacktest.PayloadLen(mss))
	pr.clk.Add(20 * time.Millisecond)
	rc.sackAck(a.Seq, [2]uint32{b.Seq, b.End()})
	pr.advance(25 * time.Millisecond)
	rc.expect(stacktest.Seq(a.Seq), stacktest.PayloadLen(mss))
	require.True(t, rc.s.Info().InRecovery)
	rc.ackWith(b.End())
	require.False(t, rc.s.Info().InRecovery)
	pr.expectNone()
}

// After 16 loss recoveries without a D-SACK the multiplier returns to 1
// (RFC 8985 §6.2 step 4, RACK.reo_wnd_persist): the window D-SACKs grew
// holds through 15 of them and goes at the 16th.
func TestRACKReoWndPersist(t *testing.T) {
	rc, segs := rackFlight(t, 9222, 10)
	pr := rc.pr
	pr.clk.Add(20 * time.Millisecond)
	rc.ackWith(segs[9].End())
	rc.sackAck(segs[9].End(), [2]uint32{segs[0].Seq, segs[0].End()})
	_, mult, _, _ := rc.s.RACKReoWnd()
	require.Equal(t, 2, mult, "one D-SACK")
	before := rackStatsOf(pr.tcp())
	for i := 1; i <= 16; i++ {
		rackRecovery(t, rc)
		want := 2
		if i == 16 {
			want = 1
		}
		_, mult, _, _ := rc.s.RACKReoWnd()
		require.Equal(t, want, mult, "after recovery %d", i)
	}
	d := rackStatsOf(pr.tcp()).sub(before)
	assert.Equal(t, uint64(16), d.recoveries)
	assert.Zero(t, d.timeouts, "no RTO")
}

// A spurious retransmission, and what the D-SACK teaches (RFC 8985 §6.2
// step 4; RFC 2883 §4.2): in a first flight the second segment is held
// back 8 ms, longer than the 5 ms window (min_RTT/4), so RACK marks it
// lost and it is retransmitted needlessly. When the peer reports the
// duplicate with a D-SACK, the window doubles to 10 ms, and the same
// 8 ms reordering in the next flight is tolerated; without the D-SACK the
// window stays at 5 ms and the next flight retransmits again.
func TestRACKDSACKAvoidsSpuriousRetransmission(t *testing.T) {
	for _, tc := range []struct {
		name    string
		port    uint16
		dsack   bool
		retrans bool // the second flight's held-back segment is retransmitted
	}{
		{"D-SACK reported: the window widened", 9223, true, false},
		{"no D-SACK: the window unchanged", 9224, false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rc := rackWarm(t, tc.port)
			pr := rc.pr
			p := pr.tcp()
			// The first flight: f[1] is held back and retransmitted.
			f := rackSend(t, rc, 10)
			pr.clk.Add(20 * time.Millisecond)
			rc.ackWith(f[1].Seq)
			rc.sackAck(f[1].Seq, [2]uint32{f[2].Seq, f[2].End()})
			pr.advance(5 * time.Millisecond)
			rc.expect(stacktest.Seq(f[1].Seq), stacktest.PayloadLen(mss))
			require.True(t, rc.s.Info().InRecovery)
			pr.clk.Add(3 * time.Millisecond)
			rc.ackWith(f[3].Seq) // the original arrives, 8 ms late
			if tc.dsack {
				rc.sackAck(f[3].Seq, [2]uint32{f[1].Seq, f[1].End()}) // then the copy
			}
			rc.ackWith(f[9].End())
			require.False(t, rc.s.Info().InRecovery)
			pr.expectNone()
			wnd, _, _, srtt := rc.s.RACKReoWnd()
			require.Greater(t, srtt, 10*time.Millisecond)
			if tc.dsack {
				require.Equal(t, 10*time.Millisecond, wnd)
			} else {
				require.Equal(t, 5*time.Millisecond, wnd)
			}

			// The second flight, with the same reordering.
			f = rackSend(t, rc, 4)
			before := rackStatsOf(p)
			pr.clk.Add(20 * time.Millisecond)
			rc.ackWith(f[1].Seq)
			rc.sackAck(f[1].Seq, [2]uint32{f[2].Seq, f[2].End()})
			pr.advance(4 * time.Millisecond)
			pr.expectNone() // within either window
			pr.advance(4 * time.Millisecond)
			if tc.retrans {
				rc.expect(stacktest.Seq(f[1].Seq), stacktest.PayloadLen(mss))
			}
			pr.expectNone()
			rc.ackWith(f[3].Seq) // f[1] arrives, 8 ms late
			rc.ackWith(f[3].End())
			pr.advance(20 * time.Millisecond)
			pr.expectNone()
			d := rackStatsOf(p).sub(before)
			assert.Zero(t, d.timeouts, "no RTO")
			if tc.retrans {
				assert.Equal(t, uint64(1), d.retrans, "a spurious retransmission")
				assert.Equal(t, uint64(1), d.losses)
				return
			}
			assert.Zero(t, d.retrans, "reordering tolerated")
			assert.Zero(t, d.losses)
			assert.Zero(t, d.reoTimeouts)
			assert.Zero(t, d.recoveries)
		})
	}
}

// The D-SACK path of RACK's reordering window allocates nothing on the
// Go heap (ARCHITECTURE.md §5): each run between two stacks holds back the
// first frame of a three-segment flight until RACK has retransmitted it,
// then lets it through, so that the receiver D-SACKs the duplicate and
// the sender grows its window.
func TestRACKDSACKNoAllocs(t *testing.T) {
	p := newPair(t)
	c := p.connect(80)
	data := pattern(3*1400, 9)
	buf := make([]byte, 65536)
	burst := mbuf.NewBurst(64)
	one := make([]*mbuf.Buf, 1)
	run := func() {
		n, err := c.cl.SendMsg(data, 0)
		if err != nil || n != len(data) {
			t.Fatalf("sent %d: %v", n, err)
		}
		// Hold the first frame back; let the others through.
		p.A.Stacks()[0].Loop().Flush()
		k := p.Rings.B.RxBurst(0, burst)
		if k == 0 {
			t.Fatal("nothing sent")
		}
		one[0] = burst[0]
		if m := p.Rings.A.TxBurst(0, burst[1:k]); m != k-1 {
			t.Fatalf("%d of %d frames put back", m, k-1)
		}
		clear(burst)
		got := 0
		for i := 0; got < len(data) || c.cl.Info().PacketsOut > 0 || one[0] != nil; i++ {
			if i > 100000 {
				t.Fatalf("stalled at %d/%d: %+v", got, len(data), c.cl.Info())
			}
			p.Advance(time.Millisecond)
			if one[0] != nil && c.cl.Info().PacketsOut == 0 {
				// Repaired: the original arrives late.
				if p.Rings.A.TxBurst(0, one) != 1 {
					t.Fatal("held frame not put back")
				}
				one[0] = nil
			}
			if k, err := c.sv.RecvMsg(buf, 0); err == nil {
				got += k
			}
		}
		p.Advance(time.Millisecond)
	}
	run()
	st := p.ta().Stats()
	before, ds0 := rackStatsOf(p.ta()), st.DSACKsReceived.Load()
	assert.Zero(t, testing.AllocsPerRun(10, run), "RACK with D-SACKs")
	d := rackStatsOf(p.ta()).sub(before)
	assert.Positive(t, st.DSACKsReceived.Load()-ds0, "D-SACKs received")
	assert.Positive(t, d.losses, "RACK marked the held frame lost")
	assert.Zero(t, d.timeouts, "no RTO")
	_, mult, _, _ := c.cl.RACKReoWnd()
	assert.Greater(t, mult, 1, "the window grew")
}

// RACK's loss walk stops at the first segment never retransmitted that
// was not sent before RACK's segment (RFC 8985 §6.2's transmission-order
// walk, in sequence order): on a clean flight each ACK visits one
// segment, not every one in flight.
func TestRACKDetectStopsAtRACKSegment(t *testing.T) {
	rc, segs := rackFlight(t, 9231, 10)
	pr := rc.pr
	for i := 1; i < 4; i++ {
		pr.clk.Add(time.Millisecond)
		rc.ackWith(segs[i].Seq)
		_, lost, steps := rc.s.SACKScoreboard()
		assert.Zero(t, lost)
		assert.Equal(t, 1, steps, "ACK %d: segments RACK's walk visited of %d in flight", i, rc.s.Info().PacketsOut)
	}
}
