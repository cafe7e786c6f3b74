package ipv4

import (
	"net/netip"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dpstack/dpstack/mbuf"
	"github.com/dpstack/dpstack/stack/header"
	"github.com/dpstack/dpstack/stack/route"
	"github.com/dpstack/dpstack/stat"
)

// requireARP checks that f is an ARP frame to ethDst with the given
// fields.
func requireARP(t *testing.T, f frame, ethDst header.MAC, op uint16, sha header.MAC, spa netip.Addr, tha header.MAC, tpa netip.Addr) {
	t.Helper()
	require.Equal(t, ethDst, f.eth().Dst())
	require.Equal(t, ourMAC, f.eth().Src())
	require.Equal(t, header.EtherTypeARP, f.eth().EtherType())
	require.Len(t, f.data, 60, "a minimum Ethernet frame")
	a, ok := header.ParseARP(f.eth().Payload())
	require.True(t, ok)
	require.True(t, a.IsValidIPv4Ethernet())
	assert.Equal(t, op, a.Op())
	assert.Equal(t, sha, a.SenderMAC())
	assert.Equal(t, spa, a.SenderIP())
	assert.Equal(t, tha, a.TargetMAC())
	assert.Equal(t, tpa, a.TargetIP())
	assert.Equal(t, make([]byte, arpFrameLen-header.ARPLen), []byte(f.eth().Payload()[header.ARPLen:]), "zero padding")
}

// RFC 826: a request for our address is answered in place to the
// requester, and the requester is learnt (unconfirmed: STALE).
func TestARPRequestForUs(t *testing.T) {
	for _, n := range []int{header.ARPLen, arpFrameLen, 80} {
		e := newEnv(t, 0)
		p := make([]byte, n)
		for i := range p {
			p[i] = 0xcc // padding the reply must not echo
		}
		header.ARP(p).Encode(header.ARPRequest, peerMAC, peerAddr, header.MAC{}, ourAddr)
		e.l.ARPInput(e.mbuf(p))

		requireARP(t, e.takeFrame(), peerMAC, header.ARPReply, ourMAC, ourAddr, peerMAC, peerAddr)
		nb := e.rt.Neighbours().Lookup(peerAddr)
		require.NotNil(t, nb)
		assert.Equal(t, peerMAC, nb.MAC())
		assert.Equal(t, route.NeighStale, nb.State())
		assert.Equal(t, uint64(1), e.l.Stats().ARPInRequests.Load())
		assert.Equal(t, uint64(1), e.l.Stats().ARPOutReplies.Load())
		assert.Zero(t, e.totalDrops())
		e.requireNoLeak()
	}
}

// An ARP reply addressed to us confirms the neighbour (REACHABLE) and is
// consumed.
func TestARPReplyUpdatesNeighbour(t *testing.T) {
	e := newEnv(t, 0)
	e.l.ARPInput(e.mbuf(arpPacket(header.ARPReply, peerMAC, peerAddr, ourMAC, ourAddr)))
	nb := e.rt.Neighbours().Lookup(peerAddr)
	require.NotNil(t, nb)
	assert.Equal(t, peerMAC, nb.MAC())
	assert.Equal(t, route.NeighReachable, nb.State())
	assert.Empty(t, e.takeFrames())
	assert.Zero(t, e.totalDrops())
	assert.Equal(t, uint64(1), e.l.Stats().ARPInReplies.Load())

	// A later reply with a new MAC replaces it.
	e.l.ARPInput(e.mbuf(arpPacket(header.ARPReply, otherMAC, peerAddr, ourMAC, ourAddr)))
	assert.Equal(t, otherMAC, e.rt.Neighbours().Lookup(peerAddr).MAC())
	e.requireNoLeak()
}

// RFC 826 merge flag: ARP not for us refreshes an entry we already have
// (gratuitous ARP included) but creates none.
func TestARPNotForUs(t *testing.T) {
	e := newEnv(t, 0)
	e.learnPeer()
	cases := []struct {
		name    string
		pkt     []byte
		addr    netip.Addr
		known   bool
		wantMAC header.MAC
	}{
		{"unknown sender, request for another", arpPacket(header.ARPRequest, otherMAC, otherAddr, header.MAC{}, peerAddr), otherAddr, false, header.MAC{}},
		{"known sender moved, request for another", arpPacket(header.ARPRequest, otherMAC, peerAddr, header.MAC{}, otherAddr), peerAddr, true, otherMAC},
		{"known sender, gratuitous request", arpPacket(header.ARPRequest, peerMAC, peerAddr, header.MAC{}, peerAddr), peerAddr, true, peerMAC},
		{"known sender, gratuitous reply", arpPacket(header.ARPReply, otherMAC, peerAddr, header.BroadcastMAC, peerAddr), peerAddr, true, otherMAC},
	}
	for i, c := range cases {
		e.l.ARPInput(e.mbuf(c.pkt))
		assert.Equal(t, uint64(i+1), e.dev.Drops.Get(stat.DropARPOtherTarget), c.name)
		nb := e.rt.Neighbours().Lookup(c.addr)
		if !c.known {
			assert.Nil(t, nb, c.name)
			continue
		}
		require.NotNil(t, nb, c.name)
		assert.Equal(t, c.wantMAC, nb.MAC(), c.name)
	}
	assert.Empty(t, e.takeFrames())
	e.requireNoLeak()
}

