// Package seqnum gives TCP sequence numbers a type with wrap-safe
// arithmetic and comparisons.
//
// RFC 9293 §3.4: "It is essential to remember that the actual sequence
// number space is finite, though very large. This space ranges from 0 to
// 2**32 - 1. Since the space is finite, all arithmetic dealing with sequence
// numbers must be performed modulo 2**32." Comparisons follow RFC 1982
// serial-number arithmetic with SERIAL_BITS = 32, as Linux's before() and
// after() do: v is less than w when the forward distance from v to w,
// computed modulo 2^32, is in 1 .. 2^31-1.
//
// Raw uint32 comparisons of sequence numbers are a bug; convert to Value at
// the wire boundary and compare only with the methods here.
package seqnum

// Value is a TCP sequence (or acknowledgment) number, a point in the 2^32
// sequence space of RFC 9293 §3.4. The zero value is sequence number 0.
type Value uint32

// Size is a distance in the sequence space: a segment length, a window, the
// number of octets between two sequence numbers (RFC 9293 §3.4).
type Size uint32

// LessThan reports whether v comes before w in the sequence space
// (RFC 9293 §3.4, RFC 1982 §3.2): the distance from v forward to w, modulo
// 2^32, is between 1 and 2^31-1. For two values exactly 2^31 apart the
// order is undefined by RFC 1982; like Linux's before(), both
// v.LessThan(w) and w.LessThan(v) are then true.
func (v Value) LessThan(w Value) bool { return int32(v-w) < 0 }

// LessThanEq reports whether v equals w or comes before it
// (RFC 9293 §3.4).
func (v Value) LessThanEq(w Value) bool { return int32(v-w) <= 0 }

// GreaterThan reports whether v comes after w in the sequence space
// (RFC 9293 §3.4, RFC 1982 §3.2): the distance from w forward to v, modulo
// 2^32, is between 1 and 2^31-1.
func (v Value) GreaterThan(w Value) bool { return int32(v-w) > 0 }

// GreaterThanEq reports whether v equals w or comes after it
// (RFC 9293 §3.4).
func (v Value) GreaterThanEq(w Value) bool { return int32(v-w) >= 0 }

// InRange reports whether a <= v < b, going forward from a modulo 2^32
// (RFC 9293 §3.4): the distance from a to v is less than the distance from
// a to b. An empty range (a == b) contains nothing. The range may be up to
// 2^32-1 long, so this is not the same as
// a.LessThanEq(v) && v.LessThan(b) for ranges of 2^31 or more.
func (v Value) InRange(a, b Value) bool { return v-a < b-a }

// InWindow reports whether v lies in the window of size octets starting at
// first: first <= v < first+size, modulo 2^32 (RFC 9293 §3.4, §3.10.7.4).
// A zero-size window contains nothing; the receive-side rule that accepts a
// zero-length segment at RCV.NXT when RCV.WND = 0 (RFC 9293 §3.10.7.4) is
// the caller's to apply.
func (v Value) InWindow(first Value, size Size) bool { return Size(v-first) < size }

// Add returns v advanced by s, modulo 2^32 (RFC 9293 §3.4).
func (v Value) Add(s Size) Value { return v + Value(s) }

// Sub returns v moved back by s, modulo 2^32 (RFC 9293 §3.4).
func (v Value) Sub(s Size) Value { return v - Value(s) }

// Size returns the distance from v forward to to, modulo 2^32
// (RFC 9293 §3.4): v.Add(v.Size(to)) == to. When to comes before v the
// result wraps to a large value; callers compare first.
func (v Value) Size(to Value) Size { return Size(to - v) }

// UpdateForward advances v by s in place, modulo 2^32 (RFC 9293 §3.4), as
// SND.NXT or RCV.NXT move forward.
func (v *Value) UpdateForward(s Size) { *v += Value(s) }

// Max returns whichever of a and b comes later in the sequence space
// (RFC 9293 §3.4); a when they are equal.
func Max(a, b Value) Value {
	if b.GreaterThan(a) {
		return b
	}
	return a
}

// Min returns whichever of a and b comes earlier in the sequence space
// (RFC 9293 §3.4); a when they are equal.
func Min(a, b Value) Value {
	if b.LessThan(a) {
		return b
	}
	return a
}
