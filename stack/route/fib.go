package route

import (
	"fmt"
	"math/bits"
	"net/netip"
	"slices"
	"syscall"

	"github.com/dpstack/dpstack/ktime"
	"github.com/dpstack/dpstack/mbuf"
	"github.com/dpstack/dpstack/stack/header"
	"github.com/dpstack/dpstack/stack/netdev"
	"github.com/dpstack/dpstack/stat"
)

// Flow4 is what a route lookup is keyed by (struct flowi4). Dst is
// required; Src, when set, must be one of our addresses and becomes the
// Dst's source. Proto, TOS and the ports describe the flow but do not
// select routes: there is no policy routing.
type Flow4 struct {
	Dst, Src         netip.Addr
	Proto, TOS       uint8
	DstPort, SrcPort uint16
}

// DefaultDstCacheSize bounds the Dst cache of a Table.
const DefaultDstCacheSize = 4096

// Config tunes a Table. A zero field takes its default.
type Config struct {
	// DstCacheSize bounds the Dst cache; it is flushed when full.
	DstCacheSize int
	// Neigh tunes the neighbour cache.
	Neigh NeighConfig
}

// Stats are a routing table's counters.
type Stats struct {
	Lookups      stat.Counter `stat:"route_lookups"`       // Lookup calls
	CacheHits    stat.Counter `stat:"route_cache_hits"`    // ... answered from the Dst cache
	CacheMisses  stat.Counter `stat:"route_cache_misses"`  // ... that walked the table
	Unreachable  stat.Counter `stat:"route_unreachable"`   // ... that found no route
	CacheFlushes stat.Counter `stat:"route_cache_flushes"` // Dst cache flushes (full, table or a path MTU changed)
	PMTUUpdates  stat.Counter `stat:"route_pmtu_updates"`  // path MTUs lowered or refreshed (UpdatePMTU, LearnPMTU)
	PMTUExpired  stat.Counter `stat:"route_pmtu_expired"`  // learnt path MTUs that expired (PMTUExpires)
}

// Errors that Lookup returns without allocating; each wraps its errno.
var (
	errNetUnreach = fmt.Errorf("route: no route to host: %w", syscall.ENETUNREACH)
	errNotIPv4    = fmt.Errorf("route: not an IPv4 address: %w", syscall.EAFNOSUPPORT)
	errBadSource  = fmt.Errorf("route: source is not a local address: %w", syscall.EINVAL)
)

// fibEntry is one route (struct fib_alias with its fib_info, flattened).
type fibEntry struct {
	prefix netip.Prefix // masked
	dev    *netdev.Device
	gw     netip.Addr // static routes: the gateway; zero for connected ones
	via    *fibEntry  // static routes: the connected route the gateway is on
	src    netip.Addr // connected routes: the primary (first) address
}

// connected reports whether e is a connected subnet's route.
func (e *fibEntry) connected() bool { return e.via == nil }

// localAddr is one of our addresses (struct in_ifaddr).
type localAddr struct {
	prefix netip.Prefix // our address with its subnet's length
	dev    *netdev.Device
}

// AddrKind says what an IPv4 address is to this host, as Linux's
// inet_addr_type does with RTN_LOCAL and RTN_BROADCAST; the zero value is
// neither (someone else's address, or a multicast group). An address can
// be both: one of ours that is also a subnet's directed broadcast.
type AddrKind uint8

// Bits of AddrKind.
const (
	AddrLocal     AddrKind = 1 << iota // one of our addresses
	AddrBroadcast                      // limited broadcast, or a connected subnet's directed broadcast
)

// maxSpecial is how many local and directed broadcast addresses AddrKind4
// scans linearly: a host has a handful; past that, a map probe is cheaper.
const maxSpecial = 8

// specialAddr is one local or broadcast address with its kind.
type specialAddr struct {
	addr uint32
	kind AddrKind
}

// dstKey keys the Dst cache: destination and requested source.
type dstKey struct{ dst, src uint32 }

