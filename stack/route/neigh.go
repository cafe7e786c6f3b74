package route

import (
	"math/rand/v2"
	"net/netip"
	"time"

	"github.com/dpstack/dpstack/ktime"
	"github.com/dpstack/dpstack/mbuf"
	"github.com/dpstack/dpstack/stack/header"
	"github.com/dpstack/dpstack/stack/netdev"
	"github.com/dpstack/dpstack/stat"
)

// NeighState is the reachability state of a neighbour entry: the states of
// RFC 4861 §7.3.2, which Linux uses for ARP as well (NUD_*).
type NeighState uint8

// The neighbour states.
const (
	// NeighIncomplete: the MAC address is unknown. Packets wait on the
	// entry while broadcast solicitations are outstanding (NUD_INCOMPLETE).
	// A fresh entry that nobody has sent through yet is INCOMPLETE too,
	// with no solicitation outstanding (Linux's NUD_NONE).
	NeighIncomplete NeighState = iota
	// NeighReachable: the MAC address was confirmed less than
	// ReachableTime ago (NUD_REACHABLE).
	NeighReachable
	// NeighStale: the MAC address is known but unconfirmed; it is still
	// used, and the first use starts the DELAY timer (NUD_STALE).
	NeighStale
	// NeighDelay: used while STALE; waiting DelayFirstProbeTime for a
	// confirmation from upper layers before probing (NUD_DELAY).
	NeighDelay
	// NeighProbe: unicast solicitations to the known MAC address are
	// outstanding; packets are still sent to it (NUD_PROBE).
	NeighProbe
	// NeighFailed: resolution or probing got no answer (NUD_FAILED). The
	// next packet restarts resolution.
	NeighFailed

	// NumNeighStates is the number of states.
	NumNeighStates
)

var neighStateNames = [NumNeighStates]string{
	NeighIncomplete: "incomplete",
	NeighReachable:  "reachable",
	NeighStale:      "stale",
	NeighDelay:      "delay",
	NeighProbe:      "probe",
	NeighFailed:     "failed",
}

// String is the state's lower-case name, usable as a metric label.
func (s NeighState) String() string {
	if s < NumNeighStates {
		return neighStateNames[s]
	}
	return "unknown"
}

// Valid reports whether an entry in state s has a usable MAC address
// (Linux NUD_VALID without the permanent states).
func (s NeighState) Valid() bool {
	return s == NeighReachable || s == NeighStale || s == NeighDelay || s == NeighProbe
}

// Defaults of NeighConfig: Linux's defaults for ARP (arp_tbl), which follow
// the constants of RFC 4861 §10 where they apply.
const (
	DefaultNeighMaxEntries     = 1024
	DefaultNeighQueueLen       = 64 // Linux unres_qlen
	DefaultReachableTime       = 30 * time.Second
	DefaultRetransTime         = time.Second
	DefaultDelayFirstProbeTime = 5 * time.Second
	DefaultGCStaleTime         = 60 * time.Second
	DefaultMaxMulticastSolicit = 3
	DefaultMaxUnicastSolicit   = 3
)

// NeighConfig tunes a neighbour table (Linux struct neigh_parms). A zero
// field takes its default.
type NeighConfig struct {
	// MaxEntries bounds the table (Linux gc_thresh3). When it is full, a
	// new entry evicts unused STALE, FAILED or idle entries, or is refused.
	MaxEntries int
	// QueueLen bounds the packets waiting on one unresolved entry; the
	// oldest is dropped when a new one arrives (Linux unres_qlen).
	QueueLen int
	// ReachableTime is BaseReachableTime of RFC 4861 §6.3.2: a confirmed
	// entry stays REACHABLE for a random time between 0.5 and 1.5 times it.
	ReachableTime time.Duration
	// RetransTime is the interval between solicitations (RFC 4861
	// RETRANS_TIMER).
	RetransTime time.Duration
	// DelayFirstProbeTime is how long a used STALE entry waits in DELAY
	// before probing (RFC 4861 DELAY_FIRST_PROBE_TIME).
	DelayFirstProbeTime time.Duration
	// GCStaleTime is how long an unused STALE, FAILED or idle entry lives
	// (Linux gc_stale_time).
	GCStaleTime time.Duration
	// MaxMulticastSolicit is the number of broadcast requests sent to
	// resolve an address before it is FAILED (RFC 4861
	// MAX_MULTICAST_SOLICIT; Linux mcast_solicit).
	MaxMulticastSolicit int
	// MaxUnicastSolicit is the number of unicast probes sent in PROBE
	// before the entry is FAILED (RFC 4861 MAX_UNICAST_SOLICIT; Linux
	// ucast_solicit).
	MaxUnicastSolicit int
}

