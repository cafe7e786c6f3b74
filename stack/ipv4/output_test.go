package ipv4

import (
	"reflect"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dpstack/dpstack/mbuf"
	"github.com/dpstack/dpstack/stack/header"
	"github.com/dpstack/dpstack/stack/netdev"
	"github.com/dpstack/dpstack/stack/route"
	"github.com/dpstack/dpstack/stat"
)

// segment returns an mbuf holding n bytes of transport data.
func (e *env) segment(n int) *mbuf.Buf {
	b := e.cache.Get()
	require.NotNil(e.t, b)
	copy(b.Put(n), echoData(n))
	return b
}

// lookup is a route lookup to the peer, which must succeed.
func (e *env) lookup() *route.Dst {
	d, err := e.rt.Lookup(&route.Flow4{Dst: peerAddr})
	require.NoError(e.t, err)
	return d
}

// RFC 791 §3.1: Output pushes a complete 20-byte header.
func TestOutputHeader(t *testing.T) {
	cases := []struct {
		name    string
		feat    netdev.Features
		ttl     uint8
		wantTTL uint8
	}{
		{name: "software checksum", ttl: 33, wantTTL: 33},
		{name: "checksum offload", feat: netdev.TxIPv4Cksum, ttl: 1, wantTTL: 1},
		{name: "TTL 0 means the default", ttl: 0, wantTTL: DefaultTTL},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t, c.feat)
			e.learnPeer()
			d := e.lookup()
			var ids []uint16
			for range 2 {
				e.l.Output(e.segment(100), d, testProto, ourAddr, peerAddr, 0x28, c.ttl)
				f := e.takeFrame()
				assert.Equal(t, peerMAC, f.eth().Dst())
				assert.Equal(t, header.EtherTypeIPv4, f.eth().EtherType())
				ip, perr := header.ParseIPv4(f.eth().Payload())
				require.Equal(t, header.IPv4OK, perr)
				assert.Len(t, f.eth().Payload(), 120)
				assert.Equal(t, uint16(120), ip.TotalLen())
				assert.Equal(t, header.IPv4MinLen, ip.HeaderLen())
				assert.Equal(t, uint8(0x28), ip.TOS())
				assert.True(t, ip.DontFragment())
				assert.False(t, ip.IsFragment())
				assert.Equal(t, c.wantTTL, ip.TTL())
				assert.Equal(t, uint8(testProto), ip.Protocol())
				assert.Equal(t, ourAddr, ip.Src())
				assert.Equal(t, peerAddr, ip.Dst())
				assert.Equal(t, echoData(100), ip.Payload())
				if c.feat.Has(netdev.TxIPv4Cksum) {
					assert.Zero(t, ip.Checksum())
					assert.Equal(t, mbuf.TxIPv4|mbuf.TxIPCksum, f.ol)
				} else {
					assert.True(t, ip.IsChecksumValid())
					assert.Zero(t, f.ol)
				}
				ids = append(ids, ip.ID())
			}
			assert.Equal(t, ids[0]+1, ids[1], "IDs from a per-core counter")
			assert.Equal(t, uint64(2), e.l.Stats().OutRequests.Load())
			e.requireNoLeak()
		})
	}
}

// A transport's L4 checksum offload gets TX_IPV4 and the header lengths
// even when the IP checksum is computed in software.
func TestOutputKeepsL4Offload(t *testing.T) {
	e := newEnv(t, 0)
	e.learnPeer()
	b := e.segment(20)
	b.SetOlFlags(mbuf.TxTCPCksum)
	e.l.Output(b, e.lookup(), header.IPProtoTCP, ourAddr, peerAddr, 0, 64)
	f := e.takeFrame()
	assert.Equal(t, mbuf.TxTCPCksum|mbuf.TxIPv4, f.ol)
	ip, _ := header.ParseIPv4(f.eth().Payload())
	assert.True(t, ip.IsChecksumValid())
	e.requireNoLeak()
}

// Output does not fragment: beyond the MTU the packet is dropped.
func TestOutputTooBig(t *testing.T) {
	e := newEnv(t, 0)
	e.learnPeer()
	e.l.Output(e.segment(1481), e.lookup(), testProto, ourAddr, peerAddr, 0, 64)
	assert.Empty(t, e.takeFrames())
	assert.Equal(t, uint64(1), e.dev.Drops.Get(stat.DropFrameTooBig))
	assert.Equal(t, uint64(1), e.l.Stats().OutDiscards.Load())

	e.l.Output(e.segment(1480), e.lookup(), testProto, ourAddr, peerAddr, 0, 64)
	assert.Len(t, e.takeFrames(), 1)
	e.requireNoLeak()
}

// Output to an unresolved neighbour sends a broadcast ARP request (RFC 826)
// and the packet, queued meanwhile, goes out once the reply arrives.
func TestOutputResolvesNeighbour(t *testing.T) {
	e := newEnv(t, 0)
	d := e.lookup()
	e.l.Output(e.segment(10), d, testProto, ourAddr, peerAddr, 0, 64)

	req := e.takeFrame()
	assert.Equal(t, header.BroadcastMAC, req.eth().Dst())
	assert.Equal(t, ourMAC, req.eth().Src())
	assert.Equal(t, header.EtherTypeARP, req.eth().EtherType())
	assert.Len(t, req.eth().Payload(), arpFrameLen)
	a, ok := header.ParseARP(req.eth().Payload())
	require.True(t, ok)
	assert.True(t, a.IsValidIPv4Ethernet())
	assert.Equal(t, header.ARPRequest, a.Op())
	assert.Equal(t, ourMAC, a.SenderMAC())
	assert.Equal(t, ourAddr, a.SenderIP())
	assert.True(t, a.TargetMAC().IsZero())
	assert.Equal(t, peerAddr, a.TargetIP())
	assert.Equal(t, uint64(1), e.l.Stats().ARPOutRequests.Load())

	e.l.ARPInput(e.mbuf(arpPacket(header.ARPReply, peerMAC, peerAddr, ourMAC, ourAddr)))
	f := e.takeFrame()
	assert.Equal(t, peerMAC, f.eth().Dst())
	ip, perr := header.ParseIPv4(f.eth().Payload())
	require.Equal(t, header.IPv4OK, perr)
	assert.Equal(t, peerAddr, ip.Dst())
	assert.Equal(t, echoData(10), ip.Payload())
	assert.Equal(t, route.NeighReachable, e.rt.Neighbours().Lookup(peerAddr).State())
	assert.Zero(t, e.totalDrops())
	e.requireNoLeak()
}

// Every counter is exported under a unique snake_case name.
func TestStatsNamed(t *testing.T) {
	var s Stats
	seen := map[string]bool{}
	stat.Visit(&s, func(name string, v uint64) {
		assert.False(t, seen[name], name)
		seen[name] = true
	})
	stat.VisitGauges(&s, func(name string, v int64) {
		assert.False(t, seen[name], name)
		seen[name] = true
	})
	assert.Equal(t, reflect.TypeFor[Stats]().NumField(), len(seen))
	for _, n := range []string{"ip_in_receives", "ip_in_delivers", "ip_out_requests", "icmp_in_echos",
		"icmp_out_echo_replies", "arp_in_requests", "arp_in_replies", "arp_out_requests", "arp_out_replies"} {
		assert.True(t, seen[n], n)
	}
}
