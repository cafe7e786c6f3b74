package header

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

// RFC 3376 §4.1.1: codes below 128 are the value; above, the mantissa
// with its implied high bit, shifted by the exponent plus 3.
func TestIGMPv3Code(t *testing.T) {
	assert.Equal(t, 0, IGMPv3Code(0))
	assert.Equal(t, 100, IGMPv3Code(100))
	assert.Equal(t, 127, IGMPv3Code(127))
	assert.Equal(t, 0x10<<3, IGMPv3Code(0x80))
	assert.Equal(t, 0x1f<<10, IGMPv3Code(0xff))
}

func TestIGMPChecksum(t *testing.T) {
	m := IGMP{0x16, 0, 0, 0, 239, 1, 2, 3}
	m.SetChecksum()
	assert.True(t, m.ChecksumValid())
	m[7] ^= 1
	assert.False(t, m.ChecksumValid())
}
