package faultwire_test

import (
	"encoding/binary"
	"math/bits"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dpstack/dpstack/dpdk"
	"github.com/dpstack/dpstack/faultwire"
	"github.com/dpstack/dpstack/mbuf"
	"github.com/dpstack/dpstack/stack/header"
	"github.com/dpstack/dpstack/stack/stacktest"
)

const (
	eth = header.EthernetLen
	l4  = eth + header.IPv4MinLen // transport header offset without IP options
)

// bitDiff returns how many bits differ between a and b (of one length)
// and the offset of the last byte that differs.
func bitDiff(a, b []byte) (n, off int) {
	off = -1
	for i := range a {
		if x := a[i] ^ b[i]; x != 0 {
			n += bits.OnesCount8(x)
			off = i
		}
	}
	return n, off
}

// caught reports whether a receiver's checksums reject frame f: the IPv4
// header checksum, or else the ICMP, TCP or UDP one.
func caught(f []byte) bool {
	ip := header.IPv4(f[eth:])
	if !ip.IsChecksumValid() {
		return true
	}
	seg := f[eth+ip.HeaderLen() : eth+int(ip.TotalLen())]
	pseudo := header.PseudoHeaderSum(ip.Src(), ip.Dst(), ip.Protocol(), uint16(len(seg)))
	switch ip.Protocol() {
	case header.IPProtoICMP:
		return !header.ICMPv4(seg).IsChecksumValid()
	case header.IPProtoTCP:
		return !header.TCP(seg).IsChecksumValid(pseudo)
	case header.IPProtoUDP:
		return !header.UDP(seg).IsChecksumValid(pseudo)
	}
	return false
}

// inIPHeader: the header bytes the wire may flip (IHL 5): TOS, and ID
// through the destination address.
func inIPHeader(off int) bool { return off == eth+1 || off >= eth+4 && off < l4 }

func icmpFrame(size int) []byte {
	f := make([]byte, l4+header.ICMPv4MinLen+size)
	header.Ethernet(f).Encode(macB, macA, header.EtherTypeIPv4)
	ip := header.IPv4(f[eth:])
	ip.Encode(header.IPv4Fields{TotalLen: uint16(len(ip)), TTL: 64, Protocol: header.IPProtoICMP, Src: ipA, Dst: ipB})
	ip.SetChecksumFull()
	m := header.ICMPv4(f[l4:])
	m.SetType(header.ICMPv4Echo)
	m.SetIdent(7)
	for i := range m.Payload() {
		m.Payload()[i] = byte(i)
	}
	m.SetChecksumFull()
	return f
}

func tcpFrame(size int) []byte {
	s := stacktest.Segment{SrcPort: 4000, DstPort: 80, Seq: 1, Ack: 2, Flags: header.TCPFlagACK, Window: 1000,
		Payload: make([]byte, size)}
	return s.Frame(macA, macB, ipA, ipB)
}

// withIP rewrites f's IPv4 header with fn and sums it again.
func withIP(f []byte, fn func(ip header.IPv4)) []byte {
	ip := header.IPv4(f[eth:])
	fn(ip)
	ip.SetChecksum(0)
	ip.SetChecksumFull()
	return f
}

// udpWithOptions is a UDP frame whose IPv4 header carries 4 bytes of
// options (IHL 6).
func udpWithOptions() []byte {
	plain := udpFrame(1, 100)
	f := make([]byte, len(plain)+4)
	copy(f, plain[:l4])
	copy(f[l4:], []byte{1, 1, 1, 0}) // NOP, NOP, NOP, EOL
	copy(f[l4+4:], plain[l4:])
	return withIP(f, func(ip header.IPv4) { ip.SetHeaderLen(24); ip.SetTotalLen(uint16(len(f) - eth)) })
}

