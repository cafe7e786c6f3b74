package header

import (
	"encoding/binary"
	"math/bits"
	"net/netip"
)

// IPv4MinLen is the length of an IPv4 header without options
// (RFC 791 §3.1, IHL = 5).
const IPv4MinLen = 20

// IPv4MaxHeaderLen is the largest IPv4 header, IHL = 15 (RFC 791 §3.1).
const IPv4MaxHeaderLen = 60

// IPv4Version is the value of the Version field of an IPv4 header.
const IPv4Version = 4

// Protocol numbers carried in the IPv4 Protocol field (RFC 791 §3.1; IANA
// "Assigned Internet Protocol Numbers").
const (
	IPProtoICMP uint8 = 1  // RFC 792
	IPProtoTCP  uint8 = 6  // RFC 9293
	IPProtoUDP  uint8 = 17 // RFC 768
)

// Bits of the 3-bit IPv4 Flags field as returned by IPv4.Flags
// (RFC 791 §3.1: bit 0 reserved, bit 1 DF, bit 2 MF).
const (
	IPv4FlagMF uint8 = 1 << 0 // More Fragments
	IPv4FlagDF uint8 = 1 << 1 // Don't Fragment
)

// IPv4 is a view of an IPv4 packet: header, options and payload
// (RFC 791 §3.1):
//
//	 0                   1                   2                   3
//	 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|Version|  IHL  |Type of Service|          Total Length         |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|         Identification        |Flags|      Fragment Offset    |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|  Time to Live |    Protocol   |         Header Checksum       |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                       Source Address                          |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                    Destination Address                        |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                    Options                    |    Padding    |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//
// A view from ParseIPv4 satisfies IPv4MinLen <= HeaderLen() <= TotalLen()
// == len(view), so Options and Payload cannot go out of range.
type IPv4 []byte

// IPv4Error is the reason ParseIPv4 rejected a packet. Its String is meant
// as a drop-counter label.
type IPv4Error uint8

// Results of ParseIPv4.
const (
	IPv4OK          IPv4Error = iota // the header is well formed
	IPv4TooShort                     // fewer than IPv4MinLen bytes
	IPv4BadVersion                   // Version is not 4
	IPv4BadIHL                       // IHL < 5, or the header runs past the buffer
	IPv4BadTotalLen                  // Total Length < header length, or > the buffer

	// NumIPv4Errors is the number of IPv4Error values, for sizing arrays of
	// counters indexed by IPv4Error.
	NumIPv4Errors
)

var ipv4ErrorNames = [NumIPv4Errors]string{
	IPv4OK:          "ok",
	IPv4TooShort:    "ip_too_short",
	IPv4BadVersion:  "ip_bad_version",
	IPv4BadIHL:      "ip_bad_ihl",
	IPv4BadTotalLen: "ip_bad_total_len",
}

// String returns a snake_case name usable as a metric label, such as
// "ip_bad_version". It does not allocate.
func (e IPv4Error) String() string {
	if e < NumIPv4Errors {
		return ipv4ErrorNames[e]
	}
	return "ip_unknown_error"
}

// ParseIPv4 validates the lengths of the IPv4 header at the start of b
// (RFC 791 §3.1; RFC 1122 §3.2.1.1-3.2.1.2 on silently discarding bad
// headers) and returns a view truncated to Total Length, so that link-layer
// padding is not taken for payload. It does not verify the header checksum,
// which a NIC may already have checked: call IsChecksumValid for that.
func ParseIPv4(b []byte) (IPv4, IPv4Error) { return ParseIPv4Chain(b, len(b)) }

// ParseIPv4Chain is ParseIPv4 for a packet of pktLen bytes whose first
// segment, first, holds the header (a frame the port scattered over
// several buffers): Total Length is checked against the whole packet,
// and the view covers the header and as much of the datagram as first
// holds, as for a reassembled datagram, so len(view) may be less than
// TotalLen.
func ParseIPv4Chain(first []byte, pktLen int) (IPv4, IPv4Error) {
	if len(first) < IPv4MinLen {
		return nil, IPv4TooShort
	}
	h := IPv4(first)
	if h.Version() != IPv4Version {
		return nil, IPv4BadVersion
	}
	hl := h.HeaderLen()
	if hl < IPv4MinLen || hl > len(first) {
		return nil, IPv4BadIHL
	}
	tl := int(h.TotalLen())
	if tl < hl || tl > pktLen {
		return nil, IPv4BadTotalLen
	}
	return h[:min(tl, len(first))], IPv4OK
}

// Version returns the Version field.
func (b IPv4) Version() uint8 { return b[0] >> 4 }

// HeaderLen returns the header length in bytes: IHL × 4.
func (b IPv4) HeaderLen() int { return int(b[0]&0x0f) * 4 }

