package header_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dpstack/dpstack/stack/header"
)

func TestEthernetRoundTrip(t *testing.T) {
	dst := header.MAC{0x02, 0, 0, 0, 0, 0x01}
	src := header.MAC{0x02, 0, 0, 0, 0, 0x02}
	buf := make([]byte, header.EthernetLen+4)
	copy(buf[header.EthernetLen:], "data")
	header.Ethernet(buf).Encode(dst, src, header.EtherTypeARP)
	assert.Equal(t, []byte{0x02, 0, 0, 0, 0, 0x01, 0x02, 0, 0, 0, 0, 0x02, 0x08, 0x06}, buf[:header.EthernetLen])

	e, ok := header.ParseEthernet(buf)
	require.True(t, ok)
	assert.Equal(t, dst, e.Dst())
	assert.Equal(t, src, e.Src())
	assert.Equal(t, header.EtherTypeARP, e.EtherType())
	assert.Equal(t, []byte("data"), e.Payload())

	e.SetDst(header.BroadcastMAC)
	e.SetSrc(dst)
	e.SetEtherType(header.EtherTypeIPv6)
	assert.Equal(t, header.BroadcastMAC, e.Dst())
	assert.Equal(t, dst, e.Src())
	assert.Equal(t, uint16(0x86dd), e.EtherType())
}

func TestParseEthernetShort(t *testing.T) {
	_, ok := header.ParseEthernet(make([]byte, header.EthernetLen-1))
	assert.False(t, ok)
	e, ok := header.ParseEthernet(make([]byte, header.EthernetLen))
	require.True(t, ok)
	assert.Empty(t, e.Payload())
}
