package udp_test

import (
	"net/netip"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dpstack/dpstack/stack/header"
	"github.com/dpstack/dpstack/stack/sock"
	"github.com/dpstack/dpstack/stack/udp"
	"github.com/dpstack/dpstack/stat"
)

// TestSendRecv: a datagram each way between a bound socket and one that
// got an ephemeral port, with the sources recvfrom reports; MSG_PEEK
// leaves a datagram queued, a short buffer cuts it and MSG_TRUNC says how
// long it was.
func TestSendRecv(t *testing.T) {
	p := newPair(t)
	srv := bound(t, p.ub(), netip.IPv4Unspecified(), 7000)
	cli := p.ua().NewSock()
	t.Cleanup(cli.Close)

	to := netip.AddrPortFrom(addrB, 7000)
	n, err := cli.SendTo([]byte("hello"), 0, to)
	require.NoError(t, err)
	assert.Equal(t, 5, n)
	lport := cli.LocalAddr().Port()
	assert.GreaterOrEqual(t, lport, uint16(32768), "an ephemeral port")
	p.PumpUntil("datagram queued", func() bool { return srv.ReceiveQueue.Len() == 1 })

	buf := make([]byte, 3)
	n, from, err := srv.RecvFrom(buf, sock.MsgPeek|syscall.MSG_TRUNC)
	require.NoError(t, err)
	assert.Equal(t, 5, n, "MSG_TRUNC: the whole length")
	assert.Equal(t, "hel", string(buf))
	assert.Equal(t, netip.AddrPortFrom(addrA, lport), from)
	assert.Equal(t, 1, srv.ReceiveQueue.Len(), "peeked, still queued")
	data, from := recv(t, srv)
	assert.Equal(t, "hello", data)
	_, _, err = srv.RecvFrom(buf, 0)
	assert.ErrorIs(t, err, syscall.EAGAIN)

	_, err = srv.SendTo([]byte("world"), 0, from)
	require.NoError(t, err)
	p.PumpUntil("reply queued", func() bool { return cli.ReceiveQueue.Len() == 1 })
	data, from = recv(t, cli)
	assert.Equal(t, "world", data)
	assert.Equal(t, to, from)

	// Cut: the rest of the datagram is gone.
	_, err = cli.SendTo([]byte("truncated"), 0, to)
	require.NoError(t, err)
	p.PumpUntil("queued", func() bool { return srv.ReceiveQueue.Len() == 1 })
	n, _, err = srv.RecvFrom(buf, 0)
	require.NoError(t, err)
	assert.Equal(t, 3, n)
	assert.Zero(t, srv.ReceiveQueue.Len())
	assert.Zero(t, srv.RmemAlloc, "uncharged")

	assert.Equal(t, uint64(2), p.ub().Stats().InDatagrams.Load())
	assert.Equal(t, uint64(2), p.ua().Stats().OutDatagrams.Load())
}

// TestConnected: a connected socket sends without an address, takes only
// its peer's datagrams (another source's find no socket and draw a port
// unreachable), and Connect to the zero AddrPort undoes it.
func TestConnected(t *testing.T) {
	p := newPair(t)
	srv := bound(t, p.ub(), addrB, 7001)
	other := bound(t, p.ua(), addrA, 7002)
	cli := p.ua().NewSock()
	t.Cleanup(cli.Close)
	_, err := cli.SendMsg([]byte("x"), 0)
	assert.ErrorIs(t, err, syscall.EDESTADDRREQ)

	require.NoError(t, srv.Connect(netip.AddrPortFrom(addrA, 7002)))
	assert.Equal(t, netip.AddrPortFrom(addrB, 7001), srv.LocalAddr())
	require.NoError(t, cli.Connect(netip.AddrPortFrom(addrB, 7001)))
	assert.Equal(t, addrA, cli.LocalAddr().Addr(), "the route's source")

	_, err = other.SendTo([]byte("peer"), 0, netip.AddrPortFrom(addrB, 7001))
	require.NoError(t, err)
	_, err = cli.SendMsg([]byte("stranger"), 0)
	require.NoError(t, err)
	p.PumpUntil("port unreachable", func() bool { return p.ub().Stats().NoPorts.Load() == 1 })
	p.Pump(4)
	data, _ := recv(t, srv)
	assert.Equal(t, "peer", data)
	assert.Zero(t, srv.ReceiveQueue.Len())

	require.NoError(t, srv.Connect(netip.AddrPort{}))
	_, err = cli.SendMsg([]byte("again"), 0)
	if err != nil {
		// The port unreachable the stranger drew came back as the
		// pending error, which the first call returns.
		require.ErrorIs(t, err, syscall.ECONNREFUSED)
		_, err = cli.SendMsg([]byte("again"), 0)
	}
	require.NoError(t, err)
	p.PumpUntil("queued", func() bool { return srv.ReceiveQueue.Len() == 1 })
	data, _ = recv(t, srv)
	assert.Equal(t, "again", data)
	assert.Equal(t, netip.AddrPortFrom(addrB, 7001), srv.LocalAddr(), "a bound address stays")
	lport := cli.LocalAddr().Port()
	require.NoError(t, cli.Connect(netip.AddrPort{}))
	assert.Equal(t, netip.AddrPortFrom(netip.IPv4Unspecified(), lport), cli.LocalAddr(), "the address connect chose goes")
}

