package header_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/dpstack/dpstack/stack/header"
)

// FuzzParseTCPOptions: any option bytes parse without panic; parsed values
// stay within their bounds; and options that parse survive a round trip:
// the SYN options rebuilt from them, and their SACK blocks rebuilt, parse
// back to the same values.
func FuzzParseTCPOptions(f *testing.F) {
	syn := make([]byte, header.TCPMaxOptionsLen)
	f.Add(syn[:header.PutSYNOptions(syn, 1460, 7, true, true, 0xfffffff0, 0)])
	f.Add(cat(optMSS1460, optSACKPerm, optTS, nop, optWS7))
	f.Add(cat(nop, nop, optTS, nop, nop, sackOpt(3)))
	f.Add(sackOpt(4))
	f.Add(sackOpt(5))
	f.Add([]byte{2, 0})
	f.Add([]byte{2, 1})
	f.Add([]byte{2, 4, 5})
	f.Add([]byte{2})
	f.Add([]byte{3, 3, 15})
	f.Add([]byte{2, 4, 0, 0})
	f.Add(cat(optMSS1460, eol, []byte{2, 0}))
	f.Add([]byte{254, 6, 0xde, 0xad, 0xbe, 0xef, 2, 5, 5, 0xb4, 0})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		var o header.TCPOptions
		if !header.ParseTCPOptions(b, &o) {
			return
		}
		require.GreaterOrEqual(t, o.NumSACK, 0)
		require.LessOrEqual(t, o.NumSACK, header.TCPMaxSACKBlocks)
		require.LessOrEqual(t, o.WindowShift(), uint8(header.TCPMaxWindowShift))
		if !o.HasMSS {
			require.Zero(t, o.MSS)
		}
		if !o.HasWS {
			require.Zero(t, o.WS)
		}
		if !o.HasTS {
			require.Zero(t, o.TSVal)
			require.Zero(t, o.TSEcr)
		}

		// Rebuild the SYN options from what was parsed. An MSS of 0 and a
		// shift over 14 do not survive (PutSYNOptions sends none and 14).
		mss := uint16(0)
		if o.HasMSS {
			mss = o.MSS
		}
		ws := -1
		if o.HasWS {
			ws = int(o.WS)
		}
		out := make([]byte, header.TCPMaxOptionsLen)
		n := header.PutSYNOptions(out, mss, ws, o.SACKPermitted, o.HasTS, o.TSVal, o.TSEcr)
		require.Zero(t, n%4)
		require.LessOrEqual(t, n, header.TCPMaxSYNOptionsSpace)
		require.Equal(t, header.SYNOptionsLen(mss, ws, o.SACKPermitted, o.HasTS), n)

		var r header.TCPOptions
		require.True(t, header.ParseTCPOptions(out[:n], &r), "%x", out[:n])
		require.Equal(t, o.HasMSS && o.MSS != 0, r.HasMSS)
		require.Equal(t, mss, r.MSS)
		require.Equal(t, o.HasWS, r.HasWS)
		require.Equal(t, o.WindowShift(), r.WS)
		require.Equal(t, o.SACKPermitted, r.SACKPermitted)
		require.Equal(t, o.HasTS, r.HasTS)
		require.Equal(t, o.TSVal, r.TSVal)
		require.Equal(t, o.TSEcr, r.TSEcr)
		require.Zero(t, r.NumSACK)

		// Rebuild the SACK blocks.
		n = header.PutSACKOption(out, o.SACK())
		require.Equal(t, header.SACKOptionLen(o.NumSACK), n)
		require.True(t, header.ParseTCPOptions(out[:n], &r), "%x", out[:n])
		require.Equal(t, o.SACK(), r.SACK())
	})
}