// Table is one core's routing table (struct fib_table) with its Dst cache
// and neighbour cache. It is not safe for concurrent use.
//
// Routes are kept in one hash map per prefix length, and a lookup probes
// the lengths in use from /32 down (longest-prefix match).
type Table struct {
	byLen    [33]map[uint32]*fibEntry
	lenMask  uint64 // bit l set: byLen[l] is not empty
	addrs    []localAddr
	local    map[uint32]*netdev.Device
	bcast    map[uint32]*fibEntry // directed broadcasts of connected subnets
	cache    map[dstKey]*Dst
	cacheMax int
	genid    uint64
	neigh    *NeighTable
	loopback func(b *mbuf.Buf)
	stats    Stats

	// pmtu holds the path MTUs learnt per destination (pmtu.go).
	pmtu     map[uint32]*pmtuEntry
	pmtuHook func(dst netip.Addr, mtu int)

	// special is local and bcast flattened into a short array for the
	// per-packet address checks of IPv4 input, rebuilt by changed(); when
	// they do not fit, nSpecial is -1 and AddrKind4 reads the maps.
	special  [maxSpecial]specialAddr
	nSpecial int
}

// NewTable returns an empty table with default configuration whose
// neighbour timers run on wheel.
func NewTable(wheel *ktime.Wheel) *Table {
	return NewTableConfig(wheel, Config{})
}

// NewTableConfig returns an empty table configured by cfg.
func NewTableConfig(wheel *ktime.Wheel, cfg Config) *Table {
	if cfg.DstCacheSize <= 0 {
		cfg.DstCacheSize = DefaultDstCacheSize
	}
	t := &Table{
		local:    make(map[uint32]*netdev.Device),
		bcast:    make(map[uint32]*fibEntry),
		cache:    make(map[dstKey]*Dst),
		cacheMax: cfg.DstCacheSize,
		pmtu:     make(map[uint32]*pmtuEntry),
		neigh:    NewNeighTable(wheel, cfg.Neigh),
	}
	for l := range t.byLen {
		t.byLen[l] = make(map[uint32]*fibEntry)
	}
	return t
}

// Neighbours is the table's neighbour cache.
func (t *Table) Neighbours() *NeighTable { return t.neigh }

// Stats are the table's counters.
func (t *Table) Stats() *Stats { return &t.stats }

// SetClock makes the table read the core's clock itself (see
// NeighTable.SetClock).
func (t *Table) SetClock(clock func() ktime.Time) { t.neigh.SetClock(clock) }

// SetNow sets the core's clock for this turn: neighbour entries are
// stamped with it.
func (t *Table) SetNow(now ktime.Time) { t.neigh.SetNow(now) }

// SetLoopback installs the function that receives packets output through a
// Dst to one of our own addresses (Linux sends them through the loopback
// device); IPv4 input is the natural choice. Without it such packets are
// dropped with stat.DropNoRoute.
func (t *Table) SetLoopback(fn func(b *mbuf.Buf)) { t.loopback = fn }

// AddConnected adds one of our addresses: p.Addr() on dev, with the subnet
// p.Masked() directly reachable through dev (Linux: an address and its
// prefix route). Another address on an already connected subnet of the
// same device is a secondary address: it is local, but the subnet's
// source stays the first one.
func (t *Table) AddConnected(p netip.Prefix, dev *netdev.Device) error {
	if dev == nil || !p.IsValid() || !p.Addr().Is4() {
		return fmt.Errorf("route: add address %v: %w", p, syscall.EINVAL)
	}
	a := p.Addr()
	ak := header.AddrU32(a)
	net := p.Masked()
	if a.IsUnspecified() || a.IsMulticast() || a.IsLoopback() || ak == 0xffffffff ||
		(p.Bits() < 31 && ak == directedBroadcast(net)) {
		return fmt.Errorf("route: add address %v: not a unicast address: %w", p, syscall.EINVAL)
	}
	if _, ok := t.local[ak]; ok {
		return fmt.Errorf("route: add address %v: %w", p, syscall.EEXIST)
	}
	e := t.byLen[p.Bits()][header.AddrU32(net.Addr())]
	if e != nil && (!e.connected() || e.dev != dev) {
		return fmt.Errorf("route: add address %v: %v is already routed: %w", p, net, syscall.EEXIST)
	}
	t.addrs = append(t.addrs, localAddr{prefix: p, dev: dev})
	t.local[ak] = dev
	if e == nil {
		t.insert(&fibEntry{prefix: net, dev: dev, src: a})
	}
	t.changed()
	return nil
}

// AddRoute adds a static route to p through gw, which must lie on a
// connected subnet (ENETUNREACH otherwise) and must not be our own
// address. p must be masked (no host bits set). A route to a prefix
// already in the table is EEXIST.
func (t *Table) AddRoute(p netip.Prefix, gw netip.Addr) error {
	return t.addRoute(p, gw, false)
}

