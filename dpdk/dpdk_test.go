package dpdk_test

import (
	"os"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dpstack/dpstack/dpdk"
	"github.com/dpstack/dpstack/dpdk/dpdktest"
	"github.com/dpstack/dpstack/mbuf"
)

func TestMain(m *testing.M) { dpdktest.Main(m, "dpdk", dpdk.EALConfig{}) }

func TestEALArgs(t *testing.T) {
	args, err := dpdk.EALConfig{
		Lcores: "0-1", Hugepages: dpdk.HugeOff, FilePrefix: "p",
		Vdevs: []string{"net_tap0,iface=x"}, LogLevel: "error",
	}.Args()
	require.NoError(t, err)
	assert.Equal(t, []string{"dpstack", "-l", "0-1", "--no-huge", "-m", "256", "--file-prefix", "p",
		"--vdev", "net_tap0,iface=x", "--no-pci", "--log-level", "error"}, args)

	args, err = dpdk.EALConfig{Hugepages: dpdk.HugeOn, PCI: []string{"0000:01:00.0"}}.Args()
	require.NoError(t, err)
	assert.Equal(t, []string{"dpstack", "-l", "0", "-a", "0000:01:00.0"}, args)

	args, err = dpdk.EALConfig{Lcores: "0@(0-1)", Hugepages: dpdk.HugeOn}.Args()
	require.NoError(t, err)
	assert.Equal(t, []string{"dpstack", "--lcores", "0@(0-1)", "--no-pci"}, args)
}

func TestParseHugeMode(t *testing.T) {
	for in, want := range map[string]dpdk.HugeMode{"auto": dpdk.HugeAuto, "": dpdk.HugeAuto, "on": dpdk.HugeOn, "off": dpdk.HugeOff} {
		got, err := dpdk.ParseHugeMode(in)
		require.NoError(t, err)
		assert.Equal(t, want, got)
	}
	_, err := dpdk.ParseHugeMode("maybe")
	assert.Error(t, err)
}

func TestStartEALTwice(t *testing.T) {
	assert.ErrorIs(t, dpdk.StartEAL(dpdk.EALConfig{}), dpdk.ErrEALRunning)
}

func TestProbeBadDevice(t *testing.T) {
	_, err := dpdk.Probe("net_nosuchdriver0")
	require.Error(t, err)
	_, err = dpdk.PortByName("net_tap_absent")
	require.Error(t, err)
	assert.ErrorIs(t, err, syscall.ENODEV)
}

// TestRingPair sends a burst from one port of a ring pair and receives it,
// unchanged, on the other.
func TestRingPair(t *testing.T) {
	pool := dpdktest.Pool(t, 1023)
	rp, err := dpdk.NewRingPair("dpdkt", 256)
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, rp.Close()) })
	for _, p := range []*dpdk.Port{rp.A, rp.B} {
		info, err := p.Info()
		require.NoError(t, err)
		assert.Equal(t, "net_ring", info.Driver)
		got, err := p.Configure(dpdk.PortConfig{RxQueues: 1, TxQueues: 1, Pool: pool,
			TxOffloads: dpdk.TxOffloadTCPCksum})
		require.NoError(t, err)
		assert.Zero(t, got.TxOffloads, "net_ring offers no checksum offload")
		require.NoError(t, p.Start())
		t.Cleanup(func() { assert.NoError(t, p.Stop()) })
		link, err := p.Link()
		require.NoError(t, err)
		assert.True(t, link.Up)
		_, err = p.MAC()
		require.NoError(t, err)
	}
	_, err = rp.A.Configure(dpdk.PortConfig{RxQueues: 9, TxQueues: 1, Pool: pool})
	assert.ErrorIs(t, err, syscall.EINVAL)

	const n = 8
	out := make([]*mbuf.Buf, n)
	for i := range out {
		out[i] = pool.Alloc()
		require.NotNil(t, out[i])
		copy(out[i].Put(60), []byte{byte(i), 0xaa})
	}
	require.Equal(t, n, rp.A.TxBurst(0, out))

	in := make([]*mbuf.Buf, 32)
	got := rp.B.RxBurst(0, in)
	require.Equal(t, n, got)
	for i, b := range in[:got] {
		assert.Equal(t, 60, b.Len())
		assert.Equal(t, byte(i), b.Bytes()[0])
	}
	mbuf.FreeBulk(in[:got])

	st, err := rp.A.Stats()
	require.NoError(t, err)
	assert.Equal(t, uint64(n), st.TxPackets)
	st, err = rp.B.Stats()
	require.NoError(t, err)
	assert.Equal(t, uint64(n), st.RxPackets)
	_, err = rp.B.XStats()
	require.NoError(t, err)
	_, err = rp.A.RSS()
	assert.ErrorIs(t, err, syscall.ENOTSUP)
}

