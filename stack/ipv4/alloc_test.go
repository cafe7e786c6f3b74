package ipv4

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/dpstack/dpstack/mbuf"
	"github.com/dpstack/dpstack/stack/header"
)

// ARCHITECTURE.md §5: no Go heap allocation per packet on the receive paths, the
// in-place echo reply and ARP reply included, reassembly and fragmentation
// included, nor on Output.
func TestZeroAllocs(t *testing.T) {
	e := newEnv(t, 0)
	e.learnPeer()
	e.txq.Discard = e.cache
	e.l.RegisterProtocol(testProto, func(b *mbuf.Buf, ip header.IPv4) { e.dev.Free(b) })
	e.l.RegisterErrorHandler(testProto, func(b *mbuf.Buf, _ *ICMPError) { e.dev.Free(b) })

	badCksum := echoSpec(56).bytes()
	badCksum[10] ^= 0xff
	cases := []struct {
		name string
		in   func(*mbuf.Buf)
		pkt  []byte
		sent bool
	}{
		{"echo request, 56 bytes", e.l.Input, echoSpec(56).bytes(), true},
		{"echo request, 1472 bytes", e.l.Input, echoSpec(1472).bytes(), true},
		{"echo request with Record Route and Timestamp", e.l.Input,
			withSpec(func(s *ipSpec) { s.options = []byte{7, 19, 4, 18: 0, 1, 68, 20, 5, 1, 39: 0} })(), true},
		{"drop: source route", e.l.Input, withSpec(func(s *ipSpec) { s.options = []byte{131, 3, 4, 0} })(), false},
		{"delivery to a protocol", e.l.Input,
			ipSpec{src: peerAddr, dst: ourAddr, proto: testProto, ttl: 64, payload: echoData(100)}.bytes(), false},
		{"drop: bad header checksum", e.l.Input, badCksum, false},
		{"drop: not our address", e.l.Input, withSpec(func(s *ipSpec) { s.dst = otherAddr })(), false},
		{"drop: empty fragment", e.l.Input, withSpec(func(s *ipSpec) { s.fragOff, s.payload = 8, nil })(), false},
		{"ICMP error to its protocol", e.l.Input,
			errorFrom(header.ICMPv4DestUnreachable, header.ICMPv4FragNeeded, 1280, quotedDatagram(ourAddr, 8)), false},
		{"ARP request for us", e.l.ARPInput, arpPacket(header.ARPRequest, peerMAC, peerAddr, header.MAC{}, ourAddr), true},
		{"ARP reply", e.l.ARPInput, arpPacket(header.ARPReply, peerMAC, peerAddr, ourMAC, ourAddr), false},
		{"ARP for another", e.l.ARPInput, arpPacket(header.ARPRequest, peerMAC, peerAddr, header.MAC{}, otherAddr), false},
	}
	for _, c := range cases {
		run := func() {
			b := e.pool.Alloc()
			if b == nil {
				panic("pool empty")
			}
			copy(b.Put(len(c.pkt)), c.pkt)
			c.in(b)
		}
		run() // warm up: route and neighbour entries are made once
		before := e.txq.Sent
		assert.Zero(t, testing.AllocsPerRun(200, run), c.name)
		if c.sent {
			assert.Equal(t, 201, e.txq.Sent-before, c.name)
		} else {
			assert.Equal(t, before, e.txq.Sent, c.name)
		}
	}

	// Reassembly, and fragmentation of the reply.
	frags := fragmentsOf(echoSpec(4000), 1480)
	defrag := func() {
		for _, f := range frags {
			b := e.pool.Alloc()
			if b == nil {
				panic("pool empty")
			}
			copy(b.Put(len(f)), f)
			e.l.Input(b)
		}
	}
	defrag()
	before := e.txq.Sent
	assert.Zero(t, testing.AllocsPerRun(200, defrag), "fragmented echo request")
	assert.Equal(t, 3*201, e.txq.Sent-before, "replies in three fragments")

	d := e.lookup()
	out := func() {
		b := e.cache.Get()
		if b == nil {
			panic("pool empty")
		}
		b.Put(64)
		e.l.Output(b, d, testProto, ourAddr, peerAddr, 0, 64)
	}
	out()
	assert.Zero(t, testing.AllocsPerRun(200, out), "Output")
	opts := []byte{148, 4, 0, 0, 7, 7, 4, 0, 0, 0, 0, 0}
	outOpts := func() {
		b := e.cache.Get()
		if b == nil {
			panic("pool empty")
		}
		b.Put(64)
		e.l.OutputOptions(b, d, testProto, ourAddr, peerAddr, 0, 64, opts)
	}
	assert.Zero(t, testing.AllocsPerRun(200, outOpts), "OutputOptions")
	e.requireNoLeak()
}