// TestPortUnreachable: a datagram to a closed port draws an ICMP port
// unreachable, which a connected socket sees as ECONNREFUSED on its next
// call (udp_err, sk_err); the errors are rate limited per destination.
func TestPortUnreachable(t *testing.T) {
	p := newPair(t)
	cli := p.ua().NewSock()
	t.Cleanup(cli.Close)
	require.NoError(t, cli.Connect(netip.AddrPortFrom(addrB, 9)))
	_, err := cli.SendMsg([]byte("anyone?"), 0)
	require.NoError(t, err)
	p.PumpUntil("error reported", func() bool { return cli.Err != 0 })
	assert.Equal(t, uint64(1), p.ub().Stats().NoPorts.Load())
	assert.Equal(t, uint64(1), p.dropsB(stat.DropUDPNoSocket))
	assert.Equal(t, uint64(1), p.ua().Stats().ICMPErrors.Load())
	_, _, err = cli.RecvFrom(make([]byte, 8), 0)
	assert.ErrorIs(t, err, syscall.ECONNREFUSED)
	_, _, err = cli.RecvFrom(make([]byte, 8), 0)
	assert.ErrorIs(t, err, syscall.EAGAIN, "reported once")

	// A burst: the per-destination bucket holds back most errors.
	// Each error that gets through fails the next send.
	ipB := p.B.Stacks()[0].IPv4().Stats()
	sent := uint64(1)
	for range 20 {
		if _, err := cli.SendMsg([]byte("x"), 0); err == nil {
			sent++
		} else {
			require.ErrorIs(t, err, syscall.ECONNREFUSED)
		}
		p.Pump(1)
	}
	p.Pump(4)
	assert.Equal(t, sent, p.ub().Stats().NoPorts.Load())
	limited := ipB.ICMPOutRateLimitHost.Load() + ipB.ICMPOutRateLimitGlobal.Load()
	assert.Positive(t, limited, "rate limited")
	assert.Equal(t, sent, ipB.ICMPOutDestUnreachs.Load()+limited)
}

// TestReusePort: sockets of a SO_REUSEPORT group share a port and the
// datagrams of many flows, each flow to one of them; a socket without
// the option cannot join.
func TestReusePort(t *testing.T) {
	p := newPair(t)
	const members = 3
	var group [members]int
	ss := [members]*udp.Sock{}
	for i := range ss {
		ss[i] = bound(t, p.ub(), netip.IPv4Unspecified(), 7003, sock.SO_REUSEPORT)
	}
	lone := p.ub().NewSock()
	t.Cleanup(lone.Close)
	assert.ErrorIs(t, lone.Bind(netip.AddrPortFrom(netip.IPv4Unspecified(), 7003)), syscall.EADDRINUSE)

	const flows = 60
	for i := range flows {
		c := p.ua().NewSock()
		for range 2 { // twice: a flow sticks to its member
			_, err := c.SendTo([]byte{byte(i)}, 0, netip.AddrPortFrom(addrB, 7003))
			require.NoError(t, err)
		}
		p.Pump(2)
		got := -1
		for k, s := range ss {
			switch s.ReceiveQueue.Len() {
			case 0:
			case 2:
				require.Equal(t, -1, got, "one member per flow")
				got = k
			default:
				t.Fatalf("flow %d split: member %d has %d", i, k, s.ReceiveQueue.Len())
			}
		}
		require.NotEqual(t, -1, got, "flow %d delivered", i)
		group[got]++
		for range 2 {
			recv(t, ss[got])
		}
		c.Close()
	}
	for k, n := range group {
		assert.Greater(t, n, flows/members/3, "member %d got a share: %v", k, group)
	}
}

// TestRcvBufOverflow: a receive buffer of one mbuf takes one datagram; the
// others are dropped and counted as udp_rcvbuf_errors.
func TestRcvBufOverflow(t *testing.T) {
	p := newPair(t)
	srv := bound(t, p.ub(), netip.IPv4Unspecified(), 7004)
	require.NoError(t, srv.SetSockOpt(syscall.SOL_SOCKET, syscall.SO_RCVBUF, 0))
	cli := p.ua().NewSock()
	t.Cleanup(cli.Close)
	for range 3 {
		_, err := cli.SendTo([]byte("fill"), 0, netip.AddrPortFrom(addrB, 7004))
		require.NoError(t, err)
	}
	p.PumpUntil("drops", func() bool { return p.ub().Stats().RcvbufErrors.Load() == 2 })
	assert.Equal(t, 1, srv.ReceiveQueue.Len())
	assert.Equal(t, uint64(2), p.dropsB(stat.DropUDPRcvBuf))
	assert.Equal(t, uint64(2), p.ub().Stats().InErrors.Load())
}

