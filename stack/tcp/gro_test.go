package tcp_test

import (
	"bytes"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dpstack/dpstack/faultwire"
	"github.com/dpstack/dpstack/stack/header"
	"github.com/dpstack/dpstack/stack/stacktest"
)

// groSegSize is the payload of the raw peer's segments in the GRO tests.
const groSegSize = 1000

// groDial opens a connection from the host to the raw peer, whose first
// ACK after the handshake carries its scaled window: the segments after it
// leave the send window as it is, as header prediction wants.
func (pr *peer) groDial(pport uint16) *rawConn {
	pr.t.Helper()
	rc := pr.dial(pport, 1000, synOpts(77))
	rc.send(fACK, nil)
	pr.expectNone()
	return rc
}

// groBurst is a burst of in-order segments of groSegSize bytes from the
// raw peer.
type groBurst struct {
	n    int
	skip func(k int) bool  // segment k is lost on the way
	tos  func(k int) uint8 // the IPv4 TOS byte of segment k; nil: 0
	psh  bool              // the last segment carries PSH
}

// inject sends the burst's segments without running the host: they reach
// it in one rx burst. It returns the data of all n.
func (gb groBurst) inject(rc *rawConn) []byte {
	rc.pr.t.Helper()
	data := pattern(gb.n*groSegSize, int(rc.seq))
	for k := range gb.n {
		fl := fACK
		if gb.psh && k == gb.n-1 {
			fl |= fPSH
		}
		f := rc.pr.frame(rc.seg(fl, data[k*groSegSize:(k+1)*groSegSize]))
		if gb.tos != nil {
			ip := header.IPv4(f[header.EthernetLen:])
			ip.SetTOS(gb.tos(k))
			ip.SetChecksumFull()
		}
		if gb.skip == nil || !gb.skip(k) {
			rc.pr.inject(f)
		}
		rc.seq += groSegSize
	}
	return data
}

// acks runs the host and returns the segments it sent.
func (pr *peer) acks() []stacktest.Parsed {
	pr.poll(2)
	got := pr.inbox
	pr.inbox = nil
	return got
}

// readAll reads what s's receive queue holds.
func readAll(t *testing.T, rc *rawConn) []byte {
	t.Helper()
	var got []byte
	buf := make([]byte, 1<<16)
	for {
		n, err := rc.s.RecvMsg(buf, 0)
		if err != nil {
			return got
		}
		got = append(got, buf[:n]...)
	}
}

// GRO: eight in-order segments in one rx burst, the last with PSH, are
// taken as one group and draw exactly one ACK, which acknowledges all of
// them (Linux's GRO hands tcp_rcv_established one segment of eight MSS,
// which it ACKs at once), and wake the reader once, by the end of the
// burst; their data arrives whole and the pool is back at its baseline.
// Without GRO the same burst draws an ACK per segment or two.
func TestGROOneACKPerBurst(t *testing.T) {
	for _, gro := range []bool{true, false} {
		pr := newPeer(t)
		pr.tcp().SetGRO(gro)
		rc := pr.groDial(5301)
		base := stacktest.InUse(pr.h)
		st := pr.tcp().Stats()
		groups0, merged0 := st.GROGroups.Load(), st.GROMerged.Load()
		r := &recorder{}
		rc.s.Callbacks = r

		data := groBurst{n: 8, psh: true}.inject(rc)
		pr.h.Stacks()[0].Loop().Poll()
		assert.Positive(t, r.data, "gro %v: the reader woken in the burst's turn", gro)
		got := pr.acks()
		require.NotEmpty(t, got, "gro %v: an ACK", gro)
		last := got[len(got)-1]
		stacktest.CheckSegment(t, last, stacktest.Flags(fACK), stacktest.Ack(rc.seq), stacktest.PayloadLen(0))
		if gro {
			assert.Len(t, got, 1, "one ACK for the group")
			assert.Equal(t, uint64(1), st.GROGroups.Load()-groups0, "one group")
			assert.Equal(t, uint64(8), st.GROMerged.Load()-merged0, "of eight segments")
			assert.Equal(t, 1, r.data, "one wake-up")
		} else {
			assert.GreaterOrEqual(t, len(got), 4, "an ACK for every second segment at least")
			assert.Equal(t, groups0, st.GROGroups.Load(), "no group")
		}
		assert.True(t, bytes.Equal(data, readAll(t, rc)), "gro %v: the data in order", gro)
		assert.Equal(t, base, stacktest.InUse(pr.h), "gro %v: the pool at its baseline", gro)
		if gro {
			groLoneAfterGroup(t, rc)
		}
		rc.s.Close()
		pr.drain()
	}
}

