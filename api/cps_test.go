package api_test

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dpstack/dpstack/api"
	"github.com/dpstack/dpstack/stack/stacktest"
	"github.com/dpstack/dpstack/stack/tcp"
)

// cpsEcho is the server of make perf's conn/s scenario: it echoes what
// comes and closes on the client's FIN.
type cpsEcho struct{}

func (cpsEcho) Accept(c *api.CConn) { c.SetNoDelay(true) }
func (cpsEcho) Data(c *api.CConn, data []byte) int {
	n, _ := c.Send(data)
	return n
}
func (cpsEcho) Writable(*api.CConn)          {}
func (cpsEcho) Closed(c *api.CConn, _ error) { c.Close() }

// cpsClient sends 64 bytes when the connection is up and closes once they
// came back.
type cpsClient struct {
	req  [64]byte
	got  int
	done bool
	err  error
}

func (h *cpsClient) Accept(c *api.CConn) {
	c.SetNoDelay(true)
	if _, err := c.Send(h.req[:]); err != nil {
		h.err, h.done = err, true
	}
}

func (h *cpsClient) Data(c *api.CConn, data []byte) int {
	if h.got += len(data); h.got >= len(h.req) {
		h.done = true
		c.Close()
	}
	return len(data)
}

func (h *cpsClient) Writable(*api.CConn) {}

func (h *cpsClient) Closed(c *api.CConn, err error) {
	h.err, h.done = fmt.Errorf("closed early: %v", err), true
	c.Close()
}

// cpsPair runs make perf's conn/s scenario for the callback API
// (connect, a 64-byte request echoed, the client closes, the server
// closes on the FIN) between two hosts of a ring pair that leaves TCP
// checksums to the link, as perf's does, on one goroutine.
type cpsPair struct {
	*stacktest.Pair
	addr         string
	h            cpsClient
	ln           *api.CListener
	baseA, baseB int
}

func newCPSPair(tb testing.TB) *cpsPair {
	p := &cpsPair{Pair: stacktest.NewPair(tb, stacktest.PairConfig{Name: "cps", ManualClock: true, KnownNeighbours: true, CsumOffload: true})}
	p.baseA, p.baseB = stacktest.InUse(p.A), stacktest.InUse(p.B)
	var err error
	p.ln, err = api.ListenCallback(p.B, ":80", cpsEcho{})
	require.NoError(tb, err)
	p.addr = fmt.Sprintf("%v:80", p.B.Addr().Addr())
	return p
}

// segs is how many segments both hosts sent.
func (p *cpsPair) segs() uint64 {
	return p.A.Stacks()[0].TCP().Stats().OutSegs.Load() + p.B.Stacks()[0].TCP().Stats().OutSegs.Load()
}

// connection runs one connection to its end, the client's TIME-WAIT.
func (p *cpsPair) connection() error {
	p.h.got, p.h.done = 0, false
	if err := api.DialCallback(p.A, p.addr, &p.h); err != nil {
		return err
	}
	for turns := 0; !p.h.done; turns++ {
		if turns == 100 {
			return fmt.Errorf("the exchange never ended")
		}
		p.Pump(1)
	}
	p.Pump(2) // the FINs and the last ACK
	return p.h.err
}

// close ends TIME-WAIT and checks that both pools are back at their
// baselines.
func (p *cpsPair) close(tb testing.TB) {
	require.NoError(tb, p.ln.Close())
	p.Fire(tcp.DefaultTimeWait)
	p.Pump(2)
	require.Equal(tb, p.baseA, stacktest.InUse(p.A), "host a's pool")
	require.Equal(tb, p.baseB, stacktest.InUse(p.B), "host b's pool")
}

// A connection of the conn/s scenario takes seven segments: SYN, SYN-ACK,
// the request carrying the handshake's ACK, the reply carrying the
// request's, the client's FIN carrying the reply's, the server's FIN and
// the last ACK. The ACKs owed at once wait for the end of the turn, in
// which the handler's answer carries them (tcp's deferAck).
func TestCallbackConnectionSegments(t *testing.T) {
	p := newCPSPair(t)
	for range 3 {
		before := p.segs()
		require.NoError(t, p.connection())
		assert.Equal(t, uint64(7), p.segs()-before)
	}
	p.close(t)
}

// A connection of the conn/s scenario allocates only the two CConns and
// their callbacks (3 each), the request sock, the TIME-WAIT sock, the
// port's bucket and DialCallback's call to the core (3): the closed
// connections' tcp.Socks come back for the next ones (tcp.Sock.Release),
// and the timers allocate nothing.
func TestCallbackConnectionAllocs(t *testing.T) {
	p := newCPSPair(t)
	var err error
	allocs := testing.AllocsPerRun(200, func() {
		if e := p.connection(); e != nil {
			err = e
		}
	})
	require.NoError(t, err)
	assert.LessOrEqual(t, allocs, 12.0)
	p.Fire(tcp.DefaultTimeWait)
	p.close(t)
}

// BenchmarkCallbackConnection is one connection of the conn/s scenario
// (cpsPair): no goroutine hands anything over, so under callgrind the
// difference between two -benchtime counts is the instructions a
// connection costs both hosts, the API layer included. The client's
// TIME-WAITs are reaped every 1,024 connections (the clock moves 2 MSL),
// inside the timed loop.
func BenchmarkCallbackConnection(b *testing.B) {
	p := newCPSPair(b)
	b.ReportAllocs()
	segs0 := p.segs()
	b.ResetTimer()
	for i := range b.N {
		if err := p.connection(); err != nil {
			b.Fatal(err)
		}
		if i%1024 == 1023 {
			p.Fire(tcp.DefaultTimeWait)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(p.segs()-segs0)/float64(b.N), "segs/op")
	p.close(b)
}
