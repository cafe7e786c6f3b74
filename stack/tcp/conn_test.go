package tcp_test

import (
	"bytes"
	"net/netip"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dpstack/dpstack/stack/sock"
)

// Two stacks over the ring pair: the three-way handshake, data both
// ways, and the close (RFC 9293 §3.5, §3.6).

func TestConnectAcceptData(t *testing.T) {
	p := newPair(t)
	base := inUse(p.a) + inUse(p.b)
	c := p.connect(80)
	assert.Equal(t, addrB.Addr(), c.cl.RemoteAddr().Addr())
	assert.Equal(t, uint16(80), c.cl.RemoteAddr().Port())
	assert.Equal(t, c.cl.LocalAddr(), c.sv.RemoteAddr())
	assert.Equal(t, c.sv.LocalAddr(), c.cl.RemoteAddr())
	assert.Equal(t, uint64(1), p.ta().Stats().ActiveOpens.Load())
	assert.Equal(t, uint64(1), p.tb().Stats().PassiveOpens.Load())
	assert.Positive(t, c.rcl.state, "the client heard of its connect")

	small := []byte("hello, world")
	p.send(c.cl, small)
	assert.True(t, bytes.Equal(small, p.recvAll(c.sv, len(small))))
	assert.Positive(t, c.rsv.data)

	big := pattern(300_000, 1)
	got := p.transfer(c.sv, c.cl, big)
	assert.True(t, bytes.Equal(big, got), "300 kB from server to client")

	// Both ways at once.
	up, down := pattern(100_000, 2), pattern(100_000, 3)
	var gotUp, gotDown []byte
	buf := make([]byte, 8192)
	for i := 0; len(gotUp) < 100_000 || len(gotDown) < 100_000; i++ {
		require.Less(t, i, 100000)
		if len(up) > 0 {
			if n, err := c.cl.SendMsg(up, 0); err == nil {
				up = up[n:]
			}
		}
		if len(down) > 0 {
			if n, err := c.sv.SendMsg(down, 0); err == nil {
				down = down[n:]
			}
		}
		p.pump(1)
		if n, err := c.sv.RecvMsg(buf, 0); err == nil {
			gotUp = append(gotUp, buf[:n]...)
		}
		if n, err := c.cl.RecvMsg(buf, 0); err == nil {
			gotDown = append(gotDown, buf[:n]...)
		}
	}
	assert.True(t, bytes.Equal(pattern(100_000, 2), gotUp), "client to server")
	assert.True(t, bytes.Equal(pattern(100_000, 3), gotDown), "server to client")

	// Client closes first: FIN-WAIT-1/2, the server sees EOF, closes, the
	// client ends in TIME-WAIT.
	c.cl.Close()
	p.pumpUntil("server sees EOF", func() bool {
		n, err := c.sv.RecvMsg(buf, 0)
		return n == 0 && err == nil
	})
	assert.Equal(t, sock.CloseWait, c.sv.State())
	st, ok := p.ta().StateOf(c.cl.LocalAddr(), c.cl.RemoteAddr())
	require.True(t, ok)
	assert.Equal(t, sock.FinWait1, st, "the server delays its ACK of the FIN")
	p.advance(200 * time.Millisecond)
	st, _ = p.ta().StateOf(c.cl.LocalAddr(), c.cl.RemoteAddr())
	assert.Equal(t, sock.FinWait2, st)
	c.sv.Close()
	p.pump(8)
	st, ok = p.ta().StateOf(c.cl.LocalAddr(), c.cl.RemoteAddr())
	require.True(t, ok)
	assert.Equal(t, sock.TimeWait, st)
	_, ok = p.tb().StateOf(c.sv.LocalAddr(), c.sv.RemoteAddr())
	assert.False(t, ok, "the server is gone after LAST-ACK")
	c.ln.Close()
	p.pump(4)
	assert.Equal(t, base, inUse(p.a)+inUse(p.b), "every mbuf is back")
}

func TestConnectRefused(t *testing.T) {
	p := newPair(t)
	r := &recorder{}
	s := dial(t, p.a, netip.AddrPortFrom(addrB.Addr(), 81))
	s.Callbacks = r
	p.pumpUntil("refused", func() bool { return s.State() == sock.Closed })
	assert.Positive(t, r.errs)
	assert.ErrorIs(t, s.SockError(), syscall.ECONNREFUSED)
	assert.Equal(t, uint64(1), p.tb().Stats().OutRsts.Load())
	assert.ErrorIs(t, s.Connect(netip.AddrPortFrom(addrB.Addr(), 81)), syscall.ECONNABORTED, "a socket connects once")
	s.Close()
}

func TestResetByPeer(t *testing.T) {
	p := newPair(t)
	c := p.connect(80)
	p.send(c.cl, []byte("unread"))
	p.pump(4)
	// Closing with unread data resets (RFC 2525 §2.17).
	c.sv.Close()
	p.pumpUntil("client reset", func() bool { return c.cl.State() == sock.Closed })
	buf := make([]byte, 10)
	_, err := c.cl.RecvMsg(buf, 0)
	assert.ErrorIs(t, err, syscall.ECONNRESET)
	n, err := c.cl.RecvMsg(buf, 0)
	assert.Zero(t, n)
	assert.NoError(t, err, "end of stream after the error")
	_, err = c.cl.SendMsg(buf, 0)
	assert.ErrorIs(t, err, syscall.EPIPE)
	assert.Equal(t, uint64(1), p.tb().Stats().AbortOnClose.Load())
	c.cl.Close()
	c.ln.Close()
}