// withDefaults returns c with every zero field set to its default.
func (c NeighConfig) withDefaults() NeighConfig {
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	defDur := func(v *time.Duration, d time.Duration) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&c.MaxEntries, DefaultNeighMaxEntries)
	def(&c.QueueLen, DefaultNeighQueueLen)
	defDur(&c.ReachableTime, DefaultReachableTime)
	defDur(&c.RetransTime, DefaultRetransTime)
	defDur(&c.DelayFirstProbeTime, DefaultDelayFirstProbeTime)
	defDur(&c.GCStaleTime, DefaultGCStaleTime)
	def(&c.MaxMulticastSolicit, DefaultMaxMulticastSolicit)
	def(&c.MaxUnicastSolicit, DefaultMaxUnicastSolicit)
	return c
}

// NeighStats are a neighbour table's counters (Linux struct
// neigh_statistics, /proc/net/stat/arp_cache).
type NeighStats struct {
	Lookups       stat.Counter `stat:"neigh_lookups"`        // Lookup and Get calls
	Hits          stat.Counter `stat:"neigh_hits"`           // ... that found an entry
	Creates       stat.Counter `stat:"neigh_creates"`        // entries created
	Solicits      stat.Counter `stat:"neigh_solicits"`       // solicitations sent, broadcast and unicast
	UnicastProbes stat.Counter `stat:"neigh_unicast_probes"` // ... of which unicast probes
	Queued        stat.Counter `stat:"neigh_queued"`         // packets queued awaiting resolution
	Resolved      stat.Counter `stat:"neigh_resolved"`       // INCOMPLETE or FAILED entries that learnt a MAC
	Failed        stat.Counter `stat:"neigh_failed"`         // entries that became FAILED
	GC            stat.Counter `stat:"neigh_gc"`             // entries removed by aging
	ForcedGC      stat.Counter `stat:"neigh_forced_gc"`      // entries evicted because the table was full
	TableFull     stat.Counter `stat:"neigh_table_full"`     // creations refused: full and nothing evictable
}

// NeighTable is one core's neighbour cache for IPv4 (Linux arp_tbl). It is
// keyed by IPv4 address alone: a core's devices are expected to hold
// disjoint subnets.
type NeighTable struct {
	wheel   *ktime.Wheel
	cfg     NeighConfig
	entries map[uint32]*Neighbour
	solicit func(dev *netdev.Device, target netip.Addr, dst header.MAC)
	now     ktime.Time
	clock   func() ktime.Time
	stats   NeighStats
}

// NewNeighTable returns an empty neighbour table whose timers run on wheel.
func NewNeighTable(wheel *ktime.Wheel, cfg NeighConfig) *NeighTable {
	cfg = cfg.withDefaults()
	return &NeighTable{
		wheel:   wheel,
		cfg:     cfg,
		entries: make(map[uint32]*Neighbour),
	}
}

// Config is the table's configuration, defaults filled in.
func (nt *NeighTable) Config() NeighConfig { return nt.cfg }

// SetSolicit installs the function that sends a solicitation (an ARP
// request) for target out of dev to the Ethernet address dst: BroadcastMAC
// to resolve an address, the known MAC for a unicast probe. Until it is
// set, solicitations are counted but not sent.
func (nt *NeighTable) SetSolicit(fn func(dev *netdev.Device, target netip.Addr, dst header.MAC)) {
	nt.solicit = fn
}

// SetClock makes the table read the core's clock itself (the loop's turn
// time) whenever it stamps an entry or arms a timer, so that output started
// from timers or posted work sees the current time too.
func (nt *NeighTable) SetClock(clock func() ktime.Time) { nt.clock = clock }

// time is the table's current time: the clock's, or the last SetNow.
func (nt *NeighTable) time() ktime.Time {
	if nt.clock != nil {
		nt.SetNow(nt.clock())
	}
	return nt.now
}

// SetNow sets the core's clock for this turn; entries are stamped with it.
func (nt *NeighTable) SetNow(now ktime.Time) {
	if now > nt.now {
		nt.now = now
	}
}

// Len is the number of entries.
func (nt *NeighTable) Len() int { return len(nt.entries) }

// Stats are the table's counters.
func (nt *NeighTable) Stats() *NeighStats { return &nt.stats }