// TestBadDatagrams: a Length past the IP payload or below the header, or
// a bad checksum, is dropped under its reason; a zero checksum means none
// and is accepted (RFC 768); a Length short of the payload cuts it.
func TestBadDatagrams(t *testing.T) {
	p := newPair(t)
	srv := bound(t, p.ub(), netip.IPv4Unspecified(), 7005)
	setLen := func(d []byte, n uint16) []byte { header.UDP(d).SetLength(n); return d }

	p.inject(t, setLen(datagram(1, 7005, "long"), 20))
	p.inject(t, setLen(datagram(1, 7005, "short"), 7))
	assert.Equal(t, uint64(2), p.dropsB(stat.DropUDPBadLength))
	bad := datagram(1, 7005, "sum")
	bad[6] ^= 0x55
	p.inject(t, bad)
	assert.Equal(t, uint64(1), p.dropsB(stat.DropUDPBadChecksum))
	assert.Equal(t, uint64(1), p.ub().Stats().InCsumErrors.Load())
	assert.Equal(t, uint64(3), p.ub().Stats().InErrors.Load())
	assert.Zero(t, srv.ReceiveQueue.Len())

	none := datagram(1, 7005, "no checksum")
	header.UDP(none).SetChecksum(0)
	p.inject(t, none)
	data, _ := recv(t, srv)
	assert.Equal(t, "no checksum", data)

	// Length 12 of 16 bytes: the checksum covers the 12.
	cut := append(datagram(1, 7005, "four"), "tail"...)
	p.inject(t, cut)
	data, _ = recv(t, srv)
	assert.Equal(t, "four", data)
}

// TestOptions: SO_BROADCAST gates sends to a broadcast address, which
// every socket on the port receives; IP_TTL and
// IP_TOS are checked and read back, TCP's options are not UDP's.
func TestOptions(t *testing.T) {
	p := newPair(t)
	s := p.ua().NewSock()
	t.Cleanup(s.Close)
	bcast := netip.AddrPortFrom(netip.AddrFrom4([4]byte{255, 255, 255, 255}), 7006)
	_, err := s.SendTo([]byte("all"), 0, bcast)
	assert.ErrorIs(t, err, syscall.EACCES)
	require.NoError(t, s.SetSockOpt(syscall.SOL_SOCKET, syscall.SO_BROADCAST, 1))
	// Every socket on the port gets a broadcast (a clone each).
	srv := bound(t, p.ub(), netip.IPv4Unspecified(), 7006, syscall.SO_REUSEADDR)
	srv2 := bound(t, p.ub(), netip.IPv4Unspecified(), 7006, syscall.SO_REUSEADDR)
	_, err = s.SendTo([]byte("all"), 0, bcast)
	require.NoError(t, err)
	p.PumpUntil("broadcast received", func() bool { return srv.ReceiveQueue.Len() == 1 && srv2.ReceiveQueue.Len() == 1 })
	for _, r := range []*udp.Sock{srv, srv2} {
		data, _ := recv(t, r)
		assert.Equal(t, "all", data)
	}

	ttl, err := s.GetSockOpt(syscall.IPPROTO_IP, syscall.IP_TTL)
	require.NoError(t, err)
	assert.Equal(t, 64, ttl)
	require.NoError(t, s.SetSockOpt(syscall.IPPROTO_IP, syscall.IP_TTL, 5))
	assert.ErrorIs(t, s.SetSockOpt(syscall.IPPROTO_IP, syscall.IP_TTL, 256), syscall.EINVAL)
	require.NoError(t, s.SetSockOpt(syscall.IPPROTO_IP, syscall.IP_TOS, 0x10))
	tos, err := s.GetSockOpt(syscall.IPPROTO_IP, syscall.IP_TOS)
	require.NoError(t, err)
	assert.Equal(t, 0x10, tos)
	assert.ErrorIs(t, s.SetSockOpt(syscall.IPPROTO_TCP, syscall.TCP_NODELAY, 1), syscall.ENOPROTOOPT)
	assert.ErrorIs(t, s.Listen(1), syscall.EOPNOTSUPP)
	_, err = s.SendTo(make([]byte, 65508), 0, netip.AddrPortFrom(addrB, 7006))
	assert.ErrorIs(t, err, syscall.EMSGSIZE)
}
