package stacktest

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/dpstack/dpstack/mbuf"
	"github.com/dpstack/dpstack/stack/header"
)

// Segment is a TCP segment a test crafts: the builder half of the
// segment harness. Encode and Frame give it checksummed unless told
// otherwise, so a test states only the fields it is about.
type Segment struct {
	SrcPort, DstPort uint16
	Seq, Ack         uint32
	Flags            uint8
	Window           uint16
	Options          []byte // raw option bytes, padded with EOL to 4
	Payload          []byte
	BadChecksum      bool       // a checksum that does not add up
	DataOffset       int        // Data Offset in bytes, when not the natural one
	Truncate         int        // bytes cut off the segment after building (no checksum then)
	To               netip.Addr // the destination, when not the one Frame is given
}

// Encode returns s as a TCP segment from src to dst.
func (s Segment) Encode(src, dst netip.Addr) []byte {
	opts := append([]byte(nil), s.Options...)
	for len(opts)%4 != 0 {
		opts = append(opts, header.TCPOptionEOL)
	}
	hl := header.TCPMinLen + len(opts)
	b := make([]byte, hl+len(s.Payload))
	th := header.TCP(b)
	th.Encode(header.TCPFields{SrcPort: s.SrcPort, DstPort: s.DstPort, SeqNum: s.Seq, AckNum: s.Ack,
		DataOffset: hl, Flags: s.Flags, Window: s.Window})
	copy(b[header.TCPMinLen:], opts)
	copy(b[hl:], s.Payload)
	if s.DataOffset != 0 {
		b[12] = uint8(s.DataOffset/4) << 4
	}
	if s.Truncate == 0 {
		th.SetChecksum(th.CalculateChecksum(header.PseudoHeaderSum(src, dst, header.IPProtoTCP, uint16(len(b)))))
	}
	if s.BadChecksum {
		th.SetChecksum(th.Checksum() ^ 0x5555)
	}
	return b[:len(b)-s.Truncate]
}

// Frame returns s in an IPv4 packet from src to dst (s.To when set) in an
// Ethernet frame from srcMAC to dstMAC.
func (s Segment) Frame(srcMAC, dstMAC header.MAC, src, dst netip.Addr) []byte {
	if s.To.IsValid() {
		dst = s.To
	}
	return EthFrame(dstMAC, srcMAC, header.EtherTypeIPv4,
		IPv4Packet(src, dst, header.IPProtoTCP, 64, s.Encode(src, dst)))
}

// Option builders for crafted segments (RFC 9293 §3.2, RFC 7323, RFC 2018).
func OptMSS(v uint16) []byte   { return []byte{2, 4, byte(v >> 8), byte(v)} }
func OptWS(shift uint8) []byte { return []byte{1, 3, 3, shift} }
func OptSACKPerm() []byte      { return []byte{1, 1, 4, 2} }
func OptTS(val, ecr uint32) []byte {
	b := []byte{1, 1, 8, 10, 0, 0, 0, 0, 0, 0, 0, 0}
	binary.BigEndian.PutUint32(b[4:], val)
	binary.BigEndian.PutUint32(b[8:], ecr)
	return b
}

// Options joins option builders' bytes.
func Options(parts ...[]byte) []byte {
	var b []byte
	for _, p := range parts {
		b = append(b, p...)
	}
	return b
}

// Parsed is a TCP segment a host sent, parsed from its IPv4 packet: the
// checker half of the segment harness works on it.
type Parsed struct {
	Src, Dst         netip.Addr
	SrcPort, DstPort uint16
	Seq, Ack         uint32
	Flags            uint8
	Window           uint16
	HeaderLen        int
	Options          header.TCPOptions
	Payload          []byte // a copy: the packet's mbuf may go
	ChecksumOK       bool   // in full, or, offloaded, the pseudo-header sum the port completes
	Offload          bool   // the host left the checksum to the port
	IPTotalLen       int
}

