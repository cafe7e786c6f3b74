package ipv4

import (
	"slices"
	"testing"

	"github.com/dpstack/dpstack/mbuf"
	"github.com/dpstack/dpstack/stack/header"
)

// BenchmarkInput measures IPv4 input alone, from ParseIPv4 to the
// protocol handler, for a 64-byte segment to our address (the handler
// frees it). The cost of taking an mbuf and copying the packet into it is
// included; it does not change with Input.
func BenchmarkInput(b *testing.B) {
	e := newEnv(b, 0)
	delivered := 0
	e.l.RegisterProtocol(testProto, func(m *mbuf.Buf, ip header.IPv4) {
		delivered++
		e.cache.Free(m)
	})
	pkt := ipSpec{src: peerAddr, dst: ourAddr, proto: testProto, ttl: 64, payload: echoData(64)}.bytes()
	b.ReportAllocs()
	for b.Loop() {
		m := e.cache.Get()
		if m == nil {
			b.Fatal("pool empty")
		}
		copy(m.Put(len(pkt)), pkt)
		e.l.Input(m)
	}
	if delivered != b.N {
		b.Fatalf("%d of %d delivered", delivered, b.N)
	}
}

// BenchmarkReasm measures reassembly: a 4,000-byte datagram in three
// fragments, in order and reversed, through Input to the protocol handler
// (the handler frees the chain). Per op: one datagram.
func BenchmarkReasm(b *testing.B) {
	for _, reversed := range []bool{false, true} {
		b.Run(map[bool]string{false: "in order", true: "reversed"}[reversed], func(b *testing.B) {
			e := newEnv(b, 0)
			delivered := 0
			e.l.RegisterProtocol(testProto, func(m *mbuf.Buf, ip header.IPv4) {
				delivered++
				e.cache.Free(m)
			})
			frags := fragmentsOf(ipSpec{src: peerAddr, dst: ourAddr, proto: testProto, ttl: 64, payload: echoData(4000)}, 1480)
			if reversed {
				slices.Reverse(frags)
			}
			b.ReportAllocs()
			for b.Loop() {
				for _, f := range frags {
					m := e.cache.Get()
					if m == nil {
						b.Fatal("pool empty")
					}
					copy(m.Put(len(f)), f)
					e.l.Input(m)
				}
			}
			if delivered != b.N {
				b.Fatalf("%d of %d delivered", delivered, b.N)
			}
		})
	}
}

// BenchmarkFragment measures output fragmentation of a 4,000-byte
// datagram into three fragments over clones of its buffers (the frames
// are freed as the device sends them). Per op: one datagram.
func BenchmarkFragment(b *testing.B) {
	e := newEnv(b, 0)
	e.learnPeer()
	e.txq.Discard = e.cache
	d := e.lookup()
	data := echoData(4000)
	b.ReportAllocs()
	for b.Loop() {
		m := e.chainOf(data, 1900)
		e.l.output(m, d, testProto, ourAddr, peerAddr, 0, 64, 0, nil)
	}
}
