package header_test

import (
	"encoding/binary"
	"math/rand/v2"
	"net/netip"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dpstack/dpstack/stack/header"
)

// refSum is the straightforward RFC 1071 §1 sum: big-endian byte pairs,
// an odd last byte padded with zero, folded to 16 bits at the end.
func refSum(b []byte, initial uint32) uint16 {
	sum := uint64(initial)
	for i := 0; i+1 < len(b); i += 2 {
		sum += uint64(b[i])<<8 | uint64(b[i+1])
	}
	if len(b)%2 == 1 {
		sum += uint64(b[len(b)-1]) << 8
	}
	for sum>>16 != 0 {
		sum = sum>>16 + sum&0xffff
	}
	return uint16(sum)
}

// refChecksum is the checksum field value per the reference sum.
func refChecksum(b []byte, initial uint32) uint16 { return ^refSum(b, initial) }

func TestChecksumRFC1071Example(t *testing.T) {
	// RFC 1071 §3, "Numerical Examples": the folded sum is 0xddf2.
	b := []byte{0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7}
	assert.Equal(t, uint16(0xddf2), ^header.Fold(header.Checksum(b, 0)))
	assert.Equal(t, uint16(0x220d), header.Fold(header.Checksum(b, 0)))
	assert.Equal(t, uint16(0xddf2), refSum(b, 0))
}

func TestChecksumKnownAnswers(t *testing.T) {
	tests := []struct {
		name string
		b    []byte
		want uint16
	}{
		{"empty", nil, 0xffff},
		{"one byte", []byte{0x01}, 0xfeff},
		{"one word", []byte{0x12, 0x34}, 0xedcb},
		{"all ones word", []byte{0xff, 0xff}, 0x0000},
		{"odd tail", []byte{0x00, 0x01, 0xf2}, 0x0dfe},
		{
			// IPv4 header 198.18.0.1 -> 198.18.0.2, checksum field zero; checksum computed independently.
			"ipv4 header",
			[]byte{0x45, 0x00, 0x00, 0x54, 0x1c, 0x46, 0x40, 0x00, 0x40, 0x01, 0x00, 0x00, 198, 18, 0, 1, 198, 18, 0, 2},
			0x923b,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, header.Fold(header.Checksum(tc.b, 0)))
			assert.Equal(t, tc.want, refChecksum(tc.b, 0))
		})
	}
}

func TestFold(t *testing.T) {
	tests := []struct {
		sum  uint32
		want uint16
	}{
		{0, 0xffff},
		{0xffff, 0},
		{0x1fffe, 0},         // 0xffff + 0xffff
		{0xffffffff, 0},      // 0xffff*0x10001 ≡ 0
		{0x00010000, 0xfffe}, // carry of one
		{0x0002fffd, 0},      // 0xfffd + 2 = 0xffff
	}
	for _, tc := range tests {
		assert.Equal(t, tc.want, header.Fold(tc.sum), "sum %#x", tc.sum)
	}
}

// TestChecksumMatchesReference compares the 8-bytes-at-a-time sum with the
// byte-pair reference over random lengths, offsets (odd ones too) and
// initial values.
func TestChecksumMatchesReference(t *testing.T) {
	r := rand.New(rand.NewPCG(1071, 1624))
	buf := make([]byte, 2100)
	for i := range buf {
		buf[i] = byte(r.Uint32())
	}
	initials := []uint32{0, 1, 0xffff, 0xfffe0001, 0xffffffff}
	for i := 0; i < 3000; i++ {
		n := r.IntN(2001)
		off := r.IntN(64)
		init := initials[i%len(initials)]
		if i%2 == 1 {
			init = r.Uint32()
		}
		b := buf[off : off+n]
		require.Equal(t, refSum(b, init), ^header.Fold(header.Checksum(b, init)),
			"len %d off %d initial %#x", n, off, init)
	}
}

// TestIPv4ChecksumMatchesChecksum: the header checksum of a 20-byte header
// (computed with the field taken as zero, and checked) agrees with the
// general Checksum over random headers and over headers of all ones.
func TestIPv4ChecksumMatchesChecksum(t *testing.T) {
	r := rand.New(rand.NewPCG(791, 20))
	hdr := make(header.IPv4, header.IPv4MinLen)
	for i := range 5000 {
		for j := range hdr {
			hdr[j] = byte(r.Uint32())
			if i%100 == 0 {
				hdr[j] = 0xff
			}
		}
		hdr.SetHeaderLen(header.IPv4MinLen)
		zeroed := append(header.IPv4(nil), hdr...)
		zeroed.SetChecksum(0)
		want := header.Fold(header.Checksum(zeroed, 0))
		require.Equal(t, want, hdr.CalculateChecksum(), "header % x", []byte(hdr))
		require.Equal(t, header.Fold(header.Checksum(hdr, 0)) == 0, hdr.IsChecksumValid(), "header % x", []byte(hdr))
		hdr.SetChecksumFull()
		require.Equal(t, want, hdr.Checksum())
		require.True(t, hdr.IsChecksumValid())
	}
}

// TestChecksumEveryLength compares the 8-bytes-at-a-time sum with the
// byte-pair reference for every length from 0 to 2048, at even and odd
// offsets (so that the 8-byte loads are unaligned), with a random initial
// sum: every tail length (0-31 bytes after the 32-byte loop) is covered at
// every buffer length a frame can have.
func TestChecksumEveryLength(t *testing.T) {
	r := rand.New(rand.NewPCG(2048, 1))
	buf := make([]byte, 2048+8)
	for i := range buf {
		buf[i] = byte(r.Uint32())
	}
	for n := 0; n <= 2048; n++ {
		for _, off := range []int{0, 1, 3, 7} {
			init := r.Uint32()
			b := buf[off : off+n]
			require.Equal(t, refSum(b, init), ^header.Fold(header.Checksum(b, init)),
				"len %d off %d initial %#x", n, off, init)
		}
	}
}

