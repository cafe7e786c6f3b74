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
	"github.com/dpstack/dpstack/stat"
)

// RFC 9293 §3.10.7.1: CLOSED. A segment for no connection gets a RST
// made acceptable to its sender, unless it is a RST.
func TestClosedPortReset(t *testing.T) {
	pr := newPeer(t)
	cases := []struct {
		name   string
		in     stacktest.Segment
		checks []stacktest.Check
	}{
		{"SYN", stacktest.Segment{SrcPort: 1000, DstPort: 81, Seq: 500, Flags: fSYN, Window: 1000},
			[]stacktest.Check{stacktest.Flags(fRST | fACK), stacktest.Seq(0), stacktest.Ack(501), stacktest.Ports(81, 1000)}},
		{"ACK", stacktest.Segment{SrcPort: 1000, DstPort: 81, Seq: 500, Ack: 9999, Flags: fACK, Window: 1000},
			[]stacktest.Check{stacktest.Flags(fRST), stacktest.Seq(9999), stacktest.Ports(81, 1000)}},
		{"data without flags", stacktest.Segment{SrcPort: 1000, DstPort: 81, Seq: 500, Payload: []byte("abc")},
			[]stacktest.Check{stacktest.Flags(fRST | fACK), stacktest.Seq(0), stacktest.Ack(503)}},
		{"FIN and data", stacktest.Segment{SrcPort: 1000, DstPort: 81, Seq: 500, Flags: fFIN, Payload: []byte("abc")},
			[]stacktest.Check{stacktest.Flags(fRST | fACK), stacktest.Ack(504)}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := pr.drops(stat.DropTCPNoSocket)
			pr.send(c.in)
			pr.expect(c.checks...)
			assert.Equal(t, before+1, pr.drops(stat.DropTCPNoSocket))
		})
	}
	t.Run("RST", func(t *testing.T) {
		pr.send(stacktest.Segment{SrcPort: 1000, DstPort: 81, Seq: 500, Flags: fRST})
		pr.expectNone()
	})
}

