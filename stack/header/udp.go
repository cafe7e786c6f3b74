package header

import "encoding/binary"

// UDPLen is the length of the UDP header (RFC 768).
const UDPLen = 8

// UDP is a view of a UDP datagram, header and data (RFC 768):
//
//	 0      7 8     15 16    23 24    31
//	+--------+--------+--------+--------+
//	|     Source      |   Destination   |
//	|      Port       |      Port       |
//	+--------+--------+--------+--------+
//	|                 |                 |
//	|     Length      |    Checksum     |
//	+--------+--------+--------+--------+
//	|          data octets ...
//	+---------------- ...
type UDP []byte

// ParseUDP checks that b holds a UDP header whose Length field is at least
// UDPLen and at most len(b), and returns a view truncated to Length
// (RFC 768; RFC 1122 §4.1.3.4).
func ParseUDP(b []byte) (UDP, bool) {
	if len(b) < UDPLen {
		return nil, false
	}
	n := int(UDP(b).Length())
	if n < UDPLen || n > len(b) {
		return nil, false
	}
	return UDP(b[:n]), true
}

// SrcPort returns the Source Port.
func (b UDP) SrcPort() uint16 { return binary.BigEndian.Uint16(b[0:2]) }

// DstPort returns the Destination Port.
func (b UDP) DstPort() uint16 { return binary.BigEndian.Uint16(b[2:4]) }

// Length returns the Length field: header plus data, in bytes.
func (b UDP) Length() uint16 { return binary.BigEndian.Uint16(b[4:6]) }

// Checksum returns the Checksum field; 0 means the sender computed none
// (RFC 768).
func (b UDP) Checksum() uint16 { return binary.BigEndian.Uint16(b[6:8]) }

// Payload returns the data after the header, to the end of the view.
func (b UDP) Payload() []byte { return b[UDPLen:] }

// SetSrcPort sets the Source Port.
func (b UDP) SetSrcPort(v uint16) { binary.BigEndian.PutUint16(b[0:2], v) }

// SetDstPort sets the Destination Port.
func (b UDP) SetDstPort(v uint16) { binary.BigEndian.PutUint16(b[2:4], v) }

// SetLength sets the Length field.
func (b UDP) SetLength(v uint16) { binary.BigEndian.PutUint16(b[4:6], v) }

// SetChecksum sets the Checksum field.
func (b UDP) SetChecksum(v uint16) { binary.BigEndian.PutUint16(b[6:8], v) }

// Encode writes a complete header with a zero checksum.
func (b UDP) Encode(srcPort, dstPort, length uint16) {
	b.SetSrcPort(srcPort)
	b.SetDstPort(dstPort)
	b.SetLength(length)
	b.SetChecksum(0)
}

// CalculateChecksum returns the checksum of the datagram (the whole view)
// with the checksum field taken as zero, starting from pseudoSum, the
// PseudoHeaderSum of the datagram. A result of 0 must be sent as 0xffff,
// since 0 means "no checksum" (RFC 768).
func (b UDP) CalculateChecksum(pseudoSum uint32) uint16 {
	return Fold(Checksum(b[UDPLen:], Checksum(b[0:6], pseudoSum)))
}

// IsChecksumValid reports whether the checksum of the datagram (the whole
// view) is correct given pseudoSum, the PseudoHeaderSum of the datagram. A
// zero Checksum field (none computed) is reported as valid (RFC 768).
func (b UDP) IsChecksumValid(pseudoSum uint32) bool {
	return b.Checksum() == 0 || Fold(Checksum(b, pseudoSum)) == 0
}
