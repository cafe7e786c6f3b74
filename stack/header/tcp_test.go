package header_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dpstack/dpstack/stack/header"
)

func TestTCPRoundTrip(t *testing.T) {
	f := header.TCPFields{
		SrcPort: 40000, DstPort: 80, SeqNum: 0xfffffff0, AckNum: 0x01020304,
		DataOffset: 24, Flags: header.TCPFlagSYN | header.TCPFlagACK | header.TCPFlagECE,
		Window: 65535, UrgentPtr: 7,
	}
	buf := make([]byte, 24+4)
	h := header.TCP(buf)
	h.Encode(f)
	copy(h.Options(), []byte{2, 4, 0x05, 0xb4}) // MSS 1460
	copy(h.Payload(), "data")
	ps := header.PseudoHeaderSum(addrA, addrB, header.IPProtoTCP, uint16(len(buf)))
	h.SetChecksum(h.CalculateChecksum(ps))

	p, ok := header.ParseTCP(buf)
	require.True(t, ok)
	assert.Equal(t, f.SrcPort, p.SrcPort())
	assert.Equal(t, f.DstPort, p.DstPort())
	assert.Equal(t, f.SeqNum, p.SeqNum())
	assert.Equal(t, f.AckNum, p.AckNum())
	assert.Equal(t, f.DataOffset, p.DataOffset())
	assert.Equal(t, f.Flags, p.Flags())
	assert.Equal(t, f.Window, p.Window())
	assert.Equal(t, f.UrgentPtr, p.UrgentPtr())
	assert.Equal(t, []byte{2, 4, 0x05, 0xb4}, p.Options())
	assert.Equal(t, []byte("data"), p.Payload())
	assert.True(t, p.IsChecksumValid(ps))
	assert.False(t, p.IsChecksumValid(header.PseudoHeaderSum(addrB, addrB, header.IPProtoTCP, uint16(len(buf)))), "wrong pseudo header")
}

func TestTCPKnownChecksum(t *testing.T) {
	// SYN 198.18.0.1:40000 -> 198.18.0.2:80, seq 0x01020304, window 65535;
	// checksum computed independently of this package.
	h := header.TCP(make([]byte, header.TCPMinLen))
	h.Encode(header.TCPFields{SrcPort: 40000, DstPort: 80, SeqNum: 0x01020304, DataOffset: 20, Flags: header.TCPFlagSYN, Window: 65535})
	assert.Equal(t, []byte{0x9c, 0x40, 0, 80, 1, 2, 3, 4, 0, 0, 0, 0, 0x50, 0x02, 0xff, 0xff, 0, 0, 0, 0}, []byte(h))
	ps := header.PseudoHeaderSum(addrA, addrB, header.IPProtoTCP, header.TCPMinLen)
	assert.Equal(t, uint16(0x8324), h.CalculateChecksum(ps))
}

func TestTCPSetters(t *testing.T) {
	h := header.TCP(make([]byte, header.TCPMinLen))
	h[12] = 0x0f // reserved bits, kept by SetDataOffset
	h.SetSrcPort(1)
	h.SetDstPort(2)
	h.SetSeqNum(3)
	h.SetAckNum(4)
	h.SetDataOffset(20)
	h.SetFlags(header.TCPFlagFIN | header.TCPFlagPSH | header.TCPFlagRST | header.TCPFlagURG | header.TCPFlagCWR)
	h.SetWindow(5)
	h.SetChecksum(6)
	h.SetUrgentPtr(7)
	assert.Equal(t, uint16(1), h.SrcPort())
	assert.Equal(t, uint16(2), h.DstPort())
	assert.Equal(t, uint32(3), h.SeqNum())
	assert.Equal(t, uint32(4), h.AckNum())
	assert.Equal(t, 20, h.DataOffset())
	assert.Equal(t, byte(0x5f), h[12])
	assert.Equal(t, uint8(0xad), h.Flags())
	assert.Equal(t, uint16(5), h.Window())
	assert.Equal(t, uint16(6), h.Checksum())
	assert.Equal(t, uint16(7), h.UrgentPtr())
	assert.Empty(t, h.Options())
	assert.Empty(t, h.Payload())
}

func TestTCPFlagBits(t *testing.T) {
	// RFC 9293 §3.1 and RFC 3168 §6.1: CWR ECE URG ACK PSH RST SYN FIN, high to low.
	flags := []uint8{header.TCPFlagFIN, header.TCPFlagSYN, header.TCPFlagRST, header.TCPFlagPSH,
		header.TCPFlagACK, header.TCPFlagURG, header.TCPFlagECE, header.TCPFlagCWR}
	for i, f := range flags {
		assert.Equal(t, uint8(1)<<i, f)
	}
}

func TestParseTCPErrors(t *testing.T) {
	mk := func(n int, dataOffsetWords uint8) []byte {
		b := make([]byte, n)
		if n > 12 {
			b[12] = dataOffsetWords << 4
		}
		return b
	}
	tests := []struct {
		name string
		b    []byte
		ok   bool
	}{
		{"empty", nil, false},
		{"19 bytes", mk(19, 5), false},
		{"data offset 0", mk(40, 0), false},
		{"data offset 4", mk(40, 4), false},
		{"data offset past buffer", mk(20, 6), false},
		{"data offset 15 past buffer", mk(59, 15), false},
		{"minimal", mk(20, 5), true},
		{"options fill buffer", mk(60, 15), true},
		{"with payload", mk(100, 8), true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h, ok := header.ParseTCP(tc.b)
			require.Equal(t, tc.ok, ok)
			if !ok {
				assert.Nil(t, h)
				return
			}
			assert.Len(t, h.Options(), h.DataOffset()-header.TCPMinLen)
			assert.Len(t, h.Payload(), len(tc.b)-h.DataOffset())
		})
	}
}
