package tcp_test

import (
	"bytes"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dpstack/dpstack/faultwire"
	"github.com/dpstack/dpstack/stack/netdev"
	"github.com/dpstack/dpstack/stack/stacktest"
	"github.com/dpstack/dpstack/stat"
)

// TestTSOThroughLossyWire: with TSO on (the fault wire cuts the large
// segments, as a NIC would) and 2 % of the frames lost each way, 8 MiB
// arrive byte for byte; the sender sent most segments as pieces of large
// ones (while ACKs clock it, a large segment is the two or three segments
// an ACK lets go), and repaired the losses by SACK recovery, whose
// retransmissions are single segments (the lost pieces, not the large
// segments they were cut from); the receiver took the pieces that
// arrived in order together as groups (GRO, tcp/gro.go). Every pool is
// back at its baseline when the pair closes.
func TestTSOThroughLossyWire(t *testing.T) {
	const size = 8 << 20
	f := faultwire.Faults{Drop: 0.02, Delay: time.Millisecond}
	wp := &pair{stacktest.NewPair(t, stacktest.PairConfig{Name: uniq("tso"), ManualClock: true,
		KnownNeighbours: true, Wire: &stacktest.WireConfig{AB: f, BA: f, Seed: 15, TSO: true}})}
	require.True(t, wp.A.Stacks()[0].Device().Features.Has(netdev.TxTSO), "the wire's ports offer TSO")
	cl, sv := wp.connectWire(5201, "cubic")
	pa := wp.ta()
	st := pa.Stats()
	segs0, pieces0, out0 := st.TSOSegs.Load(), st.TSOPieces.Load(), st.OutSegs.Load()
	merged0 := wp.tb().Stats().GROMerged.Load()
	before := rackStatsOf(pa)

	data := pattern(size, 15)
	got := transferWire(t, wp, cl, sv, data)
	require.True(t, bytes.Equal(data, got), "byte-exact")
	for i := 0; cl.Info().PacketsOut > 0; i++ {
		require.Less(t, i, 100000, "never all acknowledged")
		wp.step(100 * time.Microsecond)
	}

	segs, pieces := st.TSOSegs.Load()-segs0, st.TSOPieces.Load()-pieces0
	r := rackStatsOf(pa).sub(before)
	ab := wp.Wire.Stats(faultwire.AToB)
	t.Logf("large segments %d, pieces %d, segments sent %d, merged on receipt %d; wire a->b dropped %d; "+
		"SACK recoveries %d, RACK losses %d, RTOs %d, retransmissions %d",
		segs, pieces, st.OutSegs.Load()-out0, wp.tb().Stats().GROMerged.Load()-merged0, ab.Dropped, r.recoveries, r.losses, r.timeouts, r.retrans)
	assert.Positive(t, segs, "large segments sent")
	assert.Positive(t, wp.tb().Stats().GROMerged.Load()-merged0, "pieces merged on receipt")
	assert.Greater(t, 2*pieces, st.OutSegs.Load()-out0, "most segments went out as pieces of large ones")
	require.Positive(t, ab.Dropped, "frames were lost")
	assert.Positive(t, r.recoveries, "SACK recovery")
	assert.Positive(t, r.retrans, "the lost pieces were sent again")
	assert.GreaterOrEqual(t, st.OutSegs.Load()-out0, pieces+r.retrans, "OutSegs counts the pieces and the retransmissions")
	db := wp.B.Stacks()[0].Device()
	assert.Zero(t, db.Drops.Get(stat.DropTCPBadChecksum)+db.Drops.Get(stat.DropIPBadChecksum), "every piece's checksums are right")
}

// TestTSONoAllocs: sending large segments, the fault wire cutting them,
// allocates nothing in steady state (ARCHITECTURE.md §5).
func TestTSONoAllocs(t *testing.T) {
	wp := &pair{stacktest.NewPair(t, stacktest.PairConfig{Name: uniq("tsa"), ManualClock: true,
		KnownNeighbours: true, Wire: &stacktest.WireConfig{Seed: 1, TSO: true}})}
	cl, sv := wp.connectWire(5202, "cubic")
	st := wp.ta().Stats()
	big := pattern(256*1024, 3)
	buf := make([]byte, 65536)
	bulk := func() {
		sent, got := 0, 0
		for i := 0; got < len(big); i++ {
			if i > 100000 {
				t.Fatal("bulk transfer stalls")
			}
			if sent < len(big) {
				if n, err := cl.SendMsg(big[sent:], 0); err == nil {
					sent += n
				}
			}
			wp.step(100 * time.Microsecond)
			for {
				n, err := sv.RecvMsg(buf, 0)
				if err != nil {
					break
				}
				got += n
			}
		}
	}
	bulk()
	segs0 := st.TSOSegs.Load()
	assert.Zero(t, testing.AllocsPerRun(10, bulk), "bulk in large segments")
	assert.Positive(t, st.TSOSegs.Load()-segs0, "large segments sent")
}

// TestTSOSACKBlocksFit: on a port whose TSO cuts to less than the MTU (as
// net_tap's, which counts the Ethernet header), a large segment sent while
// the connection reports SACK blocks carries only the blocks that fit
// beside a full piece, so that no piece is larger than the port cuts: a
// bulk transfer each way, with loss, completes with no frame refused as
// too big.
func TestTSOSACKBlocksFit(t *testing.T) {
	const size = 2 << 20
	f := faultwire.Faults{Drop: 0.02, Delay: time.Millisecond}
	wp := &pair{stacktest.NewPair(t, stacktest.PairConfig{Name: uniq("tsk"), ManualClock: true,
		KnownNeighbours: true, Wire: &stacktest.WireConfig{AB: f, BA: f, Seed: 16, TSO: true}})}
	devs := []*netdev.Device{wp.A.Stacks()[0].Device(), wp.B.Stacks()[0].Device()}
	for _, dev := range devs {
		dev.TSOMTU = dev.MTU - 14 // what the stack sets for net_tap
	}
	cl, sv := wp.connectWire(5203, "cubic")
	st := wp.ta().Stats()
	segs0 := st.TSOSegs.Load()
	up, down := pattern(size, 16), pattern(size, 17)
	gotUp, gotDown := make([]byte, 0, size), make([]byte, 0, size)
	buf := make([]byte, 65536)
	sentUp, sentDown := 0, 0
	for i := 0; len(gotUp) < size || len(gotDown) < size; i++ {
		require.Less(t, i, 2_000_000, "up %d, down %d of %d", len(gotUp), len(gotDown), size)
		if n, err := cl.SendMsg(up[sentUp:], 0); err == nil {
			sentUp += n
		}
		if n, err := sv.SendMsg(down[sentDown:], 0); err == nil {
			sentDown += n
		}
		wp.step(100 * time.Microsecond)
		for n, err := sv.RecvMsg(buf, 0); err == nil; n, err = sv.RecvMsg(buf, 0) {
			gotUp = append(gotUp, buf[:n]...)
		}
		for n, err := cl.RecvMsg(buf, 0); err == nil; n, err = cl.RecvMsg(buf, 0) {
			gotDown = append(gotDown, buf[:n]...)
		}
	}
	require.True(t, bytes.Equal(up, gotUp), "a to b byte-exact")
	require.True(t, bytes.Equal(down, gotDown), "b to a byte-exact")
	assert.Positive(t, st.TSOSegs.Load()-segs0, "large segments sent")
	for _, dev := range devs {
		assert.Zero(t, dev.Drops.Get(stat.DropFrameTooBig), "no piece larger than the port cuts")
	}
}
