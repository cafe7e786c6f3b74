package header_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dpstack/dpstack/stack/header"
)

// Option areas as they follow the fixed header: offsets in the results
// count from the header's start, so the first option octet is 20.
func TestParseIPv4Options(t *testing.T) {
	rr := []byte{7, 11, 4, 0, 0, 0, 0, 0, 0, 0, 0}
	ts := []byte{68, 12, 5, 0x01, 0, 0, 0, 0, 0, 0, 0, 0}
	cases := []struct {
		name string
		opts []byte
		want header.IPv4Options
		bad  int
	}{
		{"empty", nil, header.IPv4Options{}, 0},
		{"padding", []byte{1, 1, 1, 0}, header.IPv4Options{}, 0},
		{"record route", cat(rr, eol), header.IPv4Options{RR: 20}, 0},
		{"after NOPs", cat([]byte{1, 1}, rr, eol), header.IPv4Options{RR: 22}, 0},
		{"route and timestamp", cat(rr, []byte{1}, ts), header.IPv4Options{RR: 20, TS: 32}, 0},
		{"full record route", []byte{7, 7, 8, 1, 2, 3, 4, 0}, header.IPv4Options{RR: 20}, 0},
		{"LSRR", []byte{131, 7, 8, 1, 2, 3, 4, 0}, header.IPv4Options{SRR: 20}, 0},
		{"SSRR", []byte{1, 137, 7, 4, 1, 2, 3, 4}, header.IPv4Options{SRR: 21, Strict: true}, 0},
		{"router alert", []byte{148, 4, 0, 0}, header.IPv4Options{RouterAlert: 20}, 0},
		{"router alert, another value", []byte{148, 4, 0, 1}, header.IPv4Options{}, 0},
		{"unknown option skipped", []byte{30, 6, 9, 9, 9, 9, 7, 3, 4, 0, 0, 0}, header.IPv4Options{RR: 26}, 0},
		{"bytes after EOL ignored", []byte{0, 7, 0, 9}, header.IPv4Options{}, 0},
		{"full timestamp, overflow 14", []byte{68, 8, 9, 0xe0, 1, 2, 3, 4}, header.IPv4Options{TS: 20}, 0},
		{"full prespecified timestamp, overflow 15", []byte{68, 12, 13, 0xf3, 1, 2, 3, 4, 5, 6, 7, 8}, header.IPv4Options{TS: 20}, 0},

		{"no room for the length", []byte{1, 1, 1, 7}, header.IPv4Options{}, 23},
		{"length 0", []byte{7, 0, 4, 0}, header.IPv4Options{}, 20},
		{"length 1", []byte{30, 1, 4, 0}, header.IPv4Options{}, 20},
		{"length past the area", []byte{1, 7, 12, 4, 0, 0, 0, 0}, header.IPv4Options{}, 21},
		{"record route of length 2", []byte{7, 2, 0, 0}, header.IPv4Options{}, 21},
		{"record route pointer 3", []byte{7, 7, 3, 0, 0, 0, 0, 0}, header.IPv4Options{}, 22},
		{"record route pointer in the last slot's middle", []byte{7, 7, 5, 0, 0, 0, 0, 0}, header.IPv4Options{}, 22},
		{"record route twice", cat(rr, []byte{1}, rr, eol), header.IPv4Options{RR: 20}, 32},
		{"source route twice", []byte{131, 3, 4, 137, 3, 4, 0, 0}, header.IPv4Options{SRR: 20}, 23},
		{"timestamp of length 3", []byte{68, 3, 5, 0}, header.IPv4Options{}, 21},
		{"timestamp pointer 4", []byte{68, 8, 4, 0, 0, 0, 0, 0}, header.IPv4Options{}, 22},
		{"timestamp with address, half a slot", []byte{68, 8, 5, 1, 0, 0, 0, 0}, header.IPv4Options{}, 22},
		{"full timestamp, overflow 15", []byte{68, 8, 9, 0xf0, 1, 2, 3, 4}, header.IPv4Options{}, 23},
		{"timestamp twice", cat(ts, ts), header.IPv4Options{TS: 20}, 32},
		{"router alert of length 2", []byte{148, 2, 0, 0}, header.IPv4Options{}, 21},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			o, bad := header.ParseIPv4Options(c.opts)
			assert.Equal(t, c.bad, bad)
			if c.bad == 0 {
				assert.Equal(t, c.want, o)
			}
		})
	}
}

// FuzzParseIPv4Options: any option area parses without panic; a bad
// octet lies inside the area; the options found lie inside it, with the
// type their field names and a length that fits, and pointers with the
// room ParseIPv4Options promises.
func FuzzParseIPv4Options(f *testing.F) {
	f.Add([]byte{7, 39, 4})
	f.Add([]byte{68, 40, 5, 0})
	f.Add([]byte{68, 36, 5, 1})
	f.Add([]byte{68, 20, 5, 3, 198, 18, 0, 1})
	f.Add([]byte{68, 8, 9, 0xf0, 1, 2, 3, 4})
	f.Add([]byte{131, 7, 8, 1, 2, 3, 4, 0})
	f.Add([]byte{137, 11, 4, 1, 2, 3, 4, 5, 6, 7, 8, 0})
	f.Add([]byte{148, 4, 0, 0})
	f.Add([]byte{1, 1, 7, 7, 4, 0, 0, 0, 0, 0, 0, 0})
	f.Add([]byte{30, 1})
	f.Add([]byte{7})
	f.Fuzz(func(t *testing.T, opts []byte) {
		if len(opts) > header.IPv4MaxOptionsLen {
			opts = opts[:header.IPv4MaxOptionsLen]
		}
		o, bad := header.ParseIPv4Options(opts)
		if bad != 0 {
			require.GreaterOrEqual(t, bad, header.IPv4MinLen)
			require.Less(t, bad, header.IPv4MinLen+len(opts))
			return
		}
		at := func(off uint8, types ...uint8) []byte {
			i := int(off) - header.IPv4MinLen
			require.GreaterOrEqual(t, i, 0)
			require.Less(t, i+1, len(opts))
			require.Contains(t, types, opts[i])
			l := int(opts[i+1])
			require.LessOrEqual(t, i+l, len(opts))
			return opts[i : i+l]
		}
		if o.RR != 0 {
			opt := at(o.RR, header.IPOptionRR)
			require.True(t, int(opt[2]) > len(opt) || int(opt[2])+3 <= len(opt))
		}
		if o.SRR != 0 {
			opt := at(o.SRR, header.IPOptionLSRR, header.IPOptionSSRR)
			require.Equal(t, o.Strict, opt[0] == header.IPOptionSSRR)
		}
		if o.TS != 0 {
			opt := at(o.TS, header.IPOptionTS)
			require.GreaterOrEqual(t, len(opt), 4)
			require.True(t, int(opt[2]) > len(opt) || int(opt[2])+3 <= len(opt))
		}
		if o.RouterAlert != 0 {
			require.GreaterOrEqual(t, len(at(o.RouterAlert, header.IPOptionRA)), 4)
		}
	})
}
