package route

import (
	"net/netip"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dpstack/dpstack/stack/header"
	"github.com/dpstack/dpstack/stack/netdev"
	"github.com/dpstack/dpstack/stat"
)

var (
	gw16 = netip.MustParseAddr("198.18.0.254")
	gw28 = netip.MustParseAddr("198.18.0.253")
	gwD  = netip.MustParseAddr("198.18.0.100")
)

// lpmCase is one lookup and what it must give: the gateway (zero for a
// connected destination) or an ENETUNREACH error.
type lpmCase struct {
	dst     string
	gateway netip.Addr
	unreach bool
}

func checkLPM(t *testing.T, e *env, cases []lpmCase) {
	t.Helper()
	for _, c := range cases {
		dst := netip.MustParseAddr(c.dst)
		d, err := e.tbl.Lookup(&Flow4{Dst: dst})
		if c.unreach {
			require.ErrorIs(t, err, syscall.ENETUNREACH, c.dst)
			require.Nil(t, d, c.dst)
			continue
		}
		require.NoError(t, err, c.dst)
		assert.Equal(t, c.gateway, d.Gateway, c.dst)
		want := dst
		if c.gateway.IsValid() {
			want = c.gateway
		}
		assert.Equal(t, want, d.NextHop, c.dst)
		assert.Same(t, e.dev, d.Dev, c.dst)
		assert.Equal(t, ourAddr.Addr(), d.Src, c.dst)
		assert.Equal(t, 1500, d.MTU, c.dst)
		require.NotNil(t, d.Neigh, c.dst)
		assert.Equal(t, want, d.Neigh.Addr(), c.dst)
		assert.False(t, d.Local || d.Broadcast || d.Multicast, c.dst)
	}
}

func TestLookupLongestPrefixMatch(t *testing.T) {
	e := newEnv(t, Config{})
	checkLPM(t, e, []lpmCase{
		{dst: "198.18.0.7"},
		{dst: "198.18.1.1", unreach: true},
		{dst: "198.19.1.1", unreach: true},
	})

	require.NoError(t, e.tbl.AddRoute(netip.MustParsePrefix("198.19.0.0/16"), gw16))
	require.NoError(t, e.tbl.AddRoute(netip.MustParsePrefix("198.19.5.16/28"), gw28))
	require.NoError(t, e.tbl.SetDefaultGateway(gwD))
	checkLPM(t, e, []lpmCase{
		{dst: "198.18.0.7"},                        // connected /24
		{dst: "198.18.0.254"},                      // the gateway itself is connected
		{dst: "198.19.1.1", gateway: gw16},         // static /16
		{dst: "198.19.5.15", gateway: gw16},        // just below the /28
		{dst: "198.19.5.16", gateway: gw28},        // first of the /28
		{dst: "198.19.5.31", gateway: gw28},        // last of the /28
		{dst: "198.19.5.32", gateway: gw16},        // just above the /28
		{dst: "198.18.1.1", gateway: gwD},          // default
		{dst: "198.18.255.255", gateway: gwD},      // default
		{dst: "198.19.255.255", gateway: gw16},     // static /16
		{dst: "::ffff:198.19.5.20", gateway: gw28}, // IPv4-mapped
	})

	require.NoError(t, e.tbl.Delete(netip.MustParsePrefix("198.19.5.16/28")))
	checkLPM(t, e, []lpmCase{
		{dst: "198.19.5.20", gateway: gw16},
	})
	require.NoError(t, e.tbl.Delete(netip.MustParsePrefix("0.0.0.0/0")))
	checkLPM(t, e, []lpmCase{
		{dst: "198.18.1.1", unreach: true},
		{dst: "198.19.5.20", gateway: gw16},
		{dst: "198.18.0.9"},
	})
	require.NoError(t, e.tbl.Delete(netip.MustParsePrefix("198.19.0.0/16")))
	checkLPM(t, e, []lpmCase{
		{dst: "198.19.5.20", unreach: true},
	})
	assert.EqualValues(t, 4, e.tbl.Stats().Unreachable.Load())
}

