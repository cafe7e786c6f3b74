package header_test

import (
	"encoding/binary"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dpstack/dpstack/stack/header"
)

// cat joins byte slices into one option area.
func cat(parts ...[]byte) []byte {
	var b []byte
	for _, p := range parts {
		b = append(b, p...)
	}
	return b
}

var (
	optMSS1460  = []byte{2, 4, 0x05, 0xb4}
	optWS7      = []byte{3, 3, 7}
	optSACKPerm = []byte{4, 2}
	optTS       = []byte{8, 10, 0x01, 0x02, 0x03, 0x04, 0xa0, 0xb0, 0xc0, 0xd0}
	nop         = []byte{1}
	eol         = []byte{0}
)

// sackOpt returns a SACK option with n blocks {i*100+1, i*100+50}.
func sackOpt(n int) []byte {
	b := []byte{5, uint8(2 + 8*n)}
	for i := 1; i <= n; i++ {
		b = binary.BigEndian.AppendUint32(b, uint32(i*100+1))
		b = binary.BigEndian.AppendUint32(b, uint32(i*100+50))
	}
	return b
}

// sackWant returns the TCPOptions that sackOpt(n) parses to.
func sackWant(n int) header.TCPOptions {
	var o header.TCPOptions
	for i := 1; i <= n; i++ {
		o.SACKBlocks[i-1] = header.SACKBlock{Start: uint32(i*100 + 1), End: uint32(i*100 + 50)}
	}
	o.NumSACK = n
	return o
}

