package stack_test

import (
	"net/netip"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dpstack/dpstack/dpdk"
	"github.com/dpstack/dpstack/mbuf"
	"github.com/dpstack/dpstack/stack"
	"github.com/dpstack/dpstack/stack/header"
	"github.com/dpstack/dpstack/stack/route"
	"github.com/dpstack/dpstack/stack/stacktest"
	"github.com/dpstack/dpstack/stat"
)

var seq atomic.Int64

// TestPairARPAndEcho: two stacks joined by rings resolve each other by ARP
// and exchange ICMP echoes of every size up to the MTU.
func TestPairARPAndEcho(t *testing.T) {
	p := newPair(t, uniq("rpe"))
	ipA := p.A.Stacks()[0].IPv4().Stats()
	ipB := p.B.Stacks()[0].IPv4().Stats()

	for i, size := range []int{0, 56, 1472} {
		sendEcho(t, p.A, addrB.Addr(), 7, uint16(i), size)
		p.PumpUntil("echo reply", func() bool { return ipA.ICMPInEchoReps.Load() == uint64(i+1) })
	}
	assert.Equal(t, uint64(3), ipB.ICMPInEchos.Load())
	assert.Equal(t, uint64(3), ipB.ICMPOutEchoReplies.Load())
	assert.Equal(t, uint64(1), ipA.ARPOutRequests.Load(), "one resolution, then the cache")
	assert.Equal(t, uint64(1), ipA.ARPInReplies.Load())

	na := p.A.Stacks()[0].Routes().Neighbours().Lookup(addrB.Addr())
	require.NotNil(t, na)
	assert.Equal(t, route.NeighReachable, na.State())
	assert.Equal(t, p.B.MAC(), na.MAC())
	nb := p.B.Stacks()[0].Routes().Neighbours().Lookup(addrA.Addr())
	require.NotNil(t, nb, "b learned a from its request")
	assert.Equal(t, p.A.MAC(), nb.MAC())

	// An echo larger than the MTU is refused at output, not sent.
	before := ipA.OutDiscards.Load()
	sendEcho(t, p.A, addrB.Addr(), 7, 9, 1473)
	p.Pump(4)
	assert.Equal(t, before+1, ipA.OutDiscards.Load())
}

