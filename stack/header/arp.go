package header

import (
	"encoding/binary"
	"net/netip"
)

// ARPLen is the length of an ARP packet for IPv4 over Ethernet
// (RFC 826, "Packet format", with 6-byte hardware and 4-byte protocol
// addresses).
const ARPLen = 28

// ARP operation codes (RFC 826, ar$op).
const (
	ARPRequest uint16 = 1
	ARPReply   uint16 = 2
)

// ARPHardwareEthernet is the ar$hrd value for Ethernet (RFC 826; IANA
// "Hardware Types").
const ARPHardwareEthernet uint16 = 1

// ARP is a view of an ARP packet for IPv4 over Ethernet (RFC 826):
//
//	 0      2      4    5    6      8            14       18           24       28
//	+------+------+----+----+------+------------+--------+------------+--------+
//	| hrd  | pro  |hln |pln |  op  |    sha     |  spa   |    tha     |  tpa   |
//	+------+------+----+----+------+------------+--------+------------+--------+
//
// The address accessors assume the IPv4-over-Ethernet layout; check
// IsValidIPv4Ethernet before trusting them on a received packet.
type ARP []byte

// ParseARP checks that b holds at least ARPLen bytes and returns the first
// ARPLen of them as a view, dropping Ethernet padding. It does not check the
// hardware and protocol fields: use IsValidIPv4Ethernet for that.
func ParseARP(b []byte) (ARP, bool) {
	if len(b) < ARPLen {
		return nil, false
	}
	return ARP(b[:ARPLen]), true
}

// HardwareType returns ar$hrd.
func (b ARP) HardwareType() uint16 { return binary.BigEndian.Uint16(b[0:2]) }

// ProtocolType returns ar$pro, an EtherType.
func (b ARP) ProtocolType() uint16 { return binary.BigEndian.Uint16(b[2:4]) }

// HardwareLen returns ar$hln, the length of a hardware address in bytes.
func (b ARP) HardwareLen() uint8 { return b[4] }

// ProtocolLen returns ar$pln, the length of a protocol address in bytes.
func (b ARP) ProtocolLen() uint8 { return b[5] }

// Op returns ar$op (ARPRequest or ARPReply).
func (b ARP) Op() uint16 { return binary.BigEndian.Uint16(b[6:8]) }

// SenderMAC returns ar$sha.
func (b ARP) SenderMAC() MAC { return MAC(b[8:14]) }

// SenderIP returns ar$spa.
func (b ARP) SenderIP() netip.Addr { return netip.AddrFrom4([4]byte(b[14:18])) }

// TargetMAC returns ar$tha.
func (b ARP) TargetMAC() MAC { return MAC(b[18:24]) }

// TargetIP returns ar$tpa.
func (b ARP) TargetIP() netip.Addr { return netip.AddrFrom4([4]byte(b[24:28])) }

// IsValidIPv4Ethernet reports whether the packet is ARP for IPv4 over
// Ethernet: hardware type 1, protocol type 0x0800, hardware length 6,
// protocol length 4 (RFC 826).
func (b ARP) IsValidIPv4Ethernet() bool {
	return b.HardwareType() == ARPHardwareEthernet && b.ProtocolType() == EtherTypeIPv4 &&
		b.HardwareLen() == 6 && b.ProtocolLen() == 4
}

// SetHardwareType sets ar$hrd.
func (b ARP) SetHardwareType(v uint16) { binary.BigEndian.PutUint16(b[0:2], v) }

// SetProtocolType sets ar$pro.
func (b ARP) SetProtocolType(v uint16) { binary.BigEndian.PutUint16(b[2:4], v) }

// SetHardwareLen sets ar$hln.
func (b ARP) SetHardwareLen(v uint8) { b[4] = v }

// SetProtocolLen sets ar$pln.
func (b ARP) SetProtocolLen(v uint8) { b[5] = v }

// SetOp sets ar$op.
func (b ARP) SetOp(v uint16) { binary.BigEndian.PutUint16(b[6:8], v) }

// SetSenderMAC sets ar$sha.
func (b ARP) SetSenderMAC(m MAC) { copy(b[8:14], m[:]) }

// SetSenderIP sets ar$spa. It panics if a is not an IPv4 (or IPv4-mapped
// IPv6) address.
func (b ARP) SetSenderIP(a netip.Addr) { v := a.As4(); copy(b[14:18], v[:]) }

// SetTargetMAC sets ar$tha.
func (b ARP) SetTargetMAC(m MAC) { copy(b[18:24], m[:]) }

// SetTargetIP sets ar$tpa. It panics if a is not an IPv4 (or IPv4-mapped
// IPv6) address.
func (b ARP) SetTargetIP(a netip.Addr) { v := a.As4(); copy(b[24:28], v[:]) }

// Encode writes a complete IPv4-over-Ethernet ARP packet with operation op,
// sender addresses sha/spa and target addresses tha/tpa. For a request, tha
// is conventionally zero (RFC 826 leaves it unspecified; RFC 5227 §2.1.1).
func (b ARP) Encode(op uint16, sha MAC, spa netip.Addr, tha MAC, tpa netip.Addr) {
	b.SetHardwareType(ARPHardwareEthernet)
	b.SetProtocolType(EtherTypeIPv4)
	b.SetHardwareLen(6)
	b.SetProtocolLen(4)
	b.SetOp(op)
	b.SetSenderMAC(sha)
	b.SetSenderIP(spa)
	b.SetTargetMAC(tha)
	b.SetTargetIP(tpa)
}
