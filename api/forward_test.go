package api_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dpstack/dpstack/api"
	"github.com/dpstack/dpstack/stack/stacktest"
)

// relay is a two-leg proxy on the callback API, as dpstack proxy is
// without its balancing: each client gets an upstream leg dialed from its
// core, and the legs forward to each other. Data must never reach it.
type relay struct {
	t        testing.TB
	upstream string
	sameCore bool // every upstream leg was on its client's core
}

type relayLeg struct {
	other *api.CConn
	eof   bool
}

func (r *relay) Accept(c *api.CConn) {
	if c.Value() != nil {
		return // an upstream leg came up
	}
	up, err := c.Dial(r.upstream, r)
	require.NoError(r.t, err)
	r.sameCore = up.Core() == c.Core()
	c.SetValue(&relayLeg{other: up})
	up.SetValue(&relayLeg{other: c})
	require.NoError(r.t, c.Forward(up))
	require.NoError(r.t, up.Forward(c))
}

func (r *relay) Data(c *api.CConn, data []byte) int {
	r.t.Errorf("Data of %d bytes reached a forwarding conn", len(data))
	return 0
}

func (r *relay) Writable(*api.CConn) {}

func (r *relay) Closed(c *api.CConn, err error) {
	leg := c.Value().(*relayLeg)
	if err != nil {
		leg.other.SetLinger(0)
		leg.other.Close()
		c.Close()
		return
	}
	leg.eof = true
	leg.other.CloseWrite()
	if leg.other.Value().(*relayLeg).eof {
		c.Close()
		leg.other.Close()
	}
}

// peerEnd is a client or a server of the pair test's host b: it sends
// its message (from an offset, as the send buffer takes it), then its
// FIN, and keeps what it receives, reading only while reading is true.
type peerEnd struct {
	msg     []byte
	sent    int
	got     []byte
	reading bool
	ended   bool
	err     error
	conn    *api.CConn
}

func (p *peerEnd) Accept(c *api.CConn) {
	p.conn = c
	p.push(c)
}

func (p *peerEnd) push(c *api.CConn) {
	for p.sent < len(p.msg) {
		n, err := c.Send(p.msg[p.sent:])
		p.sent += n
		if err != nil || n == 0 {
			return // Writable follows
		}
	}
	if p.sent == len(p.msg) {
		p.sent++ // the FIN once
		c.CloseWrite()
	}
}

func (p *peerEnd) Data(c *api.CConn, data []byte) int {
	if !p.reading {
		return 0
	}
	p.got = append(p.got, data...)
	return len(data)
}

func (p *peerEnd) Writable(c *api.CConn) { p.push(c) }

func (p *peerEnd) Closed(c *api.CConn, err error) {
	p.ended, p.err = true, err
	c.Close()
}

// pattern is n bytes that no lost or reordered segment could hide in.
func pattern(n, seed int) []byte {
	p := make([]byte, n)
	for i := range p {
		x := i + seed
		p[i] = byte(x*131 + x>>11 + x>>19)
	}
	return p
}

// TestForwardPair: on a ring pair with a manual clock, a client on host b
// talks through a relay on host a (CConn.Dial and Forward both ways) to a
// server on b. Both streams arrive whole and the FINs cross one at a
// time (the server answers after the client's FIN). A server that does
// not read closes the relay's window on the client: the client's sends
// stop and the relay holds a bounded amount; once it reads, everything
// arrives. Both hosts' pools come back to where they started.
func TestForwardPair(t *testing.T) {
	p := stacktest.NewPair(t, stacktest.PairConfig{Name: "fwd", ManualClock: true, KnownNeighbours: true})
	baseA, baseB := stacktest.InUse(p.A), stacktest.InUse(p.B)
	const toServer, toClient = 3 << 20, 1 << 20
	server := &peerEnd{msg: pattern(toClient, 7)}
	lnB, err := api.ListenCallback(p.B, ":9000", serverOf(server))
	require.NoError(t, err)
	r := &relay{t: t, upstream: fmt.Sprintf("%v:9000", p.B.Addr().Addr())}
	lnA, err := api.ListenCallback(p.A, ":8000", r)
	require.NoError(t, err)
	client := &peerEnd{msg: pattern(toServer, 0), reading: true}
	require.NoError(t, api.DialCallback(p.B, fmt.Sprintf("%v:8000", p.A.Addr().Addr()), client))

	// The server does not read: the client's sends stop short, and
	// the relay holds its two buffers' worth at most.
	p.PumpUntil("the client blocked", func() bool {
		p.Fire(time.Millisecond)
		return client.conn != nil && client.sent > 0 && client.sent < len(client.msg) && stalled(p)
	})
	assert.True(t, r.sameCore)
	held := stacktest.InUse(p.A) - baseA
	t.Logf("a relay whose server does not read holds %d mbufs; the client sent %d of %d", held, client.sent, len(client.msg))
	// The client leg's receive buffer and the upstream leg's send
	// buffer (at most 4 MiB of 2 KiB buffers).
	assert.Less(t, held, 2600, "the relay's buffers are bounded")
	assert.Less(t, client.sent, len(client.msg))

	server.reading = true
	server.conn.Forward(nil) // not forwarding: this only has the core deliver again
	p.PumpUntil("both streams arrived", func() bool {
		p.Fire(time.Millisecond)
		return client.ended && server.ended
	})
	require.NoError(t, client.err)
	require.NoError(t, server.err)
	assert.Equal(t, client.msg, server.got, "client to server")
	assert.Equal(t, server.msg, client.got, "server to client")
	require.NoError(t, lnA.Close())
	require.NoError(t, lnB.Close())
	p.AdvanceBy(2*time.Minute, time.Second) // TIME-WAIT ends
	assert.Equal(t, baseA, stacktest.InUse(p.A), "host a's pool")
	assert.Equal(t, baseB, stacktest.InUse(p.B), "host b's pool")
}

// stalled reports whether nothing moves between the pair's hosts any more.
func stalled(p *stacktest.Pair) bool {
	before := p.A.Stacks()[0].Device().Stats.TxFrames.Load() + p.B.Stacks()[0].Device().Stats.TxFrames.Load()
	p.Pump(4)
	return p.A.Stacks()[0].Device().Stats.TxFrames.Load()+p.B.Stacks()[0].Device().Stats.TxFrames.Load() == before
}

// serverOf answers each connection with the one peerEnd, whose message
// goes out once the client's FIN came (a half-close the relay carries).
type serverHandler struct{ *peerEnd }

func serverOf(p *peerEnd) api.Handler { return serverHandler{p} }

func (s serverHandler) Accept(c *api.CConn) { s.conn = c }

func (s serverHandler) Closed(c *api.CConn, err error) {
	if err != nil {
		s.peerEnd.Closed(c, err)
		return
	}
	s.push(c) // the answer after the client's FIN
	s.ended = true
	// Close after the answer: c.Close sends what is queued, then a FIN.
	if s.sent > len(s.msg) {
		c.Close()
	}
}

func (s serverHandler) Writable(c *api.CConn) {
	s.push(c)
	if s.ended && s.sent > len(s.msg) {
		c.Close()
	}
}
