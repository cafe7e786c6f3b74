package ipv4

import (
	"net/netip"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dpstack/dpstack/mbuf"
	"github.com/dpstack/dpstack/stack/header"
	"github.com/dpstack/dpstack/stat"
)

// withSpec returns the bytes of the echo request changed by fn.
func withSpec(fn func(s *ipSpec)) func() []byte {
	return func() []byte {
		s := echoSpec(56)
		fn(&s)
		return s.bytes()
	}
}

// withBytes returns the bytes of the echo request changed by fn after the
// checksum was computed; fix recomputes it.
func withBytes(fix bool, fn func(b []byte) []byte) func() []byte {
	return func() []byte {
		b := fn(echoSpec(56).bytes())
		if fix {
			header.IPv4(b).SetChecksumFull()
		}
		return b
	}
}

// RFC 791, RFC 1122 §3.2.1 and §3.2.2: every malformed or undeliverable
// packet is dropped silently, counted under its reason, and its mbuf
// freed.
func TestInputDrops(t *testing.T) {
	cases := []struct {
		name   string
		pkt    func() []byte
		reason stat.DropReason
	}{
		{"truncated", withBytes(false, func(b []byte) []byte { return b[:19] }), stat.DropIPTruncated},
		{"empty", func() []byte { return nil }, stat.DropIPTruncated},
		{"version 6", withBytes(false, func(b []byte) []byte { b[0] = 0x65; return b }), stat.DropIPBadVersion},
		{"IHL 4", withBytes(true, func(b []byte) []byte { b[0] = 0x44; return b }), stat.DropIPBadIHL},
		{"IHL beyond the buffer", withBytes(false, func(b []byte) []byte { b[0] = 0x4f; return b[:40] }), stat.DropIPBadIHL},
		{"total length beyond the frame", withBytes(true, func(b []byte) []byte {
			header.IPv4(b).SetTotalLen(uint16(len(b) + 1))
			return b
		}), stat.DropIPBadTotalLen},
		{"total length below the header", withBytes(true, func(b []byte) []byte {
			header.IPv4(b).SetTotalLen(19)
			return b
		}), stat.DropIPBadTotalLen},
		{"bad header checksum", withBytes(false, func(b []byte) []byte { b[10] ^= 0x5a; return b }), stat.DropIPBadChecksum},
		{"TTL 0", withSpec(func(s *ipSpec) { s.ttl = 0 }), stat.DropIPTTLZero},
		{"not our address", withSpec(func(s *ipSpec) { s.dst = otherAddr }), stat.DropIPOtherHost},
		{"another subnet", withSpec(func(s *ipSpec) { s.dst = netip.MustParseAddr("198.19.0.1") }), stat.DropIPOtherHost},
		{"unjoined multicast group", withSpec(func(s *ipSpec) { s.dst = netip.MustParseAddr("239.0.0.1") }), stat.DropIPMcastNotJoined},
		{"echo to all-systems", withSpec(func(s *ipSpec) { s.dst = netip.MustParseAddr("224.0.0.1") }), stat.DropICMPBroadcastEcho},
		{"directed broadcast source", withSpec(func(s *ipSpec) { s.src = subnetBC }), stat.DropIPBadSource},
		{"limited broadcast source", withSpec(func(s *ipSpec) { s.src = allOnes }), stat.DropIPBadSource},
		{"multicast source", withSpec(func(s *ipSpec) { s.src = netip.MustParseAddr("224.0.0.5") }), stat.DropIPBadSource},
		{"loopback source", withSpec(func(s *ipSpec) { s.src = netip.MustParseAddr("127.0.0.1") }), stat.DropIPBadSource},
		{"our own source", withSpec(func(s *ipSpec) { s.src = ourAddr }), stat.DropIPBadSource},
		{"zero source to unicast", withSpec(func(s *ipSpec) { s.src = netip.IPv4Unspecified() }), stat.DropIPBadSource},
		{"fragment not a multiple of 8 before the last", withSpec(func(s *ipSpec) {
			s.flags, s.payload = header.IPv4FlagMF, s.payload[:60]
		}), stat.DropIPFragment},
		{"empty fragment", withSpec(func(s *ipSpec) { s.fragOff, s.payload = 8, nil }), stat.DropIPFragment},
		{"fragment past 65,535 bytes", withSpec(func(s *ipSpec) { s.fragOff = 65528 }), stat.DropIPFragTooBig},
		{"ICMP bad checksum", withSpec(func(s *ipSpec) { s.payload[9] ^= 1 }), stat.DropICMPBadChecksum},
		{"ICMP truncated", withSpec(func(s *ipSpec) { s.payload = s.payload[:4] }), stat.DropICMPTruncated},
		{"ICMP unhandled type", withSpec(func(s *ipSpec) {
			s.payload = icmpMsg(13, 0, 1, 1, make([]byte, 12)) // Timestamp
		}), stat.DropICMPUnhandledType},
		{"echo to the subnet broadcast", withSpec(func(s *ipSpec) { s.dst = subnetBC }), stat.DropICMPBroadcastEcho},
		{"echo to the limited broadcast", withSpec(func(s *ipSpec) { s.dst = allOnes }), stat.DropICMPBroadcastEcho},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t, 0)
			e.l.Input(e.mbuf(c.pkt()))
			assert.Equal(t, uint64(1), e.dev.Drops.Get(c.reason), c.reason.String())
			assert.Equal(t, uint64(1), e.totalDrops())
			assert.Empty(t, e.takeFrames())
			assert.Zero(t, e.l.Stats().ICMPOutEchoReplies.Load())
			assert.Equal(t, uint64(1), e.l.Stats().InReceives.Load())
			e.requireNoLeak()
		})
	}
}

