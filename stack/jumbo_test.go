package stack_test

import (
	"testing"

	"github.com/stretchr/testify/assert"

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
