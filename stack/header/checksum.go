package header

import (
	"encoding/binary"
	"math/bits"
	"net/netip"
)

// Checksum adds the bytes of b to the running Internet checksum sum initial
// and returns the new running sum (RFC 1071 §1). Bytes are taken as
// big-endian 16-bit words; an odd final byte is padded with a zero byte on
// its right (RFC 1071 §1, step 2).
//
// The result is a partially folded ones' complement sum: it may be passed as
// initial to a further call, or to Fold to obtain the 16-bit checksum. When
// a message is summed in pieces, every piece but the last must have an even
// length, or the later bytes would be summed in the wrong byte lanes.
//
// The sum runs over 8-byte words with a 64-bit accumulator and end-around
// carry (RFC 1071 §2(C), "parallel summation"); the ones' complement sum is
// independent of the word size because 2^64 ≡ 2^32 ≡ 2^16 ≡ 1 (mod 2^16-1).
// The words are loaded little-endian, a plain load on x86-64 and arm64 with
// no byte swap per word (RFC 1071 §2(B), "byte order independence"): swapping
// the two bytes of a 16-bit lane multiplies it by 2^8 modulo 2^16-1, and so
// does rotating a 32-bit sum left by 8 bits, since 2^16-1 divides 2^32-1.
// initial is turned into little-endian lanes on the way in (rotated right
// by 8) and the result back on the way out (rotated left by 8).
func Checksum(b []byte, initial uint32) uint32 {
	acc := uint64(bits.RotateLeft32(initial, -8))
	var carry uint64
	for len(b) >= 64 {
		acc, carry = bits.Add64(acc, binary.LittleEndian.Uint64(b[0:8]), carry)
		acc, carry = bits.Add64(acc, binary.LittleEndian.Uint64(b[8:16]), carry)
		acc, carry = bits.Add64(acc, binary.LittleEndian.Uint64(b[16:24]), carry)
		acc, carry = bits.Add64(acc, binary.LittleEndian.Uint64(b[24:32]), carry)
		acc, carry = bits.Add64(acc, binary.LittleEndian.Uint64(b[32:40]), carry)
		acc, carry = bits.Add64(acc, binary.LittleEndian.Uint64(b[40:48]), carry)
		acc, carry = bits.Add64(acc, binary.LittleEndian.Uint64(b[48:56]), carry)
		acc, carry = bits.Add64(acc, binary.LittleEndian.Uint64(b[56:64]), carry)
		b = b[64:]
	}
	for len(b) >= 8 {
		acc, carry = bits.Add64(acc, binary.LittleEndian.Uint64(b[0:8]), carry)
		b = b[8:]
	}
	// Fold to 33 bits, taking in the last carry (worth 2^64 ≡ 1).
	s := acc>>32 + acc&0xffffffff + carry
	if len(b) >= 4 {
		s += uint64(binary.LittleEndian.Uint32(b[0:4]))
		b = b[4:]
	}
	if len(b) >= 2 {
		s += uint64(binary.LittleEndian.Uint16(b[0:2]))
		b = b[2:]
	}
	if len(b) == 1 {
		// The odd byte is the first (high) byte of a big-endian word:
		// the low byte of a little-endian lane.
		s += uint64(b[0])
	}
	s = s>>32 + s&0xffffffff
	s = s>>32 + s&0xffffffff
	return bits.RotateLeft32(uint32(s), 8)
}

// Fold folds a running sum from Checksum to 16 bits with end-around carry
// and returns its ones' complement: the value that goes into a checksum
// field (RFC 1071 §1, step 3). Over a message that includes a correct
// checksum field, Fold returns 0.
func Fold(sum uint32) uint16 {
	sum = sum>>16 + sum&0xffff
	sum = sum>>16 + sum&0xffff
	return ^uint16(sum)
}

// PseudoHeaderSum returns the running checksum sum of the pseudo header that
// TCP and UDP prefix to their checksum (RFC 9293 §3.1, RFC 768): source and
// destination address, a zero byte, the protocol number, and the TCP or UDP
// length (header plus data). Pass it as initial to Checksum over the segment.
//
// IPv4 addresses, and IPv4-mapped IPv6 addresses (RFC 4291 §2.5.5.2),
// contribute their 4 IPv4 bytes. Other IPv6 addresses contribute their 16
// bytes, which gives the IPv6 pseudo header of RFC 8200 §8.1 for lengths
// below 65,536 (its 32-bit length and next-header fields sum to the same
// value). The zero Addr contributes nothing.
func PseudoHeaderSum(src, dst netip.Addr, proto uint8, length uint16) uint32 {
	return addrSum(src) + addrSum(dst) + uint32(proto) + uint32(length)
}

// PseudoHeaderSum4 is PseudoHeaderSum for IPv4 addresses given as the
// big-endian uint32 values of their bytes (IPv4.SrcUint32, DstUint32), as
// the per-packet paths hold them.
func PseudoHeaderSum4(src, dst uint32, proto uint8, length uint16) uint32 {
	return src>>16 + src&0xffff + dst>>16 + dst&0xffff + uint32(proto) + uint32(length)
}

// addrSum returns the sum of the 16-bit words of a, at most 8 × 0xffff.
func addrSum(a netip.Addr) uint32 {
	switch {
	case a.Is4() || a.Is4In6():
		v := a.As4()
		return uint32(binary.BigEndian.Uint16(v[0:2])) + uint32(binary.BigEndian.Uint16(v[2:4]))
	case a.Is6():
		v := a.As16()
		var s uint32
		for i := 0; i < 16; i += 2 {
			s += uint32(binary.BigEndian.Uint16(v[i : i+2]))
		}
		return s
	}
	return 0
}

// ChecksumUpdate16 returns the checksum field value after one 16-bit word of
// the checksummed data changed from oldField to newField, given the old
// checksum field value, without summing the message again (RFC 1624 §3,
// eqn. 3: HC' = ~(~HC + ~m + m')). Unlike the RFC 1141 formula it agrees with
// a full recomputation when the new checksum is 0 (RFC 1624 §4); the one
// difference left is the degenerate message whose words are all zero, where
// it gives 0x0000 instead of the equivalent 0xffff.
func ChecksumUpdate16(oldChecksum, oldField, newField uint16) uint16 {
	sum := uint32(^oldChecksum) + uint32(^oldField) + uint32(newField)
	return Fold(sum)
}
