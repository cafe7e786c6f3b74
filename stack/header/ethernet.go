package header

import "encoding/binary"

// EthernetLen is the length of an Ethernet II header without a VLAN tag:
// destination MAC, source MAC, EtherType (IEEE 802.3 §3.1.1).
const EthernetLen = 14

// VLANTagLen is the length of an IEEE 802.1Q tag: the TPID 0x8100 and the
// tag control information (IEEE 802.1Q §9.3).
const VLANTagLen = 4

// EthernetVLANLen is the length of an Ethernet header with one 802.1Q tag.
const EthernetVLANLen = EthernetLen + VLANTagLen

// VLANIDMask selects the VLAN identifier (VID) of a tag control
// information field; the priority code point and DEI are above it.
const VLANIDMask = 0x0fff

// EtherType values (IEEE EtherType registry), each with
// the document that defines its use.
const (
	EtherTypeIPv4 uint16 = 0x0800 // IPv4, RFC 894
	EtherTypeARP  uint16 = 0x0806 // ARP, RFC 826
	EtherTypeIPv6 uint16 = 0x86DD // IPv6, RFC 2464 §3
	EtherTypeVLAN uint16 = 0x8100 // IEEE 802.1Q customer VLAN tag
)

// Ethernet is a view of an Ethernet II frame: a 14-byte header followed by
// the payload. Frame check sequence and preamble are not part of the view.
//
//	0                   6                   12      14
//	+-------------------+-------------------+-------+---------
//	|  destination MAC  |    source MAC     | type  | payload
//	+-------------------+-------------------+-------+---------
type Ethernet []byte

// ParseEthernet checks that b holds at least an Ethernet header and returns
// it as a view.
func ParseEthernet(b []byte) (Ethernet, bool) {
	if len(b) < EthernetLen {
		return nil, false
	}
	return Ethernet(b), true
}

// Dst returns the destination MAC address.
func (b Ethernet) Dst() MAC { return MAC(b[0:6]) }

// Src returns the source MAC address.
func (b Ethernet) Src() MAC { return MAC(b[6:12]) }

// EtherType returns the EtherType field.
func (b Ethernet) EtherType() uint16 { return binary.BigEndian.Uint16(b[12:14]) }

// Payload returns the bytes after the header, including any padding the
// sender added to reach the 60-byte minimum frame.
func (b Ethernet) Payload() []byte { return b[EthernetLen:] }

// SetDst sets the destination MAC address.
func (b Ethernet) SetDst(m MAC) { copy(b[0:6], m[:]) }

// SetSrc sets the source MAC address.
func (b Ethernet) SetSrc(m MAC) { copy(b[6:12], m[:]) }

// SetEtherType sets the EtherType field.
func (b Ethernet) SetEtherType(t uint16) { binary.BigEndian.PutUint16(b[12:14], t) }

// VLANTCI returns the tag control information of a tagged frame (one
// whose EtherType is EtherTypeVLAN) of at least EthernetVLANLen bytes.
func (b Ethernet) VLANTCI() uint16 { return binary.BigEndian.Uint16(b[14:16]) }

// VLANEtherType returns the EtherType that follows the 802.1Q tag of a
// tagged frame of at least EthernetVLANLen bytes.
func (b Ethernet) VLANEtherType() uint16 { return binary.BigEndian.Uint16(b[16:18]) }

// EncodeVLAN writes a complete header with an 802.1Q tag into the first
// EthernetVLANLen bytes: destination, source, the tag (TPID 0x8100, then
// tci) and the payload's EtherType.
//
//	0                   6                   12      14      16      18
//	+-------------------+-------------------+-------+-------+-------+-----
//	|  destination MAC  |    source MAC     | 8100  |  TCI  | type  | payload
//	+-------------------+-------------------+-------+-------+-------+-----
func (b Ethernet) EncodeVLAN(dst, src MAC, tci, typ uint16) {
	b.Encode(dst, src, EtherTypeVLAN)
	binary.BigEndian.PutUint16(b[14:16], tci)
	binary.BigEndian.PutUint16(b[16:18], typ)
}

// Encode writes a complete header: destination, source and EtherType.
func (b Ethernet) Encode(dst, src MAC, typ uint16) {
	b.SetDst(dst)
	b.SetSrc(src)
	b.SetEtherType(typ)
}
