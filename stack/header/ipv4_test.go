package header_test

import (
	"net/netip"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dpstack/dpstack/stack/header"
)

var (
	addrA = netip.MustParseAddr("198.18.0.1")
	addrB = netip.MustParseAddr("198.18.0.2")
)

func TestIPv4RoundTrip(t *testing.T) {
	tests := []header.IPv4Fields{
		{TOS: 0, TotalLen: 84, ID: 0x1c46, Flags: header.IPv4FlagDF, TTL: 64, Protocol: header.IPProtoICMP, Src: addrA, Dst: addrB},
		{TOS: 0xb8, TotalLen: 28, ID: 0xffff, Flags: header.IPv4FlagMF, FragOff: 1480, TTL: 1, Protocol: header.IPProtoUDP, Src: addrB, Dst: addrA},
		{TOS: 0x03, TotalLen: 20, ID: 0, Flags: 0, FragOff: 65528, TTL: 255, Protocol: header.IPProtoTCP, Src: addrA, Dst: netip.MustParseAddr("198.19.255.255")},
	}
	for _, f := range tests {
		buf := make([]byte, int(f.TotalLen)+6) // trailing link-layer padding
		h := header.IPv4(buf)
		h.Encode(f)
		assert.Equal(t, uint16(0), h.Checksum(), "Encode leaves the checksum to the caller")
		h.SetChecksumFull()

		p, perr := header.ParseIPv4(buf)
		require.Equal(t, header.IPv4OK, perr)
		assert.Len(t, p, int(f.TotalLen), "view truncated to TotalLen")
		assert.Equal(t, uint8(4), p.Version())
		assert.Equal(t, header.IPv4MinLen, p.HeaderLen())
		assert.Equal(t, f.TOS, p.TOS())
		assert.Equal(t, f.TotalLen, p.TotalLen())
		assert.Equal(t, f.ID, p.ID())
		assert.Equal(t, f.Flags, p.Flags())
		assert.Equal(t, f.FragOff, p.FragmentOffset())
		assert.Equal(t, f.Flags&header.IPv4FlagMF != 0, p.MoreFragments())
		assert.Equal(t, f.Flags&header.IPv4FlagDF != 0, p.DontFragment())
		assert.Equal(t, f.TTL, p.TTL())
		assert.Equal(t, f.Protocol, p.Protocol())
		assert.Equal(t, f.Src, p.Src())
		assert.Equal(t, f.Dst, p.Dst())
		assert.Empty(t, p.Options())
		assert.Len(t, p.Payload(), int(f.TotalLen)-header.IPv4MinLen)
		assert.True(t, p.IsChecksumValid())
		assert.Equal(t, p.Checksum(), p.CalculateChecksum())
	}
}

func TestIPv4KnownChecksum(t *testing.T) {
	// Computed independently of this package.
	h := header.IPv4(make([]byte, header.IPv4MinLen))
	h.Encode(header.IPv4Fields{TotalLen: 84, ID: 0x1c46, Flags: header.IPv4FlagDF, TTL: 64, Protocol: header.IPProtoICMP, Src: addrA, Dst: addrB})
	assert.Equal(t, []byte{0x45, 0x00, 0x00, 0x54, 0x1c, 0x46, 0x40, 0x00, 0x40, 0x01, 0x00, 0x00, 198, 18, 0, 1, 198, 18, 0, 2}, []byte(h))
	assert.Equal(t, uint16(0x923b), h.CalculateChecksum())
	assert.False(t, h.IsChecksumValid())
	h.SetChecksumFull()
	assert.Equal(t, uint16(0x923b), h.Checksum())
	assert.True(t, h.IsChecksumValid())
	h[8]-- // TTL changed without fixing the checksum
	assert.False(t, h.IsChecksumValid())
}

func TestIPv4Setters(t *testing.T) {
	h := header.IPv4(make([]byte, 32))
	h.SetVersion(4)
	h.SetHeaderLen(24)
	h.SetTOS(0x10)
	h.SetTotalLen(32)
	h.SetID(0xbeef)
	h.SetFragmentOffset(8 * 100)
	h.SetFlags(header.IPv4FlagMF | header.IPv4FlagDF)
	h.SetTTL(17)
	h.SetProtocol(header.IPProtoUDP)
	h.SetSrc(addrB)
	h.SetDst(addrA)
	copy(h[20:24], []byte{1, 1, 1, 0}) // NOP NOP NOP EOL
	h.SetChecksumFull()

	p, perr := header.ParseIPv4(h)
	require.Equal(t, header.IPv4OK, perr)
	assert.Equal(t, uint8(4), p.Version())
	assert.Equal(t, 24, p.HeaderLen())
	assert.Equal(t, uint8(0x10), p.TOS())
	assert.Equal(t, uint16(32), p.TotalLen())
	assert.Equal(t, uint16(0xbeef), p.ID())
	assert.Equal(t, uint16(800), p.FragmentOffset(), "SetFlags keeps the offset")
	assert.Equal(t, header.IPv4FlagMF|header.IPv4FlagDF, p.Flags())
	assert.Equal(t, uint8(17), p.TTL())
	assert.Equal(t, header.IPProtoUDP, p.Protocol())
	assert.Equal(t, addrB, p.Src())
	assert.Equal(t, addrA, p.Dst())
	assert.Equal(t, []byte{1, 1, 1, 0}, p.Options())
	assert.Len(t, p.Payload(), 8)
	assert.True(t, p.IsChecksumValid())

	p.SetFragmentOffset(0)
	assert.Equal(t, header.IPv4FlagMF|header.IPv4FlagDF, p.Flags(), "SetFragmentOffset keeps the flags")
	p.SetVersion(6)
	assert.Equal(t, 24, p.HeaderLen(), "SetVersion keeps IHL")
	p.SetHeaderLen(60)
	assert.Equal(t, uint8(6), p.Version(), "SetHeaderLen keeps Version")
}

