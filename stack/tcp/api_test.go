package tcp_test

import (
	"net/netip"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dpstack/dpstack/stack/sock"
	"github.com/dpstack/dpstack/stack/stacktest"
	"github.com/dpstack/dpstack/stack/tcp"
)

// The zero-copy calls of the callback API: ReadView hands out the queued
// bytes in place; SendBuffer and Commit fill a segment in place.
func TestZeroCopy(t *testing.T) {
	p := newPair(t)
	c := p.connect(80)
	base := stacktest.InUse(p.A) + stacktest.InUse(p.B)

	buf, err := c.cl.SendBuffer(100)
	require.NoError(t, err)
	require.Len(t, buf, 100)
	copy(buf, "zero-copy hello, and some bytes that will not be committed")
	assert.Equal(t, 15, c.cl.Commit(15))
	p.Pump(4)
	var got []byte
	n := c.sv.ReadView(func(data []byte) int {
		got = append(got, data...)
		return len(data)
	})
	assert.Equal(t, 15, n)
	assert.Equal(t, "zero-copy hello", string(got))

	// Partial consumption leaves the rest queued.
	p.send(c.cl, []byte("abcdef"))
	p.Pump(4)
	n = c.sv.ReadView(func(data []byte) int { return 2 })
	assert.Equal(t, 2, n)
	assert.Equal(t, []byte("cdef"), recvNow(t, c.sv, 10))

	// Commit(0) of a fresh segment sends nothing and frees it.
	_, err = c.cl.SendBuffer(10)
	require.NoError(t, err)
	assert.Zero(t, c.cl.Commit(0))
	assert.Zero(t, c.cl.Commit(5), "nothing pending")
	// SendBuffer appends to an unsent tail (Nagle holds it).
	p.send(c.cl, []byte("x"))
	b1, err := c.cl.SendBuffer(3)
	require.NoError(t, err)
	copy(b1, "yz!")
	c.cl.Commit(3)
	p.Pump(4)
	p.Advance(50 * time.Millisecond)
	assert.Equal(t, []byte("xyz!"), p.recvAll(c.sv, 4))
	p.Advance(time.Second)
	assert.Equal(t, base, stacktest.InUse(p.A)+stacktest.InUse(p.B))
	c.cl.Close()
	c.sv.Close()
	c.ln.Close()
}

// Events: DataReady, WriteSpace after the buffer filled, StateChange, and
// a listener's DataReady for a connection to accept.
func TestCallbacks(t *testing.T) {
	p := newPair(t)
	lr := &recorder{}
	ln := listen(t, p.B, 80, 4)
	ln.Callbacks = lr
	cr := &recorder{}
	cl := dial(t, p.A, netip.AddrPortFrom(addrB.Addr(), 80))
	cl.Callbacks = cr
	p.PumpUntil("established", func() bool { return cl.State() == sock.Established })
	assert.Equal(t, 1, lr.data, "the listener hears of the connection")
	assert.Positive(t, cr.write, "the client may write")
	sv, err := ln.AcceptSock()
	require.NoError(t, err)
	sr := &recorder{}
	sv.Callbacks = sr

	// Fill the send buffer: EAGAIN, then WriteSpace once the reader reads.
	var sent int
	for {
		n, err := cl.SendMsg(pattern(10000, 1), 0)
		if err == syscall.EAGAIN {
			break
		}
		require.NoError(t, err)
		sent += n
		p.Pump(2)
	}
	assert.True(t, cl.NoSpace)
	w := cr.write
	p.recvAll(sv, sent)
	p.Pump(4)
	assert.Greater(t, cr.write, w, "WriteSpace after the ACKs freed the buffer")
	assert.Positive(t, sr.data)

	// A peer that never reads cannot grow either side past its buffers.
	for range 200 {
		cl.SendMsg(pattern(10000, 2), 0)
		p.Pump(1)
	}
	assert.LessOrEqual(t, sv.Info().RmemAlloc, sv.RcvBuf+2176)
	assert.LessOrEqual(t, cl.Info().WmemQueued, cl.SndBuf+2176)

	// MsgForce takes everything past the full buffer; closed, the
	// socket is an orphan until its connection ends.
	_, err = cl.SendMsg(pattern(10000, 3), 0)
	require.ErrorIs(t, err, syscall.EAGAIN)
	queued := cl.Info().WriteQueue
	n, err := cl.SendMsg(pattern(30000, 3), sock.MsgForce)
	require.NoError(t, err)
	assert.Equal(t, 30000, n)
	assert.Equal(t, queued+30000, cl.Info().WriteQueue)
	assert.Greater(t, cl.Info().WmemQueued, cl.SndBuf+2176)
	assert.Zero(t, p.ta().Orphans())
	cl.Close()
	assert.Equal(t, 1, p.ta().Orphans(), "closed with data to send")
	sv.Close()
	ln.Close()
	p.Advance(time.Second)
	assert.Zero(t, p.ta().Orphans(), "reset by the peer, which closed with unread data")
}

