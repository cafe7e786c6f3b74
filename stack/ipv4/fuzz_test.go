package ipv4

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/dpstack/dpstack/mbuf"
	"github.com/dpstack/dpstack/stack/header"
)

// FuzzInput feeds any bytes to Input or ARPInput: no panic, and every mbuf
// comes back (ARCHITECTURE.md §7).
func FuzzInput(f *testing.F) {
	f.Add(echoSpec(56).bytes(), false)
	f.Add(echoSpec(0).bytes()[:19], false)
	f.Add(withSpec(func(s *ipSpec) { s.dst = subnetBC })(), false)
	f.Add(withSpec(func(s *ipSpec) { s.options = []byte{7, 7, 4, 0, 0, 0, 0, 0} })(), false)
	f.Add(arpPacket(header.ARPRequest, peerMAC, peerAddr, header.MAC{}, ourAddr), true)
	f.Add(arpPacket(header.ARPReply, peerMAC, peerAddr, ourMAC, ourAddr), true)
	f.Add([]byte{}, true)
	f.Add(errorFrom(header.ICMPv4DestUnreachable, header.ICMPv4FragNeeded, 1280, quotedDatagram(ourAddr, 8)), false)
	f.Add(errorFrom(header.ICMPv4ParamProblem, 0, 0, quotedDatagram(ourAddr, 3)), false)
	e := newEnv(f, 0)
	f.Fuzz(func(t *testing.T, data []byte, arp bool) {
		if len(data) > 2000 {
			return
		}
		e.t = t
		b := e.mbuf(data)
		if arp {
			e.l.ARPInput(b)
		} else {
			e.l.Input(b)
		}
		e.reset()
		require.Zero(t, e.pool.InUse())
	})
}

// FuzzReasm feeds sequences of fragments to reassembly: each 4 bytes of
// the input make one, with its offset (13 bits), its length in 8-byte
// units (modulo 186), MF, and one of four datagrams. Then the timeout passes. No panic,
// the queues stay under their threshold, and every mbuf comes back.
func FuzzReasm(f *testing.F) {
	f.Add([]byte{0, 0, 185, 1, 0, 185, 185, 0})                        // two fragments in order
	f.Add([]byte{0, 185, 185, 0, 0, 0, 185, 1})                        // reversed
	f.Add([]byte{0, 0, 185, 1, 0, 0, 185, 1, 0, 185, 10, 0})           // a duplicate
	f.Add([]byte{0, 0, 185, 1, 0, 180, 10, 0})                         // an overlap
	f.Add([]byte{0, 0, 10, 1, 0, 20, 4, 3, 0, 10, 10, 0, 0, 10, 0, 2}) // two datagrams interleaved
	f.Add([]byte{0x1f, 0xff, 2, 0})                                    // past 65,535
	f.Add([]byte{0, 0, 4, 1, 0, 8, 1, 0, 0, 4, 4, 1})                  // the end moves
	e := newEnv(f, 0)
	e.l.RegisterProtocol(testProto, func(b *mbuf.Buf, ip header.IPv4) { e.dev.Free(b) })
	data := echoData(1480)
	f.Fuzz(func(t *testing.T, in []byte) {
		e.t = t
		for ; len(in) >= 4; in = in[4:] {
			off := (uint16(in[0])<<8 | uint16(in[1])) & 0x1fff
			n := int(in[2]) % 186 * 8 // up to 1,480 bytes: one mbuf
			s := ipSpec{src: peerAddr, dst: ourAddr, proto: testProto, ttl: 64,
				id: uint16(in[3]>>1&3) + 1, fragOff: off * 8, payload: data[:n]}
			if in[3]&1 != 0 {
				s.flags = header.IPv4FlagMF
			}
			e.l.Input(e.mbuf(s.bytes()))
			require.LessOrEqual(t, int(e.l.Stats().ReasmMbufs.Load()), e.l.reasm.high)
		}
		e.now = e.now.Add(DefaultReasmTimeout)
		e.wheel.Advance(e.now, 1000)
		require.Zero(t, e.l.Stats().ReasmMbufs.Load(), "all timed out")
		e.reset()
		require.Zero(t, e.pool.InUse())
	})
}
