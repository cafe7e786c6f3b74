package header_test

import (
	"net/netip"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dpstack/dpstack/stack/header"
)

func TestARPRoundTrip(t *testing.T) {
	sha := header.MAC{0x02, 0, 0, 0, 0, 0x01}
	spa := netip.MustParseAddr("198.18.0.1")
	tpa := netip.MustParseAddr("198.18.0.2")
	buf := make([]byte, 46) // an ARP packet padded to the Ethernet minimum
	header.ARP(buf).Encode(header.ARPRequest, sha, spa, header.MAC{}, tpa)
	assert.Equal(t, []byte{
		0, 1, 0x08, 0x00, 6, 4, 0, 1,
		0x02, 0, 0, 0, 0, 0x01, 198, 18, 0, 1,
		0, 0, 0, 0, 0, 0, 198, 18, 0, 2,
	}, buf[:header.ARPLen])

	a, ok := header.ParseARP(buf)
	require.True(t, ok)
	assert.Len(t, a, header.ARPLen, "padding dropped")
	assert.True(t, a.IsValidIPv4Ethernet())
	assert.Equal(t, header.ARPHardwareEthernet, a.HardwareType())
	assert.Equal(t, header.EtherTypeIPv4, a.ProtocolType())
	assert.Equal(t, uint8(6), a.HardwareLen())
	assert.Equal(t, uint8(4), a.ProtocolLen())
	assert.Equal(t, header.ARPRequest, a.Op())
	assert.Equal(t, sha, a.SenderMAC())
	assert.Equal(t, spa, a.SenderIP())
	assert.Equal(t, header.MAC{}, a.TargetMAC())
	assert.Equal(t, tpa, a.TargetIP())

	// Turn it into the reply, as an ARP responder does in place.
	tha := header.MAC{0x02, 0, 0, 0, 0, 0x02}
	a.SetOp(header.ARPReply)
	a.SetTargetMAC(a.SenderMAC())
	a.SetTargetIP(a.SenderIP())
	a.SetSenderMAC(tha)
	a.SetSenderIP(tpa)
	assert.Equal(t, header.ARPReply, a.Op())
	assert.Equal(t, tha, a.SenderMAC())
	assert.Equal(t, tpa, a.SenderIP())
	assert.Equal(t, sha, a.TargetMAC())
	assert.Equal(t, spa, a.TargetIP())
	assert.True(t, a.IsValidIPv4Ethernet())
}

func TestARPIsValidIPv4Ethernet(t *testing.T) {
	tests := []struct {
		name string
		mut  func(a header.ARP)
	}{
		{"hardware type", func(a header.ARP) { a.SetHardwareType(6) }},
		{"protocol type", func(a header.ARP) { a.SetProtocolType(header.EtherTypeIPv6) }},
		{"hardware len", func(a header.ARP) { a.SetHardwareLen(8) }},
		{"protocol len", func(a header.ARP) { a.SetProtocolLen(16) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := header.ARP(make([]byte, header.ARPLen))
			a.Encode(header.ARPRequest, header.MAC{2}, netip.MustParseAddr("198.18.0.1"), header.MAC{}, netip.MustParseAddr("198.18.0.2"))
			require.True(t, a.IsValidIPv4Ethernet())
			tc.mut(a)
			assert.False(t, a.IsValidIPv4Ethernet())
		})
	}
}

func TestParseARPShort(t *testing.T) {
	_, ok := header.ParseARP(make([]byte, header.ARPLen-1))
	assert.False(t, ok)
}
