package header_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dpstack/dpstack/stack/header"
)

func TestMACString(t *testing.T) {
	assert.Equal(t, "02:00:5e:10:00:0a", header.MAC{0x02, 0x00, 0x5e, 0x10, 0x00, 0x0a}.String())
	assert.Equal(t, "ff:ff:ff:ff:ff:ff", header.BroadcastMAC.String())
	assert.Equal(t, "00:00:00:00:00:00", header.MAC{}.String())
}

func TestMACPredicates(t *testing.T) {
	tests := []struct {
		name                       string
		m                          header.MAC
		broadcast, multicast, zero bool
	}{
		{"broadcast", header.BroadcastMAC, true, true, false},
		{"ipv4 multicast", header.MAC{0x01, 0x00, 0x5e, 0x00, 0x00, 0x01}, false, true, false},
		{"unicast", header.MAC{0x02, 0x00, 0x5e, 0x10, 0x00, 0x0a}, false, false, false},
		{"zero", header.MAC{}, false, false, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.broadcast, tc.m.IsBroadcast())
			assert.Equal(t, tc.multicast, tc.m.IsMulticast())
			assert.Equal(t, tc.zero, tc.m.IsZero())
		})
	}
}

func TestParseMAC(t *testing.T) {
	want := header.MAC{0x02, 0x00, 0x5e, 0x10, 0xab, 0xCD}
	for _, s := range []string{"02:00:5e:10:ab:cd", "02-00-5E-10-AB-CD", "02:00:5E:10:aB:Cd"} {
		m, err := header.ParseMAC(s)
		require.NoError(t, err, s)
		assert.Equal(t, want, m, s)
	}
	for _, s := range []string{
		"", "02:00:5e:10:ab", "02:00:5e:10:ab:cd:", "02:00:5e:10:ab:cg", "02:00-5e:10:ab:cd",
		"02.00.5e.10.ab.cd", "0200.5e10.abcd", "02:00:5e:10:ab:cd:ef:01", " 2:00:5e:10:ab:cd",
	} {
		_, err := header.ParseMAC(s)
		assert.Error(t, err, "%q", s)
	}
	m, err := header.ParseMAC(want.String())
	require.NoError(t, err)
	assert.Equal(t, want, m)
}