// SetDefaultGateway sets the default route, 0.0.0.0/0 through gw,
// replacing any default route there was; gw is checked as by AddRoute.
func (t *Table) SetDefaultGateway(gw netip.Addr) error {
	return t.addRoute(netip.PrefixFrom(netip.IPv4Unspecified(), 0), gw, true)
}

func (t *Table) addRoute(p netip.Prefix, gw netip.Addr, replace bool) error {
	if !p.IsValid() || !p.Addr().Is4() || p != p.Masked() {
		return fmt.Errorf("route: add route %v: invalid prefix: %w", p, syscall.EINVAL)
	}
	gw = gw.Unmap()
	if !gw.Is4() || gw.IsUnspecified() || gw.IsMulticast() {
		return fmt.Errorf("route: add route %v via %v: invalid gateway: %w", p, gw, syscall.EINVAL)
	}
	gk := header.AddrU32(gw)
	if _, ok := t.local[gk]; ok {
		return fmt.Errorf("route: add route %v via %v: gateway is a local address: %w", p, gw, syscall.EINVAL)
	}
	via := t.lpmConnected(gk)
	if via == nil {
		return fmt.Errorf("route: add route %v via %v: gateway not on a connected subnet: %w", p, gw, syscall.ENETUNREACH)
	}
	k := header.AddrU32(p.Addr())
	if old := t.byLen[p.Bits()][k]; old != nil {
		if !replace || old.connected() {
			return fmt.Errorf("route: add route %v: %w", p, syscall.EEXIST)
		}
		t.remove(old)
	}
	t.insert(&fibEntry{prefix: p, dev: via.dev, gw: gw, via: via})
	t.changed()
	return nil
}

// Delete removes a route or an address. p is either one of our addresses
// with its prefix length, as given to AddConnected (the address goes; the
// subnet's route goes with its last address, and so do the static routes
// through gateways on it), a connected subnet (all its addresses go), or a
// static route's prefix. Anything else is ESRCH.
func (t *Table) Delete(p netip.Prefix) error {
	if !p.IsValid() || !p.Addr().Is4() {
		return fmt.Errorf("route: delete %v: %w", p, syscall.ESRCH)
	}
	if i := slices.IndexFunc(t.addrs, func(la localAddr) bool { return la.prefix == p }); i >= 0 {
		t.deleteAddr(i)
		t.changed()
		return nil
	}
	if p != p.Masked() {
		return fmt.Errorf("route: delete %v: %w", p, syscall.ESRCH)
	}
	e := t.byLen[p.Bits()][header.AddrU32(p.Addr())]
	if e == nil {
		return fmt.Errorf("route: delete %v: %w", p, syscall.ESRCH)
	}
	if e.connected() {
		for i := len(t.addrs) - 1; i >= 0; i-- {
			if t.addrs[i].prefix.Masked() == p {
				t.deleteAddr(i)
			}
		}
	} else {
		t.remove(e)
	}
	t.changed()
	return nil
}

// deleteAddr removes address i and, with the last address of its subnet,
// the subnet's route and the routes that depend on it (Linux
// fib_del_ifaddr).
func (t *Table) deleteAddr(i int) {
	la := t.addrs[i]
	t.addrs = slices.Delete(t.addrs, i, i+1)
	delete(t.local, header.AddrU32(la.prefix.Addr()))
	net := la.prefix.Masked()
	e := t.byLen[net.Bits()][header.AddrU32(net.Addr())]
	if e == nil || !e.connected() {
		return
	}
	if e.src == la.prefix.Addr() {
		e.src = netip.Addr{}
		for _, o := range t.addrs {
			if o.prefix.Masked() == net {
				e.src = o.prefix.Addr()
				break
			}
		}
	}
	if e.src.IsValid() {
		return
	}
	t.remove(e)
	for l := range t.byLen {
		for _, r := range t.byLen[l] {
			if r.via == e {
				t.remove(r)
			}
		}
	}
}

// insert links e into the per-length maps.
func (t *Table) insert(e *fibEntry) {
	l := e.prefix.Bits()
	t.byLen[l][header.AddrU32(e.prefix.Addr())] = e
	t.lenMask |= 1 << l
}

// remove unlinks e from the per-length maps.
func (t *Table) remove(e *fibEntry) {
	l := e.prefix.Bits()
	delete(t.byLen[l], header.AddrU32(e.prefix.Addr()))
	if len(t.byLen[l]) == 0 {
		t.lenMask &^= 1 << l
	}
}