// TOS returns the Type of Service byte (DSCP and ECN, RFC 2474 §3,
// RFC 3168 §5).
func (b IPv4) TOS() uint8 { return b[1] }

// TotalLen returns the Total Length field: header plus data, in bytes.
func (b IPv4) TotalLen() uint16 { return binary.BigEndian.Uint16(b[2:4]) }

// ID returns the Identification field.
func (b IPv4) ID() uint16 { return binary.BigEndian.Uint16(b[4:6]) }

// Flags returns the 3-bit Flags field (see IPv4FlagDF, IPv4FlagMF).
func (b IPv4) Flags() uint8 { return b[6] >> 5 }

// FragmentOffset returns the Fragment Offset in bytes (the field counts
// 8-byte units).
func (b IPv4) FragmentOffset() uint16 { return (binary.BigEndian.Uint16(b[6:8]) & 0x1fff) * 8 }

// MoreFragments reports whether the MF flag is set.
func (b IPv4) MoreFragments() bool { return b.Flags()&IPv4FlagMF != 0 }

// DontFragment reports whether the DF flag is set.
func (b IPv4) DontFragment() bool { return b.Flags()&IPv4FlagDF != 0 }

// TTL returns the Time to Live field.
func (b IPv4) TTL() uint8 { return b[8] }

// Protocol returns the Protocol field (IPProtoTCP, ...).
func (b IPv4) Protocol() uint8 { return b[9] }

// Checksum returns the Header Checksum field.
func (b IPv4) Checksum() uint16 { return binary.BigEndian.Uint16(b[10:12]) }

// Src returns the Source Address.
func (b IPv4) Src() netip.Addr { return netip.AddrFrom4([4]byte(b[12:16])) }

// Dst returns the Destination Address.
func (b IPv4) Dst() netip.Addr { return netip.AddrFrom4([4]byte(b[16:20])) }

// SrcUint32 returns the Source Address as a big-endian uint32 (198.18.0.1
// is 0xc6120001), for comparing and classifying without a netip.Addr.
func (b IPv4) SrcUint32() uint32 { return binary.BigEndian.Uint32(b[12:16]) }

// DstUint32 returns the Destination Address as a big-endian uint32.
func (b IPv4) DstUint32() uint32 { return binary.BigEndian.Uint32(b[16:20]) }

// Options returns the options and padding between the fixed header and
// HeaderLen.
func (b IPv4) Options() []byte { return b[IPv4MinLen:b.HeaderLen()] }

// Payload returns the data between HeaderLen and TotalLen.
func (b IPv4) Payload() []byte { return b[b.HeaderLen():b.TotalLen()] }

// IsFragment reports whether the packet is a fragment: MF is set or the
// fragment offset is not zero (RFC 791 §3.2, "Fragmentation and
// Reassembly").
func (b IPv4) IsFragment() bool {
	return binary.BigEndian.Uint16(b[6:8])&0x3fff != 0
}

// IsNonFirstFragment reports whether the packet is a fragment other than
// the first (fragment offset not zero); such a packet carries no transport
// header and must not draw an ICMP error (RFC 1122 §3.2.2).
func (b IPv4) IsNonFirstFragment() bool { return b.FragmentOffset() != 0 }

// CalculateChecksum returns the header checksum computed over HeaderLen
// bytes with the checksum field taken as zero (RFC 791 §3.1, "Header
// Checksum").
func (b IPv4) CalculateChecksum() uint16 {
	hl := b.HeaderLen()
	if hl == IPv4MinLen {
		return Fold(sum20(b, true))
	}
	return Fold(Checksum(b[12:hl], Checksum(b[0:10], 0)))
}

// SetChecksumFull computes the header checksum and stores it in the
// Header Checksum field, whatever the field held before.
func (b IPv4) SetChecksumFull() { b.SetChecksum(b.CalculateChecksum()) }

// IsChecksumValid reports whether the Header Checksum field is correct: the
// ones' complement sum of the header, checksum included, is all ones
// (RFC 791 §3.1; RFC 1071 §1).
func (b IPv4) IsChecksumValid() bool {
	hl := b.HeaderLen()
	if hl == IPv4MinLen {
		return Fold(sum20(b, false)) == 0
	}
	return Fold(Checksum(b[:hl], 0)) == 0
}