// TestCorruptionIsCaught: for each kind of frame, corruption flips exactly
// one bit, only where the receiver's checksum is the first check to catch
// it, and the frame fails that checksum; frames no checksum covers pass
// untouched.
func TestCorruptionIsCaught(t *testing.T) {
	padded := append(udpFrame(1, 50), make([]byte, 10)...) // Ethernet padding after the IP packet
	noSum := udpFrame(1, 100)
	noSum[l4+6], noSum[l4+7] = 0, 0
	arp := make([]byte, eth+header.ARPLen)
	header.Ethernet(arp).Encode(header.BroadcastMAC, macA, header.EtherTypeARP)
	header.ARP(arp[eth:]).Encode(header.ARPRequest, macA, ipA, header.MAC{}, ipB)
	ipv6 := udpFrame(1, 100)
	header.Ethernet(ipv6).SetEtherType(header.EtherTypeIPv6)

	cases := []struct {
		name  string
		frame []byte
		may   func(off int) bool // nil: never corrupted
		l4    bool               // some flips must land in the transport segment
	}{
		{"udp", udpFrame(1, 200), func(o int) bool {
			return inIPHeader(o) || o >= l4 && o < l4+4 || o >= l4+8 && o < 200
		}, true},
		{"udp padded", padded, func(o int) bool {
			return inIPHeader(o) || o >= l4 && o < l4+4 || o >= l4+8 && o < 50
		}, true},
		{"udp without checksum", noSum, inIPHeader, false},
		{"icmp", icmpFrame(56), func(o int) bool { return inIPHeader(o) || o >= l4 }, true},
		{"tcp", tcpFrame(100), func(o int) bool { return inIPHeader(o) || o >= l4 && o != l4+12 }, true},
		{"ip options", udpWithOptions(), func(o int) bool {
			return o == eth+1 || o >= eth+4 && o < l4+4 || o >= l4+4 && o < l4+8 || o >= l4+12
		}, true},
		{"fragment", withIP(udpFrame(1, 200), func(ip header.IPv4) { ip.SetFlags(header.IPv4FlagMF) }), inIPHeader, false},
		{"other protocol", withIP(udpFrame(1, 200), func(ip header.IPv4) { ip.SetProtocol(253) }), inIPHeader, false},
		{"arp", arp, nil, false},
		{"ipv6", ipv6, nil, false},
		{"ip total length past the frame", withIP(udpFrame(1, 100), func(ip header.IPv4) { ip.SetTotalLen(200) }), nil, false},
		{"runt", udpFrame(1, 100)[:eth+10], nil, false},
	}
	const n = 200
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t, faultwire.Faults{Corrupt: 1}, faultwire.Faults{}, 11)
			frames := make([][]byte, n)
			for i := range frames {
				frames[i] = tc.frame
			}
			got := r.through(frames)
			require.Len(t, got, n)
			s := r.w.Stats(faultwire.AToB)
			if tc.may == nil {
				assert.Equal(t, frames, got)
				assert.Zero(t, s.Corrupted)
				return
			}
			assert.Equal(t, uint64(n), s.Corrupted)
			inHeader, inSegment := 0, 0
			for _, f := range got {
				nbits, off := bitDiff(tc.frame, f)
				require.Equal(t, 1, nbits, "exactly one bit flipped")
				require.True(t, tc.may(off), "offset %d may not be flipped", off)
				require.True(t, caught(f), "flip at offset %d not caught by a checksum", off)
				if off < l4 {
					inHeader++
				} else {
					inSegment++
				}
			}
			assert.NotZero(t, inHeader, "some flips in the IPv4 header")
			if tc.l4 {
				assert.NotZero(t, inSegment, "some flips in the transport segment")
			}
		})
	}
}

// TestCorruptionAtRandom: at a probability of 0.3, frames of every size
// arrive either intact or with one bit flipped, caught by a checksum.
func TestCorruptionAtRandom(t *testing.T) {
	const n = 2000
	r := newRig(t, faultwire.Faults{Corrupt: 0.3}, faultwire.Faults{}, 13)
	rnd := rand.New(rand.NewPCG(1, 2))
	frames := make([][]byte, n)
	for i := range frames {
		frames[i] = udpFrame(uint32(i), 46+rnd.IntN(1514-46+1))
	}
	got := r.through(frames)
	require.Len(t, got, n)
	flipped := 0
	for i, f := range got {
		nbits, off := bitDiff(frames[i], f)
		require.LessOrEqual(t, nbits, 1)
		if nbits == 1 {
			flipped++
			require.GreaterOrEqual(t, off, eth, "never the Ethernet header")
			require.True(t, caught(f), "frame %d: flip at %d not caught", i, off)
		}
	}
	s := r.w.Stats(faultwire.AToB)
	assert.Equal(t, uint64(flipped), s.Corrupted)
	assert.InDelta(t, 0.3*n, flipped, 100)
}

// TestSharedDataIsSpared: a clone is corrupted in a private copy, and
// duplicated into one; the data it shared (a sender's retransmit queue,
// say) stays intact, and every mbuf goes back to the pool.
func TestSharedDataIsSpared(t *testing.T) {
	cases := []struct {
		name          string
		f             faultwire.Faults
		frames, flips int
	}{
		{"corrupt", faultwire.Faults{Corrupt: 1}, 1, 1},
		{"duplicate", faultwire.Faults{Duplicate: 1}, 2, 0},
		{"both", faultwire.Faults{Duplicate: 1, Corrupt: 1}, 2, 2},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t, tc.f, faultwire.Faults{}, 1)
			f := udpFrame(1, 300)
			orig := r.pool.Alloc()
			require.NotNil(t, orig)
			copy(orig.Put(len(f)), f)
			clone := orig.Clone(r.pool)
			require.NotNil(t, clone)
			r.vec[0] = clone
			require.Equal(t, 1, r.w.A.TxBurst(0, r.vec[:1]))
			r.step(time.Microsecond)
			got := r.recv(r.w.B)
			require.Len(t, got, tc.frames)
			flips := 0
			for _, g := range got {
				nbits, _ := bitDiff(f, g)
				flips += nbits
			}
			assert.Equal(t, tc.flips, flips)
			assert.Equal(t, f, orig.Bytes(), "the shared data is untouched")
			assert.Equal(t, 1, orig.RefCount(), "the clone is gone")
			orig.Free()
			assert.Equal(t, uint64(tc.flips), r.w.Stats(faultwire.AToB).Corrupted)
		})
	}
}

