package header

import "encoding/binary"

// TCPMinLen is the length of a TCP header without options
// (RFC 9293 §3.1, Data Offset = 5).
const TCPMinLen = 20

// TCPMaxHeaderLen is the largest TCP header, Data Offset = 15
// (RFC 9293 §3.1).
const TCPMaxHeaderLen = 60

// TCP control bits as returned by TCP.Flags (RFC 9293 §3.1; ECE and CWR
// from RFC 3168 §6.1).
const (
	TCPFlagFIN uint8 = 1 << 0
	TCPFlagSYN uint8 = 1 << 1
	TCPFlagRST uint8 = 1 << 2
	TCPFlagPSH uint8 = 1 << 3
	TCPFlagACK uint8 = 1 << 4
	TCPFlagURG uint8 = 1 << 5
	TCPFlagECE uint8 = 1 << 6
	TCPFlagCWR uint8 = 1 << 7
)

// TCP is a view of a TCP segment, header and data (RFC 9293 §3.1):
//
//	 0                   1                   2                   3
//	 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|          Source Port          |       Destination Port        |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                        Sequence Number                        |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                    Acknowledgment Number                      |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|  Data |       |C|E|U|A|P|R|S|F|                               |
//	| Offset| Rsrvd |W|C|R|C|S|S|Y|I|            Window             |
//	|       |       |R|E|G|K|H|T|N|N|                               |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|           Checksum            |         Urgent Pointer        |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                           [Options]                           |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                             data ...
//
// Sequence and acknowledgment numbers are returned as raw uint32; compare
// them only through a wrap-safe sequence-number type.
type TCP []byte

// ParseTCP checks that b holds a TCP header whose Data Offset is at least 5
// words and does not run past b (RFC 9293 §3.1), and returns it as a view.
// b should be the IP payload: the segment extends to its end. Options are
// not parsed.
func ParseTCP(b []byte) (TCP, bool) {
	if len(b) < TCPMinLen {
		return nil, false
	}
	h := TCP(b)
	off := h.DataOffset()
	if off < TCPMinLen || off > len(b) {
		return nil, false
	}
	return h, true
}

// SrcPort returns the Source Port.
func (b TCP) SrcPort() uint16 { return binary.BigEndian.Uint16(b[0:2]) }

// DstPort returns the Destination Port.
func (b TCP) DstPort() uint16 { return binary.BigEndian.Uint16(b[2:4]) }

// SeqNum returns the Sequence Number.
func (b TCP) SeqNum() uint32 { return binary.BigEndian.Uint32(b[4:8]) }

// AckNum returns the Acknowledgment Number.
func (b TCP) AckNum() uint32 { return binary.BigEndian.Uint32(b[8:12]) }

// DataOffset returns the header length in bytes: Data Offset × 4.
func (b TCP) DataOffset() int { return int(b[12]>>4) * 4 }

// Flags returns the eight control bits (TCPFlagFIN ... TCPFlagCWR).
func (b TCP) Flags() uint8 { return b[13] }

// Window returns the Window field, before any window scaling.
func (b TCP) Window() uint16 { return binary.BigEndian.Uint16(b[14:16]) }

// Checksum returns the Checksum field.
func (b TCP) Checksum() uint16 { return binary.BigEndian.Uint16(b[16:18]) }

// UrgentPtr returns the Urgent Pointer field.
func (b TCP) UrgentPtr() uint16 { return binary.BigEndian.Uint16(b[18:20]) }

// Options returns the option bytes between the fixed header and
// DataOffset, unparsed.
func (b TCP) Options() []byte { return b[TCPMinLen:b.DataOffset()] }

// Payload returns the segment data after DataOffset.
func (b TCP) Payload() []byte { return b[b.DataOffset():] }

// SetSrcPort sets the Source Port.
func (b TCP) SetSrcPort(v uint16) { binary.BigEndian.PutUint16(b[0:2], v) }

// SetDstPort sets the Destination Port.
func (b TCP) SetDstPort(v uint16) { binary.BigEndian.PutUint16(b[2:4], v) }

// SetSeqNum sets the Sequence Number.
func (b TCP) SetSeqNum(v uint32) { binary.BigEndian.PutUint32(b[4:8], v) }

// SetAckNum sets the Acknowledgment Number.
func (b TCP) SetAckNum(v uint32) { binary.BigEndian.PutUint32(b[8:12], v) }

// SetDataOffset sets Data Offset to n/4; n must be a multiple of 4 from 20
// to 60. The reserved bits are kept.
func (b TCP) SetDataOffset(n int) { b[12] = uint8(n/4)<<4 | b[12]&0x0f }

// SetFlags sets the eight control bits.
func (b TCP) SetFlags(v uint8) { b[13] = v }

// SetWindow sets the Window field.
func (b TCP) SetWindow(v uint16) { binary.BigEndian.PutUint16(b[14:16], v) }

// SetChecksum sets the Checksum field.
func (b TCP) SetChecksum(v uint16) { binary.BigEndian.PutUint16(b[16:18], v) }

// SetUrgentPtr sets the Urgent Pointer field.
func (b TCP) SetUrgentPtr(v uint16) { binary.BigEndian.PutUint16(b[18:20], v) }

// TCPFields holds the fields Encode writes into a TCP header.
type TCPFields struct {
	SrcPort    uint16
	DstPort    uint16
	SeqNum     uint32
	AckNum     uint32
	DataOffset int   // header length in bytes, options included: 20..60, a multiple of 4
	Flags      uint8 // TCPFlagSYN, ...
	Window     uint16
	UrgentPtr  uint16
}

// Encode writes the fixed 20-byte header from f, with the reserved bits and
// the checksum set to zero. Options, if DataOffset leaves room for them, are
// the caller's to write into Options().
func (b TCP) Encode(f TCPFields) {
	b.SetSrcPort(f.SrcPort)
	b.SetDstPort(f.DstPort)
	b.SetSeqNum(f.SeqNum)
	b.SetAckNum(f.AckNum)
	b[12] = uint8(f.DataOffset/4) << 4
	b.SetFlags(f.Flags)
	b.SetWindow(f.Window)
	b.SetChecksum(0)
	b.SetUrgentPtr(f.UrgentPtr)
}

// CalculateChecksum returns the checksum of the segment (the whole view)
// with the checksum field taken as zero, starting from pseudoSum, the
// PseudoHeaderSum of the segment (RFC 9293 §3.1, "Checksum").
func (b TCP) CalculateChecksum(pseudoSum uint32) uint16 {
	return Fold(Checksum(b[18:], Checksum(b[0:16], pseudoSum)))
}

// IsChecksumValid reports whether the Checksum field is correct for the
// segment (the whole view) given pseudoSum, the PseudoHeaderSum of the
// segment (RFC 9293 §3.1).
func (b TCP) IsChecksumValid(pseudoSum uint32) bool { return Fold(Checksum(b, pseudoSum)) == 0 }
