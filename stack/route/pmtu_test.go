package route

import (
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestPMTURules walks __ip_rt_update_pmtu's rules on one destination: a
// plausible report lowers the MTU, a larger one is ignored, a report below
// the floor sets 552 and locks, a locked entry takes nothing, and expiry
// restores the device's MTU.
func TestPMTURules(t *testing.T) {
	e := newEnv(t, Config{})
	var shared []int
	e.tbl.OnPMTU(func(dst netip.Addr, mtu int) {
		assert.Equal(t, peerAddr, dst)
		shared = append(shared, mtu)
	})
	d := e.lookup(peerAddr)
	require.Equal(t, 1500, d.MTU)

	require.True(t, e.tbl.UpdatePMTU(peerAddr, 1280))
	assert.True(t, d.Obsolete(), "a Dst made before the update is obsolete")
	assert.Equal(t, 1280, e.lookup(peerAddr).MTU)
	assert.Equal(t, 1500, e.lookup(netip.MustParseAddr("198.18.0.8")).MTU, "other destinations keep theirs")

	assert.False(t, e.tbl.UpdatePMTU(peerAddr, 1400), "never raised by a report")
	assert.False(t, e.tbl.UpdatePMTU(peerAddr, 1280), "an equal report early in the entry's life")
	assert.Equal(t, 1280, e.lookup(peerAddr).MTU)

	// The entry survives a flush of the Dst cache (a table change).
	require.NoError(t, e.tbl.AddRoute(netip.MustParsePrefix("198.18.64.0/24"), gwAddr))
	assert.Equal(t, 1280, e.lookup(peerAddr).MTU)

	require.True(t, e.tbl.UpdatePMTU(peerAddr, 68))
	mtu, locked, ok := e.tbl.PMTU(peerAddr)
	require.True(t, ok)
	assert.Equal(t, MinPMTU, mtu)
	assert.True(t, locked)
	assert.False(t, e.tbl.UpdatePMTU(peerAddr, 600), "a locked entry takes no report")
	assert.Equal(t, MinPMTU, e.lookup(peerAddr).MTU)
	assert.Equal(t, []int{1280, 68}, shared)

	e.advance(PMTUExpires + time.Second)
	_, _, ok = e.tbl.PMTU(peerAddr)
	assert.False(t, ok)
	assert.Equal(t, 1500, e.lookup(peerAddr).MTU, "expiry restores the device's MTU")
	assert.EqualValues(t, 2, e.tbl.Stats().PMTUUpdates.Load())
	assert.EqualValues(t, 1, e.tbl.Stats().PMTUExpired.Load())
}

// TestPMTUFloor: reports of 0 and 40 set the floor, a report below the
// floor when the current MTU is lower still keeps the lower one, and our
// own or broadcast addresses take no path MTU.
func TestPMTUFloor(t *testing.T) {
	e := newEnv(t, Config{})
	for _, m := range []int{0, 40} {
		dst := netip.MustParseAddr("198.18.0.9")
		if m == 40 {
			dst = netip.MustParseAddr("198.18.0.10")
		}
		require.True(t, e.tbl.LearnPMTU(dst, m))
		assert.Equal(t, MinPMTU, e.lookup(dst).MTU)
	}
	assert.False(t, e.tbl.UpdatePMTU(ourAddr.Addr(), 1280))
	assert.False(t, e.tbl.UpdatePMTU(netip.MustParseAddr("198.18.0.255"), 1280))
	assert.False(t, e.tbl.UpdatePMTU(netip.MustParseAddr("198.19.0.1"), 1280), "no route")
}

// The path MTUs a table keeps are bounded: past maxPMTUEntries the entry
// closest to expiry gives way.
func TestPMTUBounded(t *testing.T) {
	e := newEnv(t, Config{})
	require.NoError(t, e.tbl.SetDefaultGateway(gwAddr))
	first := netip.MustParseAddr("198.19.0.1")
	require.True(t, e.tbl.UpdatePMTU(first, 1400))
	e.advance(time.Second)
	a := first
	for range maxPMTUEntries {
		a = a.Next()
		require.True(t, e.tbl.UpdatePMTU(a, 1400))
	}
	assert.Len(t, e.tbl.pmtu, maxPMTUEntries)
	_, _, ok := e.tbl.PMTU(first)
	assert.False(t, ok, "the oldest entry went")
	mtu, _, ok := e.tbl.PMTU(a)
	assert.True(t, ok)
	assert.Equal(t, 1400, mtu)
}