// Each calls fn for every entry, in no particular order. fn must not add
// or remove entries.
func (nt *NeighTable) Each(fn func(*Neighbour)) {
	for _, n := range nt.entries {
		fn(n)
	}
}

// Lookup returns the entry for a, or nil if there is none (neigh_lookup).
func (nt *NeighTable) Lookup(a netip.Addr) *Neighbour {
	nt.stats.Lookups.Inc()
	k, ok := addrKey(a)
	if !ok {
		return nil
	}
	n := nt.entries[k]
	if n != nil {
		nt.stats.Hits.Inc()
	}
	return n
}

// Get returns the entry for a on dev, creating an INCOMPLETE one if there
// is none (__neigh_lookup with creation). Creating nothing sends nothing:
// resolution starts with the first packet output through the entry. It
// returns nil when a is not an IPv4 address or the table is full of
// entries that are in use; the caller drops with stat.DropNeighFailed.
func (nt *NeighTable) Get(dev *netdev.Device, a netip.Addr) *Neighbour {
	if n := nt.Lookup(a); n != nil {
		if dev != nil {
			n.dev = dev
		}
		return n
	}
	k, ok := addrKey(a)
	if !ok || dev == nil {
		return nil
	}
	return nt.create(dev, k)
}

// Delete removes the entry for a (`ip neigh del`), dropping any packets
// queued on it, and reports whether there was one.
func (nt *NeighTable) Delete(a netip.Addr) bool {
	k, ok := addrKey(a)
	if !ok {
		return false
	}
	n := nt.entries[k]
	if n == nil {
		return false
	}
	nt.remove(n)
	return true
}

// Update records that a has the link-layer address mac on dev (Linux
// neigh_update), creating the entry if needed.
//
// confirmed means reachability was confirmed: an ARP reply addressed to us.
// The entry becomes REACHABLE. Otherwise (an ARP request for us, a
// gratuitous ARP) the news is weaker: a new entry, one without a known MAC
// or one whose MAC changed becomes STALE with the new address, and a known
// entry with the same MAC keeps its state. This is neigh_update with
// NEIGH_UPDATE_F_OVERRIDE always set; Linux withholds the override for
// locktime (1 s) after the last update, which this table does not.
//
// When the MAC becomes known, the packets queued on the entry are sent in
// order (which, on a STALE entry, counts as a use and starts DELAY).
func (nt *NeighTable) Update(dev *netdev.Device, a netip.Addr, mac header.MAC, confirmed bool) {
	k, ok := addrKey(a)
	if !ok {
		return
	}
	n := nt.entries[k]
	created := false
	if n == nil {
		if dev == nil {
			return
		}
		if n = nt.create(dev, k); n == nil {
			return
		}
		created = true
	}
	if dev != nil {
		n.dev = dev
	}
	now := nt.time()
	old := n.state
	wasValid := old.Valid()
	switch {
	case confirmed:
		n.mac = mac
		n.probes = 0
		n.updated = now
		n.becomeReachable(now)
	case !wasValid || n.mac != mac:
		n.mac = mac
		n.probes = 0
		n.updated = now
		n.state = NeighStale
		n.scheduleGC()
	default:
		// Same MAC, no confirmation: nothing learnt.
		return
	}
	if !wasValid && !created {
		nt.stats.Resolved.Inc()
	}
	n.flushQueue(now)
}

// create adds an idle INCOMPLETE entry, evicting unused entries when the
// table is full; nil when nothing could be evicted.
func (nt *NeighTable) create(dev *netdev.Device, k uint32) *Neighbour {
	if len(nt.entries) >= nt.cfg.MaxEntries {
		nt.forcedGC()
		if len(nt.entries) >= nt.cfg.MaxEntries {
			nt.stats.TableFull.Inc()
			return nil
		}
	}
	n := &Neighbour{
		table:   nt,
		dev:     dev,
		addr:    header.U32Addr(k),
		key:     k,
		state:   NeighIncomplete,
		used:    nt.time(),
		updated: nt.now,
	}
	n.timer.Init(func(_ *ktime.Timer, now ktime.Time) { n.timerFired(now) })
	nt.entries[k] = n
	nt.stats.Creates.Inc()
	n.scheduleGC()
	return n
}