func TestRouteErrors(t *testing.T) {
	e := newEnv(t, Config{})
	p := netip.MustParsePrefix
	a := netip.MustParseAddr
	dev2 := netdev.New(netdev.Config{Name: "test1", MTU: 1500, Cache: e.cache, TxQueue: e.txq})
	require.NoError(t, e.tbl.AddRoute(p("198.19.0.0/16"), gw16))

	cases := []struct {
		name string
		err  error
		want syscall.Errno
	}{
		{"gateway off-link", e.tbl.AddRoute(p("198.19.0.0/17"), a("198.18.1.1")), syscall.ENETUNREACH},
		{"default gateway off-link", e.tbl.SetDefaultGateway(a("198.19.0.1")), syscall.ENETUNREACH},
		{"duplicate route", e.tbl.AddRoute(p("198.19.0.0/16"), gw28), syscall.EEXIST},
		{"route over connected", e.tbl.AddRoute(p("198.18.0.0/24"), gw28), syscall.EEXIST},
		{"host bits", e.tbl.AddRoute(p("198.19.0.1/16"), gw28), syscall.EINVAL},
		{"local gateway", e.tbl.AddRoute(p("198.19.1.0/24"), ourAddr.Addr()), syscall.EINVAL},
		{"IPv6 prefix", e.tbl.AddRoute(p("2001:db8::/32"), gw28), syscall.EINVAL},
		{"duplicate address", e.tbl.AddConnected(ourAddr, e.dev), syscall.EEXIST},
		{"subnet on another device", e.tbl.AddConnected(p("198.18.0.2/24"), dev2), syscall.EEXIST},
		{"address over static route", e.tbl.AddConnected(p("198.19.0.1/16"), e.dev), syscall.EEXIST},
		{"broadcast address", e.tbl.AddConnected(p("198.18.1.255/24"), e.dev), syscall.EINVAL},
		{"nil device", e.tbl.AddConnected(p("198.18.2.1/24"), nil), syscall.EINVAL},
		{"delete absent", e.tbl.Delete(p("198.19.0.0/17")), syscall.ESRCH},
		{"delete unmasked", e.tbl.Delete(p("198.19.0.1/16")), syscall.ESRCH},
	}
	for _, c := range cases {
		assert.ErrorIs(t, c.err, c.want, c.name)
	}

	_, err := e.tbl.Lookup(&Flow4{Dst: a("2001:db8::1")})
	assert.ErrorIs(t, err, syscall.EAFNOSUPPORT)
	_, err = e.tbl.Lookup(&Flow4{Dst: peerAddr, Src: a("198.18.0.2")})
	assert.ErrorIs(t, err, syscall.EINVAL)
	_, err = e.tbl.Lookup(&Flow4{Dst: a("0.0.0.0")})
	assert.ErrorIs(t, err, syscall.ENETUNREACH)

	// SetDefaultGateway replaces the default route.
	require.NoError(t, e.tbl.SetDefaultGateway(gw16))
	require.NoError(t, e.tbl.SetDefaultGateway(gw28))
	assert.Equal(t, gw28, e.lookup(a("198.18.9.9")).Gateway)
}

