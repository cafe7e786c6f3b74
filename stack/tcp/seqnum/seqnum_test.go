package seqnum_test

import (
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dpstack/dpstack/stack/tcp/seqnum"
)

type V = seqnum.Value

func TestCompare(t *testing.T) {
	// want is the order of v relative to w: -1 before, 0 equal, +1 after.
	for _, tc := range []struct {
		name string
		v, w V
		want int
	}{
		{"equal zero", 0, 0, 0},
		{"equal max", 0xffff_ffff, 0xffff_ffff, 0},
		{"small before", 1, 2, -1},
		{"small after", 2, 1, 1},
		{"wrap: 0xffff_fff0 before 0x10", 0xffff_fff0, 0x10, -1},
		{"wrap: 0x10 after 0xffff_fff0", 0x10, 0xffff_fff0, 1},
		{"wrap: max before 0", 0xffff_ffff, 0, -1},
		{"wrap: 0 after max", 0, 0xffff_ffff, 1},
		{"2^31-1 ahead is after", 0x7fff_ffff, 0, 1},
		{"2^31-1 behind is before", 0, 0x7fff_ffff, -1},
		{"2^31+1 ahead is before", 0x8000_0001, 0, -1},
		{"2^31-1 ahead across wrap", 0x10, 0x8000_0011, 1},
		{"2^31+1 ahead across wrap", 0x12, 0x8000_0011, -1},
		{"large numbers no wrap", 0x8000_0000, 0x8000_0001, -1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want < 0, tc.v.LessThan(tc.w), "LessThan")
			assert.Equal(t, tc.want <= 0, tc.v.LessThanEq(tc.w), "LessThanEq")
			assert.Equal(t, tc.want > 0, tc.v.GreaterThan(tc.w), "GreaterThan")
			assert.Equal(t, tc.want >= 0, tc.v.GreaterThanEq(tc.w), "GreaterThanEq")
			// The mirrored comparison agrees.
			assert.Equal(t, tc.want < 0, tc.w.GreaterThan(tc.v), "mirror GreaterThan")
			assert.Equal(t, tc.want > 0, tc.w.LessThan(tc.v), "mirror LessThan")
			switch {
			case tc.want < 0:
				assert.Equal(t, tc.v, seqnum.Min(tc.v, tc.w))
				assert.Equal(t, tc.w, seqnum.Max(tc.v, tc.w))
			default:
				assert.Equal(t, tc.w, seqnum.Min(tc.v, tc.w))
				assert.Equal(t, tc.v, seqnum.Max(tc.v, tc.w))
			}
		})
	}
}

// TestHalfSpace pins the RFC 1982 undefined case: two values exactly 2^31
// apart are each "before" the other, as with Linux's before().
func TestHalfSpace(t *testing.T) {
	a, b := V(5), V(5+0x8000_0000)
	assert.True(t, a.LessThan(b))
	assert.True(t, b.LessThan(a))
	assert.False(t, a.GreaterThan(b))
	assert.False(t, b.GreaterThan(a))
	// Max and Min are still deterministic: the first argument on a tie.
	assert.Equal(t, a, seqnum.Max(a, b))
	assert.Equal(t, b, seqnum.Max(b, a))
	assert.Equal(t, b, seqnum.Min(a, b))
}

func TestInRange(t *testing.T) {
	for _, tc := range []struct {
		name    string
		v, a, b V
		want    bool
	}{
		{"at start", 10, 10, 20, true},
		{"inside", 15, 10, 20, true},
		{"at end (exclusive)", 20, 10, 20, false},
		{"before start", 9, 10, 20, false},
		{"after end", 21, 10, 20, false},
		{"empty range", 10, 10, 10, false},
		{"wrap: start", 0xffff_fff0, 0xffff_fff0, 0x10, true},
		{"wrap: max", 0xffff_ffff, 0xffff_fff0, 0x10, true},
		{"wrap: zero", 0, 0xffff_fff0, 0x10, true},
		{"wrap: last", 0xf, 0xffff_fff0, 0x10, true},
		{"wrap: end", 0x10, 0xffff_fff0, 0x10, false},
		{"wrap: before", 0xffff_ffef, 0xffff_fff0, 0x10, false},
		{"range longer than 2^31", 0x9000_0000, 0, 0xa000_0000, true},
		{"full space but one", 0xffff_fffe, 0, 0xffff_ffff, true},
		{"full space but one, excluded end", 0xffff_ffff, 0, 0xffff_ffff, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, tc.v.InRange(tc.a, tc.b))
			assert.Equal(t, tc.want, tc.v.InWindow(tc.a, tc.a.Size(tc.b)), "InWindow agrees")
		})
	}
}