// RFC 9293 §3.10.7.2: LISTEN.
func TestListen(t *testing.T) {
	pr := newPeer(t)
	l := listen(t, pr.h, 80, 8)
	t.Run("RST ignored", func(t *testing.T) {
		before := pr.drops(stat.DropTCPListenInvalid)
		pr.send(stacktest.Segment{SrcPort: 1000, DstPort: 80, Seq: 1, Flags: fRST})
		pr.expectNone()
		assert.Equal(t, before+1, pr.drops(stat.DropTCPListenInvalid))
	})
	t.Run("ACK answered with RST", func(t *testing.T) {
		pr.send(stacktest.Segment{SrcPort: 1000, DstPort: 80, Seq: 1, Ack: 4242, Flags: fACK})
		pr.expect(stacktest.Flags(fRST), stacktest.Seq(4242))
	})
	t.Run("SYN to a broadcast address dropped", func(t *testing.T) {
		before := pr.drops(stat.DropTCPNotUnicast)
		pr.send(stacktest.Segment{SrcPort: 1000, DstPort: 80, Seq: 1, Flags: fSYN, To: netip.MustParseAddr("198.18.1.255")})
		pr.expectNone()
		assert.Equal(t, before+1, pr.drops(stat.DropTCPNotUnicast))
	})
	t.Run("no flags dropped", func(t *testing.T) {
		pr.send(stacktest.Segment{SrcPort: 1000, DstPort: 80, Seq: 1, Payload: []byte("x")})
		pr.expectNone()
	})
	t.Run("SYN answered with SYN-ACK and its options", func(t *testing.T) {
		pr.send(stacktest.Segment{SrcPort: 1001, DstPort: 80, Seq: 1000, Flags: fSYN, Window: 65535, Options: synOpts(77)})
		sa := pr.expect(stacktest.Flags(fSYN|fACK), stacktest.Ack(1001), stacktest.Ports(80, 1001), stacktest.Window(65535))
		assert.True(t, sa.Options.HasMSS)
		assert.Equal(t, uint16(1460), sa.Options.MSS, "MTU 1500 - 40")
		assert.True(t, sa.Options.HasWS)
		assert.Equal(t, uint8(2), sa.Options.WS)
		assert.True(t, sa.Options.SACKPermitted)
		assert.True(t, sa.Options.HasTS)
		assert.Equal(t, uint32(77), sa.Options.TSEcr)
		_, reqs, _, _ := pr.tcp().Counts()
		assert.Equal(t, 1, reqs)
		st, ok := pr.tcp().StateOf(netip.AddrPortFrom(addrB.Addr(), 80), netip.AddrPortFrom(pr.addr, 1001))
		assert.True(t, ok)
		assert.Equal(t, sock.SynRecv, st)

		// A retransmitted SYN gets the SYN-ACK again.
		pr.send(stacktest.Segment{SrcPort: 1001, DstPort: 80, Seq: 1000, Flags: fSYN, Window: 65535, Options: synOpts(78)})
		pr.expect(stacktest.Flags(fSYN|fACK), stacktest.Seq(sa.Seq), stacktest.Ack(1001))

		// RST in SYN-RECEIVED returns to LISTEN (RFC 9293 §3.10.7.4).
		pr.send(stacktest.Segment{SrcPort: 1001, DstPort: 80, Seq: 1001, Flags: fRST})
		pr.expectNone()
		_, reqs, _, _ = pr.tcp().Counts()
		assert.Zero(t, reqs)
		_, err := l.AcceptSock()
		assert.ErrorIs(t, err, syscall.EAGAIN)
	})
	t.Run("SYN-RECEIVED: bad ACK answered with RST, request kept", func(t *testing.T) {
		pr.send(stacktest.Segment{SrcPort: 1002, DstPort: 80, Seq: 5000, Flags: fSYN, Window: 65535})
		sa := pr.expect(stacktest.Flags(fSYN | fACK))
		assert.False(t, sa.Options.HasWS, "no Window Scale unless the SYN had one")
		assert.False(t, sa.Options.HasTS)
		assert.False(t, sa.Options.SACKPermitted)
		pr.send(stacktest.Segment{SrcPort: 1002, DstPort: 80, Seq: 5001, Ack: sa.Seq + 7, Flags: fACK, Window: 100})
		pr.expect(stacktest.Flags(fRST), stacktest.Seq(sa.Seq+7))
		pr.send(stacktest.Segment{SrcPort: 1002, DstPort: 80, Seq: 5001, Ack: sa.Seq + 1, Flags: fACK, Window: 100})
		pr.expectNone()
		s, err := l.AcceptSock()
		require.NoError(t, err)
		assert.Equal(t, sock.Established, s.State())
		in := s.Info()
		assert.False(t, in.WindowScaling)
		assert.Equal(t, uint32(100), in.SndWnd, "unscaled")
		assert.Equal(t, 536, in.PeerMSS, "no MSS option: 536 (RFC 9293 §3.7.1)")
		assert.Equal(t, 536, in.MSS)
		s.Close()
		pr.expect(stacktest.Flags(fFIN | fACK))
	})
	l.Close()
}

// SYN-ACK retransmission from the SYN queue, and the request's end.
func TestSynAckRetransmission(t *testing.T) {
	pr := newPeer(t)
	l := listen(t, pr.h, 80, 8)
	pr.send(stacktest.Segment{SrcPort: 1001, DstPort: 80, Seq: 1000, Flags: fSYN, Window: 65535})
	sa := pr.expect(stacktest.Flags(fSYN | fACK))
	pr.advance(999 * time.Millisecond)
	pr.expectNone()
	pr.advance(2 * time.Millisecond) // timers fire within a tick of their deadline
	pr.expect(stacktest.Flags(fSYN|fACK), stacktest.Seq(sa.Seq))
	for _, d := range []time.Duration{2, 4, 8, 16} { // backoff: 2, 4, 8, 16 s
		pr.advance(d*time.Second - 5*time.Millisecond)
		pr.expectNone()
		pr.advance(10 * time.Millisecond)
		pr.expect(stacktest.Flags(fSYN|fACK), stacktest.Seq(sa.Seq))
	}
	pr.advance(120 * time.Second)
	pr.expectNone()
	_, reqs, _, _ := pr.tcp().Counts()
	assert.Zero(t, reqs, "dropped after 5 retransmissions")
	l.Close()
}

