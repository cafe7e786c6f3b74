package route

import (
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dpstack/dpstack/ktime"
	"github.com/dpstack/dpstack/stack/header"
	"github.com/dpstack/dpstack/stat"
)

// host returns 198.18.0.i.
func host(i int) netip.Addr { return netip.AddrFrom4([4]byte{198, 18, 0, byte(i)}) }

// macOf returns a MAC address for host i.
func macOf(i int) header.MAC { return header.MAC{0x02, 0, 0, 0, 1, byte(i)} }

func TestNeighResolveFlushesQueueInOrder(t *testing.T) {
	e := newEnv(t, Config{})
	nt := e.tbl.Neighbours()
	ids := []uint16{e.send(peerAddr), e.send(peerAddr), e.send(peerAddr)}

	n := nt.Lookup(peerAddr)
	require.NotNil(t, n)
	assert.Equal(t, NeighIncomplete, n.State())
	assert.Equal(t, 3, n.Queued())
	assert.Empty(t, e.takeFrames(), "nothing goes out before resolution")
	assert.Equal(t, []solicitation{{peerAddr, header.BroadcastMAC}}, e.takeSolicits(),
		"one broadcast request, not one per packet")

	nt.Update(e.dev, peerAddr, peerMAC, true)
	assert.Equal(t, NeighReachable, n.State())
	assert.Equal(t, peerMAC, n.MAC())
	assert.Zero(t, n.Queued())
	assert.Equal(t, []sent{{peerMAC, ids[0]}, {peerMAC, ids[1]}, {peerMAC, ids[2]}}, e.takeFrames())

	id := e.send(peerAddr)
	assert.Equal(t, []sent{{peerMAC, id}}, e.takeFrames(), "resolved: sent at once")
	assert.Empty(t, e.takeSolicits())

	s := nt.Stats()
	assert.EqualValues(t, 1, s.Resolved.Load())
	assert.EqualValues(t, 1, s.Solicits.Load())
	assert.EqualValues(t, 3, s.Queued.Load())
	assert.EqualValues(t, 1, s.Creates.Load())
}

func TestNeighSolicitRetriesThenFails(t *testing.T) {
	e := newEnv(t, Config{})
	nt := e.tbl.Neighbours()
	e.send(peerAddr)
	e.send(peerAddr)
	bcast := solicitation{peerAddr, header.BroadcastMAC}
	assert.Equal(t, []solicitation{bcast}, e.takeSolicits())

	e.advance(999 * time.Millisecond)
	assert.Empty(t, e.takeSolicits())
	e.advance(time.Millisecond)
	assert.Equal(t, []solicitation{bcast}, e.takeSolicits(), "retry after RetransTime")
	e.advance(time.Second)
	assert.Equal(t, []solicitation{bcast}, e.takeSolicits(), "third and last request")
	n := nt.Lookup(peerAddr)
	assert.Equal(t, NeighIncomplete, n.State())
	assert.Equal(t, 2, n.Queued())

	e.advance(time.Second)
	assert.Equal(t, NeighFailed, n.State())
	assert.Empty(t, e.takeSolicits())
	assert.Zero(t, n.Queued())
	assert.EqualValues(t, 2, e.dev.Drops.Get(stat.DropNeighFailed))
	assert.EqualValues(t, 1, nt.Stats().Failed.Load())
	assert.EqualValues(t, 3, nt.Stats().Solicits.Load())
	assert.Empty(t, e.takeFrames())

	// Output to a FAILED entry restarts resolution (as Linux does).
	id := e.send(peerAddr)
	assert.Equal(t, NeighIncomplete, n.State())
	assert.Equal(t, []solicitation{bcast}, e.takeSolicits())
	// An ARP request from the peer resolves it too: STALE, and the queued
	// packet goes out (a use, so DELAY).
	nt.Update(e.dev, peerAddr, peerMAC, false)
	assert.Equal(t, NeighDelay, n.State())
	assert.Equal(t, []sent{{peerMAC, id}}, e.takeFrames())
	assert.EqualValues(t, 1, nt.Stats().Resolved.Load())
}