// TestChecksumCarryHeavy sums runs of 0xff, which carry out of every word.
func TestChecksumCarryHeavy(t *testing.T) {
	buf := make([]byte, 600)
	for i := range buf {
		buf[i] = 0xff
	}
	for n := 0; n <= 512; n++ {
		for _, init := range []uint32{0, 0xffffffff} {
			b := buf[1 : 1+n]
			require.Equal(t, refSum(b, init), ^header.Fold(header.Checksum(b, init)), "len %d", n)
		}
	}
}

// TestChecksumAccumulates checks that summing in pieces of even length
// gives the same result as one pass.
func TestChecksumAccumulates(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	buf := make([]byte, 1500)
	for i := range buf {
		buf[i] = byte(r.Uint32())
	}
	for i := 0; i < 500; i++ {
		n := r.IntN(len(buf) + 1)
		split := r.IntN(n/2+1) * 2
		b := buf[:n]
		whole := header.Fold(header.Checksum(b, 0))
		pieces := header.Fold(header.Checksum(b[split:], header.Checksum(b[:split], 0)))
		require.Equal(t, whole, pieces, "len %d split %d", n, split)
	}
}

func TestPseudoHeaderSum(t *testing.T) {
	tests := []struct {
		name     string
		src, dst netip.Addr
		proto    uint8
		length   uint16
		explicit []byte // the pseudo header as bytes
	}{
		{
			name: "ipv4 tcp", src: netip.MustParseAddr("198.18.0.1"), dst: netip.MustParseAddr("198.19.255.254"),
			proto: header.IPProtoTCP, length: 1480,
			explicit: []byte{198, 18, 0, 1, 198, 19, 255, 254, 0, 6, 0x05, 0xc8},
		},
		{
			name: "ipv4-mapped is ipv4", src: netip.MustParseAddr("::ffff:198.18.0.1"), dst: netip.MustParseAddr("198.19.255.254"),
			proto: header.IPProtoUDP, length: 9,
			explicit: []byte{198, 18, 0, 1, 198, 19, 255, 254, 0, 17, 0, 9},
		},
		{
			// RFC 8200 §8.1: 16-byte addresses, 32-bit length, 3 zero bytes, next header.
			// 2001:2::/48 is the IPv6 benchmarking range (RFC 5180 §5).
			name: "ipv6 udp", src: netip.MustParseAddr("2001:2::1"), dst: netip.MustParseAddr("2001:2::ab:cdef"),
			proto: header.IPProtoUDP, length: 0xfff1,
			explicit: append(append(netip.MustParseAddr("2001:2::1").AsSlice(), netip.MustParseAddr("2001:2::ab:cdef").AsSlice()...),
				0, 0, 0xff, 0xf1, 0, 0, 0, 17),
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := header.PseudoHeaderSum(tc.src, tc.dst, tc.proto, tc.length)
			assert.Equal(t, refChecksum(tc.explicit, 0), header.Fold(got))
			if tc.src.Unmap().Is4() {
				s, d := tc.src.Unmap().As4(), tc.dst.As4()
				got4 := header.PseudoHeaderSum4(binary.BigEndian.Uint32(s[:]), binary.BigEndian.Uint32(d[:]), tc.proto, tc.length)
				assert.Equal(t, got, got4, "PseudoHeaderSum4")
			}
		})
	}
	assert.Equal(t, uint32(6+20), header.PseudoHeaderSum(netip.Addr{}, netip.Addr{}, 6, 20), "zero Addr adds nothing")
}

func TestChecksumUpdate16RFC1624Example(t *testing.T) {
	// RFC 1624 §4: HC = 0xDD2F, m = 0x5555 -> m' = 0x3285 gives HC' = 0x0000.
	assert.Equal(t, uint16(0x0000), header.ChecksumUpdate16(0xdd2f, 0x5555, 0x3285))
}

// TestChecksumUpdate16MatchesRecompute changes one 16-bit word of a valid
// IPv4 header and compares the incremental checksum with a full one.
func TestChecksumUpdate16MatchesRecompute(t *testing.T) {
	r := rand.New(rand.NewPCG(1624, 3))
	h := header.IPv4(make([]byte, header.IPv4MinLen))
	for i := 0; i < 20000; i++ {
		for j := range h {
			h[j] = byte(r.Uint32())
		}
		h[0] = 0x45
		h.SetChecksumFull()
		off := 2 * r.IntN(10)
		if off == 10 { // the checksum field itself
			off = 8
		}
		oldField := binary.BigEndian.Uint16(h[off:])
		newField := uint16(r.Uint32())
		switch i % 4 {
		case 0:
			newField = oldField - 0x0100 // TTL decrement, the forwarding case
		case 1:
			newField = 0xffff - oldField // forces a 0 or 0xffff sum
		}
		if off == 0 { // keep Version and IHL, change TOS
			newField = 0x4500 | newField&0x00ff
		}
		binary.BigEndian.PutUint16(h[off:], newField)
		got := header.ChecksumUpdate16(h.Checksum(), oldField, newField)
		require.Equal(t, h.CalculateChecksum(), got, "header %x word at %d %#x -> %#x", []byte(h), off, oldField, newField)
		h.SetChecksum(got)
		require.True(t, h.IsChecksumValid())
	}
}