// TestMalformedFramesDropped injects crafted bad frames into host b and
// checks that each is dropped under its own reason and freed.
func TestMalformedFramesDropped(t *testing.T) {
	p := newPair(t, uniq("rpm"))
	macA, macB := p.A.MAC(), p.B.MAC()
	src, dst := addrA.Addr(), addrB.Addr()
	ip := func(proto uint8, payload []byte) []byte { return stacktest.IPv4Packet(src, dst, proto, 64, payload) }
	ipFrame := func(pkt []byte) []byte { return stacktest.EthFrame(macB, macA, header.EtherTypeIPv4, pkt) }
	mutate := func(pkt []byte, fn func(header.IPv4)) []byte {
		fn(header.IPv4(pkt))
		return pkt
	}
	rechecksum := func(h header.IPv4) { h.SetChecksum(0); h.SetChecksumFull() }
	arp := func(fn func(header.ARP)) []byte {
		a := make([]byte, header.ARPLen)
		header.ARP(a).Encode(header.ARPRequest, macA, src, header.MAC{}, dst)
		fn(header.ARP(a))
		return stacktest.EthFrame(header.BroadcastMAC, macA, header.EtherTypeARP, a)
	}
	badICMP := icmpEcho(1, 1, 8)
	badICMP[2] ^= 0xff
	cases := []struct {
		name   string
		frame  []byte
		reason stat.DropReason
	}{
		{"truncated frame", make([]byte, 10), stat.DropEthTruncated},
		{"other host", stacktest.EthFrame(header.MAC{2, 0, 0, 0, 0, 9}, macA, header.EtherTypeIPv4, ip(header.IPProtoICMP, icmpEcho(1, 1, 0))), stat.DropEthOtherHost},
		{"unknown ethertype", stacktest.EthFrame(macB, macA, 0x88b5, make([]byte, 46)), stat.DropUnknownEtherType},
		{"arp bad hlen", arp(func(a header.ARP) { a.SetHardwareLen(7) }), stat.DropARPMalformed},
		{"arp truncated", stacktest.EthFrame(header.BroadcastMAC, macA, header.EtherTypeARP, make([]byte, 20)), stat.DropARPMalformed},
		{"arp other target", arp(func(a header.ARP) { a.SetTargetIP(addrB.Addr().Next()) }), stat.DropARPOtherTarget},
		{"ip truncated", ipFrame(make([]byte, 12)), stat.DropIPTruncated},
		{"ip version 6", ipFrame(mutate(ip(253, nil), func(h header.IPv4) { h.SetVersion(6) })), stat.DropIPBadVersion},
		{"ip ihl 4", ipFrame(mutate(ip(253, nil), func(h header.IPv4) { h.SetHeaderLen(16) })), stat.DropIPBadIHL},
		{"ip ihl past buffer", ipFrame(mutate(ip(253, nil), func(h header.IPv4) { h.SetHeaderLen(60) })), stat.DropIPBadIHL},
		{"ip total length past frame", ipFrame(mutate(ip(253, nil), func(h header.IPv4) { h.SetTotalLen(200); rechecksum(h) })), stat.DropIPBadTotalLen},
		{"ip total length below header", ipFrame(mutate(ip(253, nil), func(h header.IPv4) { h.SetTotalLen(12); rechecksum(h) })), stat.DropIPBadTotalLen},
		{"ip bad checksum", ipFrame(mutate(ip(header.IPProtoICMP, icmpEcho(1, 1, 0)), func(h header.IPv4) { h.SetChecksum(h.Checksum() + 1) })), stat.DropIPBadChecksum},
		{"ip ttl 0", ipFrame(stacktest.IPv4Packet(src, dst, header.IPProtoICMP, 0, icmpEcho(1, 1, 0))), stat.DropIPTTLZero},
		{"ip not ours", ipFrame(stacktest.IPv4Packet(src, addrB.Addr().Next(), header.IPProtoICMP, 64, icmpEcho(1, 1, 0))), stat.DropIPOtherHost},
		{"ip broadcast source", ipFrame(stacktest.IPv4Packet(netip4(255, 255, 255, 255), dst, header.IPProtoICMP, 64, icmpEcho(1, 1, 0))), stat.DropIPBadSource},
		{"ip fragment not a multiple of 8", ipFrame(mutate(ip(header.IPProtoICMP, icmpEcho(1, 1, 3)), func(h header.IPv4) { h.SetFlags(header.IPv4FlagMF); rechecksum(h) })), stat.DropIPFragment},
		{"ip fragment past 65,535", ipFrame(mutate(ip(header.IPProtoICMP, icmpEcho(1, 1, 8)), func(h header.IPv4) { h.SetFragmentOffset(65528); rechecksum(h) })), stat.DropIPFragTooBig},
		{"ip unknown protocol", ipFrame(ip(253, make([]byte, 8))), stat.DropIPUnknownProtocol},
		{"icmp bad checksum", ipFrame(ip(header.IPProtoICMP, badICMP)), stat.DropICMPBadChecksum},
		{"icmp truncated", ipFrame(ip(header.IPProtoICMP, []byte{8, 0, 0, 0})), stat.DropICMPTruncated},
	}
	drops := &p.B.Stacks()[0].Device().Drops
	pool := p.A.Pool()
	baseline := pool.InUse()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := drops.Get(tc.reason)
			b := pool.Alloc()
			require.NotNil(t, b)
			copy(b.Put(len(tc.frame)), tc.frame)
			require.Equal(t, 1, p.Rings.A.TxBurst(0, []*mbuf.Buf{b}))
			p.PumpUntil("drop counted", func() bool { return drops.Get(tc.reason) == before+1 })
			p.Pump(2)
			assert.Equal(t, baseline, pool.InUse(), "the dropped frame was freed")
		})
	}
}

func netip4(a, b, c, d byte) netip.Addr { return netip.AddrFrom4([4]byte{a, b, c, d}) }

// BenchmarkEchoRoundTrip measures an ICMP echo round trip between two
// stacks over the ring pair on one core: request out of a, through b's
// receive path and echo reply, back into a.
func BenchmarkEchoRoundTrip(b *testing.B) {
	p := newPair(b, uniq("rpb"))
	ipA := p.A.Stacks()[0].IPv4().Stats()
	sendEcho(b, p.A, addrB.Addr(), 1, 0, 56)
	p.PumpUntil("first reply", func() bool { return ipA.ICMPInEchoReps.Load() == 1 })
	la, lb := p.A.Stacks()[0].Loop(), p.B.Stacks()[0].Loop()
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		if err := echoRequest(p.A, addrB.Addr(), 1, uint16(i), 56); err != nil {
			b.Fatal(err)
		}
		la.Flush()
		lb.Poll()
		la.Poll()
	}
	b.StopTimer()
	if got := ipA.ICMPInEchoReps.Load(); got != uint64(b.N)+1 {
		b.Fatalf("%d replies for %d requests", got-1, b.N)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "echoes/s")
}