// TestRingPairChecksumOffload: a pair that offers TCP checksum offload
// enables it without asking the driver, carries a packet's transmit flags
// to the other port, and stops offering it once closed.
func TestRingPairChecksumOffload(t *testing.T) {
	pool := dpdktest.Pool(t, 63)
	open := func() *dpdk.RingPair {
		rp, err := dpdk.NewRingPair("dpdkc", 64)
		require.NoError(t, err)
		return rp
	}
	rp := open()
	rp.OffloadTCPChecksums()
	for _, p := range []*dpdk.Port{rp.A, rp.B} {
		info, err := p.Info()
		require.NoError(t, err)
		assert.Equal(t, dpdk.TxOffloadTCPCksum, info.TxOffloadCapa&(dpdk.TxOffloadTCPCksum|dpdk.TxOffloadIPv4Cksum))
		got, err := p.Configure(dpdk.PortConfig{RxQueues: 1, TxQueues: 1, Pool: pool,
			TxOffloads: dpdk.TxOffloadTCPCksum | dpdk.TxOffloadIPv4Cksum})
		require.NoError(t, err, "the driver is not asked for the link's offload")
		assert.Equal(t, dpdk.TxOffloadTCPCksum, got.TxOffloads)
		require.NoError(t, p.Start())
	}
	b := pool.Alloc()
	require.NotNil(t, b)
	b.Put(60)
	b.SetOlFlags(mbuf.TxIPv4 | mbuf.TxTCPCksum)
	require.Equal(t, 1, rp.A.TxBurst(0, []*mbuf.Buf{b}))
	in := make([]*mbuf.Buf, 4)
	require.Equal(t, 1, rp.B.RxBurst(0, in))
	assert.Equal(t, mbuf.TxIPv4|mbuf.TxTCPCksum, in[0].OlFlags(), "the flags cross the link")
	in[0].Free()
	for _, p := range []*dpdk.Port{rp.A, rp.B} {
		require.NoError(t, p.Stop())
	}
	require.NoError(t, rp.Close())

	rp = open()
	defer func() { assert.NoError(t, rp.Close()) }()
	info, err := rp.A.Info()
	require.NoError(t, err)
	assert.Zero(t, info.TxOffloadCapa&dpdk.TxOffloadTCPCksum, "a new pair of the same name offers nothing")
}

// TestTapPort brings up a net_tap port, as the stack does, and reads its
// capabilities, link and RSS state.
func TestTapPort(t *testing.T) {
	if _, err := os.Stat("/dev/net/tun"); err != nil {
		t.Skip("no /dev/net/tun")
	}
	pool := dpdktest.Pool(t, 2047)
	p, err := dpdk.Probe("net_tap_dpdkt,iface=dpsdpdkt0")
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, p.Close()) })
	assert.Equal(t, "net_tap_dpdkt", p.Name())
	info, err := p.Info()
	require.NoError(t, err)
	assert.Equal(t, "net_tap", info.Driver)
	assert.Zero(t, info.RxOffloadCapa&dpdk.RxOffloadTCPLRO, "net_tap has no LRO: tested on the ring pair's model")
	_, err = p.Configure(dpdk.PortConfig{RxQueues: 1, TxQueues: 1, Pool: pool, MTU: 1500,
		RxOffloads: dpdk.RxOffloadIPv4Cksum, TxOffloads: dpdk.TxOffloadIPv4Cksum})
	require.NoError(t, err)
	require.NoError(t, p.Start())
	mtu, err := p.MTU()
	require.NoError(t, err)
	assert.Equal(t, 1500, mtu)
	mac, err := p.MAC()
	require.NoError(t, err)
	assert.Len(t, mac, 6)
	_, err = p.XStats()
	require.NoError(t, err)
	require.NoError(t, p.Stop())
}

// TestBatch: one Run sends on one port of a ring pair, frees a vector and
// receives on the other port what it has just sent; ops given no packets
// are skipped, and a second Run without new packets does nothing.
func TestBatch(t *testing.T) {
	pool := dpdktest.Pool(t, 1023)
	rp := startRingPair(t, "dpdkb", 256, pool)
	b := dpdk.NewBatch()
	// Added rx first: the kinds still run tx, free, rx.
	rxB, rxA := b.AddRx(rp.B, 0), b.AddRx(rp.A, 0)
	txA, free := b.AddTx(rp.A, 0), b.AddFree()
	txB := b.AddTx(rp.B, 0)

	out, dead := mbuf.NewBurst(8), mbuf.NewBurst(4)
	require.True(t, pool.AllocBulk(out))
	require.True(t, pool.AllocBulk(dead))
	for i, m := range out {
		m.Put(60)[0] = byte(i)
	}
	in, inA := mbuf.NewBurst(32), mbuf.NewBurst(32)
	b.Set(txA, out)
	b.Set(free, dead)
	b.Set(rxB, in)
	b.Set(rxA, inA)
	b.Run()
	assert.Equal(t, 8, b.Done(txA))
	assert.Equal(t, 4, b.Done(free))
	assert.Equal(t, 0, b.Done(txB), "an op given no packets is skipped")
	assert.Equal(t, 0, b.Done(rxA))
	require.Equal(t, 8, b.Done(rxB), "sent and received in the same call")
	for i, m := range in[:8] {
		assert.Equal(t, byte(i), m.Bytes()[0])
	}
	assert.Equal(t, 8, pool.InUse(), "the frees went back to the pool")

	b.Run()
	for _, op := range []int{rxB, rxA, txA, free, txB} {
		assert.Zero(t, b.Done(op), "op %d ran again without packets", op)
	}
	mbuf.FreeBulk(in[:8])
}

// startRingPair makes a ring pair of size slots with both ports started
// (one queue pair each, receiving into pool), stopped and closed when the
// test ends.
func startRingPair(t *testing.T, name string, size int, pool *mbuf.Pool) *dpdk.RingPair {
	t.Helper()
	rp, err := dpdk.NewRingPair(name, size)
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, rp.Close()) })
	for _, p := range []*dpdk.Port{rp.A, rp.B} {
		_, err := p.Configure(dpdk.PortConfig{RxQueues: 1, TxQueues: 1, Pool: pool})
		require.NoError(t, err)
		require.NoError(t, p.Start())
		t.Cleanup(func() { assert.NoError(t, p.Stop()) })
	}
	return rp
}
