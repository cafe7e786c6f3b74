package mbuf_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dpstack/dpstack/dpdk/dpdktest"
	"github.com/dpstack/dpstack/mbuf"
)

// TestRxTime: the receive time set on an mbuf reads back with its source,
// survives a clone (Go's and DPDK's), is copied, and only moves later with
// LaterRxTime; the field is registered at EAL start.
func TestRxTime(t *testing.T) {
	require.NotZero(t, mbuf.RxTimestampFlag(), "EAL start registers the timestamp field")
	p := dpdktest.Pool(t, 63)
	c := mbuf.NewCache(p)
	defer c.Drain()

	b := alloc(t, p)
	fill(t, b, 100, 'a')
	b.SetRxTime(1_700_000_000_123_456_789, true)
	ns, hw := b.RxTime()
	assert.Equal(t, int64(1_700_000_000_123_456_789), ns)
	assert.True(t, hw)
	raw, ok := b.DeviceTimestamp()
	assert.True(t, ok, "the hardware flag is the driver's")
	assert.Equal(t, uint64(1_700_000_000_123_456_789), raw)

	b.SetRxTime(1_700_000_000_000_000_500, false)
	ns, hw = b.RxTime()
	assert.Equal(t, int64(1_700_000_000_000_000_500), ns)
	assert.False(t, hw, "software clears the flag")
	_, ok = b.DeviceTimestamp()
	assert.False(t, ok)

	for name, cl := range map[string]*mbuf.Buf{"Go clone": b.CloneFrom(c), "DPDK clone": b.Clone(p)} {
		require.NotNil(t, cl, name)
		ns, hw = cl.RxTime()
		assert.Equal(t, int64(1_700_000_000_000_000_500), ns, name)
		assert.False(t, hw, name)
		c.Free(cl)
	}

	cp := alloc(t, p)
	cp.CopyRxTime(b)
	ns, _ = cp.RxTime()
	assert.Equal(t, int64(1_700_000_000_000_000_500), ns)
	earlier := alloc(t, p)
	earlier.SetRxTime(1_600_000_000_000_000_000, true)
	cp.LaterRxTime(earlier)
	ns, _ = cp.RxTime()
	assert.Equal(t, int64(1_700_000_000_000_000_500), ns, "an earlier time does not replace a later one")
	b.SetRxTime(1_800_000_000_000_000_000, true)
	cp.LaterRxTime(b)
	ns, hw = cp.RxTime()
	assert.Equal(t, int64(1_800_000_000_000_000_000), ns, "a later one does")
	assert.True(t, hw)

	c.Free(b)
	c.Free(cp)
	c.Free(earlier)
}