// sendChained transmits f on p as one packet of segments of seg bytes.
func (r *rig) sendChained(p *dpdk.Port, f []byte, seg int) {
	r.t.Helper()
	var head *mbuf.Buf
	for off := 0; off < len(f); off += seg {
		b := r.pool.Alloc()
		require.NotNil(r.t, b)
		n := min(seg, len(f)-off)
		copy(b.Put(n), f[off:off+n])
		if head == nil {
			head = b
		} else {
			require.True(r.t, head.Chain(b))
		}
	}
	r.vec[0] = head
	require.Equal(r.t, 1, p.TxBurst(0, r.vec[:1]))
}

// recvBufs hands each packet waiting on p to fn, then frees it.
func (r *rig) recvBufs(p *dpdk.Port, fn func(b *mbuf.Buf)) {
	for range 1000 {
		n := p.RxBurst(0, r.vec)
		for _, b := range r.vec[:n] {
			fn(b)
		}
		mbuf.FreeBulk(r.vec[:n])
		if n == 0 {
			return
		}
	}
	r.t.Fatal("port never ran dry")
}

// TestMultiSegment: duplicates and corruption work on packets of several
// segments; a copy larger than one mbuf is chained.
func TestMultiSegment(t *testing.T) {
	const size, n = 3000, 50
	f := udpFrame(1, size)
	r := newRig(t, faultwire.Faults{Duplicate: 1}, faultwire.Faults{}, 1)
	for range n {
		r.sendChained(r.w.A, f, 1000)
	}
	r.step(time.Microsecond)
	i := 0
	r.recvBufs(r.w.B, func(b *mbuf.Buf) {
		got := make([]byte, b.Len())
		require.Equal(t, size, b.ReadAt(got, 0))
		assert.Equal(t, f, got)
		if i%2 == 0 {
			assert.Equal(t, 3, b.Segments(), "the original")
		} else {
			assert.Equal(t, 2, b.Segments(), "the copy: two mbufs of the wire's pool")
			assert.Equal(t, 1, b.RefCount(), "a copy, not a clone")
		}
		i++
	})
	assert.Equal(t, 2*n, i)

	require.NoError(t, r.w.SetFaults(faultwire.AToB, faultwire.Faults{Corrupt: 1}))
	for range n {
		r.sendChained(r.w.A, f, 1000)
	}
	r.step(time.Microsecond)
	beyondFirst := 0
	for _, g := range r.recv(r.w.B) {
		nbits, off := bitDiff(f, g)
		require.Equal(t, 1, nbits)
		require.True(t, caught(g))
		if off >= 1000 {
			beyondFirst++
		}
	}
	assert.NotZero(t, beyondFirst, "flips land in later segments too")
	assert.Equal(t, uint64(n), r.w.Stats(faultwire.AToB).Corrupted)
}

// TestDuplicatesAreCopies: a duplicate has its own buffer, so that a
// receiver writing into one (an echo turned into its reply) leaves the
// other alone.
func TestDuplicatesAreCopies(t *testing.T) {
	r := newRig(t, faultwire.Faults{Duplicate: 1}, faultwire.Faults{}, 1)
	f := icmpFrame(64)
	r.send(r.w.A, f)
	r.step(time.Microsecond)
	var got []*mbuf.Buf
	for range 2 {
		n := r.w.B.RxBurst(0, r.vec[:1])
		require.Equal(t, 1, n)
		got = append(got, r.vec[0])
	}
	require.NotSame(t, got[0], got[1])
	assert.Equal(t, got[0].Bytes(), got[1].Bytes())
	for _, b := range got {
		assert.Equal(t, 1, b.RefCount())
	}
	got[0].Bytes()[l4] = header.ICMPv4EchoReply
	assert.Equal(t, f, got[1].Bytes(), "writing one leaves the other")
	assert.Equal(t, uint16(7), binary.BigEndian.Uint16(got[1].Bytes()[l4+4:]))
	for _, b := range got {
		b.Free()
	}
}