// BenchmarkDispatch measures the per-packet cost of the receive-to-transmit
// path alone: bursts of 32 echo requests go through b's rx burst, Ethernet
// dispatch, IPv4 input, the ICMP echo reply built in place and the tx
// burst. The replies come back on the raw ring port, are turned into
// requests again in place and re-sent, so no mbuf is allocated or copied.
func BenchmarkDispatch(b *testing.B) {
	p := newPair(b, uniq("rpd"))
	ipA := p.A.Stacks()[0].IPv4().Stats()
	sendEcho(b, p.A, addrB.Addr(), 1, 0, 56) // resolve both ways
	p.PumpUntil("first reply", func() bool { return ipA.ICMPInEchoReps.Load() == 1 })

	pool := p.A.Pool()
	frame := stacktest.EthFrame(p.B.MAC(), p.A.MAC(), header.EtherTypeIPv4,
		stacktest.IPv4Packet(addrA.Addr(), addrB.Addr(), header.IPProtoICMP, 64, icmpEcho(1, 1, 56)))
	burst := mbuf.NewBurst(32)
	require.True(b, pool.AllocBulk(burst))
	for _, m := range burst {
		copy(m.Put(len(frame)), frame)
	}
	lb := p.B.Stacks()[0].Loop()
	ipB := p.B.Stacks()[0].IPv4().Stats()
	before := ipB.ICMPOutEchoReplies.Load()
	b.ReportAllocs()
	b.ResetTimer()
	sent := 0
	for sent < b.N {
		n := p.Rings.A.TxBurst(0, burst)
		sent += n
		lb.Poll()
		got := p.Rings.A.RxBurst(0, burst)
		for _, m := range burst[:got] {
			replyToRequest(m)
		}
		if got != len(burst) {
			b.Fatalf("%d of %d replies", got, len(burst))
		}
	}
	b.StopTimer()
	mbuf.FreeBulk(burst)
	if replies := ipB.ICMPOutEchoReplies.Load() - before; replies != uint64(sent) {
		b.Fatalf("%d replies for %d requests", replies, sent)
	}
	b.ReportMetric(float64(sent)/b.Elapsed().Seconds(), "pkts/s")
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(sent), "ns/pkt")
}

// replyToRequest turns an echo reply frame back into the request it
// answered: Ethernet and IP addresses swapped back, type 0 -> 8.
func replyToRequest(m *mbuf.Buf) {
	f := m.Bytes()
	eth := header.Ethernet(f)
	dst, src := eth.Dst(), eth.Src()
	eth.SetDst(src)
	eth.SetSrc(dst)
	ip := header.IPv4(f[header.EthernetLen:])
	s, d := ip.Src(), ip.Dst()
	ip.SetSrc(d)
	ip.SetDst(s)
	icmp := header.ICMPv4(ip.Payload())
	icmp.SetType(header.ICMPv4Echo)
	icmp.SetChecksum(header.ChecksumUpdate16(icmp.Checksum(), uint16(header.ICMPv4EchoReply)<<8, uint16(header.ICMPv4Echo)<<8))
	m.SetOlFlags(0)
}

// TestHostCongestion: the host's congestion-control setting is every new
// socket's default, CUBIC when unset; an unknown name is refused.
func TestHostCongestion(t *testing.T) {
	for _, tc := range []struct{ set, want string }{{"", "cubic"}, {"reno", "reno"}, {"bbr", ""}} {
		rp, err := dpdk.NewRingPair(uniq("rpc"), 256)
		require.NoError(t, err)
		h, err := stack.Open(stack.Config{Name: uniq("cg"), Port: rp.A, Addr: addrA, PoolSize: 2047, Congestion: tc.set})
		if tc.want == "" {
			assert.ErrorIs(t, err, syscall.ENOENT, tc.set)
		} else {
			require.NoError(t, err)
			s := h.Stacks()[0].TCP().NewSock()
			v, err := s.GetSockOptString(syscall.IPPROTO_TCP, syscall.TCP_CONGESTION)
			require.NoError(t, err)
			assert.Equal(t, tc.want, v)
			s.Close()
			require.NoError(t, h.Close())
		}
		require.NoError(t, rp.Close())
	}
}

// TestHostPoolOps: a host whose loops are goroutines backs its pool with
// the lock-free handler unless told otherwise; an unknown handler fails
// Open with its name in the error.
func TestHostPoolOps(t *testing.T) {
	for _, tc := range []struct{ set, want string }{{"", mbuf.OpsLockFree}, {"ring_mp_mc", "ring_mp_mc"}, {"no_such", ""}} {
		rp, err := dpdk.NewRingPair(uniq("rpo"), 256)
		require.NoError(t, err)
		h, err := stack.Open(stack.Config{Name: uniq("po"), Port: rp.A, Addr: addrA, PoolSize: 2047, PoolOps: tc.set})
		if tc.want == "" {
			assert.ErrorIs(t, err, syscall.EINVAL)
			assert.ErrorContains(t, err, tc.set)
		} else {
			require.NoError(t, err)
			assert.Equal(t, tc.want, h.Pool().Ops())
			require.NoError(t, h.Close())
		}
		require.NoError(t, rp.Close())
	}
}