// The port's verdict on the header checksum is trusted; without one the
// checksum is verified in software.
func TestInputChecksumOffload(t *testing.T) {
	cases := []struct {
		name      string
		flags     uint64
		corrupt   bool
		delivered bool
	}{
		{"unknown, good", 0, false, true},
		{"unknown, bad", 0, true, false},
		{"port says good", mbuf.RxIPCksumGood, true, true},
		{"port says bad", mbuf.RxIPCksumBad, false, false},
		{"port verified the header (NONE)", mbuf.RxIPCksumMask, true, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t, 0)
			var got int
			e.l.RegisterProtocol(testProto, func(b *mbuf.Buf, ip header.IPv4) {
				got++
				e.dev.Free(b)
			})
			p := ipSpec{src: peerAddr, dst: ourAddr, proto: testProto, ttl: 1, payload: []byte("x")}.bytes()
			if c.corrupt {
				p[10] ^= 0xff
			}
			b := e.mbuf(p)
			b.SetOlFlags(c.flags)
			e.l.Input(b)
			if c.delivered {
				assert.Equal(t, 1, got)
				assert.Zero(t, e.totalDrops())
			} else {
				assert.Zero(t, got)
				assert.Equal(t, uint64(1), e.dev.Drops.Get(stat.DropIPBadChecksum))
			}
			e.requireNoLeak()
		})
	}
}