func TestParseTCPOptions(t *testing.T) {
	tsWant := header.TCPOptions{HasTS: true, TSVal: 0x01020304, TSEcr: 0xa0b0c0d0}
	sack1 := sackWant(1)
	sack1.HasTS, sack1.TSVal, sack1.TSEcr = true, 0x01020304, 0xa0b0c0d0

	for _, tc := range []struct {
		name string
		in   []byte
		ok   bool
		want header.TCPOptions
	}{
		{"empty", nil, true, header.TCPOptions{}},
		{"MSS", optMSS1460, true, header.TCPOptions{MSS: 1460, HasMSS: true}},
		{"MSS 0 is raw", []byte{2, 4, 0, 0}, true, header.TCPOptions{HasMSS: true}},
		{"WS", optWS7, true, header.TCPOptions{WS: 7, HasWS: true}},
		{"WS 15 raw", []byte{3, 3, 15}, true, header.TCPOptions{WS: 15, HasWS: true}},
		{"SACK-Permitted", optSACKPerm, true, header.TCPOptions{SACKPermitted: true}},
		{"Timestamps", optTS, true, tsWant},
		{"SACK 1 block", sackOpt(1), true, sackWant(1)},
		{"SACK 2 blocks", sackOpt(2), true, sackWant(2)},
		{"SACK 3 blocks", sackOpt(3), true, sackWant(3)},
		{"SACK 4 blocks", sackOpt(4), true, sackWant(4)},
		{"SACK 5 blocks' worth ignored", sackOpt(5), true, header.TCPOptions{}},
		{"SACK 5 blocks' worth past a 40-byte area", sackOpt(5)[:header.TCPMaxOptionsLen], false, header.TCPOptions{}},
		{"SACK no blocks ignored", []byte{5, 2}, true, header.TCPOptions{}},
		{"SACK not 2+8n ignored", cat([]byte{5, 11}, make([]byte, 9)), true, header.TCPOptions{}},
		{"SACK with TS, NOP-aligned", cat(nop, nop, optTS, nop, nop, sackOpt(1)), true, sack1},
		{"Linux SYN", cat(optMSS1460, optSACKPerm, optTS, nop, optWS7), true, header.TCPOptions{
			MSS: 1460, HasMSS: true, WS: 7, HasWS: true, SACKPermitted: true,
			HasTS: true, TSVal: 0x01020304, TSEcr: 0xa0b0c0d0,
		}},
		{"NOP padding only", []byte{1, 1, 1, 1}, true, header.TCPOptions{}},
		{"EOL ends list", cat(optMSS1460, eol, optWS7), true, header.TCPOptions{MSS: 1460, HasMSS: true}},
		{"EOL then garbage", cat(eol, []byte{2, 0, 0xff}), true, header.TCPOptions{}},
		{"EOL first", cat(eol, optMSS1460), true, header.TCPOptions{}},
		{"unknown option skipped", cat([]byte{254, 6, 0xde, 0xad, 0xbe, 0xef}, optWS7), true, header.TCPOptions{WS: 7, HasWS: true}},
		{"unknown option length 2 skipped", cat([]byte{99, 2}, optSACKPerm), true, header.TCPOptions{SACKPermitted: true}},
		{"unaligned: MSS at odd offset", cat(nop, optMSS1460), true, header.TCPOptions{MSS: 1460, HasMSS: true}},
		{"unaligned: back to back", cat(optWS7, optTS, optSACKPerm, optMSS1460), true, header.TCPOptions{
			MSS: 1460, HasMSS: true, WS: 7, HasWS: true, SACKPermitted: true,
			HasTS: true, TSVal: 0x01020304, TSEcr: 0xa0b0c0d0,
		}},
		{"unaligned: SACK at offset 3", cat(optWS7, sackOpt(2)), true, func() header.TCPOptions {
			o := sackWant(2)
			o.WS, o.HasWS = 7, true
			return o
		}()},
		{"length 0", []byte{2, 0, 5, 0xb4}, false, header.TCPOptions{}},
		{"length 1", []byte{2, 1, 5, 0xb4}, false, header.TCPOptions{}},
		{"unknown kind length 0", []byte{200, 0}, false, header.TCPOptions{}},
		{"unknown kind length 1", cat(optWS7, []byte{200, 1}), false, header.TCPOptions{}},
		{"length past end", []byte{2, 4, 5}, false, header.TCPOptions{}},
		{"unknown length past end", []byte{1, 77, 10, 0, 0}, false, header.TCPOptions{}},
		{"TS truncated", optTS[:9], false, header.TCPOptions{}},
		{"kind with no length byte", cat(optMSS1460, []byte{2}), false, header.TCPOptions{}},
		{"unknown kind with no length byte", []byte{1, 1, 1, 200}, false, header.TCPOptions{}},
		{"malformed after valid", cat(optMSS1460, []byte{3, 0}), false, header.TCPOptions{}},
		{"wrong-length MSS ignored", cat([]byte{2, 5, 5, 0xb4, 0}, optWS7), true, header.TCPOptions{WS: 7, HasWS: true}},
		{"short MSS ignored", []byte{2, 3, 5, 1, 1}, true, header.TCPOptions{}},
		{"wrong-length WS ignored", []byte{3, 4, 7, 0}, true, header.TCPOptions{}},
		{"wrong-length SACK-Permitted ignored", []byte{4, 3, 0}, true, header.TCPOptions{}},
		{"wrong-length TS ignored", cat([]byte{8, 8}, make([]byte, 6)), true, header.TCPOptions{}},
		{"duplicate MSS: last wins", cat(optMSS1460, []byte{2, 4, 0x02, 0x18}), true, header.TCPOptions{MSS: 536, HasMSS: true}},
		{"duplicate WS: last wins", cat(optWS7, []byte{3, 3, 2}), true, header.TCPOptions{WS: 2, HasWS: true}},
		{"duplicate TS: last wins", cat(optTS, []byte{8, 10, 0, 0, 0, 9, 0, 0, 0, 8}), true, header.TCPOptions{HasTS: true, TSVal: 9, TSEcr: 8}},
		{"duplicate SACK: last wins", cat(sackOpt(3), sackOpt(1)), true, sackWant(1)},
		{"duplicate MSS, later malformed length ignored", cat(optMSS1460, []byte{2, 3, 0}), true, header.TCPOptions{MSS: 1460, HasMSS: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var o header.TCPOptions
			ok := header.ParseTCPOptions(tc.in, &o)
			require.Equal(t, tc.ok, ok)
			if ok {
				assert.Equal(t, tc.want, o)
			}
		})
	}
}

func TestParseTCPOptionsResets(t *testing.T) {
	o := header.TCPOptions{MSS: 1, HasMSS: true, HasWS: true, SACKPermitted: true, HasTS: true, NumSACK: 2}
	require.True(t, header.ParseTCPOptions(optWS7, &o))
	assert.Equal(t, header.TCPOptions{WS: 7, HasWS: true}, o)
}