// A full accept queue drops the completing ACK but keeps the request; the
// client's data is taken once the application accepts.
func TestAcceptQueueFullKeepsData(t *testing.T) {
	pr := newPeer(t)
	l := listen(t, pr.h, 80, 0) // room for one
	r1 := &rawConn{pr: pr, pport: 2001, hport: 80, seq: 100, wnd: 65535}
	r2 := &rawConn{pr: pr, pport: 2002, hport: 80, seq: 900, wnd: 65535}
	r1.send(fSYN, nil)
	r1.expect(stacktest.Flags(fSYN | fACK))
	r2.send(fSYN, nil)
	r2.expect(stacktest.Flags(fSYN | fACK))
	r1.send(fACK, nil)
	before := pr.h.Stacks()[0].TCP().Stats().ListenOverflows.Load()
	r2.send(fACK|fPSH, []byte("hello"))
	pr.expectNone()
	assert.Equal(t, before+1, pr.tcp().Stats().ListenOverflows.Load())
	c1, err := l.AcceptSock()
	require.NoError(t, err)
	_, err = l.AcceptSock()
	require.ErrorIs(t, err, syscall.EAGAIN)
	// The request's SYN-ACK goes again; a third client in the same
	// situation completes with its answer to it.
	r3 := &rawConn{pr: pr, pport: 2003, hport: 80, seq: 300, wnd: 65535}
	r3.send(fSYN, nil)
	sa := r3.expect(stacktest.Flags(fSYN | fACK))
	c0, err := l.AcceptSock()
	require.ErrorIs(t, err, syscall.EAGAIN)
	_ = c0
	pr.advance(1010 * time.Millisecond)
	for range 2 { // r2's and r3's SYN-ACKs
		r := pr.expect(stacktest.Flags(fSYN | fACK))
		if r.DstPort == 2003 {
			assert.Equal(t, sa.Seq, r.Seq)
		}
	}
	r3.send(fACK, nil)
	c3, err := l.AcceptSock()
	require.NoError(t, err, "the answer to the SYN-ACK completes it")
	c3.Close()
	pr.poll(2)
	pr.drain()
	// The client retransmits its data: now it completes the handshake.
	r2.seq -= 5
	r2.send(fACK|fPSH, []byte("hello"))
	r2.expect(stacktest.Flags(fACK), stacktest.Ack(r2.seq))
	c2, err := l.AcceptSock()
	require.NoError(t, err)
	buf := make([]byte, 16)
	n, err := c2.RecvMsg(buf, 0)
	require.NoError(t, err)
	assert.Equal(t, "hello", string(buf[:n]))
	c1.Close()
	c2.Close()
	l.Close()
	pr.poll(4)
}

