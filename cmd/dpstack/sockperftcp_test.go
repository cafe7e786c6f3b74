package main

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dpstack/dpstack/api"
	"github.com/dpstack/dpstack/stack/stacktest"
)

// TestSockperfTCPOneSegment: a ping-pong message that arrives whole is
// answered in one segment, header and payload together, as the kernel's
// sockperf server answers it; one that arrives in pieces (its header cut
// in two, its payload after) is answered as it comes, and whole.
func TestSockperfTCPOneSegment(t *testing.T) {
	p := stacktest.NewPair(t, stacktest.PairConfig{Name: "sp1s", KnownNeighbours: true, CsumOffload: true})
	stats := &sockperfStats{}
	conf := serviceConf{idle: time.Minute, count: &connCount{name: "sockperf", limit: &connLimit{max: 10}}}
	server := stacktest.AddrA.Addr().String() + ":11111"
	ln, err := api.ListenCallback(p.A, server, sockperfTCP{conf, stats})
	require.NoError(t, err)
	var tc *api.CConn
	var got int
	var pieces []int
	require.NoError(t, api.DialCallback(p.B, server, spTCPClient{conn: &tc, got: &got, pieces: &pieces}))
	p.PumpUntil("connected", func() bool { return tc != nil })
	require.NoError(t, tc.SetNoDelay(true)) // the pieces below go at once
	msg := spMessage()
	received := func(n int) func() bool { return func() bool { return got == n } }

	for i := range 5 {
		_, err := tc.Send(msg)
		require.NoError(t, err)
		p.PumpUntil("the reply", received((i+1)*len(msg)))
	}
	assert.Equal(t, []int{64, 64, 64, 64, 64}, pieces, "one segment per reply")

	pieces, got = nil, 0
	for _, part := range [][]byte{msg[:5], msg[5:spHeaderLen], msg[spHeaderLen:]} {
		_, err := tc.Send(part)
		require.NoError(t, err)
		p.Pump(4)
	}
	p.PumpUntil("the reply", received(len(msg)))
	assert.Zero(t, stats.malformed.Load())
	tc.Close()
	p.Pump(8)
	require.NoError(t, ln.Close())
}