func TestDeleteAddress(t *testing.T) {
	e := newEnv(t, Config{})
	p := netip.MustParsePrefix
	second := p("198.18.0.2/24")
	require.NoError(t, e.tbl.AddConnected(second, e.dev))
	require.NoError(t, e.tbl.AddRoute(p("198.19.0.0/16"), gw16))
	assert.Equal(t, []netip.Prefix{ourAddr, second}, e.tbl.LocalAddrs())

	// The primary goes: the secondary becomes the subnet's source.
	require.NoError(t, e.tbl.Delete(ourAddr))
	assert.False(t, e.tbl.IsLocal(ourAddr.Addr()))
	assert.Equal(t, second.Addr(), e.lookup(peerAddr).Src)
	assert.Equal(t, second.Addr(), e.lookup(netip.MustParseAddr("198.19.0.1")).Src)

	// The last address goes: the subnet and the route through it go too.
	require.NoError(t, e.tbl.Delete(second))
	assert.Empty(t, e.tbl.LocalAddrs())
	assert.Empty(t, e.tbl.Routes())
	for _, dst := range []string{"198.18.0.7", "198.19.0.1"} {
		_, err := e.tbl.Lookup(&Flow4{Dst: netip.MustParseAddr(dst)})
		assert.ErrorIs(t, err, syscall.ENETUNREACH, dst)
	}

	// Deleting a connected subnet by its prefix removes its addresses.
	require.NoError(t, e.tbl.AddConnected(ourAddr, e.dev))
	require.NoError(t, e.tbl.AddConnected(second, e.dev))
	require.NoError(t, e.tbl.Delete(p("198.18.0.0/24")))
	assert.Empty(t, e.tbl.LocalAddrs())
	assert.False(t, e.tbl.IsLocal(second.Addr()))
}

func TestRoutesAndSelectSrc(t *testing.T) {
	e := newEnv(t, Config{})
	require.NoError(t, e.tbl.AddRoute(netip.MustParsePrefix("198.19.0.0/16"), gw16))
	require.NoError(t, e.tbl.SetDefaultGateway(gwD))
	assert.Equal(t, []Route{
		{Prefix: netip.MustParsePrefix("198.18.0.0/24"), Dev: e.dev, Src: ourAddr.Addr(), Connected: true},
		{Prefix: netip.MustParsePrefix("198.19.0.0/16"), Gateway: gw16, Dev: e.dev, Src: ourAddr.Addr()},
		{Prefix: netip.MustParsePrefix("0.0.0.0/0"), Gateway: gwD, Dev: e.dev, Src: ourAddr.Addr()},
	}, e.tbl.Routes())
	assert.Equal(t, ourAddr.Addr(), e.tbl.SelectSrc(e.dev, peerAddr))
	assert.Equal(t, ourAddr.Addr(), e.tbl.SelectSrc(e.dev, netip.MustParseAddr("198.19.0.1")))
}

func TestDstCacheAndObsolete(t *testing.T) {
	e := newEnv(t, Config{})
	d1 := e.lookup(peerAddr)
	d2 := e.lookup(peerAddr)
	require.Same(t, d1, d2, "second lookup is a cache hit")
	assert.False(t, d1.Obsolete())
	assert.EqualValues(t, 1, e.tbl.Stats().CacheHits.Load())

	require.NoError(t, e.tbl.AddRoute(netip.MustParsePrefix("198.19.0.0/16"), gw16))
	assert.True(t, d1.Obsolete(), "a table change makes old Dsts obsolete")
	d3 := e.lookup(peerAddr)
	assert.NotSame(t, d1, d3)
	assert.False(t, d3.Obsolete())
	assert.Same(t, d1.Neigh, d3.Neigh, "the neighbour entry outlives the Dst")

	// A Dst with an explicit source is cached apart from one without.
	ds, err := e.tbl.Lookup(&Flow4{Dst: peerAddr, Src: ourAddr.Addr()})
	require.NoError(t, err)
	assert.NotSame(t, d3, ds)
	assert.Equal(t, ourAddr.Addr(), ds.Src)

	require.NoError(t, e.tbl.Delete(netip.MustParsePrefix("198.19.0.0/16")))
	assert.True(t, d3.Obsolete())
	assert.True(t, ds.Obsolete())
}

func TestDstCacheBounded(t *testing.T) {
	e := newEnv(t, Config{DstCacheSize: 4})
	first := e.lookup(netip.MustParseAddr("198.18.0.10"))
	for i := range 4 {
		e.lookup(netip.AddrFrom4([4]byte{198, 18, 0, byte(11 + i)}))
	}
	assert.LessOrEqual(t, len(e.tbl.cache), 4)
	assert.False(t, first.Obsolete(), "a full cache is flushed without invalidating Dsts")
	assert.NotSame(t, first, e.lookup(netip.MustParseAddr("198.18.0.10")))
}

