package faultwire_test

import (
	"net/netip"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dpstack/dpstack/faultwire"
	"github.com/dpstack/dpstack/stack"
	"github.com/dpstack/dpstack/stack/header"
	"github.com/dpstack/dpstack/stack/route"
	"github.com/dpstack/dpstack/stack/stacktest"
	"github.com/dpstack/dpstack/stat"
)

var (
	hostA = netip.MustParsePrefix("198.18.8.1/24")
	hostB = netip.MustParsePrefix("198.18.8.2/24")
)

// newHosts is two stacks joined through a wire, polled by the test itself.
func newHosts(t *testing.T, seed int64) *stacktest.Pair {
	t.Helper()
	return stacktest.NewPair(t, stacktest.PairConfig{Name: uniq("fwh"), AddrA: hostA, AddrB: hostB,
		Wire: &stacktest.WireConfig{Seed: seed}})
}

// echo sends an ICMP echo request of size payload bytes from h to dst
// through h's routing and neighbour layers.
func echo(t *testing.T, h *stack.Host, dst netip.Addr, seq uint16, size int) {
	t.Helper()
	s := h.Stacks()[0]
	b := s.Device().Alloc()
	require.NotNil(t, b)
	msg := header.ICMPv4(b.Put(header.ICMPv4MinLen + size))
	require.NotNil(t, msg)
	msg.SetType(header.ICMPv4Echo)
	msg.SetCode(0)
	msg.SetIdent(9)
	msg.SetSeq(seq)
	for i := range msg.Payload() {
		msg.Payload()[i] = byte(i + int(seq))
	}
	msg.SetChecksumFull()
	d, err := s.Routes().Lookup(&route.Flow4{Dst: dst, Proto: header.IPProtoICMP})
	require.NoError(t, err)
	s.IPv4().Output(b, d, header.IPProtoICMP, d.Src, dst, 0, 64)
}

// drops sums a host's drop counters: all of them, and the checksum ones.
func drops(h *stack.Host) (all, checksum uint64) {
	d := &h.Stacks()[0].Device().Drops
	for r := range stat.NumDropReasons {
		all += d.Get(r)
	}
	return all, d.Get(stat.DropIPBadChecksum) + d.Get(stat.DropICMPBadChecksum)
}

// TestHostsThroughLossyWire: two stacks exchange ICMP echoes through a
// wire dropping and corrupting 20 % each way. Echoes are lost; every
// corrupted packet is dropped by the receiver for a bad IPv4 or ICMP
// checksum, and for nothing else; every packet that arrived intact is
// answered or counted as a reply.
func TestHostsThroughLossyWire(t *testing.T) {
	h := newHosts(t, 42)
	ipA, ipB := h.A.Stacks()[0].IPv4().Stats(), h.B.Stacks()[0].IPv4().Stats()

	// Resolve the neighbours over a clean wire: ARP has no checksum, and
	// the test is about the echoes.
	echo(t, h.A, hostB.Addr(), 0, 56)
	for i := 0; ipA.ICMPInEchoReps.Load() == 0; i++ {
		require.Less(t, i, 1000, "no first echo reply")
		h.Pump(1)
	}

	lossy := faultwire.Faults{Drop: 0.2, Corrupt: 0.2}
	require.NoError(t, h.Wire.SetFaults(faultwire.AToB, lossy))
	require.NoError(t, h.Wire.SetFaults(faultwire.BToA, lossy))
	ab0, ba0 := h.Wire.Stats(faultwire.AToB), h.Wire.Stats(faultwire.BToA)
	allA0, sumA0 := drops(h.A)
	allB0, sumB0 := drops(h.B)
	echos0, replies0, reps0 := ipB.ICMPInEchos.Load(), ipB.ICMPOutEchoReplies.Load(), ipA.ICMPInEchoReps.Load()

	const n = 500
	for i := range n {
		echo(t, h.A, hostB.Addr(), uint16(i+1), i%300)
		if i%25 == 24 {
			h.Pump(8)
		}
	}
	h.Pump(16)

	ab, ba := h.Wire.Stats(faultwire.AToB), h.Wire.Stats(faultwire.BToA)
	ab.Received -= ab0.Received
	ab.Forwarded -= ab0.Forwarded
	ba.Forwarded -= ba0.Forwarded
	ba.Received -= ba0.Received
	allA, sumA := drops(h.A)
	allB, sumB := drops(h.B)
	allA, sumA, allB, sumB = allA-allA0, sumA-sumA0, allB-allB0, sumB-sumB0
	echos := ipB.ICMPInEchos.Load() - echos0
	replies := ipB.ICMPOutEchoReplies.Load() - replies0
	reps := ipA.ICMPInEchoReps.Load() - reps0

	for r := range stat.NumDropReasons {
		if n := h.A.Stacks()[0].Device().Drops.Get(r); n > 0 {
			t.Logf("a drop %v: %d", r, n)
		}
		if n := h.B.Stacks()[0].Device().Drops.Get(r); n > 0 {
			t.Logf("b drop %v: %d", r, n)
		}
	}
	t.Logf("a->b %+v", ab)
	t.Logf("b->a %+v", ba)
	require.Equal(t, uint64(n), ab.Received, "every request went through the wire")
	require.NotZero(t, ab.Dropped)
	require.NotZero(t, ab.Corrupted)
	require.NotZero(t, ba.Dropped)
	require.NotZero(t, ba.Corrupted)
	assert.Zero(t, ab.Held+ba.Held)

	assert.Less(t, reps, uint64(n), "some echoes are lost")
	assert.Equal(t, ab.Corrupted, sumB, "b dropped every corrupted request for its checksum")
	assert.Equal(t, ba.Corrupted, sumA, "a dropped every corrupted reply for its checksum")
	assert.Equal(t, sumB, allB, "b dropped nothing else")
	assert.Equal(t, sumA+reps, allA, "a dropped nothing else (a reply is counted, then dropped as unhandled: no ping sockets yet)")
	assert.Equal(t, ab.Forwarded-ab.Corrupted, echos, "b took every intact request, no corrupted one")
	assert.Equal(t, echos, replies, "and answered each")
	assert.Equal(t, replies, ba.Received)
	assert.Equal(t, ba.Forwarded-ba.Corrupted, reps, "a took every intact reply, no corrupted one")
}