// forcedGC evicts entries that nobody is waiting on (STALE, FAILED, idle
// INCOMPLETE) until the table is at most 7/8 full or none is left (Linux
// neigh_forced_gc). It is the only scan of the table, and it runs only
// when the table is full.
func (nt *NeighTable) forcedGC() {
	target := nt.cfg.MaxEntries - nt.cfg.MaxEntries/8
	if target >= nt.cfg.MaxEntries {
		target = nt.cfg.MaxEntries - 1
	}
	for _, n := range nt.entries {
		if len(nt.entries) <= target {
			return
		}
		if n.collectable() {
			nt.remove(n)
			nt.stats.ForcedGC.Inc()
		}
	}
}

// remove takes n out of the table for good: its timer is cancelled and its
// queue dropped. Holders of n (a Dst) find it dead and look up again.
func (nt *NeighTable) remove(n *Neighbour) {
	delete(nt.entries, n.key)
	nt.wheel.Cancel(&n.timer)
	n.purgeQueue(stat.DropNeighFailed)
	n.dead = true
}

// Neighbour is one entry of the neighbour cache (struct neighbour): an
// IPv4 next hop on a device, its MAC address, its reachability state and
// the packets waiting for it to be resolved.
type Neighbour struct {
	timer  ktime.Timer
	table  *NeighTable
	dev    *netdev.Device
	addr   netip.Addr
	key    uint32
	mac    header.MAC
	state  NeighState
	dead   bool  // removed from the table
	probes uint8 // solicitations sent in the current INCOMPLETE or PROBE round
	queue  mbuf.Queue

	used      ktime.Time // last packet output through the entry
	updated   ktime.Time // last change of state or MAC
	confirmed ktime.Time // last confirmation of reachability
}

// Addr is the neighbour's IPv4 address.
func (n *Neighbour) Addr() netip.Addr { return n.addr }

// MAC is the neighbour's link-layer address; zero while it was never
// known.
func (n *Neighbour) MAC() header.MAC { return n.mac }

// State is the neighbour's reachability state.
func (n *Neighbour) State() NeighState { return n.state }

// Dev is the device the neighbour is reached through.
func (n *Neighbour) Dev() *netdev.Device { return n.dev }

// Queued is the number of packets waiting for resolution.
func (n *Neighbour) Queued() int { return n.queue.Len() }

// Dead reports whether the entry was removed from its table; output
// through a dead entry goes through the table's current entry instead.
func (n *Neighbour) Dead() bool { return n.dead }

// Output sends b, a complete IPv4 packet with headroom for Ethernet, to
// the neighbour (neigh_resolve_output), taking ownership of it.
//
// With a known MAC (REACHABLE, STALE, DELAY, PROBE) the Ethernet header is
// pushed and the frame goes out; the first use of a STALE entry moves it
// to DELAY (RFC 4861 §7.3.3). Otherwise the packet is queued: at most
// QueueLen packets wait, the oldest being dropped with
// stat.DropNeighQueueFull; an entry with no resolution in progress (idle,
// or FAILED, as Linux retries) starts one with a broadcast solicitation.
func (n *Neighbour) Output(b *mbuf.Buf) {
	nt := n.table
	if n.dead {
		cur := nt.Get(n.dev, n.addr)
		if cur == nil {
			n.dev.Drop(b, stat.DropNeighFailed)
			return
		}
		n = cur
	}
	now := nt.time()
	n.used = now
	switch n.state {
	case NeighReachable, NeighDelay, NeighProbe:
		n.xmit(b)
	case NeighStale:
		n.state = NeighDelay
		n.updated = now
		nt.wheel.Schedule(&n.timer, now.Add(nt.cfg.DelayFirstProbeTime))
		n.xmit(b)
	default: // NeighIncomplete, NeighFailed
		n.enqueue(b)
		nt.stats.Queued.Inc()
		if n.state == NeighFailed || n.probes == 0 {
			n.state = NeighIncomplete
			n.updated = now
			n.probes = 0
			n.solicit(now, header.BroadcastMAC)
		}
	}
}

// xmit pushes the Ethernet header to the known MAC and sends.
func (n *Neighbour) xmit(b *mbuf.Buf) {
	n.dev.XmitEther(b, n.mac, header.EtherTypeIPv4)
}

// enqueue adds b to the pending queue, dropping the oldest packet when the
// queue is full (Linux __neigh_event_send: NEIGH_QUEUEFULL).
func (n *Neighbour) enqueue(b *mbuf.Buf) {
	if n.queue.Len() >= n.table.cfg.QueueLen {
		old := n.queue.PopFront()
		n.dev.Drop(old, stat.DropNeighQueueFull)
	}
	n.queue.PushBack(b)
}