// RFC 5227 §2.1.1: a probe (sender 0.0.0.0) for our address is answered,
// as Linux does, and nothing is learnt.
func TestARPProbeForUs(t *testing.T) {
	e := newEnv(t, 0)
	zero := netip.IPv4Unspecified()
	e.l.ARPInput(e.mbuf(arpPacket(header.ARPRequest, peerMAC, zero, header.MAC{}, ourAddr)))
	requireARP(t, e.takeFrame(), peerMAC, header.ARPReply, ourMAC, ourAddr, peerMAC, zero)
	assert.Zero(t, e.rt.Neighbours().Len())
	e.requireNoLeak()
}

// RFC 5227 §2.4: another host using our address is a conflict: counted,
// never learnt.
func TestARPConflict(t *testing.T) {
	e := newEnv(t, 0)
	e.l.ARPInput(e.mbuf(arpPacket(header.ARPRequest, peerMAC, ourAddr, header.MAC{}, ourAddr)))
	assert.Equal(t, uint64(1), e.l.Stats().ARPInConflicts.Load())
	e.l.ARPInput(e.mbuf(arpPacket(header.ARPReply, peerMAC, ourAddr, ourMAC, ourAddr)))
	assert.Equal(t, uint64(2), e.l.Stats().ARPInConflicts.Load())
	assert.Nil(t, e.rt.Neighbours().Lookup(ourAddr))
	assert.Empty(t, e.takeFrames(), "a conflict is not answered")
	assert.Zero(t, e.totalDrops())

	// Our own frames looped back are ignored.
	e.l.ARPInput(e.mbuf(arpPacket(header.ARPRequest, ourMAC, ourAddr, header.MAC{}, ourAddr)))
	assert.Empty(t, e.takeFrames())
	assert.Equal(t, uint64(2), e.l.Stats().ARPInConflicts.Load())
	e.requireNoLeak()
}

// RFC 826 "Packet Reception": anything but IPv4 over Ethernet with a valid
// opcode and a unicast sender is dropped as malformed.
func TestARPMalformed(t *testing.T) {
	good := func() []byte { return arpPacket(header.ARPRequest, peerMAC, peerAddr, header.MAC{}, ourAddr) }
	mod := func(fn func(a header.ARP)) []byte { b := good(); fn(header.ARP(b)); return b }
	cases := []struct {
		name string
		pkt  []byte
	}{
		{"truncated", good()[:header.ARPLen-1]},
		{"empty", nil},
		{"hardware type", mod(func(a header.ARP) { a.SetHardwareType(6) })},
		{"protocol type", mod(func(a header.ARP) { a.SetProtocolType(header.EtherTypeIPv6) })},
		{"hardware length", mod(func(a header.ARP) { a.SetHardwareLen(8) })},
		{"protocol length", mod(func(a header.ARP) { a.SetProtocolLen(16) })},
		{"opcode 3 (RARP)", mod(func(a header.ARP) { a.SetOp(3) })},
		{"broadcast sender MAC", mod(func(a header.ARP) { a.SetSenderMAC(header.BroadcastMAC) })},
		{"multicast sender MAC", mod(func(a header.ARP) { a.SetSenderMAC(header.MAC{0x01, 0, 0x5e, 0, 0, 1}) })},
		{"zero sender MAC", mod(func(a header.ARP) { a.SetSenderMAC(header.MAC{}) })},
		{"broadcast sender IP", mod(func(a header.ARP) { a.SetSenderIP(subnetBC) })},
		{"multicast target IP", mod(func(a header.ARP) { a.SetTargetIP(netip.MustParseAddr("224.0.0.1")) })},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t, 0)
			e.l.ARPInput(e.mbuf(c.pkt))
			assert.Equal(t, uint64(1), e.dev.Drops.Get(stat.DropARPMalformed))
			assert.Equal(t, uint64(1), e.totalDrops())
			assert.Empty(t, e.takeFrames())
			assert.Zero(t, e.rt.Neighbours().Len())
			e.requireNoLeak()
		})
	}
}

// RFC 5227 §3: one announcement per address, broadcast, sender = target.
func TestSendGratuitousARP(t *testing.T) {
	e := newEnv(t, 0)
	second := netip.MustParsePrefix("198.18.1.1/24")
	require.NoError(t, e.rt.AddConnected(second, e.dev))
	e.l.SendGratuitousARP()
	f := e.takeFrames()
	require.Len(t, f, 2)
	for i, a := range []netip.Addr{ourAddr, second.Addr()} {
		requireARP(t, f[i], header.BroadcastMAC, header.ARPRequest, ourMAC, a, header.MAC{}, a)
	}
	assert.Equal(t, uint64(2), e.l.Stats().ARPOutGratuitous.Load())
	e.requireNoLeak()
}

// Out of mbufs, ARP sends nothing and counts the failure; it recovers when
// mbufs return.
func TestARPNoMbuf(t *testing.T) {
	e := newEnv(t, 0)
	var held []*mbuf.Buf
	for b := e.pool.Alloc(); b != nil; b = e.pool.Alloc() {
		held = append(held, b)
	}
	e.l.SendGratuitousARP()
	assert.Equal(t, uint64(1), e.dev.Drops.Get(stat.DropNoMbuf))
	assert.Empty(t, e.takeFrames())
	mbuf.FreeBulk(held)
	e.l.SendGratuitousARP()
	assert.Len(t, e.takeFrames(), 1)
	e.requireNoLeak()
}