// Bind and listen rules: EADDRINUSE, SO_REUSEADDR, SO_REUSEPORT, errors.
func TestBindRules(t *testing.T) {
	pr := newPeer(t)
	p := pr.tcp()
	any80 := netip.AddrPortFrom(netip.IPv4Unspecified(), 80)
	me80 := netip.AddrPortFrom(addrB.Addr(), 80)

	a := p.NewSock()
	require.NoError(t, a.Bind(any80))
	assert.ErrorIs(t, a.Bind(any80), syscall.EINVAL, "bound twice")
	b := p.NewSock()
	assert.ErrorIs(t, b.Bind(me80), syscall.EADDRINUSE)
	assert.ErrorIs(t, b.Bind(netip.MustParseAddrPort("198.18.9.9:80")), syscall.EADDRNOTAVAIL)
	assert.ErrorIs(t, b.Bind(netip.MustParseAddrPort("[2001:db8::1]:80")), syscall.EAFNOSUPPORT)
	require.NoError(t, b.Bind(netip.MustParseAddrPort("[::ffff:198.18.1.2]:81")), "IPv4-mapped is IPv4")
	assert.Equal(t, netip.MustParseAddrPort("198.18.1.2:81"), b.LocalAddr())
	a.Close()
	b.Close()

	// SO_REUSEADDR: both may bind while neither listens; one may listen.
	a, b = p.NewSock(), p.NewSock()
	for _, s := range []*struct{}{nil} {
		_ = s
	}
	require.NoError(t, a.SetSockOpt(syscall.SOL_SOCKET, syscall.SO_REUSEADDR, 1))
	require.NoError(t, b.SetSockOpt(syscall.SOL_SOCKET, syscall.SO_REUSEADDR, 1))
	require.NoError(t, a.Bind(any80))
	require.NoError(t, b.Bind(me80))
	require.NoError(t, a.Listen(4))
	assert.ErrorIs(t, b.Listen(4), syscall.EADDRINUSE)
	a.Close()
	b.Close()

	// SO_REUSEPORT: both listen; connections are spread by 4-tuple.
	a, b = p.NewSock(), p.NewSock()
	require.NoError(t, a.SetSockOpt(syscall.SOL_SOCKET, sock.SO_REUSEPORT, 1))
	require.NoError(t, b.SetSockOpt(syscall.SOL_SOCKET, sock.SO_REUSEPORT, 1))
	require.NoError(t, a.Bind(any80))
	require.NoError(t, b.Bind(any80))
	require.NoError(t, a.Listen(64))
	require.NoError(t, b.Listen(64))
	for i := range 40 {
		rc := &rawConn{pr: pr, pport: uint16(3000 + i), hport: 80, seq: 1, wnd: 65535}
		rc.send(fSYN, nil)
		rc.expect(stacktest.Flags(fSYN | fACK))
		rc.send(fACK, nil)
	}
	na, nb := a.Info().AcceptQueue, b.Info().AcceptQueue
	assert.Equal(t, 40, na+nb)
	assert.Positive(t, na)
	assert.Positive(t, nb)
	a.Close()
	b.Close()
	for range 40 {
		pr.expect(stacktest.Flags(fRST | fACK))
	}

	// Listen binds an ephemeral port; errors of the other operations.
	c := p.NewSock()
	require.NoError(t, c.Listen(1))
	assert.GreaterOrEqual(t, c.LocalAddr().Port(), uint16(32768))
	_, err := c.RecvMsg(make([]byte, 1), 0)
	assert.ErrorIs(t, err, syscall.ENOTCONN)
	assert.ErrorIs(t, c.Connect(netip.AddrPortFrom(pr.addr, 1)), syscall.EISCONN)
	c.Close()
	d := p.NewSock()
	_, err = d.AcceptSock()
	assert.ErrorIs(t, err, syscall.EINVAL)
	_, err = d.SendMsg([]byte("x"), 0)
	assert.ErrorIs(t, err, syscall.ENOTCONN)
	_, err = d.RecvMsg(make([]byte, 1), 0)
	assert.ErrorIs(t, err, syscall.ENOTCONN)
	assert.ErrorIs(t, d.Shutdown(syscall.SHUT_WR), syscall.ENOTCONN)
	assert.ErrorIs(t, d.Shutdown(7), syscall.EINVAL)
	assert.ErrorIs(t, d.Connect(netip.MustParseAddrPort("198.51.100.1:80")), syscall.ENETUNREACH)
	assert.ErrorIs(t, d.Connect(netip.AddrPortFrom(addrB.Addr(), 80)), syscall.ENETUNREACH, "no loopback")
	d.Close()
}
