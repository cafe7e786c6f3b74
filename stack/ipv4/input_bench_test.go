package ipv4

import (
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