// inet_protos: a registered transport gets the segment, link padding and
// IP header stripped, with the IP header view.
func TestRegisterProtocolDelivery(t *testing.T) {
	cases := []struct {
		name    string
		dst     netip.Addr
		options []byte
		padding int
	}{
		{name: "unicast", dst: ourAddr},
		{name: "Ethernet padding trimmed", dst: ourAddr, padding: 20},
		{name: "options stripped", dst: ourAddr, options: []byte{1, 1, 1, 0, 1, 1, 1, 0}},
		{name: "subnet broadcast", dst: subnetBC},
		{name: "limited broadcast", dst: allOnes},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t, 0)
			e.learnPeer()
			var seg []byte
			var src, dst netip.Addr
			var proto uint8
			e.l.RegisterProtocol(testProto, func(b *mbuf.Buf, ip header.IPv4) {
				seg = append([]byte(nil), b.Bytes()...)
				src, dst, proto = ip.Src(), ip.Dst(), ip.Protocol()
				assert.Equal(t, len(b.Bytes()), b.Len())
				e.dev.Free(b)
			})
			s := ipSpec{src: peerAddr, dst: c.dst, proto: testProto, ttl: 9, options: c.options,
				payload: []byte("hello, transport"), padding: c.padding}
			e.l.Input(e.mbuf(s.bytes()))
			assert.Equal(t, []byte("hello, transport"), seg)
			assert.Equal(t, peerAddr, src)
			assert.Equal(t, c.dst, dst)
			assert.Equal(t, uint8(testProto), proto)
			assert.Equal(t, uint64(1), e.l.Stats().InDelivers.Load())
			assert.Zero(t, e.totalDrops())

			// Unregistering makes the protocol unknown again: a protocol
			// unreachable goes back, unless the datagram was broadcast.
			e.l.RegisterProtocol(testProto, nil)
			e.l.Input(e.mbuf(s.bytes()))
			assert.Equal(t, uint64(1), e.dev.Drops.Get(stat.DropIPUnknownProtocol))
			assert.Equal(t, uint64(1), e.l.Stats().InUnknownProtos.Load())
			errors := 0
			if c.dst == ourAddr {
				errors = 1
			}
			assert.Len(t, e.takeFrames(), errors)
			e.requireNoLeak()
		})
	}
}

// RFC 1122 §3.2.1.3: 0.0.0.0 as source is allowed only to a broadcast
// destination (a host learning its address).
func TestInputZeroSourceToBroadcast(t *testing.T) {
	e := newEnv(t, 0)
	var got int
	e.l.RegisterProtocol(testProto, func(b *mbuf.Buf, ip header.IPv4) { got++; e.dev.Free(b) })
	s := ipSpec{src: netip.IPv4Unspecified(), dst: allOnes, proto: testProto, ttl: 64}
	e.l.Input(e.mbuf(s.bytes()))
	require.Equal(t, 1, got)
	e.requireNoLeak()
}

// The address checks of input follow the routing table: an address added
// after the layer is running is ours at once (delivered to, refused as a
// source), so is its subnet's directed broadcast, and both stop being so
// when the address is deleted.
func TestInputAddressAddedLater(t *testing.T) {
	e := newEnv(t, 0)
	var got int
	e.l.RegisterProtocol(testProto, func(b *mbuf.Buf, ip header.IPv4) { got++; e.dev.Free(b) })
	newPrefix := netip.MustParsePrefix("198.19.0.1/24")
	newAddr, newBC := newPrefix.Addr(), netip.MustParseAddr("198.19.0.255")
	send := func(src, dst netip.Addr) {
		e.l.Input(e.mbuf(ipSpec{src: src, dst: dst, proto: testProto, ttl: 64}.bytes()))
	}
	drops := func(r stat.DropReason) uint64 { return e.dev.Drops.Get(r) }

	send(peerAddr, newAddr)
	send(peerAddr, newBC)
	assert.Zero(t, got)
	assert.EqualValues(t, 2, drops(stat.DropIPOtherHost))
	send(newAddr, ourAddr)
	send(newBC, ourAddr)
	assert.Equal(t, 2, got, "not yet ours: fine as sources")

	require.NoError(t, e.rt.AddConnected(newPrefix, e.dev))
	got = 0
	send(peerAddr, newAddr)
	send(peerAddr, newBC)
	assert.Equal(t, 2, got, "the new address and its broadcast are ours")
	send(newAddr, ourAddr)
	send(newBC, ourAddr)
	assert.Equal(t, 2, got)
	assert.EqualValues(t, 2, drops(stat.DropIPBadSource), "our own address and broadcast as source")

	require.NoError(t, e.rt.Delete(newPrefix))
	send(peerAddr, newAddr)
	assert.Equal(t, 2, got)
	assert.EqualValues(t, 3, drops(stat.DropIPOtherHost))
	e.requireNoLeak()
}