// sum20 is Checksum(b[:20], 0) for a header without options, with the
// Header Checksum field taken as zero when skipField is set: five 32-bit
// additions, the shape of Linux's ip_fast_csum, instead of Checksum's
// general loop, which nearly every packet's header would pay twice. Like
// Checksum it adds little-endian lanes and swaps the folded sum back
// (RFC 1071 §2(B)).
func sum20(b []byte, skipField bool) uint32 {
	_ = b[19]
	w2 := binary.LittleEndian.Uint32(b[8:12])
	if skipField {
		w2 &= 0xffff // bytes 8 and 9: TTL and Protocol
	}
	s := uint64(binary.LittleEndian.Uint32(b[0:4])) + uint64(binary.LittleEndian.Uint32(b[4:8])) +
		uint64(w2) + uint64(binary.LittleEndian.Uint32(b[12:16])) + uint64(binary.LittleEndian.Uint32(b[16:20]))
	s = s>>32 + s&0xffffffff // at most 2^32 + 3
	s = s>>16 + s&0xffff     // at most 2^17
	s = s>>16 + s&0xffff     // at most 2^16
	s = s>>16 + s&0xffff     // 16 bits
	return uint32(bits.ReverseBytes16(uint16(s)))
}

// SetVersion sets the Version field, keeping IHL.
func (b IPv4) SetVersion(v uint8) { b[0] = v<<4 | b[0]&0x0f }

// SetHeaderLen sets IHL to n/4; n must be a multiple of 4 from 20 to 60.
// Version is kept.
func (b IPv4) SetHeaderLen(n int) { b[0] = b[0]&0xf0 | uint8(n/4)&0x0f }

// SetTOS sets the Type of Service byte.
func (b IPv4) SetTOS(v uint8) { b[1] = v }

// SetTotalLen sets the Total Length field.
func (b IPv4) SetTotalLen(v uint16) { binary.BigEndian.PutUint16(b[2:4], v) }

// SetID sets the Identification field.
func (b IPv4) SetID(v uint16) { binary.BigEndian.PutUint16(b[4:6], v) }

// SetFlags sets the 3-bit Flags field, keeping the fragment offset.
func (b IPv4) SetFlags(f uint8) { b[6] = f<<5 | b[6]&0x1f }

// SetFragmentOffset sets the fragment offset to off bytes, which must be a
// multiple of 8 (the low 3 bits are dropped). The flags are kept.
func (b IPv4) SetFragmentOffset(off uint16) {
	v := binary.BigEndian.Uint16(b[6:8])&0xe000 | (off/8)&0x1fff
	binary.BigEndian.PutUint16(b[6:8], v)
}

// SetTTL sets the Time to Live field.
func (b IPv4) SetTTL(v uint8) { b[8] = v }

// SetProtocol sets the Protocol field.
func (b IPv4) SetProtocol(v uint8) { b[9] = v }

// SetChecksum sets the Header Checksum field.
func (b IPv4) SetChecksum(v uint16) { binary.BigEndian.PutUint16(b[10:12], v) }

// SetSrc sets the Source Address. It panics if a is not an IPv4 (or
// IPv4-mapped IPv6) address.
func (b IPv4) SetSrc(a netip.Addr) { v := a.As4(); copy(b[12:16], v[:]) }

// SetDst sets the Destination Address. It panics if a is not an IPv4 (or
// IPv4-mapped IPv6) address.
func (b IPv4) SetDst(a netip.Addr) { v := a.As4(); copy(b[16:20], v[:]) }

// IPv4Fields holds the fields Encode writes into a 20-byte IPv4 header.
type IPv4Fields struct {
	TOS      uint8      // Type of Service
	TotalLen uint16     // header plus data, bytes
	ID       uint16     // Identification
	Flags    uint8      // IPv4FlagDF, IPv4FlagMF
	FragOff  uint16     // fragment offset in bytes, a multiple of 8
	TTL      uint8      // Time to Live
	Protocol uint8      // IPProtoTCP, ...
	Src      netip.Addr // must be IPv4
	Dst      netip.Addr // must be IPv4
}

// Encode writes a 20-byte header without options: Version 4, IHL 5 and the
// fields of f. The checksum field is set to zero, for the caller to fill
// with SetChecksumFull or to leave to checksum offload. It panics if Src or
// Dst is not an IPv4 address.
func (b IPv4) Encode(f IPv4Fields) {
	b[0] = IPv4Version<<4 | IPv4MinLen/4
	b.SetTOS(f.TOS)
	b.SetTotalLen(f.TotalLen)
	b.SetID(f.ID)
	binary.BigEndian.PutUint16(b[6:8], uint16(f.Flags)<<13|(f.FragOff/8)&0x1fff)
	b.SetTTL(f.TTL)
	b.SetProtocol(f.Protocol)
	b.SetChecksum(0)
	b.SetSrc(f.Src)
	b.SetDst(f.Dst)
}

// AddrU32 is an IPv4 (or IPv4-mapped) address as a host-order uint32, the
// form in which the stack's tables key addresses.
func AddrU32(a netip.Addr) uint32 {
	b := a.As4()
	return binary.BigEndian.Uint32(b[:])
}

// U32Addr is the address of a host-order uint32, the inverse of AddrU32.
func U32Addr(v uint32) netip.Addr {
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], v)
	return netip.AddrFrom4(b)
}
