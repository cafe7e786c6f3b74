package header

import "encoding/binary"

// ICMPv4MinLen is the length of the ICMP header: type, code, checksum and
// four type-specific bytes (RFC 792).
const ICMPv4MinLen = 8

// ICMPv4 message types (RFC 792).
const (
	ICMPv4EchoReply       uint8 = 0  // Echo Reply
	ICMPv4DestUnreachable uint8 = 3  // Destination Unreachable
	ICMPv4Echo            uint8 = 8  // Echo (request)
	ICMPv4TimeExceeded    uint8 = 11 // Time Exceeded
)

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