func TestNeighReachableStaleDelayProbe(t *testing.T) {
	e := newEnv(t, Config{})
	nt := e.tbl.Neighbours()
	e.send(peerAddr)
	nt.Update(e.dev, peerAddr, peerMAC, true)
	require.Len(t, e.takeFrames(), 1)
	e.takeSolicits()
	n := nt.Lookup(peerAddr)

	// RFC 4861 §6.3.2: REACHABLE lasts 0.5 to 1.5 ReachableTime.
	e.advance(15*time.Second - time.Millisecond)
	assert.Equal(t, NeighReachable, n.State())
	e.advance(30*time.Second + time.Millisecond)
	assert.Equal(t, NeighStale, n.State())
	assert.Empty(t, e.takeSolicits(), "aging sends nothing")

	// A STALE entry is used as it is, and the use starts DELAY.
	id := e.send(peerAddr)
	assert.Equal(t, []sent{{peerMAC, id}}, e.takeFrames())
	assert.Equal(t, NeighDelay, n.State())
	e.advance(5*time.Second - time.Millisecond)
	assert.Equal(t, NeighDelay, n.State())
	e.advance(time.Millisecond)
	assert.Equal(t, NeighProbe, n.State())
	unicast := solicitation{peerAddr, peerMAC}
	assert.Equal(t, []solicitation{unicast}, e.takeSolicits(), "PROBE solicits the known MAC")

	// Packets still go out while probing; a reply confirms.
	id = e.send(peerAddr)
	assert.Equal(t, []sent{{peerMAC, id}}, e.takeFrames())
	nt.Update(e.dev, peerAddr, peerMAC, true)
	assert.Equal(t, NeighReachable, n.State())
	e.advance(2 * time.Second)
	assert.Empty(t, e.takeSolicits(), "confirmation stops probing")

	// Without replies, PROBE gives up after MaxUnicastSolicit probes.
	e.advance(45 * time.Second)
	require.Equal(t, NeighStale, n.State())
	e.send(peerAddr)
	e.advance(5 * time.Second)
	require.Equal(t, NeighProbe, n.State())
	e.advance(time.Second)
	e.advance(time.Second)
	assert.Equal(t, NeighProbe, n.State())
	e.advance(time.Second)
	assert.Equal(t, NeighFailed, n.State())
	assert.Equal(t, []solicitation{unicast, unicast, unicast}, e.takeSolicits())
	assert.EqualValues(t, 4, nt.Stats().UnicastProbes.Load())
	assert.EqualValues(t, 1, nt.Stats().Failed.Load())
	e.takeFrames()
}

func TestNeighQueueBound(t *testing.T) {
	e := newEnv(t, Config{})
	nt := e.tbl.Neighbours()
	var ids []uint16
	for range DefaultNeighQueueLen + 6 {
		ids = append(ids, e.send(peerAddr))
	}
	assert.Equal(t, DefaultNeighQueueLen, nt.Lookup(peerAddr).Queued())
	assert.EqualValues(t, 6, e.dev.Drops.Get(stat.DropNeighQueueFull))

	nt.Update(e.dev, peerAddr, peerMAC, true)
	var want []sent
	for _, id := range ids[6:] {
		want = append(want, sent{peerMAC, id})
	}
	assert.Equal(t, want, e.takeFrames(), "the oldest packets were dropped")
}

func TestNeighUpdate(t *testing.T) {
	other := header.MAC{0x02, 0, 0, 0, 0, 0x99}
	cases := []struct {
		name      string
		setup     func(e *env) // puts peerAddr into the starting state
		mac       header.MAC
		confirmed bool
		state     NeighState
		wantMAC   header.MAC
	}{
		{"new, request seen", func(*env) {}, peerMAC, false, NeighStale, peerMAC},
		{"new, reply", func(*env) {}, peerMAC, true, NeighReachable, peerMAC},
		{"reachable, same MAC, request seen", reachable, peerMAC, false, NeighReachable, peerMAC},
		{"reachable, new MAC, request seen", reachable, other, false, NeighStale, other},
		{"reachable, new MAC, reply", reachable, other, true, NeighReachable, other},
		{"stale, same MAC, request seen", stale, peerMAC, false, NeighStale, peerMAC},
		{"stale, reply", stale, peerMAC, true, NeighReachable, peerMAC},
		{"idle incomplete, request seen", idle, peerMAC, false, NeighStale, peerMAC},
		{"failed, reply", failed, peerMAC, true, NeighReachable, peerMAC},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t, Config{})
			c.setup(e)
			e.takeFrames()
			nt := e.tbl.Neighbours()
			nt.Update(e.dev, peerAddr, c.mac, c.confirmed)
			n := nt.Lookup(peerAddr)
			require.NotNil(t, n)
			assert.Equal(t, c.state, n.State())
			assert.Equal(t, c.wantMAC, n.MAC())
			assert.Same(t, e.dev, n.Dev())
		})
	}
}

func reachable(e *env) { e.tbl.Neighbours().Update(e.dev, peerAddr, peerMAC, true) }
func stale(e *env)     { e.tbl.Neighbours().Update(e.dev, peerAddr, peerMAC, false) }
func idle(e *env)      { e.tbl.Neighbours().Get(e.dev, peerAddr) }
func failed(e *env) {
	e.send(peerAddr)
	e.advance(3 * time.Second)
	if e.tbl.Neighbours().Lookup(peerAddr).State() != NeighFailed {
		e.t.Fatal("not failed")
	}
}

