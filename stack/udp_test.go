package stack_test

import (
	"net/netip"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dpstack/dpstack/mbuf"
	"github.com/dpstack/dpstack/stack/header"
	"github.com/dpstack/dpstack/stack/sock"
	"github.com/dpstack/dpstack/stack/stacktest"
	"github.com/dpstack/dpstack/stack/udp"
)

// injectUDP transmits a datagram from the peer (addrB:sport) to our
// dport into queue q.
func (lh *loopHost) injectUDP(q int, sport, dport uint16, data string) {
	lh.t.Helper()
	d := make([]byte, header.UDPLen+len(data))
	header.UDP(d).Encode(sport, dport, uint16(len(d)))
	copy(d[header.UDPLen:], data)
	frame := stacktest.EthFrame(lh.h.MAC(), loopPeerMAC, header.EtherTypeIPv4,
		stacktest.IPv4Packet(addrB.Addr(), addrA.Addr(), header.IPProtoUDP, 64, d))
	b := lh.h.Pool().Alloc()
	require.NotNil(lh.t, b)
	copy(b.Put(len(frame)), frame)
	require.Equal(lh.t, 1, lh.port.TxBurst(uint16(q), []*mbuf.Buf{b}))
}

// udpSock binds a socket of core to port, with SO_REUSEPORT when reuse.
func (lh *loopHost) udpSock(core int, port uint16, reuse bool) (*udp.Sock, error) {
	s := lh.h.Stacks()[core].UDP().NewSock()
	lh.t.Cleanup(s.Close)
	if reuse {
		require.NoError(lh.t, s.SetSockOpt(syscall.SOL_SOCKET, sock.SO_REUSEPORT, 1))
	}
	return s, s.Bind(netip.AddrPortFrom(netip.IPv4Unspecified(), port))
}

// TestUDPTwoCores: a socket belongs to one core. A datagram for its port
// that reaches the other core is handed to the socket's core through the
// port directory (ARCHITECTURE.md §3); a second core cannot take the port
// without SO_REUSEPORT; with it, each core has its own group, and a
// datagram is read on the core that received it, with no handoff. A port
// no core has draws a port unreachable from the core that got it.
func TestUDPTwoCores(t *testing.T) {
	lh := newLoopHost(t, 2)
	s0, s1 := lh.h.Stacks()[0], lh.h.Stacks()[1]
	u0, u1 := s0.UDP().Stats(), s1.UDP().Stats()
	poll := func() {
		s1.Loop().Poll()
		s0.Loop().Poll()
		s1.Loop().Poll()
	}

	only, err := lh.udpSock(0, 7300, false)
	require.NoError(t, err)
	_, err = lh.udpSock(1, 7300, true)
	assert.ErrorIs(t, err, syscall.EADDRINUSE, "core 0 has the port")
	lh.injectUDP(1, 5000, 7300, "elsewhere")
	poll()
	assert.Equal(t, 1, only.ReceiveQueue.Len(), "handed to core 0")
	assert.Equal(t, uint64(1), u1.Handoffs.Load())
	assert.Equal(t, uint64(1), u0.InDatagrams.Load())

	g0, err := lh.udpSock(0, 7301, true)
	require.NoError(t, err)
	g1, err := lh.udpSock(1, 7301, true)
	require.NoError(t, err)
	lh.injectUDP(1, 5001, 7301, "one")
	lh.injectUDP(0, 5002, 7301, "zero")
	poll()
	assert.Equal(t, 1, g1.ReceiveQueue.Len(), "read where it arrived")
	assert.Equal(t, 1, g0.ReceiveQueue.Len())
	assert.Equal(t, uint64(1), u1.Handoffs.Load(), "no handoff")

	ip1 := s1.IPv4().Stats()
	lh.injectUDP(1, 5003, 7399, "nobody")
	s1.Loop().Poll()
	assert.Equal(t, uint64(1), u1.NoPorts.Load())
	assert.Equal(t, uint64(1), ip1.ICMPOutDestUnreachs.Load())
	assert.Equal(t, uint64(1), u1.Handoffs.Load(), "not handed over")
	assert.Zero(t, u0.NoPorts.Load())

	// The port goes back to the directory when its last socket closes.
	only.Close()
	again, err := lh.udpSock(1, 7300, false)
	require.NoError(t, err)
	assert.Equal(t, uint16(7300), again.LocalAddr().Port())
}

