package tcp_test

import (
	"bytes"
	"encoding/binary"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dpstack/dpstack/faultwire"
	"github.com/dpstack/dpstack/mbuf"
	"github.com/dpstack/dpstack/stack/stacktest"
	"github.com/dpstack/dpstack/stack/tcp"
)

// SACK-based loss recovery (RFC 6675) and the scoreboard's defences
// against hostile SACK blocks. The raw peer permits SACK and sends no
// timestamps, so up to four blocks fit in an ACK.

// sackOpt is a SACK option (RFC 2018 §3) with the given [start, end)
// blocks, after two NOPs.
func sackOpt(blocks ...[2]uint32) []byte {
	b := []byte{1, 1, 5, byte(2 + 8*len(blocks))}
	for _, k := range blocks {
		b = binary.BigEndian.AppendUint32(b, k[0])
		b = binary.BigEndian.AppendUint32(b, k[1])
	}
	return b
}

// sackSeg is the peer's ACK of everything before ack with SACK blocks.
func (rc *rawConn) sackSeg(ack uint32, blocks ...[2]uint32) stacktest.Segment {
	rc.ack = ack
	s := rc.seg(fACK, nil)
	s.Options = append(s.Options, sackOpt(blocks...)...)
	return s
}

// sackAck sends sackSeg.
func (rc *rawConn) sackAck(ack uint32, blocks ...[2]uint32) {
	rc.pr.t.Helper()
	rc.pr.send(rc.sackSeg(ack, blocks...))
}

// sackFlight opens a SACK connection from the host to the raw peer with
// MSS m and Reno, has the host send n segments, and returns the first
// initialCwnd segments it sent.
func sackFlight(t *testing.T, port uint16, n, m int) (*rawConn, []stacktest.Parsed) {
	t.Helper()
	pr := newPeer(t)
	rc := pr.dial(port, 7000, stacktest.Options(stacktest.OptMSS(uint16(m)), stacktest.OptSACKPerm()))
	require.True(t, rc.s.Info().SACK)
	require.NoError(t, rc.s.SetSockOptString(syscall.IPPROTO_TCP, syscall.TCP_CONGESTION, "reno"))
	got, err := rc.s.SendMsg(pattern(n*m, 5), 0)
	require.NoError(t, err)
	require.Equal(t, n*m, got)
	segs := make([]stacktest.Parsed, 10)
	for i := range segs {
		segs[i] = rc.expect(stacktest.PayloadLen(m))
	}
	rc.pr.expectNone()
	return rc, segs
}

// sackStats are the counters SACK recovery moves.
type sackStats struct {
	recoveries, retransmits, ignored, dsacks, timeouts, retrans uint64
}

func sackStatsOf(p *tcp.Proto) sackStats {
	st := p.Stats()
	return sackStats{
		recoveries:  st.SACKRecoveries.Load(),
		retransmits: st.SACKRetransmits.Load(),
		ignored:     st.SACKBlocksIgnored.Load(),
		dsacks:      st.DSACKsReceived.Load(),
		timeouts:    st.Timeouts.Load(),
		retrans:     st.RetransSegs.Load(),
	}
}

func (a sackStats) sub(b sackStats) sackStats {
	return sackStats{a.recoveries - b.recoveries, a.retransmits - b.retransmits, a.ignored - b.ignored,
		a.dsacks - b.dsacks, a.timeouts - b.timeouts, a.retrans - b.retrans}
}

// sackReceiver plays an RFC 2018 receiver on the raw peer: it takes the
// host's segments in order, drops the first transmission of those
// listed, and answers every segment with an ACK whose first SACK block
// holds the segment just received (RFC 2018 §4). The clock never moves,
// so an RTO cannot help: recovery must finish on ACKs alone.
type sackReceiver struct {
	rc      *rawConn
	base    uint32             // the first sequence number of the data
	rcvNxt  uint32             // cumulative
	ranges  [][2]uint32        // out-of-order ranges, sorted
	data    map[uint32][]byte  // segment data by seq
	drop    map[uint32]bool    // seqs whose first transmission is lost
	noSACK  bool               // send no SACK blocks, though SACK was permitted
	highest uint32             // one past the highest byte sent
	rtx     []stacktest.Parsed // retransmissions seen
}

