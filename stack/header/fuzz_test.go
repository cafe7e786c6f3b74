package header_test

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/dpstack/dpstack/stack/header"
)

// FuzzParseIPv4: any input parses without panic; an accepted view keeps the
// length invariants, and re-encoding its fields rebuilds its header.
func FuzzParseIPv4(f *testing.F) {
	fr := frame()
	f.Add(fr[header.EthernetLen:])
	f.Add(fr[header.EthernetLen : header.EthernetLen+header.IPv4MinLen])
	f.Add([]byte{0x46, 0, 0, 24, 0, 0, 0, 0, 64, 1, 0, 0, 198, 18, 0, 1, 198, 18, 0, 2, 1, 1, 1, 0, 0xff})
	f.Add([]byte{0x4f, 0, 0, 20})
	f.Add([]byte{0x65, 0, 0, 20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		h, perr := header.ParseIPv4(b)
		if perr != header.IPv4OK {
			require.Nil(t, h)
			require.NotEqual(t, "ok", perr.String())
			return
		}
		require.Equal(t, 4, int(h.Version()))
		require.GreaterOrEqual(t, h.HeaderLen(), header.IPv4MinLen)
		require.LessOrEqual(t, h.HeaderLen(), int(h.TotalLen()))
		require.Len(t, h, int(h.TotalLen()))
		require.Len(t, h.Options(), h.HeaderLen()-header.IPv4MinLen)
		require.Len(t, h.Payload(), int(h.TotalLen())-h.HeaderLen())
		valid := h.IsChecksumValid()
		require.Equal(t, valid, h.CalculateChecksum() == h.Checksum() || refChecksum(h[:h.HeaderLen()], 0) == 0)
		_ = h.IsFragment() || h.IsNonFirstFragment() || h.MoreFragments() || h.DontFragment()

		if h.HeaderLen() == header.IPv4MinLen {
			re := header.IPv4(make([]byte, header.IPv4MinLen))
			re.Encode(header.IPv4Fields{
				TOS: h.TOS(), TotalLen: h.TotalLen(), ID: h.ID(), Flags: h.Flags(), FragOff: h.FragmentOffset(),
				TTL: h.TTL(), Protocol: h.Protocol(), Src: h.Src(), Dst: h.Dst(),
			})
			re.SetChecksum(h.Checksum())
			require.True(t, bytes.Equal(h[:header.IPv4MinLen], re), "%x != %x", []byte(h[:header.IPv4MinLen]), []byte(re))
		}
	})
}

// FuzzParseIPv4Chain: a packet split anywhere after its header, its first
// part parsed with the whole packet's length, parses as the whole does,
// the view cut where the first part ends; split inside the header, it is
// refused.
func FuzzParseIPv4Chain(f *testing.F) {
	fr := frame()
	f.Add(fr[header.EthernetLen:], uint16(20))
	f.Add(fr[header.EthernetLen:], uint16(21))
	f.Add(fr[header.EthernetLen:], uint16(7))
	f.Add([]byte{0x46, 0, 0, 28, 0, 0, 0, 0, 64, 1, 0, 0, 198, 18, 0, 1, 198, 18, 0, 2, 1, 1, 1, 0, 0xff, 0, 0, 0}, uint16(24))
	f.Fuzz(func(t *testing.T, b []byte, cut uint16) {
		k := int(cut) % (len(b) + 1)
		whole, werr := header.ParseIPv4(b)
		h, perr := header.ParseIPv4Chain(b[:k], len(b))
		if werr == header.IPv4OK && k >= whole.HeaderLen() {
			require.Equal(t, header.IPv4OK, perr)
			require.True(t, bytes.Equal(whole[:min(len(whole), k)], h))
			return
		}
		if perr == header.IPv4OK {
			// Accepted from its first part: the whole agrees.
			require.Equal(t, header.IPv4OK, werr)
			require.LessOrEqual(t, int(h.TotalLen()), len(b))
		}
	})
}

// FuzzParseTCP: any input parses without panic; an accepted view keeps the
// offset invariants, and re-encoding its fields rebuilds its fixed header.
func FuzzParseTCP(f *testing.F) {
	fr := frame()
	f.Add(fr[header.EthernetLen+header.IPv4MinLen:])
	f.Add(make([]byte, 19))
	f.Add([]byte{0, 1, 0, 2, 0, 0, 0, 1, 0, 0, 0, 0, 0x60, 0x02, 0xff, 0xff, 0, 0, 0, 0, 2, 4, 5, 0xb4})
	f.Add([]byte{0, 1, 0, 2, 0, 0, 0, 1, 0, 0, 0, 0, 0xf0, 0x02, 0xff, 0xff, 0, 0, 0, 0, 2, 4, 5, 0xb4})
	f.Add([]byte{0, 1, 0, 2, 0, 0, 0, 1, 0, 0, 0, 0, 0x40, 0x12, 0xff, 0xff, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		h, ok := header.ParseTCP(b)
		if !ok {
			require.Nil(t, h)
			return
		}
		require.GreaterOrEqual(t, h.DataOffset(), header.TCPMinLen)
		require.LessOrEqual(t, h.DataOffset(), len(h))
		require.Len(t, h.Options(), h.DataOffset()-header.TCPMinLen)
		require.Len(t, h.Payload(), len(h)-h.DataOffset())
		_ = h.IsChecksumValid(0)

		re := header.TCP(make([]byte, header.TCPMinLen))
		re.Encode(header.TCPFields{
			SrcPort: h.SrcPort(), DstPort: h.DstPort(), SeqNum: h.SeqNum(), AckNum: h.AckNum(),
			DataOffset: h.DataOffset(), Flags: h.Flags(), Window: h.Window(), UrgentPtr: h.UrgentPtr(),
		})
		re.SetChecksum(h.Checksum())
		re[12] |= h[12] & 0x0f // reserved bits, which Encode zeroes
		require.True(t, bytes.Equal(h[:header.TCPMinLen], re), "%x != %x", []byte(h[:header.TCPMinLen]), []byte(re))
	})
}

// FuzzChecksum: the fast sum equals the byte-pair reference for any data,
// start offset and initial value, and summing in two pieces split at an even
// point equals one pass.
func FuzzChecksum(f *testing.F) {
	f.Add([]byte{0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7}, uint32(0), uint8(0))
	f.Add([]byte{}, uint32(0xffffffff), uint8(0))
	f.Add(bytes.Repeat([]byte{0xff}, 67), uint32(0xffffffff), uint8(1))
	f.Add(frame(), uint32(12345), uint8(3))
	f.Add(bytes.Repeat([]byte{0xfe, 0xff, 0x01}, 683), uint32(0xfffe0001), uint8(7)) // 2049 bytes: odd tail, unaligned
	f.Fuzz(func(t *testing.T, b []byte, initial uint32, off uint8) {
		if int(off) <= len(b) {
			b = b[off:]
		}
		sum := header.Checksum(b, initial)
		require.Equal(t, refChecksum(b, initial), header.Fold(sum))
		split := (len(b) / 2) &^ 1
		pieces := header.Checksum(b[split:], header.Checksum(b[:split], initial))
		require.Equal(t, header.Fold(sum), header.Fold(pieces))
	})
}
