package header_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dpstack/dpstack/stack/header"
)

// echoRequest returns an ICMP Echo with identifier 0x1234, sequence 1 and
// the 56 data bytes 0, 1, ..., 55, as ping sends.
func echoRequest() header.ICMPv4 {
	b := header.ICMPv4(make([]byte, header.ICMPv4MinLen+56))
	b.SetType(header.ICMPv4Echo)
	b.SetCode(0)
	b.SetIdent(0x1234)
	b.SetSeq(1)
	for i := range b.Payload() {
		b.Payload()[i] = byte(i)
	}
	return b
}

func TestICMPv4RoundTrip(t *testing.T) {
	m := echoRequest()
	m.SetChecksumFull()
	// Computed independently of this package.
	assert.Equal(t, uint16(0xeeb7), m.Checksum())

	p, ok := header.ParseICMPv4(m)
	require.True(t, ok)
	assert.Equal(t, header.ICMPv4Echo, p.Type())
	assert.Equal(t, uint8(0), p.Code())
	assert.Equal(t, uint16(0x1234), p.Ident())
	assert.Equal(t, uint16(1), p.Seq())
	assert.Len(t, p.Payload(), 56)
	assert.Equal(t, byte(55), p.Payload()[55])
	assert.True(t, p.IsChecksumValid())
	assert.Equal(t, p.Checksum(), p.CalculateChecksum())

	// Echo reply in place: change the type, patch the checksum incrementally.
	old := uint16(p.Type())<<8 | uint16(p.Code())
	p.SetType(header.ICMPv4EchoReply)
	p.SetChecksum(header.ChecksumUpdate16(p.Checksum(), old, uint16(p.Type())<<8|uint16(p.Code())))
	assert.True(t, p.IsChecksumValid())
	assert.Equal(t, p.CalculateChecksum(), p.Checksum())

	p.Payload()[10] ^= 0x01
	assert.False(t, p.IsChecksumValid(), "corrupted data")
}

func TestICMPv4OddLength(t *testing.T) {
	m := header.ICMPv4(make([]byte, header.ICMPv4MinLen+3))
	m.SetType(header.ICMPv4DestUnreachable)
	m.SetCode(3)
	copy(m.Payload(), []byte{0xab, 0xcd, 0xef})
	m.SetChecksumFull()
	zeroed := append([]byte(nil), m...)
	zeroed[2], zeroed[3] = 0, 0
	assert.Equal(t, refChecksum(zeroed, 0), m.Checksum())
	assert.True(t, m.IsChecksumValid())
	assert.Equal(t, header.ICMPv4DestUnreachable, m.Type())
	assert.Equal(t, uint8(3), m.Code())
}

func TestParseICMPv4Short(t *testing.T) {
	_, ok := header.ParseICMPv4(make([]byte, header.ICMPv4MinLen-1))
	assert.False(t, ok)
	m, ok := header.ParseICMPv4(make([]byte, header.ICMPv4MinLen))
	require.True(t, ok)
	assert.Empty(t, m.Payload())
}
