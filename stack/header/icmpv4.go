package header

import "encoding/binary"

// ICMPv4MinLen is the length of the ICMP header: type, code, checksum and
// four type-specific bytes (RFC 792).
const ICMPv4MinLen = 8

// ICMPv4 message types (RFC 792).
const (
	ICMPv4EchoReply       uint8 = 0  // Echo Reply
	ICMPv4DestUnreachable uint8 = 3  // Destination Unreachable
	ICMPv4SourceQuench    uint8 = 4  // Source Quench (deprecated, RFC 6633)
	ICMPv4Redirect        uint8 = 5  // Redirect
	ICMPv4Echo            uint8 = 8  // Echo (request)
	ICMPv4TimeExceeded    uint8 = 11 // Time Exceeded
	ICMPv4ParamProblem    uint8 = 12 // Parameter Problem
	ICMPv4Timestamp       uint8 = 13 // Timestamp
	ICMPv4TimestampReply  uint8 = 14 // Timestamp Reply
)

// Destination Unreachable codes (RFC 792, RFC 1122 §3.2.2.1, RFC 1812
// §5.2.7.1).
const (
	ICMPv4NetUnreachable   uint8 = 0  // net unreachable
	ICMPv4HostUnreachable  uint8 = 1  // host unreachable
	ICMPv4ProtoUnreachable uint8 = 2  // protocol unreachable
	ICMPv4PortUnreachable  uint8 = 3  // port unreachable
	ICMPv4FragNeeded       uint8 = 4  // fragmentation needed and DF set (RFC 1191: next-hop MTU in the low 16 bits)
	ICMPv4SourceRouteFail  uint8 = 5  // source route failed
	ICMPv4NetProhibited    uint8 = 9  // communication with the network administratively prohibited
	ICMPv4HostProhibited   uint8 = 10 // communication with the host administratively prohibited
	ICMPv4AdminProhibited  uint8 = 13 // communication administratively prohibited (RFC 1812)
)

// Time Exceeded codes (RFC 792).
const (
	ICMPv4TTLExceeded        uint8 = 0 // time to live exceeded in transit
	ICMPv4ReassemblyExceeded uint8 = 1 // fragment reassembly time exceeded
)

// ICMPv4IsError reports whether typ is an ICMP error message, one that must
// never be answered with another error (RFC 1122 §3.2.2): Destination
// Unreachable, Source Quench, Redirect, Time Exceeded and Parameter
// Problem. As Linux does, a type above the last one RFC 792 and RFC 950
// assign (18, Address Mask Reply) counts as an error too, since nothing
// says it is not.
func ICMPv4IsError(typ uint8) bool {
	switch typ {
	case ICMPv4DestUnreachable, ICMPv4SourceQuench, ICMPv4Redirect, ICMPv4TimeExceeded, ICMPv4ParamProblem:
		return true
	}
	return typ > 18
}

// ICMPv4 is a view of an ICMP message, from its Type byte to the end of the
// IP payload (RFC 792):
//
//	 0                   1                   2                   3
//	 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|     Type      |     Code      |          Checksum             |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|           Identifier          |        Sequence Number        |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|     Data ...
//	+-+-+-+-+-
//
// Identifier and Sequence Number are the Echo layout; for other types the
// same four bytes carry type-specific data ("unused" for Destination
// Unreachable and Time Exceeded).
type ICMPv4 []byte

// ParseICMPv4 checks that b holds at least an ICMP header and returns it as
// a view. b should be the whole IP payload, since the checksum covers it all.
func ParseICMPv4(b []byte) (ICMPv4, bool) {
	if len(b) < ICMPv4MinLen {
		return nil, false
	}
	return ICMPv4(b), true
}

// Type returns the Type field.
func (b ICMPv4) Type() uint8 { return b[0] }

// Code returns the Code field.
func (b ICMPv4) Code() uint8 { return b[1] }

// Checksum returns the Checksum field.
func (b ICMPv4) Checksum() uint16 { return binary.BigEndian.Uint16(b[2:4]) }

// Ident returns the Echo Identifier.
func (b ICMPv4) Ident() uint16 { return binary.BigEndian.Uint16(b[4:6]) }

// Seq returns the Echo Sequence Number.
func (b ICMPv4) Seq() uint16 { return binary.BigEndian.Uint16(b[6:8]) }

// Payload returns the data after the 8-byte header: the echo data, or the
// original IP header and first 8 data bytes of an error message.
func (b ICMPv4) Payload() []byte { return b[ICMPv4MinLen:] }

// SetType sets the Type field.
func (b ICMPv4) SetType(v uint8) { b[0] = v }

// SetCode sets the Code field.
func (b ICMPv4) SetCode(v uint8) { b[1] = v }

// SetChecksum sets the Checksum field.
func (b ICMPv4) SetChecksum(v uint16) { binary.BigEndian.PutUint16(b[2:4], v) }

// SetIdent sets the Echo Identifier.
func (b ICMPv4) SetIdent(v uint16) { binary.BigEndian.PutUint16(b[4:6], v) }

// SetSeq sets the Echo Sequence Number.
func (b ICMPv4) SetSeq(v uint16) { binary.BigEndian.PutUint16(b[6:8], v) }

// CalculateChecksum returns the checksum of the whole message with the
// checksum field taken as zero (RFC 792, "Checksum": the ones' complement of
// the ones' complement sum of the ICMP message starting with the Type).
func (b ICMPv4) CalculateChecksum() uint16 {
	return Fold(Checksum(b[4:], Checksum(b[0:2], 0)))
}

// SetChecksumFull computes the checksum of the whole message and stores it
// in the Checksum field, zeroed first so that the message is summed in one
// pass.
func (b ICMPv4) SetChecksumFull() {
	b.SetChecksum(0)
	b.SetChecksum(Fold(Checksum(b, 0)))
}

// IsChecksumValid reports whether the Checksum field is correct for the
// whole message (RFC 792).
func (b ICMPv4) IsChecksumValid() bool { return Fold(Checksum(b, 0)) == 0 }
