package main

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dpstack/dpstack/api"
	"github.com/dpstack/dpstack/stack/stacktest"
)

// spMessage is a 64-byte ping-pong message as sockperf's client sends it:
// the client and pong-request bits, the length, zero payload.
func spMessage() []byte {
	m := make([]byte, 64)
	binary.BigEndian.PutUint16(m[spFlagsOff:], spClient|spPongRequest)
	binary.BigEndian.PutUint32(m[spLenOff:], uint32(len(m)))
	return m
}

// spUDPClient counts the replies to a callback UDP client.
type spUDPClient struct{ got *int }

func (c spUDPClient) Datagram(_ *api.CUDPConn, data []byte, _ netip.AddrPort) { *c.got += len(data) }

func (spUDPClient) Error(*api.CUDPConn, error) {}

// spTCPClient counts the reply bytes of a callback TCP client and, when
// pieces is set, records the length of each delivery.
type spTCPClient struct {
	conn   **api.CConn
	got    *int
	pieces *[]int
}

func (c spTCPClient) Accept(cc *api.CConn) { *c.conn = cc }

func (c spTCPClient) Data(_ *api.CConn, data []byte) int {
	*c.got += len(data)
	if c.pieces != nil {
		*c.pieces = append(*c.pieces, len(data))
	}
	return len(data)
}

func (spTCPClient) Writable(*api.CConn) {}

func (spTCPClient) Closed(cc *api.CConn, _ error) { cc.Close() }

// TestSockperfAllocs: the sockperf server answers a 64-byte ping-pong
// message, over UDP and over TCP, without a Go allocation, the stacks'
// input and output included: an in-process exchange between two hosts on
// a ring pair, pumped by the test, under testing.AllocsPerRun.
func TestSockperfAllocs(t *testing.T) {
	p := stacktest.NewPair(t, stacktest.PairConfig{Name: "spal", KnownNeighbours: true, CsumOffload: true})
	stats := &sockperfStats{}
	conf := serviceConf{idle: time.Minute, count: &connCount{name: "sockperf", limit: &connLimit{max: 10}}}
	server := stacktest.AddrA.Addr().String() + ":11111"
	uln, err := api.ListenUDPCallback(p.A, server, sockperfUDP{stats})
	require.NoError(t, err)
	ln, err := api.ListenCallback(p.A, server, sockperfTCP{conf, stats})
	require.NoError(t, err)
	msg := spMessage()
	var got, want int
	replied := func() bool { return got == want }
	// exchange sends msg with send and pumps until its reply is whole.
	exchange := func(send func() error) {
		want += len(msg)
		if err := send(); err != nil {
			panic(err)
		}
		p.PumpUntil("the reply", replied)
	}

	uc, err := api.DialUDPCallback(p.B, server, spUDPClient{&got})
	require.NoError(t, err)
	sendUDP := func() error {
		_, err := uc.Write(msg)
		return err
	}
	var tc *api.CConn
	require.NoError(t, api.DialCallback(p.B, server, spTCPClient{conn: &tc, got: &got}))
	p.PumpUntil("connected", func() bool { return tc != nil })
	sendTCP := func() error {
		if n, err := tc.Send(msg); n != len(msg) {
			return fmt.Errorf("sent %d of %d bytes: %v", n, len(msg), err)
		}
		return nil
	}

	for _, tt := range []struct {
		name string
		send func() error
	}{{"udp", sendUDP}, {"tcp", sendTCP}} {
		t.Run(tt.name, func(t *testing.T) {
			for range 100 {
				exchange(tt.send) // warm up: windows, caches
			}
			assert.Zero(t, testing.AllocsPerRun(200, func() { exchange(tt.send) }))
		})
	}
	assert.Zero(t, stats.malformed.Load())
	require.NoError(t, uc.Close())
	tc.Close()
	p.Pump(8)
	require.NoError(t, uln.Close())
	require.NoError(t, ln.Close())
}
