package stacktest

import (
	"net/netip"

	"github.com/dpstack/dpstack/stack/header"
)

// EthFrame builds an Ethernet frame.
func EthFrame(dst, src header.MAC, etherType uint16, payload []byte) []byte {
	f := make([]byte, header.EthernetLen+len(payload))
	header.Ethernet(f).Encode(dst, src, etherType)
	copy(f[header.EthernetLen:], payload)
	return f
}

// IPv4Packet builds an IPv4 packet with a valid header checksum.
func IPv4Packet(src, dst netip.Addr, proto uint8, ttl uint8, payload []byte) []byte {
	p := make([]byte, header.IPv4MinLen+len(payload))
	ip := header.IPv4(p)
	ip.Encode(header.IPv4Fields{TotalLen: uint16(len(p)), TTL: ttl, Protocol: proto, Src: src, Dst: dst})
	ip.SetChecksumFull()
	copy(p[header.IPv4MinLen:], payload)
	return p
}
