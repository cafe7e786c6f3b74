package tcp

import (
	"crypto/rand"
	"encoding/binary"
	"math/bits"

	"github.com/dpstack/dpstack/ktime"
)

// sipKey is a SipHash key.
type sipKey struct{ k0, k1 uint64 }

// newSipKey returns a random key.
func newSipKey() sipKey {
	var b [16]byte
	rand.Read(b[:])
	return sipKey{binary.LittleEndian.Uint64(b[0:8]), binary.LittleEndian.Uint64(b[8:16])}
}

// sipRound is one SipRound (Aumasson and Bernstein, "SipHash: a fast
// short-input PRF", 2012, §2).
func sipRound(v0, v1, v2, v3 uint64) (uint64, uint64, uint64, uint64) {
	v0 += v1
	v1 = bits.RotateLeft64(v1, 13)
	v1 ^= v0
	v0 = bits.RotateLeft64(v0, 32)
	v2 += v3
	v3 = bits.RotateLeft64(v3, 16)
	v3 ^= v2
	v0 += v3
	v3 = bits.RotateLeft64(v3, 21)
	v3 ^= v0
	v2 += v1
	v1 = bits.RotateLeft64(v1, 17)
	v1 ^= v2
	v2 = bits.RotateLeft64(v2, 32)
	return v0, v1, v2, v3
}

// sum24 is SipHash-2-4 of a 16-byte message given as two little-endian
// words, the input size every use here has: (addresses, ports). Linux
// keys its ISNs, timestamp offsets and port offsets with SipHash too
// (secure_tcp_seq, secure_tcp_ts_off, secure_ipv4_port_ephemeral).
func (k sipKey) sum24(m0, m1 uint64) uint64 {
	v0 := k.k0 ^ 0x736f6d6570736575
	v1 := k.k1 ^ 0x646f72616e646f6d
	v2 := k.k0 ^ 0x6c7967656e657261
	v3 := k.k1 ^ 0x7465646279746573
	for _, m := range [3]uint64{m0, m1, 16 << 56} { // the last block: length, no tail
		v3 ^= m
		v0, v1, v2, v3 = sipRound(v0, v1, v2, v3)
		v0, v1, v2, v3 = sipRound(v0, v1, v2, v3)
		v0 ^= m
	}
	v2 ^= 0xff
	for range 4 {
		v0, v1, v2, v3 = sipRound(v0, v1, v2, v3)
	}
	return v0 ^ v1 ^ v2 ^ v3
}

// tupleWords packs a 4-tuple into the two words sum24 takes.
func tupleWords(t fourTuple) (uint64, uint64) {
	return uint64(t.laddr)<<32 | uint64(t.raddr), uint64(t.lport)<<16 | uint64(t.rport)
}

// isnClock is M of RFC 6528 §3: a timer that ticks every 4 microseconds,
// truncated to 32 bits (it wraps every 4.77 hours).
func isnClock(now ktime.Time) uint32 {
	return uint32(int64(now) / 4000)
}

// isn returns the initial send sequence number of a connection on t
// (RFC 6528 §3): ISN = M + F(localip, localport, remoteip, remoteport,
// secretkey), with M the 4 µs clock and F SipHash-2-4 under the core's
// secret key, as Linux's secure_tcp_seq. ISNs of one 4-tuple grow with the
// clock (so a new incarnation's sequence numbers lie above the old one's,
// RFC 9293 §3.4.1); across 4-tuples they are unpredictable.
func (p *Proto) isn(t fourTuple) uint32 {
	if p.isnHook != nil {
		return p.isnHook(t)
	}
	a, b := tupleWords(t)
	return uint32(p.isnKey.sum24(a, b)) + isnClock(p.now())
}

// tsOffset returns the random offset added to the timestamp clock of a
// connection between the two addresses (RFC 7323 §7.1; Linux's
// secure_tcp_ts_off), so that TSvals do not reveal the host's uptime or
// link its connections to different peers.
func (p *Proto) tsOffset(t fourTuple) uint32 {
	return uint32(p.tsKey.sum24(uint64(t.laddr)<<32|uint64(t.raddr), 0))
}