func (r *sackReceiver) blocks(last uint32) [][2]uint32 {
	var out [][2]uint32
	for _, k := range r.ranges {
		if int32(last-k[0]) >= 0 && int32(last-k[1]) < 0 {
			out = append(out, k)
		}
	}
	for i := len(r.ranges) - 1; i >= 0 && len(out) < 4; i-- {
		k := r.ranges[i]
		if !(int32(last-k[0]) >= 0 && int32(last-k[1]) < 0) {
			out = append(out, k)
		}
	}
	return out
}

// take receives segment s.
func (r *sackReceiver) take(s stacktest.Parsed) {
	if len(s.Payload) == 0 {
		return
	}
	end := s.End()
	if int32(s.Seq-r.highest) < 0 {
		r.rtx = append(r.rtx, s)
	} else {
		r.highest = end
	}
	if r.drop[s.Seq] {
		delete(r.drop, s.Seq)
		return
	}
	r.data[s.Seq] = s.Payload
	if s.Seq == r.rcvNxt {
		r.rcvNxt = end
	} else if int32(s.Seq-r.rcvNxt) > 0 {
		r.ranges = append(r.ranges, [2]uint32{s.Seq, end})
		slices.SortFunc(r.ranges, func(a, b [2]uint32) int { return int(int32(a[0] - b[0])) })
		merged := r.ranges[:1]
		for _, k := range r.ranges[1:] {
			l := &merged[len(merged)-1]
			if int32(k[0]-l[1]) <= 0 {
				if int32(k[1]-l[1]) > 0 {
					l[1] = k[1]
				}
				continue
			}
			merged = append(merged, k)
		}
		r.ranges = merged
	}
	for len(r.ranges) > 0 && int32(r.ranges[0][0]-r.rcvNxt) <= 0 {
		if int32(r.ranges[0][1]-r.rcvNxt) > 0 {
			r.rcvNxt = r.ranges[0][1]
		}
		r.ranges = r.ranges[1:]
	}
	if r.noSACK {
		r.rc.ackWith(r.rcvNxt)
		return
	}
	r.rc.sackAck(r.rcvNxt, r.blocks(s.Seq)...)
}

// run feeds the receiver first and then whatever the host sends until
// total bytes are acknowledged, and returns the bytes received.
func (r *sackReceiver) run(t *testing.T, first []stacktest.Parsed, total int) []byte {
	t.Helper()
	queue := append([]stacktest.Parsed(nil), first...)
	for i := 0; int(r.rcvNxt-r.base) < total; i++ {
		require.Less(t, i, 100000)
		if len(queue) == 0 {
			r.rc.pr.poll(2)
			queue = append(queue, r.rc.pr.inbox...)
			r.rc.pr.inbox = nil
			require.NotEmpty(t, queue, "stalled at %d of %d bytes: only an RTO would go on", r.rcvNxt-r.base, total)
		}
		s := queue[0]
		queue = queue[1:]
		r.take(s)
	}
	var out []byte
	for seq := r.base; seq != r.rcvNxt; {
		d, ok := r.data[seq]
		require.True(t, ok, "no segment at %d", seq)
		out = append(out, d...)
		seq += uint32(len(d))
	}
	return out
}

func newSACKReceiver(rc *rawConn, first stacktest.Parsed, lost ...uint32) *sackReceiver {
	r := &sackReceiver{rc: rc, base: first.Seq, rcvNxt: first.Seq, highest: first.Seq,
		data: map[uint32][]byte{}, drop: map[uint32]bool{}}
	for _, s := range lost {
		r.drop[s] = true
	}
	return r
}

