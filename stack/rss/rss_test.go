package rss

import (
	"encoding/hex"
	"math/rand/v2"
	"net/netip"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// msKey is the key of Microsoft's RSS verification suite ("Verifying the
// RSS Hash Calculation", Windows driver documentation).
var msKey = mustHex("6d5a56da255b0ec24167253d43a38fb0d0ca2bcbae7b30b477cb2da38030f20c6a42b73bbeac01fa")

func mustHex(s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		panic(err)
	}
	return b
}

// msIPv4 are the suite's IPv4 cases: destination and source address:port,
// the hash over the addresses alone and over addresses and ports.
var msIPv4 = []struct {
	dst, src      string
	ipOnly, ipTCP uint32
}{
	{"161.142.100.80:1766", "66.9.149.187:2794", 0x323e8fc2, 0x51ccc178},
	{"65.69.140.83:4739", "199.92.111.2:14230", 0xd718262a, 0xc626b0ea},
	{"12.22.207.184:38024", "24.19.198.95:12898", 0xd2d0a5de, 0x5c2b394a},
	{"209.142.163.6:2217", "38.27.205.30:48228", 0x82989176, 0xafc7327f},
	{"202.188.127.2:1303", "153.39.163.191:44251", 0x5d1809c5, 0x10e828a2},
}

// TestMicrosoftVectors: the bitwise hash, the table hash and the steering
// hash give the verification suite's values; the input is source address,
// destination address, source port, destination port.
func TestMicrosoftVectors(t *testing.T) {
	tz, err := NewToeplitz(msKey, IPv4TCPInputLen)
	require.NoError(t, err)
	st, err := NewSteering(msKey, []uint16{0})
	require.NoError(t, err)
	for _, tc := range msIPv4 {
		t.Run(tc.src+">"+tc.dst, func(t *testing.T) {
			src, dst := netip.MustParseAddrPort(tc.src), netip.MustParseAddrPort(tc.dst)
			var in [IPv4TCPInputLen]byte
			IPv4TCPInput(&in, src.Addr(), dst.Addr(), src.Port(), dst.Port())
			assert.Equal(t, tc.ipOnly, Hash(msKey, in[:8]), "IPv4 only")
			assert.Equal(t, tc.ipTCP, Hash(msKey, in[:]), "IPv4 with TCP, bitwise")
			assert.Equal(t, tc.ipTCP, tz.Hash(in[:]), "IPv4 with TCP, tables")
			assert.Equal(t, tc.ipTCP, st.HashIPv4TCP(src.Addr(), dst.Addr(), src.Port(), dst.Port()))
		})
	}
}

// TestTablesMatchBitwise: for random keys and inputs the precomputed
// tables agree with the definition.
func TestTablesMatchBitwise(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for range 20 {
		key := make([]byte, 40+r.IntN(13))
		for i := range key {
			key[i] = byte(r.Uint32())
		}
		n := 1 + r.IntN(len(key)-4)
		tz, err := NewToeplitz(key, n)
		require.NoError(t, err)
		require.Equal(t, n, tz.Len())
		in := make([]byte, n)
		for range 50 {
			for i := range in {
				in[i] = byte(r.Uint32())
			}
			require.Equal(t, Hash(key, in), tz.Hash(in), "key %x input %x", key, in)
		}
	}
}

func TestKeyTooShort(t *testing.T) {
	_, err := NewToeplitz(make([]byte, 15), IPv4TCPInputLen)
	assert.Error(t, err)
	_, err = NewSteering(make([]byte, 15), []uint16{0, 1})
	assert.Error(t, err)
	_, err = NewSteering(msKey, nil)
	assert.Error(t, err, "empty RETA")
	assert.Panics(t, func() { Hash(make([]byte, 8), make([]byte, 5)) })
}

// TestQueueIPv4TCP: the queue is the RETA entry of the hash modulo the
// table's size.
func TestQueueIPv4TCP(t *testing.T) {
	reta := make([]uint16, 128)
	for i := range reta {
		reta[i] = uint16(i % 3)
	}
	st, err := NewSteering(msKey, reta)
	require.NoError(t, err)
	for _, tc := range msIPv4 {
		src, dst := netip.MustParseAddrPort(tc.src), netip.MustParseAddrPort(tc.dst)
		want := reta[tc.ipTCP%128]
		assert.Equal(t, want, st.QueueIPv4TCP(src.Addr(), dst.Addr(), src.Port(), dst.Port()))
	}
}

func TestHashNoAllocs(t *testing.T) {
	st, err := NewSteering(msKey, []uint16{0, 1})
	require.NoError(t, err)
	a, b := netip.MustParseAddr("198.18.0.1"), netip.MustParseAddr("198.18.0.2")
	assert.Zero(t, testing.AllocsPerRun(100, func() { st.QueueIPv4TCP(a, b, 80, 40000) }))
}

func BenchmarkQueueIPv4TCP(b *testing.B) {
	st, err := NewSteering(msKey, make([]uint16, 512))
	require.NoError(b, err)
	src, dst := netip.MustParseAddr("198.18.0.1"), netip.MustParseAddr("198.18.0.2")
	b.ReportAllocs()
	for i := range b.N {
		st.QueueIPv4TCP(src, dst, 80, uint16(i))
	}
}