// ParseSegment parses a TCP segment the host sent in ip; ol is its mbuf's
// offload flags. A malformed header or options are an error: a stack
// must not send them.
func ParseSegment(ip header.IPv4, ol uint64) (Parsed, error) {
	seg := ip.Payload()
	th, ok := header.ParseTCP(seg)
	if !ok {
		return Parsed{}, errors.New("malformed TCP header")
	}
	p := Parsed{Src: ip.Src(), Dst: ip.Dst(), SrcPort: th.SrcPort(), DstPort: th.DstPort(),
		Seq: th.SeqNum(), Ack: th.AckNum(), Flags: th.Flags(), Window: th.Window(),
		HeaderLen: th.DataOffset(), Payload: append([]byte(nil), th.Payload()...), IPTotalLen: int(ip.TotalLen())}
	if !header.ParseTCPOptions(th.Options(), &p.Options) {
		return Parsed{}, fmt.Errorf("malformed TCP options in %v", p)
	}
	sum := header.PseudoHeaderSum(p.Src, p.Dst, header.IPProtoTCP, uint16(len(seg)))
	if ol&mbuf.TxTCPCksum != 0 {
		p.Offload = true
		p.ChecksumOK = th.Checksum() == ^header.Fold(sum)
	} else {
		p.ChecksumOK = th.IsChecksumValid(sum)
	}
	return p, nil
}

// End is the sequence number just past p's data (SYN and FIN not
// counted).
func (p Parsed) End() uint32 { return p.Seq + uint32(len(p.Payload)) }

func (p Parsed) String() string {
	return fmt.Sprintf("%d>%d seq=%d ack=%d flags=%s wnd=%d len=%d",
		p.SrcPort, p.DstPort, p.Seq, p.Ack, FlagString(p.Flags), p.Window, len(p.Payload))
}

// FlagString spells TCP flags as tcpdump does, lowest bit first.
func FlagString(f uint8) string {
	s := ""
	for i, n := range []string{"F", "S", "R", "P", "A", "U", "E", "C"} {
		if f&(1<<i) != 0 {
			s += n
		}
	}
	return s
}

// A Check is one assertion on a segment a host sent (ARCHITECTURE.md §7),
// in the manner of gVisor's checker: CheckSegment(t, p, Seq(1), Flags(ACK)).
type Check func(t testing.TB, p Parsed)

// CheckSegment asserts that p's checksum is right and that it passes
// every check.
func CheckSegment(t testing.TB, p Parsed, checks ...Check) {
	t.Helper()
	assert.True(t, p.ChecksumOK, "checksum of %v", p)
	for _, c := range checks {
		c(t, p)
	}
}

// Seq checks the sequence number.
func Seq(v uint32) Check {
	return func(t testing.TB, p Parsed) { t.Helper(); assert.Equal(t, v, p.Seq, "seq of %v", p) }
}

// Ack checks the acknowledgment number.
func Ack(v uint32) Check {
	return func(t testing.TB, p Parsed) { t.Helper(); assert.Equal(t, v, p.Ack, "ack of %v", p) }
}

// Flags checks the flags, all of them.
func Flags(f uint8) Check {
	return func(t testing.TB, p Parsed) {
		t.Helper()
		assert.Equal(t, FlagString(f), FlagString(p.Flags), "flags of %v", p)
	}
}

// PayloadLen checks the length of the data.
func PayloadLen(n int) Check {
	return func(t testing.TB, p Parsed) { t.Helper(); assert.Len(t, p.Payload, n, "data of %v", p) }
}

// Window checks the window field as sent (unscaled).
func Window(w uint16) Check {
	return func(t testing.TB, p Parsed) { t.Helper(); assert.Equal(t, w, p.Window, "window of %v", p) }
}

// Ports checks both ports.
func Ports(src, dst uint16) Check {
	return func(t testing.TB, p Parsed) {
		t.Helper()
		assert.Equal(t, src, p.SrcPort, "source port of %v", p)
		assert.Equal(t, dst, p.DstPort, "destination port of %v", p)
	}
}