// Recovery by SACK: one hole, or several in one window, are each
// retransmitted once, and only they (RFC 6675 §5: a SACK that covers all
// but a hole retransmits only the hole), in a single recovery, with no
// RTO; the data arrives whole.
func TestSACKRecovery(t *testing.T) {
	for _, tc := range []struct {
		name string
		port uint16
		lost []int // indexes into the first window
	}{
		{"one hole", 9101, []int{2}},
		{"three holes", 9102, []int{1, 4, 7}},
		{"first and last", 9103, []int{0, 9}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			const n = 20
			rc, segs := sackFlight(t, tc.port, n, mss)
			p := rc.pr.tcp()
			before := sackStatsOf(p)
			var lost []uint32
			for _, i := range tc.lost {
				lost = append(lost, segs[i].Seq)
			}
			r := newSACKReceiver(rc, segs[0], lost...)
			got := r.run(t, segs, n*mss)
			assert.True(t, bytes.Equal(pattern(n*mss, 5), got), "data arrives whole")
			var rtx []uint32
			for _, s := range r.rtx {
				rtx = append(rtx, s.Seq)
			}
			assert.ElementsMatch(t, lost, rtx, "only the holes are retransmitted")
			d := sackStatsOf(p).sub(before)
			assert.Equal(t, uint64(1), d.recoveries, "one SACK recovery")
			assert.Equal(t, uint64(len(lost)), d.retransmits)
			assert.Equal(t, uint64(len(lost)), d.retrans)
			assert.Zero(t, d.timeouts, "no RTO")
			assert.False(t, rc.s.Info().InRecovery, "recovery ended at RecoveryPoint")
			sacked, lostOut, _ := rc.s.SACKScoreboard()
			assert.Zero(t, sacked)
			assert.Zero(t, lostOut)
		})
	}
}

// D-SACKs (RFC 2883) are recognised and are not duplicate ACKs: a
// first block below the cumulative ACK, repeated, brings no recovery
// and no retransmission; a first block inside the second is a D-SACK
// too, while the second still SACKs.
func TestDSACKNoRecovery(t *testing.T) {
	rc, segs := sackFlight(t, 9110, 20, mss)
	p := rc.pr.tcp()
	before := sackStatsOf(p)
	rc.ackWith(segs[5].Seq)
	rc.pr.poll(2)
	rc.pr.inbox = nil // new data
	for range 5 {
		rc.sackAck(segs[5].Seq, [2]uint32{segs[1].Seq, segs[2].End()})
		rc.pr.expectNone()
	}
	d := sackStatsOf(p).sub(before)
	assert.Equal(t, uint64(5), d.dsacks)
	assert.Zero(t, d.recoveries)
	assert.Zero(t, d.retrans)
	assert.False(t, rc.s.Info().InRecovery)

	rc.sackAck(segs[5].Seq, [2]uint32{segs[7].Seq, segs[7].End()}, [2]uint32{segs[6].Seq, segs[8].End()})
	d = sackStatsOf(p).sub(before)
	assert.Equal(t, uint64(6), d.dsacks)
	assert.Zero(t, d.ignored)
	sacked, _, _ := rc.s.SACKScoreboard()
	assert.Equal(t, 3, sacked, "the second block SACKs segments 6 to 8")
}

// Blocks out of range are ignored and counted; a block straddling
// SND.UNA is clamped; overlapping blocks are merged; only segments
// covered whole are marked.
func TestSACKBadBlocks(t *testing.T) {
	for _, tc := range []struct {
		name    string
		port    uint16
		blocks  func(s []stacktest.Parsed) [][2]uint32
		ignored uint64
		sacked  int
	}{
		{"below SND.UNA", 9121, func(s []stacktest.Parsed) [][2]uint32 {
			return [][2]uint32{{s[4].Seq, s[4].End()}, {s[0].Seq - 5000, s[0].Seq - 1000}}
		}, 1, 1},
		{"beyond SND.NXT", 9122, func(s []stacktest.Parsed) [][2]uint32 {
			return [][2]uint32{{s[9].Seq, s[9].End() + 1}, {s[9].End() + 1000, s[9].End() + 9000}}
		}, 2, 0},
		{"empty and inverted", 9123, func(s []stacktest.Parsed) [][2]uint32 {
			return [][2]uint32{{s[3].Seq, s[3].Seq}, {s[5].End(), s[5].Seq}}
		}, 2, 0},
		{"straddling SND.UNA", 9124, func(s []stacktest.Parsed) [][2]uint32 {
			return [][2]uint32{{s[2].Seq, s[3].End()}, {s[0].Seq - 3000, s[1].End()}}
		}, 0, 3},
		{"overlapping", 9125, func(s []stacktest.Parsed) [][2]uint32 {
			return [][2]uint32{{s[3].Seq, s[5].End()}, {s[4].Seq, s[6].End()}, {s[5].Seq + 10, s[6].End() - 10}, {s[3].Seq, s[6].End()}}
		}, 0, 4},
		{"partial segments", 9126, func(s []stacktest.Parsed) [][2]uint32 {
			return [][2]uint32{{s[3].Seq + 1, s[3].End()}, {s[5].Seq, s[5].End() - 1}}
		}, 0, 0},
		{"half the sequence space away", 9127, func(s []stacktest.Parsed) [][2]uint32 {
			return [][2]uint32{{s[4].Seq, s[4].End()}, {s[3].Seq + 1<<31, s[3].End() + 1<<31}}
		}, 1, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rc, segs := sackFlight(t, tc.port, 10, mss)
			p := rc.pr.tcp()
			before := sackStatsOf(p)
			// SND.UNA at segs[1]: the D-SACK rule (a first block below
			// the cumulative ACK) applies to the first block only.
			rc.sackAck(segs[1].Seq, tc.blocks(segs)...)
			d := sackStatsOf(p).sub(before)
			assert.Equal(t, tc.ignored, d.ignored, "ignored blocks")
			assert.Zero(t, d.dsacks)
			sacked, _, _ := rc.s.SACKScoreboard()
			assert.Equal(t, tc.sacked, sacked, "segments SACKed")
		})
	}
}