// changed invalidates every Dst made so far (rt_genid_bump_ipv4) and
// rebuilds the set of directed broadcast addresses and its flattened copy.
func (t *Table) changed() {
	t.genid++
	t.flushCache()
	clear(t.bcast)
	for l := range 31 {
		for k, e := range t.byLen[l] {
			if e.connected() {
				t.bcast[k|^prefixMask(l)] = e
			}
		}
	}
	t.rebuildSpecial()
}

// rebuildSpecial flattens local and bcast into special, or sets nSpecial
// to -1 when they hold more than maxSpecial distinct addresses.
func (t *Table) rebuildSpecial() {
	t.nSpecial = 0
	add := func(k uint32, kind AddrKind) {
		if t.nSpecial < 0 {
			return
		}
		for i := range t.special[:t.nSpecial] {
			if t.special[i].addr == k {
				t.special[i].kind |= kind
				return
			}
		}
		if t.nSpecial == maxSpecial {
			t.nSpecial = -1
			return
		}
		t.special[t.nSpecial] = specialAddr{addr: k, kind: kind}
		t.nSpecial++
	}
	for k := range t.local {
		add(k, AddrLocal)
	}
	for k := range t.bcast {
		add(k, AddrBroadcast)
	}
}

// flushCache empties the Dst cache.
func (t *Table) flushCache() {
	clear(t.cache)
	t.stats.CacheFlushes.Inc()
}

// lpm returns the longest-prefix match for a, or nil.
func (t *Table) lpm(a uint32) *fibEntry {
	for m := t.lenMask; m != 0; {
		l := 63 - bits.LeadingZeros64(m)
		m &^= 1 << l
		if e := t.byLen[l][a&prefixMask(l)]; e != nil {
			return e
		}
	}
	return nil
}

// lpmConnected returns the longest connected subnet holding a, or nil.
func (t *Table) lpmConnected(a uint32) *fibEntry {
	for m := t.lenMask; m != 0; {
		l := 63 - bits.LeadingZeros64(m)
		m &^= 1 << l
		if e := t.byLen[l][a&prefixMask(l)]; e != nil && e.connected() {
			return e
		}
	}
	return nil
}

// AddrKind4 classifies the IPv4 address k, given as a host-order uint32
// (the big-endian value of its 4 bytes, as read from a header): the
// limited broadcast 255.255.255.255 and our subnets' directed broadcasts
// are AddrBroadcast, our addresses AddrLocal. It is meant for the
// per-packet checks of IPv4 input, and neither allocates nor hashes while
// the host has few addresses.
func (t *Table) AddrKind4(k uint32) AddrKind {
	if k == 0xffffffff {
		return AddrBroadcast
	}
	if n := t.nSpecial; n >= 0 {
		for _, s := range t.special[:n] {
			if s.addr == k {
				return s.kind
			}
		}
		return 0
	}
	var kind AddrKind
	if _, ok := t.local[k]; ok {
		kind |= AddrLocal
	}
	if _, ok := t.bcast[k]; ok {
		kind |= AddrBroadcast
	}
	return kind
}

// IsLocal reports whether a is one of our addresses.
func (t *Table) IsLocal(a netip.Addr) bool {
	k, ok := addrKey(a)
	if !ok {
		return false
	}
	return t.AddrKind4(k)&AddrLocal != 0
}

// IsBroadcast reports whether a is the limited broadcast address
// 255.255.255.255 or the directed broadcast address of one of our
// connected subnets (RFC 1122 §3.3.6; RFC 919). Subnets of /31 (RFC 3021)
// and /32 have none.
func (t *Table) IsBroadcast(a netip.Addr) bool {
	k, ok := addrKey(a)
	if !ok {
		return false
	}
	return t.AddrKind4(k)&AddrBroadcast != 0
}

// LocalAddrs returns our addresses with their prefix lengths, in the order
// they were added.
func (t *Table) LocalAddrs() []netip.Prefix {
	out := make([]netip.Prefix, len(t.addrs))
	for i, la := range t.addrs {
		out[i] = la.prefix
	}
	return out
}

// SelectSrc returns the address to send from when talking to dst out of
// dev (Linux inet_select_addr): our address on dev whose subnet holds dst,
// else dev's first address, else our first address; the zero Addr when we
// have none. ARP uses it for the sender address of its requests.
func (t *Table) SelectSrc(dev *netdev.Device, dst netip.Addr) netip.Addr {
	var first, onDev netip.Addr
	for _, la := range t.addrs {
		if !first.IsValid() {
			first = la.prefix.Addr()
		}
		if la.dev != dev {
			continue
		}
		if la.prefix.Contains(dst) {
			return la.prefix.Addr()
		}
		if !onDev.IsValid() {
			onDev = la.prefix.Addr()
		}
	}
	if onDev.IsValid() {
		return onDev
	}
	return first
}

