package stack_test

import (
	"encoding/binary"
	"net/netip"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dpstack/dpstack/mbuf"
	"github.com/dpstack/dpstack/stack/header"
	"github.com/dpstack/dpstack/stack/sock"
	"github.com/dpstack/dpstack/stack/stacktest"
)

// fragNeeded transmits into queue q an ICMP Fragmentation Needed with
// next-hop MTU mtu from a router, quoting a segment the host sent to the
// peer from local to remote port with sequence number seq.
func (lh *loopHost) fragNeeded(q int, mtu uint16, lport, rport uint16, seq uint32) {
	lh.t.Helper()
	th := make([]byte, 8)
	binary.BigEndian.PutUint16(th[0:2], lport)
	binary.BigEndian.PutUint16(th[2:4], rport)
	binary.BigEndian.PutUint32(th[4:8], seq)
	quote := stacktest.IPv4Packet(addrA.Addr(), addrB.Addr(), header.IPProtoTCP, 63, th)
	msg := make([]byte, header.ICMPv4MinLen+len(quote))
	m := header.ICMPv4(msg)
	m.SetType(header.ICMPv4DestUnreachable)
	m.SetCode(header.ICMPv4FragNeeded)
	binary.BigEndian.PutUint16(msg[6:8], mtu)
	copy(msg[header.ICMPv4MinLen:], quote)
	m.SetChecksumFull()
	router := netip.MustParseAddr("198.18.1.254")
	frame := stacktest.EthFrame(lh.h.MAC(), loopPeerMAC, header.EtherTypeIPv4,
		stacktest.IPv4Packet(router, addrA.Addr(), header.IPProtoICMP, 64, msg))
	b := lh.h.Pool().Alloc()
	require.NotNil(lh.t, b)
	copy(b.Put(len(frame)), frame)
	require.Equal(lh.t, 1, lh.port.TxBurst(uint16(q), []*mbuf.Buf{b}))
}

// TestHandoffICMPError: core 0 owns a connection; the Fragmentation Needed
// about its segment lands on core 1, which hands it to core 0 through the
// flow directory, as it would a segment. Core 0 lowers the path MTU and
// the connection's MSS and resends at once; the path MTU then reaches
// core 1's routing table too.
func TestHandoffICMPError(t *testing.T) {
	lh := newLoopHost(t, 2)
	s0, s1 := lh.h.Stacks()[0], lh.h.Stacks()[1]
	remote := netip.AddrPortFrom(addrB.Addr(), 80)
	sk := s0.TCP().NewSock()
	require.ErrorIs(t, sk.Connect(remote), syscall.EINPROGRESS)
	s0.Loop().Flush()
	syn := lh.sent(0)[0]
	local := sk.Common.Local
	lh.inject(0, stacktest.Segment{SrcPort: 80, DstPort: local.Port(), Seq: 5000, Ack: syn.SeqNum() + 1,
		Flags: header.TCPFlagSYN | header.TCPFlagACK, Window: 65535})
	s0.Loop().Poll()
	require.Equal(t, sock.Established, sk.State())
	lh.sent(0)

	_, err := sk.SendMsg(make([]byte, 3000), 0)
	require.NoError(t, err)
	s0.Loop().Flush()
	out := lh.sent(0)
	require.NotEmpty(t, out)
	first := out[0]
	require.Len(t, first.Payload(), 536, "the peer offered no MSS")

	lh.fragNeeded(1, 552, local.Port(), 80, first.SeqNum())
	s1.Loop().Poll()
	assert.Equal(t, uint64(1), lh.tcpStats(1).Handoffs.Load())
	s0.Loop().Poll()
	s0.Loop().Flush()
	assert.Equal(t, 512, sk.Info().MSS)
	resent := lh.sent(0)
	require.NotEmpty(t, resent, "resent at once")
	assert.Equal(t, first.SeqNum(), resent[0].SeqNum())
	assert.Len(t, resent[0].Payload(), 512)

	for i, s := range lh.h.Stacks() {
		s.Loop().Poll() // core 1 runs the path MTU core 0 posted
		mtu, _, ok := s.Routes().PMTU(addrB.Addr())
		assert.True(t, ok, "core %d", i)
		assert.Equal(t, 552, mtu, "core %d", i)
	}
	require.NoError(t, sk.SetSockOptLinger(syscall.SOL_SOCKET, syscall.SO_LINGER, syscall.Linger{Onoff: 1}))
	sk.Close()
	s0.Loop().Flush()
}