// groLoneAfterGroup checks that a lone segment after a group is
// acknowledged at once (groFlush), though the connection left quickack
// mode: had the group's ACK been lost, the sender's probe would otherwise
// wait for the delayed-ACK timer.
func groLoneAfterGroup(t *testing.T, rc *rawConn) {
	t.Helper()
	pr := rc.pr
	delayed := false
	for i := 0; i < 64 && !delayed; i++ { // lone segments until one waits
		groBurst{n: 1}.inject(rc)
		delayed = len(pr.acks()) == 0
	}
	require.True(t, delayed, "quickack mode ended")
	groBurst{n: 2}.inject(rc)
	require.Len(t, pr.acks(), 1, "the group's ACK, for it and the waiting segment")
	groBurst{n: 1}.inject(rc)
	got := pr.acks()
	require.Len(t, got, 1, "the lone segment's ACK, without waiting")
	stacktest.CheckSegment(t, got[0], stacktest.Ack(rc.seq))
	readAll(t, rc)
}

// GRO: a burst with a hole draws the same ACKs after the hole as without
// GRO: each segment beyond it a duplicate ACK at once, with the SACK block
// of what arrived beyond the hole (RFC 5681 §4.2, RFC 2018 §4); the ACK
// before the hole acknowledges what came before it. The segment that fills
// the hole is acknowledged with everything.
func TestGROHoleUnchanged(t *testing.T) {
	type ackOf struct {
		ack  uint32
		sack []header.SACKBlock
	}
	run := func(gro bool) (before []uint32, after []ackOf, final stacktest.Parsed) {
		pr := newPeer(t)
		pr.tcp().SetGRO(gro)
		rc := pr.groDial(5302)
		start := rc.seq
		groBurst{n: 8, skip: func(k int) bool { return k == 2 }}.inject(rc)
		hole := start + 2*groSegSize
		for _, a := range pr.acks() {
			if a.Ack != hole || a.Options.NumSACK == 0 {
				before = append(before, a.Ack)
				continue
			}
			after = append(after, ackOf{a.Ack, append([]header.SACKBlock(nil), a.Options.SACK()...)})
		}
		// Fill the hole.
		end := rc.seq
		rc.seq = hole
		rc.pr.send(rc.seg(fACK, pattern(groSegSize, 3)))
		rc.seq = end
		final = rc.expect(stacktest.Flags(fACK), stacktest.Ack(end))
		rc.s.Close()
		pr.drain()
		return before, after, final
	}
	beforeOn, afterOn, finalOn := run(true)
	beforeOff, afterOff, finalOff := run(false)
	assert.Equal(t, afterOff, afterOn, "the duplicate ACKs after the hole")
	require.Len(t, afterOn, 5, "one per segment beyond the hole")
	assert.Equal(t, header.SACKBlock{Start: afterOn[4].sack[0].Start, End: afterOn[4].sack[0].Start + 5*groSegSize},
		afterOn[4].sack[0], "the last SACKs all five")
	require.NotEmpty(t, beforeOn)
	assert.Len(t, beforeOn, 1, "GRO: one ACK for the two segments before the hole")
	assert.Equal(t, beforeOff[len(beforeOff)-1], beforeOn[0], "which acknowledges them both")
	assert.Zero(t, finalOn.Options.NumSACK)
	assert.Equal(t, finalOff.Ack, finalOn.Ack)
}

// GRO after a sign of loss: once a hole was seen, groups end at two
// segments, so that the host acknowledges every second segment as without
// GRO and a lost ACK is followed closely by the next; a burst of eight
// in-order segments then draws four ACKs.
func TestGROWaryAfterLoss(t *testing.T) {
	pr := newPeer(t)
	rc := pr.groDial(5305)
	start := rc.seq
	groBurst{n: 4, skip: func(k int) bool { return k == 1 }}.inject(rc)
	pr.acks()
	end := rc.seq
	rc.seq = start + groSegSize
	rc.pr.send(rc.seg(fACK, pattern(groSegSize, 5)))
	rc.seq = end
	rc.expect(stacktest.Ack(end))

	st := pr.tcp().Stats()
	groups0 := st.GROGroups.Load()
	groBurst{n: 8}.inject(rc)
	got := pr.acks()
	require.Len(t, got, 4, "an ACK for every second segment")
	for i, a := range got {
		stacktest.CheckSegment(t, a, stacktest.Ack(end+uint32(2*(i+1)*groSegSize)))
	}
	assert.Equal(t, uint64(4), st.GROGroups.Load()-groups0, "four groups of two")
	readAll(t, rc)
}