func TestLookupCacheHitDoesNotAllocate(t *testing.T) {
	e := newEnv(t, Config{})
	require.NoError(t, e.tbl.SetDefaultGateway(gwD))
	fl := &Flow4{Dst: netip.MustParseAddr("198.19.3.4"), Proto: header.IPProtoTCP, DstPort: 80, SrcPort: 40000}
	_, err := e.tbl.Lookup(fl)
	require.NoError(t, err)
	allocs := testing.AllocsPerRun(1000, func() {
		d, err := e.tbl.Lookup(fl)
		if err != nil || d.Obsolete() {
			t.Fatal("lookup failed")
		}
	})
	assert.Zero(t, allocs)

	// No route: the error is a preallocated one.
	unreach := &Flow4{Dst: netip.MustParseAddr("198.19.3.4")}
	require.NoError(t, e.tbl.Delete(netip.MustParsePrefix("0.0.0.0/0")))
	assert.Zero(t, testing.AllocsPerRun(1000, func() {
		if _, err := e.tbl.Lookup(unreach); err == nil {
			t.Fatal("route found")
		}
	}))
}

func TestIsLocalIsBroadcast(t *testing.T) {
	e := newEnv(t, Config{})
	require.NoError(t, e.tbl.AddConnected(netip.MustParsePrefix("198.19.0.1/31"), e.dev))
	require.NoError(t, e.tbl.AddConnected(netip.MustParsePrefix("198.19.1.1/32"), e.dev))
	cases := []struct {
		addr             string
		local, broadcast bool
	}{
		{"198.18.0.1", true, false},
		{"198.18.0.7", false, false},
		{"198.18.0.255", false, true},
		{"198.18.0.0", false, false},
		{"255.255.255.255", false, true},
		{"198.18.1.255", false, false},
		{"198.19.0.1", true, false},
		{"198.19.0.0", false, false}, // RFC 3021: no broadcast on a /31
		{"198.19.1.1", true, false},
		{"::ffff:198.18.0.1", true, false},
		{"2001:db8::1", false, false},
	}
	for _, c := range cases {
		a := netip.MustParseAddr(c.addr)
		assert.Equal(t, c.local, e.tbl.IsLocal(a), "IsLocal(%s)", c.addr)
		assert.Equal(t, c.broadcast, e.tbl.IsBroadcast(a), "IsBroadcast(%s)", c.addr)
	}
	require.NoError(t, e.tbl.Delete(ourAddr))
	assert.False(t, e.tbl.IsBroadcast(netip.MustParseAddr("198.18.0.255")))
}

func TestDstOutputSpecial(t *testing.T) {
	e := newEnv(t, Config{})

	// Directed and limited broadcasts go to ff:ff:ff:ff:ff:ff, unresolved.
	var want []sent
	for _, dst := range []string{"198.18.0.255", "255.255.255.255"} {
		d := e.lookup(netip.MustParseAddr(dst))
		assert.True(t, d.Broadcast, dst)
		assert.Nil(t, d.Neigh, dst)
		assert.Equal(t, ourAddr.Addr(), d.Src, dst)
		want = append(want, sent{header.BroadcastMAC, e.send(netip.MustParseAddr(dst))})
	}
	assert.Equal(t, want, e.takeFrames())
	assert.Empty(t, e.takeSolicits())

	// Our own address goes to the loopback function.
	d := e.lookup(ourAddr.Addr())
	assert.True(t, d.Local)
	assert.Equal(t, ourAddr.Addr(), d.Src)
	e.send(ourAddr.Addr())
	assert.Len(t, e.looped, 1)
	e.tbl.SetLoopback(nil)
	e.send(ourAddr.Addr())
	assert.EqualValues(t, 1, e.dev.Drops.Get(stat.DropNoRoute))

	// Loopback addresses never go on the wire.
	_, err := e.tbl.Lookup(&Flow4{Dst: netip.MustParseAddr("127.0.0.1")})
	assert.ErrorIs(t, err, syscall.ENETUNREACH)
}