// Initial sequence numbers (RFC 6528): they grow with a 4 µs clock per
// 4-tuple and differ unpredictably across 4-tuples.
func TestISN(t *testing.T) {
	p := newPair(t)
	tp := p.ta()
	l := netip.AddrPortFrom(addrA.Addr(), 40000)
	r := netip.AddrPortFrom(addrB.Addr(), 80)
	a := tp.ISNForTest(l, r)
	p.Clock.Add(time.Second)
	b := tp.ISNForTest(l, r)
	assert.Equal(t, uint32(250_000), b-a, "M ticks every 4 µs")
	seen := map[uint32]bool{}
	for port := range uint16(100) {
		seen[tp.ISNForTest(netip.AddrPortFrom(addrA.Addr(), 40000+port), r)-b] = true
	}
	assert.Len(t, seen, 100, "F differs per 4-tuple")
	other := p.tb().ISNForTest(l, r)
	assert.NotEqual(t, b, other, "each core has its own secret")
}

// Ephemeral ports (RFC 6056): in the range, spread, not sequential, and
// never one that is bound.
func TestEphemeralPorts(t *testing.T) {
	p := newPair(t)
	tp := p.ta()
	var ports []uint16
	seen := map[uint16]bool{}
	for i := range 200 {
		port, ok := tp.ConnectPortForTest(netip.AddrPortFrom(addrA.Addr(), 0), netip.AddrPortFrom(addrB.Addr(), 80))
		require.True(t, ok)
		assert.GreaterOrEqual(t, port, uint16(32768))
		assert.LessOrEqual(t, port, uint16(60999))
		assert.False(t, seen[port], "port %d given twice (%d)", port, i)
		seen[port] = true
		ports = append(ports, port)
	}
	consecutive := 0
	for i := 1; i < len(ports); i++ {
		if ports[i] == ports[i-1]+1 {
			consecutive++
		}
	}
	assert.Less(t, consecutive, 20, "not sequential")
	// Other destinations start elsewhere.
	p1, _ := tp.ConnectPortForTest(netip.AddrPortFrom(addrA.Addr(), 0), netip.AddrPortFrom(addrB.Addr(), 81))
	p2, _ := tp.ConnectPortForTest(netip.AddrPortFrom(addrA.Addr(), 0), netip.AddrPortFrom(addrB.Addr(), 82))
	assert.NotEqual(t, p1+1, p2)

	// Bound ports are avoided: bind every port but one, then connect.
	pb := p.tb()
	var held []*tcp.Sock
	for port := 32768; port <= 60999; port++ {
		if port == 45000 {
			continue
		}
		s := pb.NewSock()
		require.NoError(t, s.Bind(netip.AddrPortFrom(netip.IPv4Unspecified(), uint16(port))))
		held = append(held, s)
	}
	c := dial(t, p.B, netip.AddrPortFrom(addrA.Addr(), 9))
	assert.Equal(t, uint16(45000), c.LocalAddr().Port())
	e := dial(t, p.B, netip.AddrPortFrom(addrA.Addr(), 10))
	assert.Equal(t, uint16(45000), e.LocalAddr().Port(), "shared by connections to other peers")
	d := pb.NewSock()
	assert.ErrorIs(t, d.Connect(netip.AddrPortFrom(addrA.Addr(), 9)), syscall.EADDRNOTAVAIL, "none left for this peer")
	assert.ErrorIs(t, d.Bind(netip.AddrPortFrom(netip.IPv4Unspecified(), 0)), syscall.EADDRINUSE)
	for _, s := range held {
		s.Close()
	}
	c.Close()
	d.Close()
	e.Close()
	p.Pump(4)
}

