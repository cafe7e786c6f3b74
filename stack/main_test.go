package stack_test

import (
	"errors"
	"fmt"
	"net/netip"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/dpstack/dpstack/dpdk"
	"github.com/dpstack/dpstack/dpdk/dpdktest"
	"github.com/dpstack/dpstack/stack"
	"github.com/dpstack/dpstack/stack/header"
	"github.com/dpstack/dpstack/stack/route"
)

func TestMain(m *testing.M) { dpdktest.Main(m, "stack", dpdk.EALConfig{}) }

// pair is two hosts joined by a ring pair, polled by the test itself.
type pair struct {
	rp   *dpdk.RingPair
	a, b *stack.Host
}

var (
	addrA = netip.MustParsePrefix("198.18.1.1/24")
	addrB = netip.MustParsePrefix("198.18.1.2/24")
)

func newPair(t testing.TB, name string) *pair {
	t.Helper()
	rp, err := dpdk.NewRingPair(name, 1024)
	require.NoError(t, err)
	p := &pair{rp: rp}
	p.a, err = stack.Open(stack.Config{Name: name + "a", Port: rp.A, Addr: addrA, PoolSize: 4095})
	require.NoError(t, err)
	p.b, err = stack.Open(stack.Config{Name: name + "b", Port: rp.B, Addr: addrB, PoolSize: 4095})
	require.NoError(t, err)
	t.Cleanup(func() {
		p.pump(8) // let what is in flight arrive and be freed
		require.NoError(t, p.a.Close(), "host a")
		require.NoError(t, p.b.Close(), "host b")
		require.NoError(t, rp.Close())
	})
	return p
}

// pump runs n turns of both loops.
func (p *pair) pump(n int) {
	for range n {
		p.a.Stacks()[0].Loop().Poll()
		p.b.Stacks()[0].Loop().Poll()
	}
}

// pumpUntil runs turns until cond holds, failing after a bounded number.
func (p *pair) pumpUntil(t testing.TB, what string, cond func() bool) {
	t.Helper()
	for range 10000 {
		if cond() {
			return
		}
		p.pump(1)
	}
	t.Fatalf("never happened: %s", what)
}

// sendEcho originates an ICMP echo request of size payload bytes from h to
// dst through h's routing and neighbour layers.
func sendEcho(t testing.TB, h *stack.Host, dst netip.Addr, id, seq uint16, size int) {
	t.Helper()
	require.NoError(t, echoRequest(h, dst, id, seq, size))
}

// echoRequest is sendEcho without the test plumbing, for benchmarks.
func echoRequest(h *stack.Host, dst netip.Addr, id, seq uint16, size int) error {
	s := h.Stacks()[0]
	b := s.Device().Alloc()
	if b == nil {
		return errors.New("out of mbufs")
	}
	msg := header.ICMPv4(b.Put(header.ICMPv4MinLen + size))
	if msg == nil {
		s.Device().Free(b)
		return errors.New("echo too large for one mbuf")
	}
	msg.SetType(header.ICMPv4Echo)
	msg.SetCode(0)
	msg.SetIdent(id)
	msg.SetSeq(seq)
	for i := range msg.Payload() {
		msg.Payload()[i] = byte(i)
	}
	msg.SetChecksumFull()
	d, err := s.Routes().Lookup(&route.Flow4{Dst: dst, Proto: header.IPProtoICMP})
	if err != nil {
		s.Device().Free(b)
		return err
	}
	s.IPv4().Output(b, d, header.IPProtoICMP, d.Src, dst, 0, 64)
	return nil
}

// ethFrame builds an Ethernet frame.
func ethFrame(dst, src header.MAC, etherType uint16, payload []byte) []byte {
	f := make([]byte, header.EthernetLen+len(payload))
	header.Ethernet(f).Encode(dst, src, etherType)
	copy(f[header.EthernetLen:], payload)
	return f
}

// ipPacket builds an IPv4 packet with a valid header checksum.
func ipPacket(src, dst netip.Addr, proto uint8, ttl uint8, payload []byte) []byte {
	p := make([]byte, header.IPv4MinLen+len(payload))
	ip := header.IPv4(p)
	ip.Encode(header.IPv4Fields{TotalLen: uint16(len(p)), TTL: ttl, Protocol: proto, Src: src, Dst: dst})
	ip.SetChecksumFull()
	copy(p[header.IPv4MinLen:], payload)
	return p
}

// icmpEcho builds an ICMP echo request with a valid checksum.
func icmpEcho(id, seq uint16, size int) []byte {
	m := make([]byte, header.ICMPv4MinLen+size)
	msg := header.ICMPv4(m)
	msg.SetType(header.ICMPv4Echo)
	msg.SetIdent(id)
	msg.SetSeq(seq)
	msg.SetChecksumFull()
	return m
}

func uniq(prefix string) string { return fmt.Sprintf("%s%d", prefix, seq.Add(1)) }
