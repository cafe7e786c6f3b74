package mbuf_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dpstack/dpstack/dpdk/dpdktest"
	"github.com/dpstack/dpstack/mbuf"
)

// TestAppendSeg: a chain built one segment at a time from a header mbuf
// and clones of other packets' data reads as their bytes in order, frees
// as one packet, and refuses a segment that is itself a chain.
func TestAppendSeg(t *testing.T) {
	p := dpdktest.Pool(t, 63)
	c := newCache(t, p)
	base := p.InUse()
	h := alloc(t, p)
	copy(h.Put(10), "0123456789")
	var want []byte
	want = append(want, "0123456789"...)
	var data []*mbuf.Buf
	last := h
	for i := range 3 {
		d := alloc(t, p)
		want = append(want, fill(t, d, 100+i, byte(i))...)
		data = append(data, d)
		cl := d.CloneSeg(c)
		require.NotNil(t, cl)
		last = h.AppendSeg(last, cl)
		require.Equal(t, cl, last)
	}
	assert.Equal(t, 4, h.Segments())
	assert.Equal(t, len(want), h.Len())
	assert.Equal(t, last, h.Last())
	got := make([]byte, h.Len())
	assert.Equal(t, len(want), h.ReadAt(got, 0))
	assert.Equal(t, want, got)

	two := alloc(t, p)
	require.True(t, two.Chain(alloc(t, p)))
	assert.Nil(t, h.AppendSeg(last, two), "a chain is not one segment")
	assert.Equal(t, 4, h.Segments(), "unchanged")
	two.Free()

	h.Free()
	for _, d := range data {
		assert.Equal(t, 1, d.RefCount(), "the clones are gone with the chain")
		d.Free()
	}
	c.Drain()
	assert.Equal(t, base, p.InUse(), "the pool back at its baseline")
}

// TestSetTSO: SetTSO writes tso_segsz and l4_len and the flags TSO needs;
// SetTxOffload, as IPv4 output calls it after, keeps tso_segsz.
func TestSetTSO(t *testing.T) {
	p := dpdktest.Pool(t, 15)
	b := alloc(t, p)
	defer b.Free()
	assert.Zero(t, b.TSOSegSize(), "not a TSO packet")
	b.SetTSO(32, 1434)
	assert.Equal(t, mbuf.TxTCPSeg|mbuf.TxTCPCksum, b.OlFlags())
	assert.Equal(t, 1434, b.TSOSegSize())
	assert.Equal(t, 32, b.TxL4Len())
	b.SetTxOffload(14, 20, b.TxL4Len(), mbuf.TxIPv4|mbuf.TxIPCksum)
	assert.Equal(t, 1434, b.TSOSegSize(), "the lengths leave tso_segsz alone")
	assert.Equal(t, 32, b.TxL4Len())
	assert.Equal(t, mbuf.TxTCPSeg|mbuf.TxTCPCksum|mbuf.TxIPv4|mbuf.TxIPCksum, b.OlFlags())
}

// chainOf builds a chain of segments of the given lengths from p, its
// bytes 0, 1, 2 ... in order, and returns it with those bytes.
func chainOf(t *testing.T, p *mbuf.Pool, lens ...int) (*mbuf.Buf, []byte) {
	t.Helper()
	var h *mbuf.Buf
	var want []byte
	for _, n := range lens {
		s := alloc(t, p)
		want = append(want, fill(t, s, n, byte(len(want)))...)
		if h == nil {
			h = s
			continue
		}
		require.True(t, h.Chain(s))
	}
	return h, want
}

// bytesOf reads the whole packet.
func bytesOf(b *mbuf.Buf) []byte {
	out := make([]byte, b.Len())
	b.ReadAt(out, 0)
	return out
}

// TestPullTrimChain: PullChain and TrimChain cut a chain at any offset,
// inside a segment or on a boundary, leave emptied segments in place
// (the truesize charged stays what it was), and refuse more than the
// packet holds.
func TestPullTrimChain(t *testing.T) {
	p := dpdktest.Pool(t, 63)
	base := p.InUse()
	for _, tc := range []struct{ pull, keep int }{{0, 0}, {1, 10}, {7, 100}, {100, 1}, {101, 150}, {250, 99}, {349, 1}, {0, 350}} {
		b, want := chainOf(t, p, 100, 7, 150, 93)
		require.True(t, b.PullChain(tc.pull))
		want = want[tc.pull:]
		assert.Equal(t, want, bytesOf(b), "pull %d", tc.pull)
		assert.Equal(t, 4, b.Segments(), "emptied segments stay")
		require.True(t, b.TrimChain(tc.keep))
		assert.Equal(t, want[:tc.keep], bytesOf(b), "pull %d keep %d", tc.pull, tc.keep)
		assert.False(t, b.PullChain(tc.keep+1))
		assert.False(t, b.TrimChain(tc.keep+1))
		assert.False(t, b.PullChain(-1))
		assert.Equal(t, tc.keep, b.Len(), "refusals change nothing")
		b.Free()
	}
	assert.Equal(t, base, p.InUse())
}

// TestSplitSeg: a chain split one segment at a time gives packets of one
// segment, each its own bytes and length, the rest a well-formed packet
// all along; each frees on its own.
func TestSplitSeg(t *testing.T) {
	p := dpdktest.Pool(t, 63)
	base := p.InUse()
	b, want := chainOf(t, p, 60, 1, 200, 33)
	require.True(t, b.PullChain(61)) // the first two emptied
	want = want[61:]
	var got []byte
	n := 0
	for b != nil {
		rest := b.SplitSeg()
		assert.Equal(t, 1, b.Segments())
		assert.Equal(t, b.SegLen(), b.Len())
		got = append(got, b.Bytes()...)
		if rest != nil {
			assert.Equal(t, len(want)-len(got), rest.Len(), "the rest's length")
			assert.Equal(t, 3-n, rest.Segments())
		}
		b.Free()
		b = rest
		n++
	}
	assert.Equal(t, 4, n)
	assert.Equal(t, want, got)
	one := alloc(t, p)
	assert.Nil(t, one.SplitSeg(), "one segment: nothing to split")
	one.Free()
	assert.Equal(t, base, p.InUse())
}