func TestMulticastMAC(t *testing.T) {
	// RFC 1112 §6.4: the low 23 bits of the group go into 01:00:5e:00:00:00.
	assert.Equal(t, header.MAC{0x01, 0x00, 0x5e, 0x7f, 0xfe, 0xfd}, MulticastMAC(0xe0fffefd))
	assert.Equal(t, header.MAC{0x01, 0x00, 0x5e, 0x00, 0x00, 0x01}, MulticastMAC(0xe0000001))
}

// TestAddrKind4FollowsChanges: the flattened set of local and broadcast
// addresses that input classification reads is rebuilt on every change:
// an address added after the table is in use is local at once, its
// subnet's directed broadcast is a broadcast, and both go with it; past
// maxSpecial addresses the maps answer, with the same results.
func TestAddrKind4FollowsChanges(t *testing.T) {
	e := newEnv(t, Config{})
	kind := func(s string) AddrKind { return e.tbl.AddrKind4(header.AddrU32(netip.MustParseAddr(s))) }
	assert.Equal(t, AddrLocal, kind("198.18.0.1"))
	assert.Equal(t, AddrBroadcast, kind("198.18.0.255"))
	assert.Equal(t, AddrBroadcast, kind("255.255.255.255"))
	assert.Zero(t, kind("198.18.0.2"))
	assert.Zero(t, kind("198.19.0.255"))

	// Added after start.
	p := netip.MustParsePrefix("198.19.0.1/24")
	require.NoError(t, e.tbl.AddConnected(p, e.dev))
	assert.Equal(t, AddrLocal, kind("198.19.0.1"))
	assert.Equal(t, AddrBroadcast, kind("198.19.0.255"))
	assert.True(t, e.tbl.IsLocal(p.Addr()))

	// A /32 address that is also another subnet's directed broadcast is
	// both.
	require.NoError(t, e.tbl.AddConnected(netip.MustParsePrefix("198.19.0.255/32"), e.dev))
	assert.Equal(t, AddrLocal|AddrBroadcast, kind("198.19.0.255"))
	require.NoError(t, e.tbl.Delete(netip.MustParsePrefix("198.19.0.255/32")))
	assert.Equal(t, AddrBroadcast, kind("198.19.0.255"))

	// Deleted.
	require.NoError(t, e.tbl.Delete(p))
	assert.Zero(t, kind("198.19.0.1"))
	assert.Zero(t, kind("198.19.0.255"))

	// More addresses than the array holds: the maps answer.
	var added []netip.Prefix
	for i := range maxSpecial {
		q := netip.PrefixFrom(netip.AddrFrom4([4]byte{198, 19, byte(i), 1}), 24)
		require.NoError(t, e.tbl.AddConnected(q, e.dev))
		added = append(added, q)
	}
	assert.Equal(t, -1, e.tbl.nSpecial)
	for _, q := range added {
		assert.Equal(t, AddrLocal, e.tbl.AddrKind4(header.AddrU32(q.Addr())), q)
		assert.Equal(t, AddrBroadcast, e.tbl.AddrKind4(directedBroadcast(q.Masked())), q)
	}
	assert.Equal(t, AddrLocal, kind("198.18.0.1"))
	assert.Equal(t, AddrBroadcast, kind("255.255.255.255"))
	assert.Zero(t, kind("198.19.200.1"))

	// And back under the limit, the array again.
	for _, q := range added {
		require.NoError(t, e.tbl.Delete(q))
	}
	assert.GreaterOrEqual(t, e.tbl.nSpecial, 0)
	assert.Equal(t, AddrLocal, kind("198.18.0.1"))
	assert.Zero(t, kind(added[0].Addr().String()))
}
