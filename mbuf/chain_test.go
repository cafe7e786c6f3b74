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
