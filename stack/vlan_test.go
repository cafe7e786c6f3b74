package stack_test

import (
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dpstack/dpstack/dpdk"
	"github.com/dpstack/dpstack/mbuf"
	"github.com/dpstack/dpstack/stack"
	"github.com/dpstack/dpstack/stack/header"
	"github.com/dpstack/dpstack/stack/stacktest"
	"github.com/dpstack/dpstack/stat"
)

// vlanFrame is an Ethernet frame with an 802.1Q tag of tci around payload.
func vlanFrame(dst, src header.MAC, tci, etherType uint16, payload []byte) []byte {
	f := make([]byte, header.EthernetVLANLen+len(payload))
	header.Ethernet(f).EncodeVLAN(dst, src, tci, etherType)
	copy(f[header.EthernetVLANLen:], payload)
	return f
}

// TestPairVLAN: two hosts on VLAN 100 of a ring pair (whose ports insert
// and strip no tags: the stack tags in software) resolve each other and
// exchange echoes up to the MTU in tagged frames. Host b takes a frame
// tagged 100 with a priority, and one whose tag the port stripped into
// the mbuf (RTE_MBUF_F_RX_VLAN_STRIPPED); it drops an untagged frame, a
// frame of VLAN 200 (in the frame or stripped) and a tagged frame too
// short for its tag, each under its reason; every mbuf comes back.
func TestPairVLAN(t *testing.T) {
	p := stacktest.NewPair(t, stacktest.PairConfig{Name: uniq("vlan"), VLAN: 100})
	ipA := p.A.Stacks()[0].IPv4().Stats()
	ipB := p.B.Stacks()[0].IPv4().Stats()
	devB := p.B.Stacks()[0].Device()
	assert.Equal(t, header.EthernetVLANLen, devB.HardHeaderLen, "net_ring inserts no tags: the stack does")
	for i, size := range []int{0, 56, 1472} {
		sendEcho(t, p.A, addrB.Addr(), 7, uint16(i), size)
		p.PumpUntil("echo reply", func() bool { return ipA.ICMPInEchoReps.Load() == uint64(i+1) })
	}
	assert.Zero(t, p.A.Stacks()[0].Device().Drops.Get(stat.DropFrameTooBig))

	macA, macB := p.A.MAC(), p.B.MAC()
	echo := stacktest.IPv4Packet(addrA.Addr(), addrB.Addr(), header.IPProtoICMP, 64, icmpEcho(9, 1, 8))
	untagged := stacktest.EthFrame(macB, macA, header.EtherTypeIPv4, echo)
	pool := p.A.Pool()
	baseline := pool.InUse()
	for _, tc := range []struct {
		name     string
		frame    []byte
		stripped uint16 // the TCI the port took off, 0: none
		reason   stat.DropReason
		answered bool
	}{
		{"tagged 100, priority 5", vlanFrame(macB, macA, 5<<13|100, header.EtherTypeIPv4, echo), 0, 0, true},
		{"stripped 100", untagged, 100, 0, true},
		{"untagged", untagged, 0, stat.DropVLANUntagged, false},
		{"tagged 200", vlanFrame(macB, macA, 200, header.EtherTypeIPv4, echo), 0, stat.DropVLANOther, false},
		{"stripped 200", untagged, 200, stat.DropVLANOther, false},
		{"tag cut short", vlanFrame(macB, macA, 100, header.EtherTypeIPv4, nil)[:16], 0, stat.DropEthTruncated, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			replies, drops := ipB.ICMPOutEchoReplies.Load(), devB.Drops.Get(tc.reason)
			b := pool.Alloc()
			require.NotNil(t, b)
			copy(b.Put(len(tc.frame)), tc.frame)
			if tc.stripped != 0 {
				b.SetVLANTCI(tc.stripped)
				b.SetOlFlags(mbuf.RxVLANStrip)
			}
			require.Equal(t, 1, p.Rings.A.TxBurst(0, []*mbuf.Buf{b}))
			if tc.answered {
				p.PumpUntil("echo reply", func() bool { return ipB.ICMPOutEchoReplies.Load() == replies+1 })
			} else {
				p.PumpUntil("drop counted", func() bool { return devB.Drops.Get(tc.reason) == drops+1 })
				assert.Equal(t, replies, ipB.ICMPOutEchoReplies.Load())
			}
			p.Pump(2)
			assert.Equal(t, baseline, pool.InUse(), "every frame was freed")
		})
	}
}

// TestVLANConfig: a VLAN ID outside 1-4094 is refused.
func TestVLANConfig(t *testing.T) {
	rp, err := dpdk.NewRingPair(uniq("rpv"), 256)
	require.NoError(t, err)
	defer rp.Close()
	_, err = stack.Open(stack.Config{Name: uniq("vbad"), Port: rp.A, Addr: addrA, PoolSize: 2047, VLAN: 4095})
	assert.ErrorIs(t, err, syscall.EINVAL)
	assert.ErrorContains(t, err, "VLAN 4095")
}