func TestParseTCPOptionsFromHeader(t *testing.T) {
	buf := make([]byte, header.TCPMinLen+header.TCPMaxSYNOptionsSpace)
	h := header.TCP(buf)
	h.Encode(header.TCPFields{SrcPort: 1, DstPort: 2, SeqNum: 0xfffffff0, DataOffset: len(buf), Flags: header.TCPFlagSYN, Window: 65535})
	n := header.PutSYNOptions(h.Options(), 1460, 7, true, true, 100, 0)
	require.Equal(t, header.TCPMaxSYNOptionsSpace, n)

	p, ok := header.ParseTCP(buf)
	require.True(t, ok)
	var o header.TCPOptions
	require.True(t, header.ParseTCPOptions(p.Options(), &o))
	assert.Equal(t, header.TCPOptions{
		MSS: 1460, HasMSS: true, WS: 7, HasWS: true, SACKPermitted: true, HasTS: true, TSVal: 100,
	}, o)
}

func TestWindowShift(t *testing.T) {
	for _, tc := range []struct{ ws, want uint8 }{
		{0, 0}, {7, 7}, {14, 14}, {15, 14}, {255, 14},
	} {
		t.Run(fmt.Sprint(tc.ws), func(t *testing.T) {
			var o header.TCPOptions
			require.True(t, header.ParseTCPOptions([]byte{3, 3, tc.ws}, &o))
			assert.Equal(t, tc.ws, o.WS, "parse keeps the raw value")
			assert.Equal(t, tc.want, o.WindowShift())
		})
	}
}

// TestPutSYNOptionsLayout pins the bytes to Linux's tcp_options_write.
func TestPutSYNOptionsLayout(t *testing.T) {
	ts := []byte{0x01, 0x02, 0x03, 0x04, 0xa0, 0xb0, 0xc0, 0xd0}
	for _, tc := range []struct {
		name       string
		mss        uint16
		ws         int
		sack, tsOn bool
		want       []byte
	}{
		{"all", 1460, 7, true, true, cat([]byte{2, 4, 5, 0xb4, 4, 2, 8, 10}, ts, []byte{1, 3, 3, 7})},
		{"no ts", 1460, 7, true, false, []byte{2, 4, 5, 0xb4, 1, 1, 4, 2, 1, 3, 3, 7}},
		{"no sack", 1460, 7, false, true, cat([]byte{2, 4, 5, 0xb4, 1, 1, 8, 10}, ts, []byte{1, 3, 3, 7})},
		{"mss only", 536, -1, false, false, []byte{2, 4, 2, 0x18}},
		{"mss and ws 0", 1460, 0, false, false, []byte{2, 4, 5, 0xb4, 1, 3, 3, 0}},
		{"ws over 14 sent as 14", 1460, 20, false, false, []byte{2, 4, 5, 0xb4, 1, 3, 3, 14}},
		{"no mss", 0, 14, true, false, []byte{1, 1, 4, 2, 1, 3, 3, 14}},
		{"nothing", 0, -1, false, false, []byte{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := make([]byte, header.TCPMaxOptionsLen)
			for i := range b {
				b[i] = 0xee
			}
			n := header.PutSYNOptions(b, tc.mss, tc.ws, tc.sack, tc.tsOn, 0x01020304, 0xa0b0c0d0)
			require.Equal(t, len(tc.want), n)
			assert.Equal(t, tc.want, b[:n])
			assert.Equal(t, n, header.SYNOptionsLen(tc.mss, tc.ws, tc.sack, tc.tsOn))
			for _, c := range b[n:] {
				require.Equal(t, uint8(0xee), c, "wrote past its length")
			}
		})
	}
}

// TestSYNOptionsRoundTrip builds every combination of SYN options and
// parses them back.
func TestSYNOptionsRoundTrip(t *testing.T) {
	for _, mss := range []uint16{0, 536, 1460, 65535} {
		for _, ws := range []int{-1, 0, 7, 14} {
			for _, sack := range []bool{false, true} {
				for _, ts := range []bool{false, true} {
					name := fmt.Sprintf("mss=%d ws=%d sack=%v ts=%v", mss, ws, sack, ts)
					t.Run(name, func(t *testing.T) {
						b := make([]byte, header.TCPMaxOptionsLen)
						n := header.PutSYNOptions(b, mss, ws, sack, ts, 0xfffffffe, 0x7)
						require.Zero(t, n%4, "multiple of 4")
						require.LessOrEqual(t, n, header.TCPMaxSYNOptionsSpace)
						require.Equal(t, header.SYNOptionsLen(mss, ws, sack, ts), n)

						var o header.TCPOptions
						require.True(t, header.ParseTCPOptions(b[:n], &o))
						want := header.TCPOptions{SACKPermitted: sack}
						if mss != 0 {
							want.MSS, want.HasMSS = mss, true
						}
						if ws >= 0 {
							want.WS, want.HasWS = uint8(ws), true
						}
						if ts {
							want.HasTS, want.TSVal, want.TSEcr = true, 0xfffffffe, 0x7
						}
						assert.Equal(t, want, o)
					})
				}
			}
		}
	}
}

