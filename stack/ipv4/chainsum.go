package ipv4

import (
	"math/bits"

	"github.com/dpstack/dpstack/mbuf"
	"github.com/dpstack/dpstack/stack/header"
)

// sumFrom is the Internet checksum's running sum (RFC 1071) over the
// packet's bytes from offset off to its end, across all its segments, as
// if they were one buffer: a segment that starts at an odd position in
// the packet has its sum's bytes swapped into the right lanes (RFC 1071
// §2(B)). Its result goes to header.Fold.
func sumFrom(b *mbuf.Buf, off int) uint32 {
	var sum uint32
	pos := 0
	for s := b; s != nil; s = s.Next() {
		p := s.Bytes()
		if off >= len(p) {
			off -= len(p)
			continue
		}
		p = p[off:]
		off = 0
		v := fold16(header.Checksum(p, 0))
		if pos&1 != 0 {
			v = bits.RotateLeft16(v, 8)
		}
		sum += uint32(v)
		pos += len(p)
	}
	return sum
}

// ChainSum is sumFrom for the transports: the running sum of the
// packet's bytes from off to its end, across segments, for a checksum
// over a reassembled datagram or a datagram sent as a chain.
func ChainSum(b *mbuf.Buf, off int) uint32 { return sumFrom(b, off) }

// fold16 folds a running sum to 16 bits with end-around carry, without
// complementing it.
func fold16(sum uint32) uint16 {
	sum = sum>>16 + sum&0xffff
	sum = sum>>16 + sum&0xffff
	return uint16(sum)
}

// icmpChecksumOK reports whether the ICMP message in b, whose first
// segment starts with header icmp, has a correct checksum (RFC 792: it
// covers the whole message). A reassembled message spans several
// segments, and all of them are summed.
func icmpChecksumOK(b *mbuf.Buf, icmp header.ICMPv4) bool {
	if b.Segments() == 1 {
		return icmp.IsChecksumValid()
	}
	return header.Fold(sumFrom(b, 0)) == 0
}
