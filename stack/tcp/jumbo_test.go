package tcp_test

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dpstack/dpstack/stack/stacktest"
	"github.com/dpstack/dpstack/stat"
)

// TestJumboTransfer: two hosts at MTU 9000 on a ring pair, their pools'
// mbufs large enough for a whole frame. The MSS follows the MTU (9000
// less 40 bytes of headers and 12 of Timestamps), the write queue's
// segments grow to it, and 16 MiB arrive byte for byte in that many
// segments, none fragmented or refused as too big.
func TestJumboTransfer(t *testing.T) {
	const mtu, size = 9000, 16 << 20
	wp := &pair{stacktest.NewPair(t, stacktest.PairConfig{Name: uniq("jmb"), MTU: mtu,
		ManualClock: true, KnownNeighbours: true})}
	cl, sv := wp.connectWire(5301, "cubic")
	mss := mtu - 40 - 12
	require.Equal(t, mss, cl.Info().MSS, "the MSS follows the MTU")
	st := wp.ta().Stats()
	out0 := st.OutSegs.Load()

	data := pattern(size, 9)
	got := transferWire(t, wp, cl, sv, data)
	require.True(t, bytes.Equal(data, got), "byte-exact")

	segs := st.OutSegs.Load() - out0
	t.Logf("%d segments for %d bytes", segs, size)
	assert.Less(t, segs, uint64(2*size/mss), "segments of the MSS, not of a 2 KiB mbuf")
	ipA, ipB := wp.A.Stacks()[0].IPv4().Stats(), wp.B.Stacks()[0].IPv4().Stats()
	assert.Zero(t, ipA.FragCreates.Load()+ipB.ReasmReqds.Load(), "nothing fragmented")
	assert.Zero(t, wp.A.Stacks()[0].Device().Drops.Get(stat.DropFrameTooBig))
}