// flushQueue sends the packets waiting for a MAC that is now known.
func (n *Neighbour) flushQueue(now ktime.Time) {
	if n.queue.Empty() || !n.state.Valid() {
		return
	}
	for b := n.queue.PopFront(); b != nil; b = n.queue.PopFront() {
		n.xmit(b)
	}
	n.used = now
	if n.state == NeighStale {
		n.state = NeighDelay
		n.table.wheel.Schedule(&n.timer, now.Add(n.table.cfg.DelayFirstProbeTime))
	}
}

// purgeQueue drops every waiting packet for reason r.
func (n *Neighbour) purgeQueue(r stat.DropReason) {
	for b := n.queue.PopFront(); b != nil; b = n.queue.PopFront() {
		n.dev.Drop(b, r)
	}
}

// solicit sends one solicitation to dst and arms the retransmission timer.
func (n *Neighbour) solicit(now ktime.Time, dst header.MAC) {
	nt := n.table
	n.probes++
	nt.stats.Solicits.Inc()
	if dst != header.BroadcastMAC {
		nt.stats.UnicastProbes.Inc()
	}
	nt.wheel.Schedule(&n.timer, now.Add(nt.cfg.RetransTime))
	if nt.solicit != nil {
		nt.solicit(n.dev, n.addr, dst)
	}
}

// becomeReachable enters REACHABLE for a random time between 0.5 and 1.5
// ReachableTime (RFC 4861 §6.3.2; Linux neigh_rand_reach_time).
func (n *Neighbour) becomeReachable(now ktime.Time) {
	n.state = NeighReachable
	n.confirmed = now
	base := int64(n.table.cfg.ReachableTime)
	d := time.Duration(base/2 + rand.Int64N(base))
	n.table.wheel.Schedule(&n.timer, now.Add(d))
}

// fail enters FAILED: the waiting packets are dropped, and the entry is
// collected after GCStaleTime unless used again.
func (n *Neighbour) fail(now ktime.Time) {
	n.state = NeighFailed
	n.probes = 0
	n.updated = now
	n.table.stats.Failed.Inc()
	n.purgeQueue(stat.DropNeighFailed)
	n.scheduleGC()
}

// lastActive is when the entry was last used or changed.
func (n *Neighbour) lastActive() ktime.Time {
	return max(n.used, n.updated)
}

// collectable reports whether nobody depends on the entry now: it is
// STALE, FAILED or an idle INCOMPLETE, with nothing queued.
func (n *Neighbour) collectable() bool {
	if !n.queue.Empty() {
		return false
	}
	switch n.state {
	case NeighStale, NeighFailed:
		return true
	case NeighIncomplete:
		return n.probes == 0
	}
	return false
}

// scheduleGC arms the timer for when the entry will have been inactive for
// GCStaleTime.
func (n *Neighbour) scheduleGC() {
	n.table.wheel.Schedule(&n.timer, n.lastActive().Add(n.table.cfg.GCStaleTime))
}

// timerFired runs the state machine's timed transitions (neigh_timer_handler).
func (n *Neighbour) timerFired(now ktime.Time) {
	nt := n.table
	nt.SetNow(now)
	switch n.state {
	case NeighIncomplete:
		switch {
		case n.probes == 0:
			n.gc(now)
		case int(n.probes) >= nt.cfg.MaxMulticastSolicit:
			n.fail(now)
		default:
			n.solicit(now, header.BroadcastMAC)
		}
	case NeighReachable:
		// RFC 4861 §7.3.3: ReachableTime passed without confirmation.
		n.state = NeighStale
		n.updated = now
		n.scheduleGC()
	case NeighDelay:
		// RFC 4861 §7.3.3: no confirmation within DELAY_FIRST_PROBE_TIME.
		n.state = NeighProbe
		n.updated = now
		n.probes = 0
		n.solicit(now, n.mac)
	case NeighProbe:
		if int(n.probes) >= nt.cfg.MaxUnicastSolicit {
			n.fail(now)
			return
		}
		n.solicit(now, n.mac)
	case NeighStale, NeighFailed:
		n.gc(now)
	}
}

// gc removes the entry if it has been inactive for GCStaleTime, or re-arms
// the timer for when it will have been.
func (n *Neighbour) gc(now ktime.Time) {
	if n.collectable() && now.Sub(n.lastActive()) >= n.table.cfg.GCStaleTime {
		n.table.remove(n)
		n.table.stats.GC.Inc()
		return
	}
	if !n.collectable() {
		n.table.wheel.Schedule(&n.timer, now.Add(n.table.cfg.GCStaleTime))
		return
	}
	n.scheduleGC()
}
