package stack_test

import (
	"fmt"
	"os"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dpstack/dpstack/dpdk"
	"github.com/dpstack/dpstack/stack"
	"github.com/dpstack/dpstack/stack/stacktest"
)

// TestJumboEcho: two hosts at MTU 9000 on a ring pair exchange an 8,000
// byte echo and its reply, each one frame (the pool's mbufs hold a whole
// jumbo frame), nothing fragmented; one byte more than the MTU is still
// refused at output.
func TestJumboEcho(t *testing.T) {
	p := stacktest.NewPair(t, stacktest.PairConfig{Name: uniq("jmb"), MTU: 9000})
	ipA := p.A.Stacks()[0].IPv4().Stats()
	ipB := p.B.Stacks()[0].IPv4().Stats()

	sendEcho(t, p.A, addrB.Addr(), 7, 1, 8000)
	p.PumpUntil("echo reply", func() bool { return ipA.ICMPInEchoReps.Load() == 1 })
	assert.Equal(t, uint64(1), ipB.ICMPOutEchoReplies.Load())
	assert.Zero(t, ipA.FragCreates.Load()+ipB.FragCreates.Load(), "no fragments")
	assert.Zero(t, ipA.ReasmReqds.Load()+ipB.ReasmReqds.Load(), "none to reassemble")

	before := ipA.OutDiscards.Load()
	sendEcho(t, p.A, addrB.Addr(), 7, 2, 9000-28+1)
	p.Pump(4)
	assert.Equal(t, before+1, ipA.OutDiscards.Load())
}

// TestJumboTapRefused: DPDK 22.11's net_tap takes frames of at most
// 1,522 bytes (tap_dev_info's max_rx_pktlen, and pmd_tx_burst caps what
// it writes at the port's MTU), so a host asking it for MTU 9000 fails to
// open with EINVAL and a message that says why, rather than ethdev's
// bare refusal.
func TestJumboTapRefused(t *testing.T) {
	if _, err := os.Stat("/dev/net/tun"); err != nil {
		t.Skip("no /dev/net/tun")
	}
	name := uniq("jmbtap")
	port, err := dpdk.Probe("net_tap_" + name + ",iface=" + fmt.Sprintf("dpj%d", os.Getpid()%100000))
	require.NoError(t, err)
	_, err = stack.Open(stack.Config{Name: name, Port: port, Addr: tapAddr, MTU: 9000})
	if err == nil {
		t.Fatal("net_tap took MTU 9000")
	}
	port.Close()
	assert.ErrorIs(t, err, syscall.EINVAL)
	assert.Contains(t, err.Error(), "the driver takes at most 1522")
}
