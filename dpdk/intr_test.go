package dpdk_test

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/dpstack/dpstack/dpdk"
	"github.com/dpstack/dpstack/dpdk/dpdktest"
	"github.com/dpstack/dpstack/internal/netns"
	"github.com/dpstack/dpstack/mbuf"
)

// waitReadable waits up to d for fd to report an edge-triggered event and
// reports whether it did.
func waitReadable(t *testing.T, fd int, d time.Duration) bool {
	t.Helper()
	ep, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	require.NoError(t, err)
	defer unix.Close(ep)
	require.NoError(t, unix.EpollCtl(ep, unix.EPOLL_CTL_ADD, fd, &unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLET, Fd: int32(fd)}))
	ev := make([]unix.EpollEvent, 1)
	for {
		n, err := unix.EpollWait(ep, ev, int(d/time.Millisecond))
		if err == unix.EINTR {
			continue
		}
		require.NoError(t, err)
		return n == 1
	}
}

// TestRingPairDoorbell: a ring port's receive queue has a doorbell that the
// other port's transmit rings only while it is armed, from a burst of its
// own and from a batch.
func TestRingPairDoorbell(t *testing.T) {
	pool := dpdktest.Pool(t, 63)
	rp := startRingPair(t, "dpdki", 64, pool)
	ri, err := rp.B.RxInterrupt(0)
	require.NoError(t, err)
	send := func() {
		b := pool.Alloc()
		require.NotNil(t, b)
		b.Put(60)
		require.Equal(t, 1, rp.A.TxBurst(0, []*mbuf.Buf{b}))
	}
	in := make([]*mbuf.Buf, 4)
	drain := func() {
		n := rp.B.RxBurst(0, in)
		require.Equal(t, 1, n)
		mbuf.FreeBulk(in[:n])
	}

	ep, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	require.NoError(t, err)
	defer unix.Close(ep)
	fd := ri.FD()
	require.NoError(t, unix.EpollCtl(ep, unix.EPOLL_CTL_ADD, fd, &unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLET, Fd: int32(fd)}))
	events := func() int {
		ev := make([]unix.EpollEvent, 1)
		n, err := unix.EpollWait(ep, ev, 0)
		require.NoError(t, err)
		return n
	}

	send()
	assert.Zero(t, events(), "not armed: the sender does not ring")
	drain()
	ri.Arm()
	send()
	assert.Equal(t, 1, events(), "armed: the sender rings")
	drain()
	send()
	assert.Zero(t, events(), "the ring disarmed it: one event per sleep")
	drain()

	ri.Arm()
	batch := dpdk.NewBatch()
	tx := batch.AddTx(rp.A, 0)
	out := mbuf.NewBurst(1)
	require.True(t, pool.AllocBulk(out))
	out[0].Put(60)
	batch.Set(tx, out)
	batch.Run()
	require.Equal(t, 1, batch.Done(tx))
	assert.Equal(t, 1, events(), "a batch's transmit rings too")
	ri.Disarm()
	drain()
}

// TestTapRxInterrupt: a net_tap port configured without rx interrupts has
// nothing to wait on; configured with them, it hands out its queue's
// descriptor, which wakes a waiter when the kernel sends a frame on the
// TAP.
func TestTapRxInterrupt(t *testing.T) {
	if _, err := os.Stat("/dev/net/tun"); err != nil {
		t.Skip("no /dev/net/tun")
	}
	pool := dpdktest.Pool(t, 2047)
	const iface = "dpsdpdki0"
	p, err := dpdk.Probe("net_tap_dpdki,iface=" + iface)
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, p.Close()) })
	// Without RxInterrupts the port has nothing to wait on.
	_, err = p.Configure(dpdk.PortConfig{RxQueues: 1, TxQueues: 1, Pool: pool})
	require.NoError(t, err)
	require.NoError(t, p.Start())
	_, err = p.RxInterrupt(0)
	assert.ErrorIs(t, err, syscall.ENOTSUP)
	require.NoError(t, p.Stop())

	_, err = p.Configure(dpdk.PortConfig{RxQueues: 1, TxQueues: 1, Pool: pool, RxInterrupts: true})
	require.NoError(t, err)
	require.NoError(t, p.Start())
	ri, err := p.RxInterrupt(0)
	require.NoError(t, err)
	require.Positive(t, ri.FD())

	// A frame from the kernel side: the namespace's ARP request for an
	// address nobody has.
	ns, err := netns.Create(fmt.Sprintf("dpstest-dpdk-%d", os.Getpid()))
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, ns.Delete()) })
	require.NoError(t, ns.Adopt(iface, netip.MustParsePrefix("198.18.77.1/24")))
	ri.Arm()
	sent := make(chan error, 1)
	go func() {
		time.Sleep(20 * time.Millisecond)
		sent <- ns.Exec(context.Background(), "arping", "-c", "1", "-w", "1", "-I", iface, "198.18.77.2")
	}()
	assert.True(t, waitReadable(t, ri.FD(), hangGuard), "the descriptor wakes the waiter")
	ri.Disarm()
	<-sent // arping fails: nobody answers
	in := make([]*mbuf.Buf, 32)
	var got int
	for deadline := time.Now().Add(hangGuard); got == 0 && time.Now().Before(deadline); {
		got = p.RxBurst(0, in)
	}
	require.Positive(t, got)
	mbuf.FreeBulk(in[:got])
	require.NoError(t, p.Stop())
}

// hangGuard bounds waits that should end at once; it catches hangs and is
// not a timing assertion.
const hangGuard = 10 * time.Second
