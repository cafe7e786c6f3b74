package netdev_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dpstack/dpstack/dpdk"
	"github.com/dpstack/dpstack/dpdk/dpdktest"
	"github.com/dpstack/dpstack/mbuf"
	"github.com/dpstack/dpstack/stack/header"
	"github.com/dpstack/dpstack/stack/netdev"
	"github.com/dpstack/dpstack/stack/netdev/netdevtest"
	"github.com/dpstack/dpstack/stat"
)

func TestMain(m *testing.M) { dpdktest.Main(m, "netdev", dpdk.EALConfig{}) }

// TestXmitEtherVLAN: a device on a VLAN tags its frames in the headroom
// (the 802.1Q tag between the source address and the EtherType), or,
// where the port inserts tags, leaves the header untagged and asks the
// port for the tag in the mbuf; a device on no VLAN writes the plain
// header. The MTU check counts the header the device writes.
func TestXmitEtherVLAN(t *testing.T) {
	pool := dpdktest.Pool(t, 63)
	cache := mbuf.NewCache(pool)
	src, dst := header.MAC{2, 0, 0, 0, 0, 1}, header.MAC{2, 0, 0, 0, 0, 2}
	for _, tc := range []struct {
		name    string
		vlan    uint16
		feat    netdev.Features
		hdr     int
		olFlags uint64
	}{
		{"untagged", 0, 0, header.EthernetLen, 0},
		{"software tag", 100, 0, header.EthernetVLANLen, 0},
		{"port inserts", 100, netdev.TxVLANInsert, header.EthernetLen, mbuf.TxVLAN},
		{"insert offered, no VLAN", 0, netdev.TxVLANInsert, header.EthernetLen, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			txq := &netdevtest.TxRecorder{}
			dev := netdev.New(netdev.Config{Name: "t", MAC: src, MTU: 1500, VLAN: tc.vlan, Features: tc.feat, Cache: cache, TxQueue: txq})
			assert.Equal(t, tc.hdr, dev.HardHeaderLen)
			for _, size := range []int{100, 1500, 1501} {
				b := cache.Get()
				require.NotNil(t, b)
				b.Put(size)
				dev.XmitEther(b, dst, header.EtherTypeIPv4)
			}
			require.Len(t, txq.Frames, 2, "the 1501-byte packet is over the MTU")
			assert.Equal(t, uint64(1), dev.Drops.Get(stat.DropFrameTooBig))
			for i, b := range txq.Frames {
				assert.Equal(t, []int{100, 1500}[i]+tc.hdr, b.Len())
				eth := header.Ethernet(b.Bytes())
				assert.Equal(t, dst, eth.Dst())
				assert.Equal(t, src, eth.Src())
				if tc.hdr == header.EthernetVLANLen {
					assert.Equal(t, header.EtherTypeVLAN, eth.EtherType())
					assert.Equal(t, tc.vlan, eth.VLANTCI())
					assert.Equal(t, header.EtherTypeIPv4, eth.VLANEtherType())
				} else {
					assert.Equal(t, header.EtherTypeIPv4, eth.EtherType())
				}
				assert.Equal(t, tc.olFlags, b.OlFlags()&mbuf.TxVLAN)
				if tc.olFlags != 0 {
					assert.Equal(t, tc.vlan, b.VLANTCI())
				}
				cache.Free(b)
			}
			cache.Drain()
			assert.Zero(t, pool.InUse())
		})
	}
}