// TestUDPFragmentsTwoCores: datagrams of 3,000 bytes arrive in fragments
// on core 1's queue for a socket of core 0. Each is reassembled on the
// core its hash picks; one reassembled on core 1 goes to core 0 as the
// chain of its fragments, and every datagram reaches the socket whole.
func TestUDPFragmentsTwoCores(t *testing.T) {
	lh := newLoopHost(t, 2)
	s0, s1 := lh.h.Stacks()[0], lh.h.Stacks()[1]
	srv, err := lh.udpSock(0, 7302, false)
	require.NoError(t, err)
	data := make([]byte, 3000)
	for i := range data {
		data[i] = byte(i * 13)
	}
	d := make([]byte, header.UDPLen+len(data))
	header.UDP(d).Encode(5004, 7302, uint16(len(d)))
	copy(d[header.UDPLen:], data)
	sum := header.PseudoHeaderSum(addrB.Addr(), addrA.Addr(), header.IPProtoUDP, uint16(len(d)))
	header.UDP(d).SetChecksum(header.UDP(d).CalculateChecksum(sum))
	const datagrams = 16
	for id := range uint16(datagrams) {
		for _, f := range fragmentFrames(lh.h.MAC(), loopPeerMAC, addrB.Addr(), addrA.Addr(), header.IPProtoUDP, 0x100+id, d, 1480) {
			b := lh.h.Pool().Alloc()
			require.NotNil(t, b)
			copy(b.Put(len(f)), f)
			require.Equal(t, 1, lh.port.TxBurst(1, []*mbuf.Buf{b}))
		}
		for range 2 {
			s1.Loop().Poll()
			s0.Loop().Poll()
		}
	}
	require.Equal(t, datagrams, srv.ReceiveQueue.Len())
	buf := make([]byte, 4000)
	for range datagrams {
		n, from, err := srv.RecvFrom(buf, 0)
		require.NoError(t, err)
		require.Equal(t, data, buf[:n])
		assert.Equal(t, netip.AddrPortFrom(addrB.Addr(), 5004), from)
	}
	assert.Positive(t, s1.IPv4().Stats().ReasmOKs.Load(), "some reassembled on core 1")
	assert.Equal(t, s1.IPv4().Stats().ReasmOKs.Load(), s1.UDP().Stats().Handoffs.Load(), "and handed to core 0")
}

// TestUDPOutput: what a socket sends, as it leaves the port: IP_TTL and
// IP_TOS in the header, no DF, a checksum the receiver verifies; a
// datagram of 65,507 bytes leaves in fragments that put it back together.
func TestUDPOutput(t *testing.T) {
	lh := newLoopHost(t, 1)
	s, err := lh.udpSock(0, 7303, false)
	require.NoError(t, err)
	require.NoError(t, s.SetSockOpt(syscall.IPPROTO_IP, syscall.IP_TTL, 5))
	require.NoError(t, s.SetSockOpt(syscall.IPPROTO_IP, syscall.IP_TOS, 0x10))
	to := netip.AddrPortFrom(addrB.Addr(), 9000)
	for _, n := range []int{100, udp.MaxPayload} {
		data := make([]byte, n)
		for i := range data {
			data[i] = byte(i * 3)
		}
		_, err = s.SendTo(data, 0, to)
		require.NoError(t, err)
		lh.h.Stacks()[0].Loop().Flush() // transmit, and take nothing in
		var frags [][]byte
		for _, f := range lh.frames(0) {
			ip, perr := header.ParseIPv4(f[header.EthernetLen:])
			require.Equal(t, header.IPv4OK, perr)
			assert.Equal(t, uint8(5), ip.TTL())
			assert.Equal(t, uint8(0x10), ip.TOS())
			assert.Zero(t, ip.Flags()&header.IPv4FlagDF, "no DF")
			frags = append(frags, f)
		}
		d := reassembleFrames(t, frags)
		require.Len(t, d, header.UDPLen+n, "%d bytes in %d frames", n, len(frags))
		u := header.UDP(d)
		assert.Equal(t, uint16(7303), u.SrcPort())
		assert.Equal(t, uint16(len(d)), u.Length())
		assert.True(t, u.IsChecksumValid(header.PseudoHeaderSum(addrA.Addr(), addrB.Addr(), header.IPProtoUDP, u.Length())))
		assert.Equal(t, data, u.Payload())
	}
}