func TestNeighGC(t *testing.T) {
	e := newEnv(t, Config{})
	nt := e.tbl.Neighbours()

	// An unused STALE entry goes after GCStaleTime.
	nt.Update(e.dev, host(10), macOf(10), false)
	// So does an idle one that a Dst made but nobody sent through.
	d := e.lookup(host(12))
	old := d.Neigh
	require.NotNil(t, old)
	// And a FAILED one.
	e.send(host(11))
	e.advance(3 * time.Second)
	require.Equal(t, NeighFailed, nt.Lookup(host(11)).State())
	// A REACHABLE one stays while it is confirmed.
	nt.Update(e.dev, host(13), macOf(13), true)
	assert.Equal(t, 4, nt.Len())

	e.advance(57*time.Second - time.Millisecond)
	assert.NotNil(t, nt.Lookup(host(10)))
	assert.NotNil(t, nt.Lookup(host(12)))
	nt.Update(e.dev, host(13), macOf(13), true)
	e.advance(time.Millisecond)
	assert.Nil(t, nt.Lookup(host(10)))
	assert.Nil(t, nt.Lookup(host(12)))
	assert.NotNil(t, nt.Lookup(host(11)), "FAILED counts from when it failed")
	e.advance(3 * time.Second)
	assert.Nil(t, nt.Lookup(host(11)))
	assert.Equal(t, 1, nt.Len())
	assert.EqualValues(t, 3, nt.Stats().GC.Load())
	assert.True(t, old.Dead())

	// The Dst still works: it picks up a new entry for its next hop.
	assert.False(t, d.Obsolete())
	e.takeSolicits()
	e.send(host(12))
	assert.NotSame(t, old, d.Neigh)
	assert.Equal(t, NeighIncomplete, d.Neigh.State())
	assert.Equal(t, []solicitation{{host(12), header.BroadcastMAC}}, e.takeSolicits())

	// Output straight to the dead entry goes through the new one.
	b, _ := e.packet(host(12))
	old.Output(b)
	assert.Equal(t, 2, d.Neigh.Queued())
}

func TestNeighTableBound(t *testing.T) {
	e := newEnv(t, Config{Neigh: NeighConfig{MaxEntries: 8}})
	nt := e.tbl.Neighbours()
	for i := range 8 {
		nt.Update(e.dev, host(10+i), macOf(10+i), false)
	}
	require.Equal(t, 8, nt.Len())

	// Full of unused STALE entries: one is evicted for the new one.
	e.send(host(30))
	assert.Equal(t, 8, nt.Len())
	assert.EqualValues(t, 1, nt.Stats().ForcedGC.Load())
	require.NotNil(t, nt.Lookup(host(30)))
	assert.Equal(t, 1, nt.Lookup(host(30)).Queued())

	// Full of entries in use: creation is refused and the packet dropped.
	nt.Each(func(n *Neighbour) {
		if n.State() == NeighStale {
			b, _ := e.packet(n.Addr())
			n.Output(b)
		}
	})
	assert.Len(t, e.takeFrames(), 7)
	assert.Nil(t, nt.Get(e.dev, host(31)))
	e.send(host(31))
	assert.EqualValues(t, 1, e.dev.Drops.Get(stat.DropNeighFailed))
	assert.Equal(t, 8, nt.Len())
	assert.Nil(t, nt.Lookup(host(31)))
	assert.NotZero(t, nt.Stats().TableFull.Load())
}

func TestNeighDelete(t *testing.T) {
	e := newEnv(t, Config{})
	nt := e.tbl.Neighbours()
	e.send(peerAddr)
	assert.True(t, nt.Delete(peerAddr))
	assert.False(t, nt.Delete(peerAddr))
	assert.Zero(t, nt.Len())
	assert.EqualValues(t, 1, e.dev.Drops.Get(stat.DropNeighFailed))
	assert.Zero(t, e.wheel.Len(), "the entry's timer is cancelled")
}

func TestNeighOutputDoesNotAllocate(t *testing.T) {
	e := newEnv(t, Config{})
	e.txq.Discard = e.cache
	d := e.lookup(peerAddr)
	e.tbl.Neighbours().Update(e.dev, peerAddr, peerMAC, true)
	allocs := testing.AllocsPerRun(1000, func() {
		b, _ := e.packet(peerAddr)
		d.Output(b)
	})
	assert.Zero(t, allocs)
	assert.Equal(t, 1001, e.txq.Sent)
}

func TestNeighStateString(t *testing.T) {
	names := map[string]bool{}
	for s := range NumNeighStates {
		names[s.String()] = true
	}
	assert.Len(t, names, int(NumNeighStates))
	assert.Equal(t, "reachable", NeighReachable.String())
	assert.Equal(t, "unknown", NumNeighStates.String())
}

func TestNewTableDefaults(t *testing.T) {
	tbl := NewTable(ktime.NewWheel(time.Millisecond, 0))
	assert.Equal(t, NeighConfig{
		MaxEntries:          1024,
		QueueLen:            64,
		ReachableTime:       30 * time.Second,
		RetransTime:         time.Second,
		DelayFirstProbeTime: 5 * time.Second,
		GCStaleTime:         60 * time.Second,
		MaxMulticastSolicit: 3,
		MaxUnicastSolicit:   3,
	}, tbl.Neighbours().Config())
	assert.Equal(t, DefaultDstCacheSize, tbl.cacheMax)
	assert.Zero(t, tbl.Neighbours().Len())
	assert.Empty(t, tbl.LocalAddrs())
	assert.False(t, tbl.SelectSrc(nil, peerAddr).IsValid())
}
