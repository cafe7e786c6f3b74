package tcp_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dpstack/dpstack/mbuf"
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
func rackFlight(t *testing.T, port uint16, n int) (*rawConn, []rxSeg) {
	t.Helper()
	pr := newPeer(t)
	rc := pr.dial(port, 7000, opts(optMSS(mss), optSACKPerm()))
	require.True(t, rc.s.Info().SACK)
	require.NoError(t, rc.s.SetCongestion("reno"))
	got, err := rc.s.SendMsg(pattern(n*mss, 5), 0)
	require.NoError(t, err)
	require.Equal(t, n*mss, got)
	segs := make([]rxSeg, n)
	for i := range segs {
		segs[i] = rc.expect(dataLen(mss))
	}
	pr.expectNone()
	return rc, segs
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
	rc.ackWith(segs[3].seq) // the first three arrive, the last is lost
	pr.expectNone()
	pr.advance(150 * time.Millisecond)
	pr.expectNone() // the PTO is still ahead
	pr.advance(60 * time.Millisecond)
	probe := rc.expect(seqIs(segs[3].seq), dataLen(mss))
	assert.Equal(t, segs[3].data, probe.data)
	rc.ackWith(probe.end())
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
			pr.clk.t = pr.clk.t.Add(20 * time.Millisecond)
			rc.ackWith(segs[1].seq)
			rc.sackAck(segs[1].seq, [2]uint32{segs[2].seq, segs[2].end()})
			pr.expectNone()
			if tc.late > 0 {
				pr.advance(tc.late)
				pr.expectNone()
				rc.sackAck(segs[3].seq) // the second arrived late
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
			rc.expect(seqIs(segs[1].seq), dataLen(mss))
			assert.Equal(t, uint64(1), d.losses, "RACK marked the second lost")
			assert.Equal(t, uint64(1), d.reoTimeouts)
			assert.Equal(t, uint64(1), d.recoveries)
			assert.Equal(t, uint64(1), d.retrans)
			assert.True(t, rc.s.Info().InRecovery)
		})
	}
}

// RACK's reordering timer and TLP's probe allocate nothing on the Go
// heap (DESIGN.md §5): each run between two stacks loses the last frame
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
			p.advance(time.Millisecond)
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