func TestIPv4Fragments(t *testing.T) {
	tests := []struct {
		name               string
		flags              uint8
		off                uint16
		isFrag, isNonFirst bool
	}{
		{"whole datagram", 0, 0, false, false},
		{"whole datagram DF", header.IPv4FlagDF, 0, false, false},
		{"first fragment", header.IPv4FlagMF, 0, true, false},
		{"middle fragment", header.IPv4FlagMF, 1480, true, true},
		{"last fragment", 0, 2960, true, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := header.IPv4(make([]byte, header.IPv4MinLen))
			h.Encode(header.IPv4Fields{TotalLen: 20, Flags: tc.flags, FragOff: tc.off, TTL: 64, Src: addrA, Dst: addrB})
			assert.Equal(t, tc.isFrag, h.IsFragment())
			assert.Equal(t, tc.isNonFirst, h.IsNonFirstFragment())
		})
	}
}

func TestParseIPv4Errors(t *testing.T) {
	valid := func(n int) []byte {
		b := make([]byte, n)
		header.IPv4(b).Encode(header.IPv4Fields{TotalLen: uint16(n), TTL: 64, Protocol: header.IPProtoTCP, Src: addrA, Dst: addrB})
		return b
	}
	tests := []struct {
		name    string
		b       []byte
		want    header.IPv4Error
		wantLen int
	}{
		{"empty", nil, header.IPv4TooShort, 0},
		{"19 bytes", valid(20)[:19], header.IPv4TooShort, 0},
		{"version 6", func() []byte { b := valid(40); header.IPv4(b).SetVersion(6); return b }(), header.IPv4BadVersion, 0},
		{"version 0", func() []byte { b := valid(40); b[0] = 0x05; return b }(), header.IPv4BadVersion, 0},
		{"IHL 4", func() []byte { b := valid(40); b[0] = 0x44; return b }(), header.IPv4BadIHL, 0},
		{"IHL 0", func() []byte { b := valid(40); b[0] = 0x40; return b }(), header.IPv4BadIHL, 0},
		{"IHL past buffer", func() []byte { b := valid(20); b[0] = 0x46; return b }(), header.IPv4BadIHL, 0},
		{"IHL 15 past buffer", func() []byte { b := valid(56); b[0] = 0x4f; return b }(), header.IPv4BadIHL, 0},
		{"total len below 20", func() []byte { b := valid(40); header.IPv4(b).SetTotalLen(19); return b }(), header.IPv4BadTotalLen, 0},
		{"total len below IHL", func() []byte { b := valid(40); b[0] = 0x46; header.IPv4(b).SetTotalLen(20); return b }(), header.IPv4BadTotalLen, 0},
		{"total len past buffer", func() []byte { b := valid(40); header.IPv4(b).SetTotalLen(41); return b }(), header.IPv4BadTotalLen, 0},
		{"total len 0", func() []byte { b := valid(40); header.IPv4(b).SetTotalLen(0); return b }(), header.IPv4BadTotalLen, 0},
		{"minimal", valid(20), header.IPv4OK, 20},
		{"IHL 15 fits", func() []byte { b := valid(60); b[0] = 0x4f; return b }(), header.IPv4OK, 60},
		{"ethernet padding", func() []byte { b := valid(46); header.IPv4(b).SetTotalLen(28); return b }(), header.IPv4OK, 28},
		{"bad checksum is not a parse error", func() []byte { b := valid(20); b[10] = 0xde; return b }(), header.IPv4OK, 20},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h, err := header.ParseIPv4(tc.b)
			assert.Equal(t, tc.want, err, "got %v", err)
			if tc.want != header.IPv4OK {
				assert.Nil(t, h)
				return
			}
			assert.Len(t, h, tc.wantLen)
		})
	}
}

func TestIPv4ErrorString(t *testing.T) {
	want := map[header.IPv4Error]string{
		header.IPv4OK:          "ok",
		header.IPv4TooShort:    "ip_too_short",
		header.IPv4BadVersion:  "ip_bad_version",
		header.IPv4BadIHL:      "ip_bad_ihl",
		header.IPv4BadTotalLen: "ip_bad_total_len",
	}
	require.Len(t, want, int(header.NumIPv4Errors))
	for e, s := range want {
		assert.Equal(t, s, e.String())
	}
	assert.Equal(t, "ip_unknown_error", header.IPv4Error(200).String())
}