func TestPutTSOption(t *testing.T) {
	b := make([]byte, header.TCPTSOptionSpace)
	n := header.PutTSOption(b, 0xdeadbeef, 0x01020304)
	require.Equal(t, 12, n)
	assert.Equal(t, []byte{1, 1, 8, 10, 0xde, 0xad, 0xbe, 0xef, 1, 2, 3, 4}, b)

	var o header.TCPOptions
	require.True(t, header.ParseTCPOptions(b, &o))
	assert.Equal(t, header.TCPOptions{HasTS: true, TSVal: 0xdeadbeef, TSEcr: 0x01020304}, o)
}

func TestPutSACKOption(t *testing.T) {
	all := []header.SACKBlock{
		{0xfffffff0, 0x10}, {100, 200}, {300, 400}, {500, 600}, {700, 800},
	}
	for n := 0; n <= 5; n++ {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			b := make([]byte, header.TCPMaxOptionsLen+8)
			l := header.PutSACKOption(b, all[:n])
			sent := min(n, header.TCPMaxSACKBlocks)
			if n == 0 {
				require.Zero(t, l)
			} else {
				require.Equal(t, 4+8*sent, l)
				assert.Equal(t, []byte{1, 1, 5, uint8(2 + 8*sent)}, b[:4])
			}
			require.Equal(t, l, header.SACKOptionLen(n))
			require.LessOrEqual(t, l, header.TCPMaxOptionsLen)

			var o header.TCPOptions
			require.True(t, header.ParseTCPOptions(b[:l], &o))
			assert.Equal(t, sent, o.NumSACK)
			assert.Equal(t, all[:sent], o.SACK())
		})
	}
}

// TestTSPlusSACKFits: timestamps plus three SACK blocks fill the 40-byte
// option area exactly (RFC 2018 §3).
func TestTSPlusSACKFits(t *testing.T) {
	blocks := []header.SACKBlock{{1, 2}, {3, 4}, {5, 6}}
	b := make([]byte, header.TCPMaxOptionsLen)
	n := header.PutTSOption(b, 11, 22)
	n += header.PutSACKOption(b[n:], blocks[:header.TCPMaxSACKBlocksWithTS])
	require.Equal(t, header.TCPMaxOptionsLen, n)

	var o header.TCPOptions
	require.True(t, header.ParseTCPOptions(b[:n], &o))
	assert.True(t, o.HasTS)
	assert.Equal(t, uint32(11), o.TSVal)
	assert.Equal(t, uint32(22), o.TSEcr)
	assert.Equal(t, blocks, o.SACK())
}

func TestTCPOptionsZeroAllocs(t *testing.T) {
	syn := make([]byte, header.TCPMaxOptionsLen)
	n := header.PutSYNOptions(syn, 1460, 7, true, true, 1, 2)
	syn = syn[:n]
	est := make([]byte, header.TCPMaxOptionsLen)
	m := header.PutTSOption(est, 1, 2)
	m += header.PutSACKOption(est[m:], []header.SACKBlock{{1, 2}, {3, 4}, {5, 6}})
	est = est[:m]
	out := make([]byte, header.TCPMaxOptionsLen)
	blocks := []header.SACKBlock{{1, 2}, {3, 4}, {5, 6}, {7, 8}}
	var o header.TCPOptions

	for _, tc := range []struct {
		name string
		fn   func()
	}{
		{"parse syn", func() {
			sinkBool = header.ParseTCPOptions(syn, &o)
			sinkU8 = o.WindowShift()
		}},
		{"parse ts+sack", func() {
			sinkBool = header.ParseTCPOptions(est, &o)
			sinkInt = len(o.SACK())
		}},
		{"put syn", func() {
			sinkInt = header.PutSYNOptions(out, 1460, 7, true, true, 1, 2) + header.SYNOptionsLen(1460, 7, true, true)
		}},
		{"put ts", func() { sinkInt = header.PutTSOption(out, 1, 2) }},
		{"put sack", func() { sinkInt = header.PutSACKOption(out, blocks) + header.SACKOptionLen(4) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assert.Zero(t, testing.AllocsPerRun(100, tc.fn))
		})
	}
}