// GRO: a segment whose IPv4 TOS differs from the group's, as an ECN
// Congestion Experienced mark makes it (RFC 3168 §5), ends the group and
// starts another, as in inet_gro_receive: no group hides a mark among
// unmarked segments. Eight segments, the fifth marked, make a group of
// four, the marked one alone, and a group of three; all arrive.
func TestGROTOSEndsGroup(t *testing.T) {
	pr := newPeer(t)
	rc := pr.groDial(5304)
	st := pr.tcp().Stats()
	groups0, merged0 := st.GROGroups.Load(), st.GROMerged.Load()
	const ce = 0x03 // ECN field CE (RFC 3168 §5)
	data := groBurst{n: 8, tos: func(k int) uint8 {
		if k == 4 {
			return ce
		}
		return 0
	}}.inject(rc)
	got := pr.acks()
	require.NotEmpty(t, got)
	stacktest.CheckSegment(t, got[len(got)-1], stacktest.Ack(rc.seq))
	assert.Equal(t, uint64(2), st.GROGroups.Load()-groups0, "two groups")
	assert.Equal(t, uint64(7), st.GROMerged.Load()-merged0, "of four and three segments")
	assert.True(t, bytes.Equal(data, readAll(t, rc)))
}

// GRO: a segment whose TSval is older than the last one's ends the group
// (a group's segments must pass PAWS, RFC 7323 §5.3, as its first did),
// and is processed alone: it is still no older than TS.Recent, so it is
// taken, and starts the next group. Four segments with TSvals 10, 11, 10,
// 12 make two groups of two, and all their data arrives.
func TestGROOlderTSvalEndsGroup(t *testing.T) {
	pr := newPeer(t)
	rc := pr.groDial(5306)
	st := pr.tcp().Stats()
	groups0, merged0 := st.GROGroups.Load(), st.GROMerged.Load()
	base := rc.tsVal
	data := pattern(4*groSegSize, 6)
	for k, ts := range []uint32{10, 11, 10, 12} {
		rc.tsVal = base + ts - 1 // seg adds one
		rc.pr.inject(rc.pr.frame(rc.seg(fACK, data[k*groSegSize:(k+1)*groSegSize])))
		rc.seq += groSegSize
	}
	got := pr.acks()
	require.NotEmpty(t, got)
	stacktest.CheckSegment(t, got[len(got)-1], stacktest.Ack(rc.seq))
	assert.Equal(t, uint64(2), st.GROGroups.Load()-groups0, "two groups")
	assert.Equal(t, uint64(4), st.GROMerged.Load()-merged0, "of two segments each")
	assert.Zero(t, st.PAWSRejected.Load(), "none failed PAWS")
	assert.True(t, bytes.Equal(data, readAll(t, rc)))
}

// GRO through a lossy wire: 4 MiB from A to B over the fault wire, which
// loses, reorders and duplicates frames each way, arrive byte for byte with
// B's GRO on and off; on, B merged segments (with the holes, duplicates
// and reorderings taken alone); off, it merged none. Every pool is back at
// its baseline when the pair closes.
func TestGROThroughLossyWire(t *testing.T) {
	const size = 4 << 20
	f := faultwire.Faults{Drop: 0.01, Reorder: 0.01, Duplicate: 0.01, Delay: time.Millisecond}
	for _, gro := range []bool{true, false} {
		wp := newWirePair(t, f, f)
		wp.tb().SetGRO(gro)
		cl, sv := wp.connectWire(5303, "cubic")
		st := wp.tb().Stats()
		merged0 := st.GROMerged.Load()
		data := pattern(size, 5303)
		got := transferWire(t, wp, cl, sv, data)
		require.True(t, bytes.Equal(data, got), "gro %v: byte-exact", gro)
		ab := wp.Wire.Stats(faultwire.AToB)
		require.Positive(t, ab.Dropped, "frames were lost")
		merged := st.GROMerged.Load() - merged0
		t.Logf("gro %v: merged %d segments in %d groups; wire a->b dropped %d, reordered %d, duplicated %d",
			gro, merged, st.GROGroups.Load(), ab.Dropped, ab.Reordered, ab.Duplicated)
		if gro {
			assert.Positive(t, merged, "segments merged")
		} else {
			assert.Zero(t, merged, "no segment merged")
		}
	}
}