// Route describes one entry of the table, for listing.
type Route struct {
	Prefix    netip.Prefix
	Gateway   netip.Addr // zero for a connected subnet
	Dev       *netdev.Device
	Src       netip.Addr // preferred source
	Connected bool
}

// Routes lists the table's routes, longest prefixes first.
func (t *Table) Routes() []Route {
	var out []Route
	for l := 32; l >= 0; l-- {
		for _, e := range t.byLen[l] {
			r := Route{Prefix: e.prefix, Gateway: e.gw, Dev: e.dev, Src: e.src, Connected: e.connected()}
			if !r.Connected {
				r.Src = e.via.src
			}
			out = append(out, r)
		}
	}
	slices.SortStableFunc(out, func(a, b Route) int {
		if a.Prefix.Bits() != b.Prefix.Bits() {
			return b.Prefix.Bits() - a.Prefix.Bits()
		}
		return a.Prefix.Addr().Compare(b.Prefix.Addr())
	})
	return out
}

// Lookup returns the route for fl (ip_route_output_key): the longest
// prefix that matches fl.Dst, as a Dst shared with every other flow to the
// same destination. A cached Dst is returned without allocating. Errors:
// ENETUNREACH when nothing matches (also for 0.0.0.0 and 127.0.0.0/8, which
// must not be sent on a wire, RFC 1122 §3.2.1.3), EINVAL when fl.Src is set
// and not ours, EAFNOSUPPORT for a non-IPv4 address.
//
// A destination of our own is a Local Dst; the limited broadcast address
// and our subnets' directed broadcasts give a Broadcast Dst (sent to the
// Ethernet broadcast address), a multicast destination a Multicast Dst
// (sent to its mapped Ethernet address); every other Dst has a Neigh for
// its NextHop, the destination itself on a connected subnet and the
// gateway otherwise.
func (t *Table) Lookup(fl *Flow4) (*Dst, error) {
	t.stats.Lookups.Inc()
	dk, ok := addrKey(fl.Dst)
	if !ok {
		return nil, errNotIPv4
	}
	var sk uint32
	if fl.Src.IsValid() {
		if sk, ok = addrKey(fl.Src); !ok {
			return nil, errNotIPv4
		}
	}
	key := dstKey{dst: dk, src: sk}
	if d := t.cache[key]; d != nil && d.genid == t.genid {
		t.stats.CacheHits.Inc()
		return d, nil
	}
	t.stats.CacheMisses.Inc()
	d, err := t.resolve(dk, sk)
	if err != nil {
		if err == errNetUnreach {
			t.stats.Unreachable.Inc()
		}
		return nil, err
	}
	if len(t.cache) >= t.cacheMax {
		t.flushCache()
	}
	t.cache[key] = d
	return d, nil
}

// resolve builds the Dst for destination dk from source sk (0: any). It
// allocates only the Dst it returns.
func (t *Table) resolve(dk, sk uint32) (*Dst, error) {
	var srcDev *netdev.Device
	if sk != 0 {
		dev, ok := t.local[sk]
		if !ok {
			return nil, errBadSource
		}
		srcDev = dev
	}
	dst := header.U32Addr(dk)
	var (
		dev  *netdev.Device
		src  netip.Addr
		kind dstKind
		gw   netip.Addr
	)
	switch {
	case dk == 0 || dk>>24 == 127:
		return nil, errNetUnreach
	case t.local[dk] != nil:
		dev, src, kind = t.local[dk], dst, dstLocal
	case dk == 0xffffffff:
		// The limited broadcast goes out of the source's device, else out
		// of the device of our first address.
		dev = srcDev
		if dev == nil {
			if len(t.addrs) == 0 {
				return nil, errNetUnreach
			}
			dev = t.addrs[0].dev
		}
		src, kind = t.SelectSrc(dev, dst), dstBroadcast
	case t.bcast[dk] != nil:
		e := t.bcast[dk]
		dev, src, kind = e.dev, e.src, dstBroadcast
	default:
		e := t.lpm(dk)
		if e == nil && dst.IsMulticast() && len(t.addrs) > 0 {
			// A group without a route goes out of the device of our
			// first address, as the limited broadcast does: IGMP, and a
			// socket's multicast without IP_MULTICAST_IF.
			e = t.lpmConnected(header.AddrU32(t.addrs[0].prefix.Addr()))
		}
		if e == nil {
			return nil, errNetUnreach
		}
		conn := e
		if !e.connected() {
			conn = e.via
			gw = e.gw
		}
		dev, src = conn.dev, conn.src
		if dst.IsMulticast() {
			// No gateway for multicast: the group's Ethernet address.
			kind, gw = dstMulticast, netip.Addr{}
		}
	}
	if sk != 0 {
		src = header.U32Addr(sk)
	}
	d := &Dst{Dev: dev, Src: src, Gateway: gw, NextHop: dst, MTU: dev.MTU, table: t, genid: t.genid}
	if kind == dstUnicast {
		d.MTU = t.pathMTU(dk, dev.MTU)
	}
	if gw.IsValid() {
		d.NextHop = gw
	}
	switch kind {
	case dstLocal:
		d.Local = true
	case dstBroadcast:
		d.Broadcast = true
		d.mac = header.BroadcastMAC
	case dstMulticast:
		d.Multicast = true
		d.mac = MulticastMAC(dk)
	default:
		d.Neigh = t.neigh.Get(dev, d.NextHop)
	}
	return d, nil
}

