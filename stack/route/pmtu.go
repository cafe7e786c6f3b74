package route

import (
	"net/netip"
	"time"

	"github.com/dpstack/dpstack/ktime"
)

// Path MTU discovery's limits (RFC 1191; Linux's route.c sysctls).
const (
	// PMTUExpires is how long a learnt path MTU holds before the
	// destination's MTU goes back to the device's, so that a path that
	// grew is found again (RFC 1191 §6.3 suggests 10 minutes; Linux's
	// ip_rt_mtu_expires).
	PMTUExpires = 10 * time.Minute
	// MinPMTU is the least path MTU a report may set (Linux's
	// ip_rt_min_pmtu, 512 + 20 + 20): RFC 1191 §3 lets a host refuse to
	// go below 576, Linux stops at 552. A report below it sets MinPMTU
	// and locks the entry until it expires.
	MinPMTU = 552
	// maxPMTUEntries bounds the destinations with a learnt path MTU: a
	// new one beyond it replaces the entry closest to expiry (Linux
	// bounds its per-nexthop exception chains the same way).
	maxPMTUEntries = 2048
)

// pmtuEntry is a learnt path MTU for one destination (Linux's
// fib_nh_exception with its fnhe_pmtu, fnhe_expires and fnhe_mtu_locked).
// It lives beside the Dst cache, not in it, so that flushing the cache
// forgets nothing.
type pmtuEntry struct {
	dst     uint32
	mtu     int
	expires ktime.Time
	locked  bool
	timer   ktime.Timer
	table   *Table
}

// OnPMTU sets fn to be told of every path MTU that UpdatePMTU lowers on
// this core, after it is lowered, with the reported value. A host with
// several cores uses it to give the other cores' tables the same path MTU
// (LearnPMTU): the ICMP message that tells it reaches one core only.
func (t *Table) OnPMTU(fn func(dst netip.Addr, mtu int)) { t.pmtuHook = fn }

// UpdatePMTU takes a path MTU reported for destination dst (an ICMP
// Fragmentation Needed, RFC 1191 §3, or a transport's own finding) and
// reports whether the destination's MTU changed, as Linux's
// __ip_rt_update_pmtu does:
//
//   - a locked entry takes no report until it expires;
//   - a report above the current MTU is ignored: only expiry raises it
//     (RFC 1191 §3: a host "MUST NOT increase its estimate" on a report);
//   - a report below MinPMTU (0, 40, 68: a broken or malicious router)
//     sets MinPMTU, or keeps a lower current MTU, and locks the entry;
//   - an equal report only refreshes an entry past half its life.
//
// The new MTU holds for PMTUExpires. Every Dst made before reports
// Obsolete, so that its holder looks up again and sees the new MTU.
func (t *Table) UpdatePMTU(dst netip.Addr, mtu int) bool {
	if !t.updatePMTU(dst, mtu) {
		return false
	}
	if t.pmtuHook != nil {
		t.pmtuHook(dst, mtu)
	}
	return true
}

// LearnPMTU is UpdatePMTU for a report another core of the host took: the
// same rules, without telling OnPMTU's function again.
func (t *Table) LearnPMTU(dst netip.Addr, mtu int) bool { return t.updatePMTU(dst, mtu) }

func (t *Table) updatePMTU(dst netip.Addr, mtu int) bool {
	dk, ok := addrKey(dst)
	if !ok {
		return false
	}
	devMTU, ok := t.deviceMTU(dk)
	if !ok {
		return false
	}
	now := t.neigh.time()
	e := t.pmtu[dk]
	old := devMTU
	if e != nil {
		if e.locked {
			return false
		}
		old = min(e.mtu, devMTU)
	}
	if mtu > old {
		return false
	}
	locked := false
	if mtu < MinPMTU {
		locked = true
		mtu = min(old, MinPMTU)
	}
	if e != nil && e.mtu == mtu && !locked && now < e.expires.Add(-PMTUExpires/2) {
		return false
	}
	if e == nil {
		e = t.newPMTUEntry(dk)
	}
	e.mtu, e.locked = mtu, locked
	e.expires = now.Add(PMTUExpires)
	t.neigh.wheel.Schedule(&e.timer, e.expires)
	t.stats.PMTUUpdates.Inc()
	t.invalidate()
	return true
}

// newPMTUEntry makes the entry of dk, replacing the one closest to expiry
// when the table holds maxPMTUEntries.
func (t *Table) newPMTUEntry(dk uint32) *pmtuEntry {
	if len(t.pmtu) >= maxPMTUEntries {
		var oldest *pmtuEntry
		for _, o := range t.pmtu {
			if oldest == nil || o.expires < oldest.expires {
				oldest = o
			}
		}
		t.dropPMTU(oldest)
	}
	e := &pmtuEntry{dst: dk, table: t}
	e.timer.Init(func(_ *ktime.Timer, now ktime.Time) { e.expire(now) })
	t.pmtu[dk] = e
	return e
}

// expire runs when the entry's time is up: the destination's MTU goes back
// to the device's (RFC 1191 §6.3).
func (e *pmtuEntry) expire(ktime.Time) {
	t := e.table
	t.stats.PMTUExpired.Inc()
	t.dropPMTU(e)
	t.invalidate()
}

// dropPMTU forgets e.
func (t *Table) dropPMTU(e *pmtuEntry) {
	t.neigh.wheel.Cancel(&e.timer)
	delete(t.pmtu, e.dst)
}

// PMTU returns the learnt path MTU of dst and whether it is locked, or
// false when there is none. It is for diagnostics and tests.
func (t *Table) PMTU(dst netip.Addr) (mtu int, locked, ok bool) {
	dk, ok := addrKey(dst)
	if !ok {
		return 0, false, false
	}
	e := t.pmtu[dk]
	if e == nil {
		return 0, false, false
	}
	return e.mtu, e.locked, true
}

// pathMTU is the MTU of a Dst to dk out of dev: the device's, or a lower
// learnt path MTU.
func (t *Table) pathMTU(dk uint32, devMTU int) int {
	if e := t.pmtu[dk]; e != nil {
		return min(e.mtu, devMTU)
	}
	return devMTU
}

// deviceMTU is the MTU of the device a unicast packet to dk leaves by,
// and whether dk is such a destination at all (not ours, not a broadcast,
// routed).
func (t *Table) deviceMTU(dk uint32) (int, bool) {
	if dk == 0 || dk>>24 == 127 || dk>>28 >= 0xe || t.local[dk] != nil || t.bcast[dk] != nil {
		return 0, false
	}
	e := t.lpm(dk)
	if e == nil {
		return 0, false
	}
	if !e.connected() {
		e = e.via
	}
	return e.dev.MTU, true
}

// invalidate makes every Dst made so far report Obsolete, without touching
// the routes (rt_genid_bump_ipv4 without a table change).
func (t *Table) invalidate() {
	t.genid++
	t.flushCache()
}
