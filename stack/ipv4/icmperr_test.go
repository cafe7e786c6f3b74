package ipv4

import (
	"encoding/binary"
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dpstack/dpstack/stack/header"
	"github.com/dpstack/dpstack/stat"
)

// errorOf parses a sent frame as an ICMP error and returns its IP header
// and message.
func errorOf(t *testing.T, f frame) (header.IPv4, header.ICMPv4) {
	t.Helper()
	ip, perr := header.ParseIPv4(f.eth().Payload())
	require.Equal(t, header.IPv4OK, perr)
	require.True(t, ip.IsChecksumValid())
	require.Equal(t, header.IPProtoICMP, ip.Protocol())
	icmp, ok := header.ParseICMPv4(ip.Payload())
	require.True(t, ok)
	require.True(t, icmp.IsChecksumValid())
	return ip, icmp
}

// RFC 1122 §3.2.2.1: a datagram for a protocol nobody handles draws a
// protocol unreachable, from the address it was sent to, quoting its
// header and data, with precedence Internetwork Control (RFC 1812
// §4.3.2.5).
func TestProtocolUnreachable(t *testing.T) {
	e := newEnv(t, 0)
	e.learnPeer()
	s := ipSpec{src: peerAddr, dst: ourAddr, proto: 253, ttl: 64, tos: 0x14, payload: echoData(100)}
	sent := s.bytes()
	e.l.Input(e.mbuf(sent))

	ip, icmp := errorOf(t, e.takeFrame())
	assert.Equal(t, ourAddr, ip.Src())
	assert.Equal(t, peerAddr, ip.Dst())
	assert.Equal(t, uint8(0xc0|0x14), ip.TOS())
	assert.False(t, ip.DontFragment())
	assert.Equal(t, header.ICMPv4DestUnreachable, icmp.Type())
	assert.Equal(t, header.ICMPv4ProtoUnreachable, icmp.Code())
	assert.Zero(t, binary.BigEndian.Uint32(icmp[4:8]))
	assert.Equal(t, sent, []byte(icmp.Payload()), "the whole datagram fits in 576 bytes")

	st := e.l.Stats()
	assert.Equal(t, uint64(1), st.InUnknownProtos.Load())
	assert.Equal(t, uint64(1), e.dev.Drops.Get(stat.DropIPUnknownProtocol))
	assert.Equal(t, uint64(1), st.ICMPOutDestUnreachs.Load())
	assert.Equal(t, uint64(1), st.ICMPOutMsgs.Load())
	e.requireNoLeak()
}

// The quote stops where the error reaches 576 bytes (RFC 1812 §4.3.2.3).
func TestErrorQuoteBounded(t *testing.T) {
	e := newEnv(t, 0)
	e.learnPeer()
	s := ipSpec{src: peerAddr, dst: ourAddr, proto: 253, ttl: 64, payload: echoData(1400)}
	sent := s.bytes()
	e.l.Input(e.mbuf(sent))
	ip, icmp := errorOf(t, e.takeFrame())
	assert.Equal(t, 576, int(ip.TotalLen()))
	assert.Equal(t, sent[:576-28], []byte(icmp.Payload()))
	e.requireNoLeak()
}

// RFC 1122 §3.2.2: no error about an ICMP error, a datagram to a
// broadcast or multicast address, a fragment other than the first, or a
// datagram from an address that is not one host's.
func TestErrorNotSent(t *testing.T) {
	cases := []struct {
		name string
		ip   ipSpec
	}{
		{"about an ICMP error", ipSpec{src: peerAddr, dst: ourAddr, proto: header.IPProtoICMP,
			payload: icmpMsg(header.ICMPv4DestUnreachable, 3, 0, 0, echoData(28))}},
		{"about an ICMP type past 18", ipSpec{src: peerAddr, dst: ourAddr, proto: header.IPProtoICMP,
			payload: icmpMsg(40, 0, 0, 0, nil)}},
		{"to the subnet broadcast", ipSpec{src: peerAddr, dst: subnetBC, proto: 253}},
		{"to the limited broadcast", ipSpec{src: peerAddr, dst: allOnes, proto: 253}},
		{"to a group", ipSpec{src: peerAddr, dst: netip.MustParseAddr("224.0.0.9"), proto: 253}},
		{"a later fragment", ipSpec{src: peerAddr, dst: ourAddr, proto: 253, fragOff: 1480}},
		{"from 0.0.0.0", ipSpec{src: netip.IPv4Unspecified(), dst: ourAddr, proto: 253}},
		{"from loopback", ipSpec{src: netip.MustParseAddr("127.0.0.1"), dst: ourAddr, proto: 253}},
		{"from a group", ipSpec{src: netip.MustParseAddr("239.1.1.1"), dst: ourAddr, proto: 253}},
		{"from class E", ipSpec{src: netip.MustParseAddr("240.0.0.1"), dst: ourAddr, proto: 253}},
		{"from the subnet broadcast", ipSpec{src: subnetBC, dst: ourAddr, proto: 253}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t, 0)
			e.learnPeer()
			c.ip.ttl = 64
			if c.ip.payload == nil {
				c.ip.payload = echoData(8)
			}
			b := c.ip.bytes()
			ip, _ := header.ParseIPv4(b)
			e.l.SendError(ip, header.ICMPv4DestUnreachable, header.ICMPv4ProtoUnreachable, 0)
			assert.Empty(t, e.takeFrames())
			assert.Zero(t, e.l.Stats().ICMPOutMsgs.Load())
			e.requireNoLeak()
		})
	}
}

// Errors to one destination: a burst of 6, then one a second; the core's
// bucket holds 50 across destinations. Echo replies are never limited,
// and neither is Fragmentation Needed.
func TestErrorRateLimits(t *testing.T) {
	e := newEnv(t, 0)
	e.learnPeer()
	send := func(src netip.Addr, typ, code uint8) {
		b := ipSpec{src: src, dst: ourAddr, proto: 253, ttl: 64, payload: echoData(8)}.bytes()
		ip, _ := header.ParseIPv4(b)
		e.l.SendError(ip, typ, code, 0)
	}
	for range 10 {
		send(peerAddr, header.ICMPv4DestUnreachable, header.ICMPv4PortUnreachable)
	}
	assert.Len(t, e.takeFrames(), 6, "a burst of 6")
	st := e.l.Stats()
	assert.Equal(t, uint64(4), st.ICMPOutRateLimitHost.Load())

	for range 3 {
		send(peerAddr, header.ICMPv4DestUnreachable, header.ICMPv4FragNeeded)
	}
	assert.Len(t, e.takeFrames(), 3, "fragmentation needed is not limited")

	e.now = e.now.Add(time.Second)
	send(peerAddr, header.ICMPv4TimeExceeded, header.ICMPv4ReassemblyExceeded)
	send(peerAddr, header.ICMPv4TimeExceeded, header.ICMPv4ReassemblyExceeded)
	assert.Len(t, e.takeFrames(), 1, "one more a second")

	// 60 destinations at once: the core's bucket, full again after the
	// second (50) less the 2 just spent, lets 48 through.
	for i := range 60 {
		a := netip.AddrFrom4([4]byte{198, 18, 1, byte(i + 1)})
		send(a, header.ICMPv4DestUnreachable, header.ICMPv4PortUnreachable)
	}
	st = e.l.Stats()
	assert.Equal(t, uint64(12), st.ICMPOutRateLimitGlobal.Load())
	e.takeFrames() // those waiting on ARP are dropped by reset
	e.requireNoLeak()
}
