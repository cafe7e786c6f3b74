package tcp_test

import (
	"bytes"
	"net/netip"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dpstack/dpstack/mbuf"
	"github.com/dpstack/dpstack/stack"
	"github.com/dpstack/dpstack/stack/header"
	"github.com/dpstack/dpstack/stack/netdev"
	"github.com/dpstack/dpstack/stack/sock"
	"github.com/dpstack/dpstack/stack/stacktest"
	"github.com/dpstack/dpstack/stat"
)

// Two stacks over the ring pair: the three-way handshake, data both
// ways, and the close (RFC 9293 §3.5, §3.6).

func TestConnectAcceptData(t *testing.T) {
	p := newPair(t)
	base := stacktest.InUse(p.A) + stacktest.InUse(p.B)
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
		p.Pump(1)
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
	p.PumpUntil("server sees EOF", func() bool {
		n, err := c.sv.RecvMsg(buf, 0)
		return n == 0 && err == nil
	})
	assert.Equal(t, sock.CloseWait, c.sv.State())
	st, ok := p.ta().StateOf(c.cl.LocalAddr(), c.cl.RemoteAddr())
	require.True(t, ok)
	assert.Equal(t, sock.FinWait1, st, "the server delays its ACK of the FIN")
	p.Advance(200 * time.Millisecond)
	st, _ = p.ta().StateOf(c.cl.LocalAddr(), c.cl.RemoteAddr())
	assert.Equal(t, sock.FinWait2, st)
	c.sv.Close()
	p.Pump(8)
	st, ok = p.ta().StateOf(c.cl.LocalAddr(), c.cl.RemoteAddr())
	require.True(t, ok)
	assert.Equal(t, sock.TimeWait, st)
	_, ok = p.tb().StateOf(c.sv.LocalAddr(), c.sv.RemoteAddr())
	assert.False(t, ok, "the server is gone after LAST-ACK")
	c.ln.Close()
	p.Pump(4)
	assert.Equal(t, base, stacktest.InUse(p.A)+stacktest.InUse(p.B), "every mbuf is back")
}

func TestConnectRefused(t *testing.T) {
	p := newPair(t)
	r := &recorder{}
	s := dial(t, p.A, netip.AddrPortFrom(addrB.Addr(), 81))
	s.Callbacks = r
	p.PumpUntil("refused", func() bool { return s.State() == sock.Closed })
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
	p.Pump(4)
	// Closing with unread data resets (RFC 2525 §2.17).
	c.sv.Close()
	p.PumpUntil("client reset", func() bool { return c.cl.State() == sock.Closed })
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

// TestRingPairChecksumOffload: over a ring pair that offers TCP checksum
// offload, the sender leaves each checksum at the pseudo header's sum and
// asks the port for the rest, and the receiver takes the segments as they
// come: data flows both ways and no segment is dropped for its checksum.
func TestRingPairChecksumOffload(t *testing.T) {
	p := newPairWith(t, 4095, true)
	for _, h := range []*stack.Host{p.A, p.B} {
		require.True(t, h.Stacks()[0].Device().Features.Has(netdev.TxTCPCksum))
	}
	c := p.connect(80)

	// Take a's next segment off the link to look at it, then pass it on.
	p.send(c.cl, []byte("partial"))
	p.A.Stacks()[0].Loop().Poll() // a's turn sends it; b's would take it
	in := mbuf.NewBurst(4)
	require.Equal(t, 1, p.Rings.B.RxBurst(0, in))
	seg := in[0]
	assert.Equal(t, mbuf.TxTCPCksum, seg.OlFlags()&mbuf.TxL4Mask)
	ip := header.IPv4(seg.Bytes()[header.EthernetLen:])
	tcpSeg := header.TCP(ip.Payload())
	pseudo := header.PseudoHeaderSum(ip.Src(), ip.Dst(), header.IPProtoTCP, uint16(len(tcpSeg)))
	assert.False(t, tcpSeg.IsChecksumValid(pseudo), "the checksum is left unfinished")
	require.Equal(t, 1, p.Rings.A.TxBurst(0, in[:1]))
	assert.Equal(t, []byte("partial"), p.recvAll(c.sv, 7))

	up, down := pattern(200_000, 4), pattern(200_000, 5)
	assert.True(t, bytes.Equal(up, p.transfer(c.cl, c.sv, up)))
	assert.True(t, bytes.Equal(down, p.transfer(c.sv, c.cl, down)))
	for _, h := range []*stack.Host{p.A, p.B} {
		assert.Zero(t, h.Stacks()[0].Device().Drops.Get(stat.DropTCPBadChecksum))
	}
}