// dstKind is the kind of destination resolve found.
type dstKind uint8

const (
	dstUnicast dstKind = iota
	dstLocal
	dstBroadcast
	dstMulticast
)

// Dst is the result of a route lookup (struct rtable with its dst_entry):
// where packets to one destination go. Dsts are shared and cached; a
// holder keeps its Dst while Obsolete reports false and looks up again
// when it reports true. Fields are read-only for holders.
type Dst struct {
	Dev     *netdev.Device
	Src     netip.Addr // our address to send from
	Gateway netip.Addr // the gateway; zero on a connected subnet
	NextHop netip.Addr // whom the frame goes to: Gateway, or the destination
	MTU     int        // largest IP packet: the device's MTU, or the destination's lower path MTU (UpdatePMTU)
	// Neigh is the next hop's neighbour entry; nil for Local, Broadcast
	// and Multicast Dsts, and when the neighbour table was full (Output
	// retries).
	Neigh     *Neighbour
	Local     bool // the destination is one of our addresses
	Broadcast bool // limited or directed broadcast
	Multicast bool // a multicast group (224.0.0.0/4)

	mac   header.MAC // Ethernet destination of Broadcast and Multicast Dsts
	table *Table
	genid uint64
}

// Obsolete reports whether the table changed since d was made (Linux
// compares rt_genid): the holder must look up again.
func (d *Dst) Obsolete() bool { return d.genid != d.table.genid }

// Output sends b, which starts with a complete IPv4 packet and has
// headroom for the Ethernet header, along d (dst_output), taking ownership
// of it: through the neighbour, to the broadcast or multicast Ethernet
// address, or to the loopback function for a Local Dst.
func (d *Dst) Output(b *mbuf.Buf) {
	switch {
	case d.Local:
		if d.table.loopback == nil {
			d.Dev.Drop(b, stat.DropNoRoute)
			return
		}
		d.table.loopback(b)
	case d.Broadcast, d.Multicast:
		d.Dev.XmitEther(b, d.mac, header.EtherTypeIPv4)
	default:
		n := d.Neigh
		if n == nil || n.dead {
			n = d.table.neigh.Get(d.Dev, d.NextHop)
			d.Neigh = n
			if n == nil {
				d.Dev.Drop(b, stat.DropNeighFailed)
				return
			}
		}
		n.Output(b)
	}
}

// MulticastMAC maps an IPv4 group address, as a host-order uint32, to its
// Ethernet address: 01:00:5e followed by the group's low 23 bits (RFC 1112
// §6.4, ip_eth_mc_map).
func MulticastMAC(k uint32) header.MAC {
	return header.MAC{0x01, 0x00, 0x5e, byte(k>>16) & 0x7f, byte(k >> 8), byte(k)}
}

// prefixMask is the netmask of a /l prefix as a host-order uint32.
func prefixMask(l int) uint32 { return ^uint32(0) << (32 - l) }

// directedBroadcast is the all-ones host address of a masked prefix.
func directedBroadcast(p netip.Prefix) uint32 {
	return header.AddrU32(p.Addr()) | ^prefixMask(p.Bits())
}

// addrKey is a (possibly IPv4-mapped) IPv4 address as a uint32.
func addrKey(a netip.Addr) (uint32, bool) {
	a = a.Unmap()
	if !a.Is4() {
		return 0, false
	}
	return header.AddrU32(a), true
}
