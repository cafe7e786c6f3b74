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
	"github.com/dpstack/dpstack/stack/stacktest"
)

func TestMain(m *testing.M) { dpdktest.Main(m, "stack", dpdk.EALConfig{}) }

// addrA and addrB are the addresses of a pair's hosts.
var addrA, addrB = stacktest.AddrA, stacktest.AddrB

// newPair is two hosts joined by a ring pair, polled by the test itself.
func newPair(t testing.TB, name string) *stacktest.Pair {
	t.Helper()
	return stacktest.NewPair(t, stacktest.PairConfig{Name: name})
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
