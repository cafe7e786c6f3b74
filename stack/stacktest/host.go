package stacktest

import (
	"net/netip"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/dpstack/dpstack/dpdk"
	"github.com/dpstack/dpstack/stack"
)

// Addresses of a pair's hosts, unless the test gives its own.
var (
	AddrA = netip.MustParsePrefix("198.18.1.1/24")
	AddrB = netip.MustParsePrefix("198.18.1.2/24")
)

// DefaultPool is the size of a test host's pool, in mbufs.
const DefaultPool = 4095

// HostConfig is a test host on one core.
type HostConfig struct {
	Name string
	Port *dpdk.Port
	Addr netip.Prefix
	// PoolSize is the host's pool in mbufs; 0 is DefaultPool. A pool too
	// small for a receive reserve (2*stack.RxReserve) gets no socket
	// memory limit: such a test is about running dry.
	PoolSize int
	// MTU, when not 0, is the port's MTU.
	MTU int
	// VLAN, when not 0, puts the host on that 802.1Q VLAN.
	VLAN uint16
	// NoLRO keeps the port's LRO off (stack.Config.NoLRO).
	NoLRO bool
	// Clock, when set, is TCP's and the routing table's clock instead of
	// the real one.
	Clock *Clock
}

// OpenHost opens a host. Closing it, and checking its pool, is the
// caller's.
func OpenHost(t testing.TB, c HostConfig) *stack.Host {
	t.Helper()
	cfg := stack.Config{Name: c.Name, Port: c.Port, Addr: c.Addr, PoolSize: c.PoolSize, MTU: c.MTU, VLAN: c.VLAN, NoLRO: c.NoLRO}
	if cfg.PoolSize == 0 {
		cfg.PoolSize = DefaultPool
	}
	if cfg.PoolSize < 2*stack.RxReserve {
		cfg.SockMem = -1
	}
	h, err := stack.Open(cfg)
	require.NoError(t, err)
	if c.Clock != nil {
		// The routing table too: its timers (neighbours, path MTUs) are
		// on the wheel that Fire moves to the clock's time.
		h.Stacks()[0].TCP().SetNow(c.Clock.Now)
		h.Stacks()[0].Routes().SetClock(c.Clock.Now)
	}
	return h
}

// InUse is how many mbufs of h's pool are out, after the core's cache gave
// back what it holds.
func InUse(h *stack.Host) int {
	h.Stacks()[0].Device().Cache.Drain()
	return h.Pool().InUse()
}

// KnowNeighbours makes a and b each other's known neighbours, so that the
// first segment needs no ARP round.
func KnowNeighbours(a, b *stack.Host) {
	sa, sb := a.Stacks()[0], b.Stacks()[0]
	sa.Routes().Neighbours().Update(sa.Device(), b.Addr().Addr(), b.MAC(), true)
	sb.Routes().Neighbours().Update(sb.Device(), a.Addr().Addr(), a.MAC(), true)
}
