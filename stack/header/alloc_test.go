package header_test

import (
	"net/netip"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/dpstack/dpstack/stack/header"
)

// Sinks keep the compiler from discarding results.
var (
	sinkU8   uint8
	sinkU16  uint16
	sinkU32  uint32
	sinkInt  int
	sinkBool bool
	sinkAddr netip.Addr
	sinkMAC  header.MAC
	sinkB    []byte
)

// frame returns Ethernet + IPv4 + TCP with 100 bytes of data, checksums set.
func frame() []byte {
	const tcpLen = header.TCPMinLen + 100
	b := make([]byte, header.EthernetLen+header.IPv4MinLen+tcpLen)
	header.Ethernet(b).Encode(header.BroadcastMAC, header.MAC{2, 0, 0, 0, 0, 1}, header.EtherTypeIPv4)
	ip := header.IPv4(b[header.EthernetLen:])
	ip.Encode(header.IPv4Fields{TotalLen: header.IPv4MinLen + tcpLen, TTL: 64, Protocol: header.IPProtoTCP, Src: addrA, Dst: addrB})
	ip.SetChecksumFull()
	tcp := header.TCP(ip.Payload())
	tcp.Encode(header.TCPFields{SrcPort: 1, DstPort: 2, DataOffset: header.TCPMinLen, Flags: header.TCPFlagACK, Window: 1000})
	tcp.SetChecksum(tcp.CalculateChecksum(header.PseudoHeaderSum(addrA, addrB, header.IPProtoTCP, tcpLen)))
	return b
}

func TestZeroAllocs(t *testing.T) {
	b := frame()
	arp := header.ARP(make([]byte, header.ARPLen))
	arp.Encode(header.ARPRequest, header.MAC{2}, addrA, header.MAC{}, addrB)
	icmp := echoRequest()
	udp := make([]byte, 64)
	header.UDP(udp).Encode(1, 2, 40)

	tests := []struct {
		name string
		fn   func()
	}{
		{"ethernet", func() {
			e, _ := header.ParseEthernet(b)
			sinkMAC, sinkMAC, sinkU16, sinkB = e.Dst(), e.Src(), e.EtherType(), e.Payload()
			sinkBool = sinkMAC.IsBroadcast() || sinkMAC.IsMulticast() || sinkMAC.IsZero()
		}},
		{"ipv4", func() {
			ip, perr := header.ParseIPv4(b[header.EthernetLen:])
			sinkU8 = uint8(perr) + ip.Version() + ip.TOS() + ip.Flags() + ip.TTL() + ip.Protocol()
			sinkInt = ip.HeaderLen()
			sinkU16 = ip.TotalLen() + ip.ID() + ip.FragmentOffset() + ip.Checksum()
			sinkAddr, sinkAddr = ip.Src(), ip.Dst()
			sinkB, sinkB = ip.Options(), ip.Payload()
			sinkBool = ip.IsChecksumValid() && ip.MoreFragments() && ip.IsFragment() && ip.IsNonFirstFragment()
			sinkU16 = ip.CalculateChecksum()
			_ = perr.String()
		}},
		{"ipv4 set", func() {
			ip := header.IPv4(b[header.EthernetLen:])
			ip.SetTTL(ip.TTL())
			ip.SetSrc(ip.Src())
			ip.SetChecksumFull()
		}},
		{"tcp", func() {
			tcp, _ := header.ParseTCP(header.IPv4(b[header.EthernetLen:]).Payload())
			sinkU16 = tcp.SrcPort() + tcp.DstPort() + tcp.Window() + tcp.Checksum() + tcp.UrgentPtr()
			sinkU32 = tcp.SeqNum() + tcp.AckNum()
			sinkInt = tcp.DataOffset()
			sinkU8 = tcp.Flags()
			sinkB, sinkB = tcp.Options(), tcp.Payload()
			ps := header.PseudoHeaderSum(addrA, addrB, header.IPProtoTCP, uint16(len(tcp)))
			sinkBool = tcp.IsChecksumValid(ps)
		}},
		{"udp", func() {
			u, _ := header.ParseUDP(udp)
			sinkU16 = u.SrcPort() + u.DstPort() + u.Length() + u.Checksum()
			sinkB = u.Payload()
			sinkBool = u.IsChecksumValid(header.PseudoHeaderSum(addrA, addrB, header.IPProtoUDP, u.Length()))
		}},
		{"arp", func() {
			a, _ := header.ParseARP(arp)
			sinkBool = a.IsValidIPv4Ethernet()
			sinkU16 = a.Op() + a.HardwareType() + a.ProtocolType()
			sinkMAC, sinkMAC = a.SenderMAC(), a.TargetMAC()
			sinkAddr, sinkAddr = a.SenderIP(), a.TargetIP()
			a.Encode(header.ARPReply, a.TargetMAC(), a.TargetIP(), a.SenderMAC(), a.SenderIP())
		}},
		{"icmp", func() {
			m, _ := header.ParseICMPv4(icmp)
			sinkU8 = m.Type() + m.Code()
			sinkU16 = m.Ident() + m.Seq() + m.Checksum()
			sinkB = m.Payload()
			m.SetChecksumFull()
			sinkBool = m.IsChecksumValid()
		}},
		{"checksum", func() {
			sinkU16 = header.Fold(header.Checksum(b[1:], 0x1234))
			sinkU16 = header.ChecksumUpdate16(sinkU16, 1, 2)
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			assert.Zero(t, testing.AllocsPerRun(100, tc.fn))
		})
	}
}

func BenchmarkChecksum1500(b *testing.B) {
	buf := make([]byte, 1500)
	b.SetBytes(int64(len(buf)))
	b.ReportAllocs()
	for b.Loop() {
		sinkU32 = header.Checksum(buf, 0)
	}
}

func BenchmarkParseIPv4TCP(b *testing.B) {
	f := frame()
	b.ReportAllocs()
	for b.Loop() {
		ip, _ := header.ParseIPv4(f[header.EthernetLen:])
		tcp, _ := header.ParseTCP(ip.Payload())
		sinkU32 = tcp.SeqNum()
	}
}
