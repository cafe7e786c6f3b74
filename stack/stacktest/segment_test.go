package stacktest

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dpstack/dpstack/stack/header"
)

// TestSegmentRoundTrip builds segments and parses them back: the builder
// and the checker agree on every field, and a bad checksum is seen.
func TestSegmentRoundTrip(t *testing.T) {
	src, dst := AddrA.Addr(), AddrB.Addr()
	s := Segment{SrcPort: 4000, DstPort: 80, Seq: 7, Ack: 9, Flags: header.TCPFlagACK | header.TCPFlagPSH,
		Window: 512, Options: Options(OptMSS(1460), OptTS(3, 4)), Payload: []byte("hello")}
	ip := header.IPv4(IPv4Packet(src, dst, header.IPProtoTCP, 64, s.Encode(src, dst)))
	p, err := ParseSegment(ip, 0)
	require.NoError(t, err)
	CheckSegment(t, p, Ports(4000, 80), Seq(7), Ack(9), Flags(header.TCPFlagACK|header.TCPFlagPSH),
		Window(512), PayloadLen(5))
	assert.Equal(t, uint32(12), p.End())
	assert.Equal(t, 20+16, p.HeaderLen, "options padded to a multiple of 4")
	assert.True(t, p.Options.HasTS)
	assert.Equal(t, uint16(1460), p.Options.MSS)
	assert.Equal(t, "4000>80 seq=7 ack=9 flags=PA wnd=512 len=5", p.String())

	s.BadChecksum = true
	p, err = ParseSegment(header.IPv4(IPv4Packet(src, dst, header.IPProtoTCP, 64, s.Encode(src, dst))), 0)
	require.NoError(t, err)
	assert.False(t, p.ChecksumOK)

	s.BadChecksum, s.Truncate = false, 30
	_, err = ParseSegment(header.IPv4(IPv4Packet(src, dst, header.IPProtoTCP, 64, s.Encode(src, dst))), 0)
	assert.Error(t, err, "a header cut short")
}