// Host.Close tears down whatever TCP holds, with connections in every
// state and packets on every queue, and finds no leak.
func TestHostCloseTearsDown(t *testing.T) {
	p := newPair(t)
	c := p.connect(80)
	p.send(c.cl, pattern(5000, 1))                     // unread on the server
	_, _ = c.sv.SendMsg(pattern(50000, 2), 0)          // queued and in flight
	dial(t, p.A, netip.AddrPortFrom(addrB.Addr(), 81)) // refused, closed, never released
	e := p.connect(82)
	e.cl.Close()
	e.sv.Close()
	p.Pump(8) // TIME-WAIT on the client side
	_, _, tw, _ := p.ta().Counts()
	assert.Equal(t, 1, tw)
	// The pair's cleanup closes both hosts: Host.Close runs Proto.Close,
	// then fails if any mbuf is still out.
}

// TestOrphanLimit: one orphan more than MaxOrphans resets the oldest
// (its peer reads ECONNRESET); the newest finishes its close.
func TestOrphanLimit(t *testing.T) {
	p := newPair(t)
	p.ta().SetMaxOrphans(1)
	c1, c2 := p.connect(4501), p.connect(4502)
	c1.cl.Close() // FIN-WAIT-1: an orphan
	assert.Equal(t, 1, p.ta().Orphans())
	c2.cl.Close() // one too many: the oldest is reset
	assert.Equal(t, 1, p.ta().Orphans())
	assert.Equal(t, uint64(1), p.ta().Stats().AbortOnMemory.Load())
	p.Pump(4)
	// The oldest had sent its FIN: its peer reads the end of the stream
	// (as Linux's, which reports the RST's EPIPE only to a write) and is
	// closed by the reset.
	assert.Equal(t, sock.Closed, c1.sv.State(), "the oldest was reset")
	assert.Equal(t, sock.CloseWait, c2.sv.State(), "the newest finishes its close")
	c1.sv.Close()
	c2.sv.Close()
	p.Advance(2 * time.Second)
	assert.Zero(t, p.ta().Orphans())
}

// TestZeroWindowOrphanUnderPressure: an orphan whose peer never reads
// keeps its unsent data and probes the closed window; once the sockets
// are at their memory limit, the next probe resets it and its buffers
// go.
func TestZeroWindowOrphanUnderPressure(t *testing.T) {
	p := newPair(t)
	c := p.connect(4503)
	data := make([]byte, 4096)
	for i := 0; c.cl.Info().SndWnd > 0; i++ {
		require.Less(t, i, 1000, "the window never closes")
		if _, err := c.cl.SendMsg(data, 0); err != nil && err != syscall.EAGAIN {
			t.Fatal(err)
		}
		p.Advance(50 * time.Millisecond) // delayed ACKs included
	}
	c.cl.SendMsg(data, 0) // unsent, behind the closed window
	c.cl.Close()
	require.Equal(t, 1, p.ta().Orphans())
	p.Advance(time.Second)
	require.Equal(t, 1, p.ta().Orphans(), "with memory to spare the orphan waits for the window")

	mem := p.ta().Mem()
	limits := mem.Limits
	mem.Limits = sock.MemLimits{Min: 1, Pressure: 1, Max: 1}
	defer func() { mem.Limits = limits }()
	p.AdvanceBy(10*time.Second, 500*time.Millisecond) // fewer probes than the orphan's retries
	assert.Zero(t, p.ta().Orphans())
	assert.Positive(t, p.ta().Stats().AbortOnMemory.Load())
	assert.Zero(t, mem.Held())
	assert.Equal(t, sock.Closed, c.sv.State(), "the peer got the reset")
	c.sv.Close()
}
