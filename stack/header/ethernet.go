package header

import "encoding/binary"

// EthernetLen is the length of an Ethernet II header without a VLAN tag:
// destination MAC, source MAC, EtherType (IEEE 802.3 §3.1.1).
const EthernetLen = 14

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

// Encode writes a complete header: destination, source and EtherType.
func (b Ethernet) Encode(dst, src MAC, typ uint16) {
	b.SetDst(dst)
	b.SetSrc(src)
	b.SetEtherType(typ)
}