// The "SACK Panic" family (CVE-2019-11477/11478/5599): with a small MSS
// and nearly two hundred segments in flight, thousands of ACKs carrying tiny,
// overlapping, repeated and out-of-range blocks crash nothing, allocate
// nothing, and no ACK makes the scoreboard walk more than the
// write queue four times (marking SACKed, marking lost, NextSeg's rules
// 1 and 3); every segment stays whole (none is split).
func TestSACKTinyBlocksBounded(t *testing.T) {
	const m, n = 88, 180
	pr := newPeer(t)
	rc := pr.dial(9130, 7000, stacktest.Options(stacktest.OptMSS(m), stacktest.OptSACKPerm()))
	require.NoError(t, rc.s.SetSockOptString(syscall.IPPROTO_TCP, syscall.TCP_CONGESTION, "reno"))
	require.NoError(t, rc.s.SetSockOpt(syscall.SOL_SOCKET, syscall.SO_SNDBUF, 1<<20))
	data := pattern(n*m, 6)
	got, err := rc.s.SendMsg(data, 0)
	require.NoError(t, err)
	require.Equal(t, len(data), got)
	first := rc.expect(stacktest.PayloadLen(m))
	pr.poll(2)
	pr.inbox = nil
	// Open the congestion window wide; the next ACK lets n segments out.
	rc.s.SetCwnd(n + 10)
	rc.ackWith(first.End())
	for range 20 {
		pr.poll(4)
	}
	una := first.End()
	inflight := rc.s.Info().PacketsOut
	require.Greater(t, inflight, 150, "segments in flight")
	nxt := una + uint32(inflight*m)
	pr.inbox = nil

	// Frames of hostile ACKs, built beforehand: one-segment blocks with
	// holes between them, walking the window; blocks one byte long;
	// blocks overlapping each other; blocks out of range.
	var frames [][]byte
	for i := 0; i < inflight-8; i += 3 {
		s := una + uint32(i*m)
		var b [][2]uint32
		switch i % 4 {
		case 0:
			b = [][2]uint32{{s + 2*m, s + 3*m}, {s + 4*m, s + 5*m}, {s + 6*m, s + 7*m}, {s + 8*m, s + 9*m}}
		case 1:
			b = [][2]uint32{{s + 1, s + 2}, {s + 3, s + 4}, {s + 5, s + 6}, {s + 7, s + 8}}
		case 2:
			b = [][2]uint32{{s + 2*m, s + 8*m}, {s + 3*m, s + 9*m}, {s + 2*m + 1, s + 4*m - 1}, {s + m, s + 9*m}}
		case 3:
			b = [][2]uint32{{s + 2*m, s + 3*m}, {una - 10*m, una - m}, {nxt, nxt + 4*m}, {nxt - m, nxt + 1}}
		}
		frames = append(frames, pr.frame(rc.sackSeg(una, b...)))
	}
	loop := pr.h.Stacks()[0].Loop()
	one := make([]*mbuf.Buf, 1)
	maxSteps := 0
	i := 0
	ack := func() {
		f := frames[i%len(frames)]
		i++
		b := pr.pool.Alloc()
		copy(b.Put(len(f)), f)
		one[0] = b
		if pr.rp.A.TxBurst(0, one) != 1 {
			t.Fatal("ring full")
		}
		loop.Poll()
		for {
			k := pr.rp.A.RxBurst(0, pr.burst)
			for _, x := range pr.burst[:k] {
				x.Free()
			}
			if k < len(pr.burst) {
				break
			}
		}
		_, _, steps := rc.s.SACKScoreboard()
		maxSteps = max(maxSteps, steps)
	}
	for range 3 * len(frames) {
		ack()
	}
	assert.Zero(t, testing.AllocsPerRun(2000, ack), "SACK processing allocates nothing")
	assert.LessOrEqual(t, maxSteps, 4*inflight, "scoreboard walks per ACK")
	assert.Greater(t, maxSteps, 0)
	sacked, lost, _ := rc.s.SACKScoreboard()
	in := rc.s.Info()
	t.Logf("%d segments in flight, %d ACKs: at most %d steps per ACK; %d SACKed, %d lost, in recovery %v",
		inflight, i, maxSteps, sacked, lost, in.InRecovery)
	assert.LessOrEqual(t, sacked+lost, in.PacketsOut)
	assert.Equal(t, inflight, in.PacketsOut, "no segment split")
	assert.Positive(t, sackStatsOf(pr.tcp()).ignored)

	// The peer finally acknowledges everything: the queue empties.
	rc.ackWith(nxt)
	pr.poll(4)
	assert.Zero(t, rc.s.Info().PacketsOut)
	s2, l2, _ := rc.s.SACKScoreboard()
	assert.Zero(t, s2)
	assert.Zero(t, l2)
}

