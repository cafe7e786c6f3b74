package stacktest

import (
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/dpstack/dpstack/dpdk/dpdktest"
	"github.com/dpstack/dpstack/faultwire"
	"github.com/dpstack/dpstack/ktime"
	"github.com/dpstack/dpstack/stack"
)

// PairConfig is two hosts and the link between them.
type PairConfig struct {
	// Name names the link; the hosts are Name+"a" and Name+"b".
	Name string
	// AddrA and AddrB are the hosts' addresses; unset, AddrA and AddrB.
	AddrA, AddrB netip.Prefix
	// PoolA and PoolB are the hosts' pools in mbufs; 0 is DefaultPool.
	PoolA, PoolB int
	// CsumOffload makes a ring pair offer TCP checksum offload.
	CsumOffload bool
	// ManualClock puts TCP and the wire on a Clock of the pair's, which
	// only Fire, Advance and AdvanceBy move; otherwise both run on ktime.Now.
	ManualClock bool
	// KnownNeighbours makes each host the other's known neighbour: no ARP
	// round before the first packet.
	KnownNeighbours bool
	// Wire, when set, joins the hosts by a fault wire instead of a ring
	// pair.
	Wire *WireConfig
	// MTU, when not 0, is both ports' MTU.
	MTU int
	// VLAN, when not 0, puts both hosts on that 802.1Q VLAN.
	VLAN uint16
	// LRO makes the link's ports offer large receive offload, which the
	// hosts take: the ring pair's model of a NIC's (dpdk.RingPair.OffloadLRO).
	LRO bool
}

// WireConfig is a fault wire: its faults each way and its seed. Its pool
// holds 1023 mbufs, checked when the test ends; 8191 with TSO, whose
// pieces the wire makes.
type WireConfig struct {
	AB, BA faultwire.Faults
	Seed   int64
	// TSO makes the ports offer TCP segmentation offload, which the wire
	// performs (faultwire.Wire.OffloadTSO).
	TSO bool
}

// Pair is two hosts on one link, polled by the test (ARCHITECTURE.md §7).
type Pair struct {
	*Link
	T     testing.TB
	A, B  *stack.Host
	Clock *Clock // the manual clock, or nil
}

// NewPair opens two hosts on a new link. When the test ends it mends the
// link, lets what is in flight arrive, closes both TCPs and UDPs before either
// host (each host may hold the other's mbufs: clones that crossed the
// link), then the hosts, which check their pools, and the link.
func NewPair(t testing.TB, c PairConfig) *Pair {
	t.Helper()
	p := &Pair{T: t}
	var err error
	if c.Wire != nil {
		size := 1023
		if c.Wire.TSO {
			size = 8191
		}
		p.Link, err = NewWire(c.Name, dpdktest.Pool(t, size), c.Wire.AB, c.Wire.BA, c.Wire.Seed)
		if err == nil && c.Wire.TSO {
			p.Wire.OffloadTSO()
		}
		if err == nil && c.LRO {
			p.Wire.OffloadLRO()
		}
	} else {
		p.Link, err = NewRings(c.Name, c.CsumOffload)
		if err == nil && c.LRO {
			p.Rings.OffloadLRO()
		}
	}
	require.NoError(t, err)
	if c.ManualClock {
		p.Clock = NewClock()
	}
	if !c.AddrA.IsValid() {
		c.AddrA = AddrA
	}
	if !c.AddrB.IsValid() {
		c.AddrB = AddrB
	}
	portA, portB := p.Ports()
	p.A = OpenHost(t, HostConfig{Name: c.Name + "a", Port: portA, Addr: c.AddrA, PoolSize: c.PoolA, MTU: c.MTU, VLAN: c.VLAN, Clock: p.Clock})
	p.B = OpenHost(t, HostConfig{Name: c.Name + "b", Port: portB, Addr: c.AddrB, PoolSize: c.PoolB, MTU: c.MTU, VLAN: c.VLAN, Clock: p.Clock})
	if c.KnownNeighbours {
		KnowNeighbours(p.A, p.B)
	}
	t.Cleanup(func() {
		require.NoError(t, p.Mend())
		if p.Wire != nil && p.Clock != nil {
			// The delay line lets go only as the clock moves on.
			for range 100 {
				p.Fire(time.Millisecond)
				p.Pump(2)
			}
		} else {
			p.Pump(8)
		}
		p.A.Stacks()[0].TCP().Close()
		p.B.Stacks()[0].TCP().Close()
		p.A.Stacks()[0].UDP().Close()
		p.B.Stacks()[0].UDP().Close()
		if p.Wire != nil {
			p.Pump(1) // what the wire held back
		}
		p.A.Stacks()[0].Device().Cache.Flush()
		p.B.Stacks()[0].Device().Cache.Flush()
		require.NoError(t, p.A.Close(), "host a")
		require.NoError(t, p.B.Close(), "host b")
		require.NoError(t, p.Link.Close())
	})
	return p
}

// Now is the pair's time: the manual clock's, or the real one.
func (p *Pair) Now() ktime.Time {
	if p.Clock != nil {
		return p.Clock.Now()
	}
	return ktime.Now()
}

// Pump runs n turns: a's loop, the link, b's loop, the link.
func (p *Pair) Pump(n int) {
	for range n {
		p.A.Stacks()[0].Loop().Poll()
		p.Link.Poll(p.Now())
		p.B.Stacks()[0].Loop().Poll()
		p.Link.Poll(p.Now())
	}
}

// PumpUntil runs turns until cond holds, failing after a bounded number.
func (p *Pair) PumpUntil(what string, cond func() bool) {
	p.T.Helper()
	for range 20000 {
		if cond() {
			return
		}
		p.Pump(1)
	}
	p.T.Fatalf("never happened: %s", what)
}

// Fire moves the manual clock on by d and runs what is due on both hosts.
func (p *Pair) Fire(d time.Duration) {
	p.Clock.Add(d)
	Fire(p.A, p.Clock.Now())
	Fire(p.B, p.Clock.Now())
}

// Advance is Fire, then four turns to let the packets flow.
func (p *Pair) Advance(d time.Duration) {
	p.Fire(d)
	p.Pump(4)
}

// AdvanceBy advances the clock step by step up to total, pumping between.
func (p *Pair) AdvanceBy(total, step time.Duration) {
	for d := time.Duration(0); d < total; d += step {
		p.Advance(step)
	}
}