func TestInWindow(t *testing.T) {
	for _, tc := range []struct {
		name  string
		v, at V
		size  seqnum.Size
		want  bool
	}{
		{"zero size at start", 100, 100, 0, false},
		{"zero size elsewhere", 101, 100, 0, false},
		{"zero size at wrap", 0, 0xffff_ffff, 0, false},
		{"size one at start", 100, 100, 1, true},
		{"size one past start", 101, 100, 1, false},
		{"last octet", 199, 100, 100, true},
		{"one past", 200, 100, 100, false},
		{"before", 99, 100, 100, false},
		{"across wrap inside", 5, 0xffff_fffb, 20, true},
		{"across wrap last", 0xe, 0xffff_fffb, 20, true},
		{"across wrap end", 0xf, 0xffff_fffb, 20, false},
		{"max size", 0xffff_fffe, 0, 0xffff_ffff, true},
		{"max window after 2^31", 0x9000_0000, 0x1000_0000, 0x9000_0000, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, tc.v.InWindow(tc.at, tc.size))
		})
	}
}

func TestArithmetic(t *testing.T) {
	for _, tc := range []struct {
		name string
		v    V
		s    seqnum.Size
		sum  V
	}{
		{"zero", 0, 0, 0},
		{"small", 1000, 500, 1500},
		{"to max", 0xffff_fff0, 0xf, 0xffff_ffff},
		{"across wrap", 0xffff_fff0, 0x20, 0x10},
		{"exactly wrap", 0xffff_ffff, 1, 0},
		{"max size", 7, 0xffff_ffff, 6},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.sum, tc.v.Add(tc.s))
			assert.Equal(t, tc.v, tc.sum.Sub(tc.s))
			assert.Equal(t, tc.s, tc.v.Size(tc.sum), "Size across wrap")
			v := tc.v
			v.UpdateForward(tc.s)
			assert.Equal(t, tc.sum, v)
		})
	}
}

func TestSizeAcrossWrap(t *testing.T) {
	assert.Equal(t, seqnum.Size(0x20), V(0xffff_fff0).Size(0x10))
	assert.Equal(t, seqnum.Size(1), V(0xffff_ffff).Size(0))
	assert.Equal(t, seqnum.Size(0), V(0x1234).Size(0x1234))
	// Backwards distance wraps to a large value.
	assert.Equal(t, seqnum.Size(0xffff_ffff), V(1).Size(0))
}

// TestProperty checks every operation against int64 arithmetic modulo 2^32
// for random starting points and forward distances below 2^31.
func TestProperty(t *testing.T) {
	const mod = int64(1) << 32
	r := rand.New(rand.NewPCG(1, 2))
	// Starting points concentrated around the wrap as well as anywhere.
	starts := func() int64 {
		switch r.IntN(3) {
		case 0:
			return mod - 1 - r.Int64N(1<<16)
		case 1:
			return r.Int64N(1 << 16)
		default:
			return r.Int64N(mod)
		}
	}
	for i := 0; i < 30_000; i++ {
		a := starts()
		d := r.Int64N(1 << 31) // 0 .. 2^31-1
		b := (a + d) % mod
		va, vb := V(a), V(b)
		ds := seqnum.Size(d)

		require.Equal(t, vb, va.Add(ds), "a=%#x d=%#x", a, d)
		require.Equal(t, va, vb.Sub(ds), "a=%#x d=%#x", a, d)
		require.Equal(t, ds, va.Size(vb), "a=%#x d=%#x", a, d)
		require.Equal(t, seqnum.Size((mod-d)%mod), vb.Size(va), "a=%#x d=%#x", a, d)

		require.Equal(t, d > 0, va.LessThan(vb), "a=%#x d=%#x", a, d)
		require.True(t, va.LessThanEq(vb), "a=%#x d=%#x", a, d)
		require.Equal(t, d > 0, vb.GreaterThan(va), "a=%#x d=%#x", a, d)
		require.True(t, vb.GreaterThanEq(va), "a=%#x d=%#x", a, d)
		require.Equal(t, d == 0, vb.LessThanEq(va), "a=%#x d=%#x", a, d)
		require.Equal(t, d == 0, va.GreaterThanEq(vb), "a=%#x d=%#x", a, d)
		require.Equal(t, vb, seqnum.Max(va, vb))
		require.Equal(t, va, seqnum.Min(va, vb))

		// A point k octets past a, k random in [0, 2^32): inside [a, b)
		// exactly when k < d.
		k := r.Int64N(mod)
		vk := V((a + k) % mod)
		require.Equal(t, k < d, vk.InRange(va, vb), "a=%#x d=%#x k=%#x", a, d, k)
		require.Equal(t, k < d, vk.InWindow(va, ds), "a=%#x d=%#x k=%#x", a, d, k)

		v := va
		v.UpdateForward(ds)
		require.Equal(t, vb, v)
	}
}
