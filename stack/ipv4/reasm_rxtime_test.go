package ipv4

import (
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A reassembled datagram was received when its last fragment was: the
// latest of the fragments' receive times, whichever fragment arrived last
// and whether it is chained or copied into one mbuf (Linearize).
func TestReasmRxTime(t *testing.T) {
	for _, linear := range []bool{false, true} {
		e := newEnv(t, 0)
		c := e.catchProto()
		if linear {
			e.l.Linearize(testProto)
		}
		s := ipSpec{src: peerAddr, dst: ourAddr, proto: testProto, ttl: 64, payload: echoData(1400), id: 7}
		frags := fragmentsOf(s, 800)
		slices.Reverse(frags) // the first fragment, the head, comes last
		for i, f := range frags {
			b := e.mbuf(f)
			b.SetRxTime(int64(1000*(i+1)), false)
			e.l.Input(b)
		}
		s.id = 8
		frags = fragmentsOf(s, 800)
		for i, f := range frags {
			b := e.mbuf(f)
			b.SetRxTime(int64(5000-1000*i), false) // the head is the latest
			e.l.Input(b)
		}
		require.Len(t, c.rx, 2)
		assert.Equal(t, []int64{2000, 5000}, c.rx, "linear %v", linear)
		e.requireNoLeak()
	}
}
