package dpdk_test

import (
	"os"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dpstack/dpstack/dpdk"
	"github.com/dpstack/dpstack/dpdk/dpdktest"
)

var groupMACs = [][6]byte{{0x01, 0x00, 0x5e, 0x00, 0x00, 0x01}, {0x01, 0x00, 0x5e, 0x12, 0x00, 0x07}}

// net_tap takes a multicast list (and filters nothing: the TAP hands over
// every frame) and all-multicast; net_ring has no filter (ENOTSUP), so the
// host turns to all-multicast, which net_ring accepts.
func TestPortMulticastFilter(t *testing.T) {
	pool := dpdktest.Pool(t, 1023)
	t.Run("net_ring", func(t *testing.T) {
		rp, err := dpdk.NewRingPair("dpdkmc", 64)
		require.NoError(t, err)
		t.Cleanup(func() { assert.NoError(t, rp.Close()) })
		_, err = rp.A.Configure(dpdk.PortConfig{RxQueues: 1, TxQueues: 1, Pool: pool})
		require.NoError(t, err)
		assert.ErrorIs(t, rp.A.SetMcAddrList(groupMACs), syscall.ENOTSUP)
		assert.NoError(t, rp.A.AllMulticast(true))
	})
	t.Run("net_tap", func(t *testing.T) {
		if _, err := os.Stat("/dev/net/tun"); err != nil {
			t.Skip("no /dev/net/tun")
		}
		p, err := dpdk.Probe("net_tap_dpdkmc,iface=dpsdpdkmc0")
		require.NoError(t, err)
		t.Cleanup(func() { assert.NoError(t, p.Close()) })
		_, err = p.Configure(dpdk.PortConfig{RxQueues: 1, TxQueues: 1, Pool: pool, MTU: 1500})
		require.NoError(t, err)
		require.NoError(t, p.Start())
		require.NoError(t, p.SetMcAddrList(groupMACs))
		require.NoError(t, p.SetMcAddrList(nil))
		require.NoError(t, p.AllMulticast(true))
		assert.True(t, p.AllMulticastEnabled())
		require.NoError(t, p.AllMulticast(false))
		assert.False(t, p.AllMulticastEnabled())
		require.NoError(t, p.Stop())
	})
}
