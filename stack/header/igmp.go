package header

import "encoding/binary"

// IPProtoIGMP is the IP protocol number of IGMP (RFC 1112 appendix I).
const IPProtoIGMP uint8 = 2

// IGMP message types (RFC 2236 §2.1, RFC 3376 §4).
const (
	IGMPMembershipQuery    uint8 = 0x11 // every version's query
	IGMPv1MembershipReport uint8 = 0x12 // RFC 1112
	IGMPv2MembershipReport uint8 = 0x16 // RFC 2236
	IGMPv2LeaveGroup       uint8 = 0x17 // RFC 2236
	IGMPv3MembershipReport uint8 = 0x22 // RFC 3376 §4.2
)

// IGMP lengths: the IGMPv1/v2 message, the fixed part of an IGMPv3 query
// (RFC 3376 §4.1), the fixed part of an IGMPv3 report (§4.2) and of one of
// its group records (§4.2.4).
const (
	IGMPMinLen         = 8
	IGMPv3QueryMinLen  = 12
	IGMPv3ReportMinLen = 8
	IGMPv3RecordMinLen = 8
)

// IGMPv3 group record types (RFC 3376 §4.2.12).
const (
	IGMPModeIsInclude   uint8 = 1 // Current-State: MODE_IS_INCLUDE
	IGMPModeIsExclude   uint8 = 2 // Current-State: MODE_IS_EXCLUDE
	IGMPChangeToInclude uint8 = 3 // Filter-Mode-Change: CHANGE_TO_INCLUDE_MODE
	IGMPChangeToExclude uint8 = 4 // Filter-Mode-Change: CHANGE_TO_EXCLUDE_MODE
	IGMPAllowNewSources uint8 = 5 // Source-List-Change: ALLOW_NEW_SOURCES
	IGMPBlockOldSources uint8 = 6 // Source-List-Change: BLOCK_OLD_SOURCES
)

// IGMP is a view of an IGMP message, from its Type byte to the end of the
// IP payload. The first eight bytes are common to every version (RFC 2236
// §2, RFC 3376 §4.1):
//
//	 0                   1                   2                   3
//	 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|     Type      | Max Resp Code |           Checksum            |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                         Group Address                         |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	| Resv  |S| QRV |     QQIC      |     Number of Sources (N)     |  (v3 query)
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                       Source Address [1..N]                   |  (v3 query)
//
// An IGMPv3 report has Reserved for Max Resp Code and, in place of the
// group, a reserved half-word and the Number of Group Records.
type IGMP []byte

// ParseIGMP checks that b holds at least the eight common bytes and
// returns it as a view. b should be the whole IP payload, which the
// checksum covers.
func ParseIGMP(b []byte) (IGMP, bool) {
	if len(b) < IGMPMinLen {
		return nil, false
	}
	return IGMP(b), true
}

// Type is the message type (IGMPMembershipQuery, ...).
func (m IGMP) Type() uint8 { return m[0] }

// MaxRespCode is the Max Resp Code (v3) or Max Response Time (v2) byte.
func (m IGMP) MaxRespCode() uint8 { return m[1] }

// Group is the Group Address field as a big-endian uint32.
func (m IGMP) Group() uint32 { return binary.BigEndian.Uint32(m[4:8]) }

// ChecksumValid reports whether the checksum over the whole message is
// correct (RFC 2236 §2.3).
func (m IGMP) ChecksumValid() bool { return Fold(Checksum(m, 0)) == 0 }

// SetChecksum computes and fills in the checksum over the whole message.
func (m IGMP) SetChecksum() {
	m[2], m[3] = 0, 0
	binary.BigEndian.PutUint16(m[2:4], Fold(Checksum(m, 0)))
}

// IsV3Query reports whether the message is long enough to be an IGMPv3
// query (RFC 3376 §7.1: a query of 12 bytes or more is v3).
func (m IGMP) IsV3Query() bool { return len(m) >= IGMPv3QueryMinLen }

// SFlag is a v3 query's Suppress Router-Side Processing flag.
func (m IGMP) SFlag() bool { return m[8]&0x08 != 0 }

// QRV is a v3 query's Querier's Robustness Variable.
func (m IGMP) QRV() uint8 { return m[8] & 0x07 }

// QQIC is a v3 query's Querier's Query Interval Code, in seconds once
// decoded by IGMPv3Code (RFC 3376 §4.1.7).
func (m IGMP) QQIC() uint8 { return m[9] }

// NumSources is a v3 query's Number of Sources.
func (m IGMP) NumSources() int { return int(binary.BigEndian.Uint16(m[10:12])) }

// Source is the i'th source address of a v3 query, as a big-endian
// uint32; the caller checks i against NumSources and the length.
func (m IGMP) Source(i int) uint32 {
	o := IGMPv3QueryMinLen + 4*i
	return binary.BigEndian.Uint32(m[o : o+4])
}

// IGMPv3Code decodes a Max Resp Code or QQIC of RFC 3376 §4.1.1 and
// §4.1.7: below 128 the value itself, otherwise a floating-point value
// with a 3-bit exponent and a 4-bit mantissa, (mant | 0x10) << (exp + 3).
func IGMPv3Code(c uint8) int {
	if c < 128 {
		return int(c)
	}
	exp, mant := int(c>>4)&0x07, int(c)&0x0f
	return (mant | 0x10) << (exp + 3)
}