// A 4 MiB transfer through a wire that loses 5 % of the frames each way
// (fixed seed), in simulated time, arrives byte for byte, and SACK
// recovery, not the retransmission timer, repairs most of the losses.
func TestSACKLossyWire(t *testing.T) {
	const tick = 100 * time.Microsecond
	wp := newWirePair(t,
		faultwire.Faults{Drop: 0.05, Delay: time.Millisecond},
		faultwire.Faults{Drop: 0.05, Delay: time.Millisecond})
	cl, sv := wp.connectWire(5002, "cubic")
	require.True(t, cl.Info().SACK)
	p := wp.ta()
	before := sackStatsOf(p)
	data := pattern(4<<20, 11)
	got := make([]byte, 0, len(data))
	buf := make([]byte, 1<<16)
	sent := 0
	for i := 0; len(got) < len(data); i++ {
		require.Less(t, i, 5_000_000, "%d of %d bytes", len(got), len(data))
		if sent < len(data) {
			if n, err := cl.SendMsg(data[sent:], 0); err == nil {
				sent += n
			}
		}
		wp.step(tick)
		for {
			k, err := sv.RecvMsg(buf, 0)
			if err != nil {
				break
			}
			got = append(got, buf[:k]...)
		}
	}
	require.True(t, bytes.Equal(data, got), "byte-exact")
	d := sackStatsOf(p).sub(before)
	ab := wp.Wire.Stats(faultwire.AToB)
	t.Logf("dropped %d data frames; SACK recoveries %d, SACK retransmits %d, RTOs %d, retransmissions %d, D-SACKs %d",
		ab.Dropped, d.recoveries, d.retransmits, d.timeouts, d.retrans, d.dsacks)
	assert.Positive(t, d.recoveries)
	assert.Greater(t, d.recoveries, 2*d.timeouts, "SACK recoveries rather than RTOs")
	assert.Greater(t, d.retransmits, d.retrans/2, "most retransmissions are SACK's")
}

// A peer that permits SACK but sends no blocks: three duplicate ACKs
// still start recovery, and each partial ACK retransmits the next hole
// at once, as NewReno would, so two losses in a window need no RTO.
func TestSACKPermittedNoBlocks(t *testing.T) {
	const n = 20
	rc, segs := sackFlight(t, 9140, n, mss)
	p := rc.pr.tcp()
	before := sackStatsOf(p)
	r := newSACKReceiver(rc, segs[0], segs[1].Seq, segs[4].Seq)
	r.noSACK = true
	got := r.run(t, segs, n*mss)
	assert.True(t, bytes.Equal(pattern(n*mss, 5), got))
	d := sackStatsOf(p).sub(before)
	assert.Equal(t, uint64(1), d.recoveries)
	assert.Equal(t, uint64(2), d.retrans, "each hole once")
	assert.Zero(t, d.timeouts, "no RTO")
	assert.Positive(t, p.Stats().PartialAcks.Load())
}
