package udp_test

import (
	"fmt"
	"net/netip"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/dpstack/dpstack/dpdk"
	"github.com/dpstack/dpstack/dpdk/dpdktest"
	"github.com/dpstack/dpstack/mbuf"
	"github.com/dpstack/dpstack/stack/header"
	"github.com/dpstack/dpstack/stack/stacktest"
	"github.com/dpstack/dpstack/stack/udp"
	"github.com/dpstack/dpstack/stat"
)

func TestMain(m *testing.M) { dpdktest.Main(m, "udp", dpdk.EALConfig{}) }

var addrA, addrB = stacktest.AddrA.Addr(), stacktest.AddrB.Addr()

var seqNo atomic.Int64

func uniq(prefix string) string { return fmt.Sprintf("%s%d", prefix, seqNo.Add(1)) }

// pair is two hosts on a manual clock, each the other's known neighbour.
type pair struct{ *stacktest.Pair }

func newPair(t testing.TB) *pair {
	t.Helper()
	p := &pair{stacktest.NewPair(t, stacktest.PairConfig{Name: uniq("up"), ManualClock: true, KnownNeighbours: true})}
	p.Pump(2) // the ports take their rx descriptors
	base := stacktest.InUse(p.A) + stacktest.InUse(p.B)
	// Registered after NewPair's cleanup, so it runs first: every test's
	// sockets are closed by then, and nothing is left in flight.
	t.Cleanup(func() {
		p.Pump(4)
		require.Equal(t, base, stacktest.InUse(p.A)+stacktest.InUse(p.B), "pools back at their baseline")
	})
	return p
}

func (p *pair) ua() *udp.Proto { return p.A.Stacks()[0].UDP() }
func (p *pair) ub() *udp.Proto { return p.B.Stacks()[0].UDP() }

func (p *pair) dropsB(r stat.DropReason) uint64 { return p.B.Stacks()[0].Device().Drops.Get(r) }

// bound returns a socket of u bound to addr:port, closed when the test
// ends; opts are SOL_SOCKET options set to 1 before binding.
func bound(t testing.TB, u *udp.Proto, addr netip.Addr, port uint16, opts ...int) *udp.Sock {
	t.Helper()
	s := u.NewSock()
	t.Cleanup(s.Close)
	for _, o := range opts {
		require.NoError(t, s.SetSockOpt(1, o, 1))
	}
	require.NoError(t, s.Bind(netip.AddrPortFrom(addr, port)))
	return s
}

// recv reads one datagram from s, failing when there is none.
func recv(t testing.TB, s *udp.Sock) (string, netip.AddrPort) {
	t.Helper()
	buf := make([]byte, 2048)
	n, from, err := s.RecvFrom(buf, 0)
	require.NoError(t, err)
	return string(buf[:n]), from
}

// inject sends a hand-made IPv4 packet carrying payload (a UDP datagram)
// from a to b, and pumps until b took it.
func (p *pair) inject(t testing.TB, payload []byte) {
	t.Helper()
	frame := stacktest.EthFrame(p.B.MAC(), p.A.MAC(), header.EtherTypeIPv4,
		stacktest.IPv4Packet(addrA, addrB, header.IPProtoUDP, 64, payload))
	b := p.A.Pool().Alloc()
	require.NotNil(t, b)
	copy(b.Put(len(frame)), frame)
	require.Equal(t, 1, p.Rings.A.TxBurst(0, []*mbuf.Buf{b}))
	p.Pump(2)
}

// datagram builds a UDP datagram from addrA:sport to addrB:dport with a
// correct checksum.
func datagram(sport, dport uint16, data string) []byte {
	d := make([]byte, header.UDPLen+len(data))
	u := header.UDP(d)
	u.Encode(sport, dport, uint16(len(d)))
	copy(u.Payload(), data)
	c := u.CalculateChecksum(header.PseudoHeaderSum(addrA, addrB, header.IPProtoUDP, uint16(len(d))))
	if c == 0 {
		c = 0xffff
	}
	u.SetChecksum(c)
	return d
}
