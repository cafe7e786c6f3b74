package header_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dpstack/dpstack/stack/header"
)

func TestUDPRoundTrip(t *testing.T) {
	buf := make([]byte, header.UDPLen+5+3) // 3 bytes beyond Length
	u := header.UDP(buf)
	u.Encode(5353, 53, header.UDPLen+5)
	copy(u.Payload(), "hello")
	ps := header.PseudoHeaderSum(addrA, addrB, header.IPProtoUDP, header.UDPLen+5)

	p, ok := header.ParseUDP(buf)
	require.True(t, ok)
	assert.Len(t, p, header.UDPLen+5, "view truncated to Length")
	assert.Equal(t, uint16(5353), p.SrcPort())
	assert.Equal(t, uint16(53), p.DstPort())
	assert.Equal(t, uint16(13), p.Length())
	assert.Equal(t, uint16(0), p.Checksum())
	assert.Equal(t, []byte("hello"), p.Payload())
	assert.True(t, p.IsChecksumValid(ps), "zero checksum means none")

	p.SetChecksum(p.CalculateChecksum(ps))
	// Computed independently of this package.
	assert.Equal(t, uint16(0x1abc), p.Checksum())
	assert.True(t, p.IsChecksumValid(ps))
	p.Payload()[0] = 'j'
	assert.False(t, p.IsChecksumValid(ps))

	p.SetSrcPort(1)
	p.SetDstPort(2)
	p.SetLength(8)
	assert.Equal(t, uint16(1), p.SrcPort())
	assert.Equal(t, uint16(2), p.DstPort())
	assert.Equal(t, uint16(8), p.Length())
}

func TestParseUDPErrors(t *testing.T) {
	mk := func(n int, length uint16) []byte {
		b := make([]byte, n)
		if n >= header.UDPLen {
			header.UDP(b).Encode(1, 2, length)
		}
		return b
	}
	tests := []struct {
		name string
		b    []byte
		ok   bool
	}{
		{"short", mk(7, 0), false},
		{"length below header", mk(8, 7), false},
		{"length past buffer", mk(20, 21), false},
		{"header only", mk(8, 8), true},
		{"padded", mk(20, 12), true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, ok := header.ParseUDP(tc.b)
			assert.Equal(t, tc.ok, ok)
		})
	}
}
