package api_test

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dpstack/dpstack/api"
	"github.com/dpstack/dpstack/dpdk"
	"github.com/dpstack/dpstack/internal/netns"
	"github.com/dpstack/dpstack/stack"
	"github.com/dpstack/dpstack/stack/tcp"
)

// The path of the path MTU tests: dpstack, the TAP, a router (the TAP's
// namespace), a link of MTU 1280, a second router, a link of MTU 1500,
// and the kernel host.
var (
	routerNear = netip.MustParsePrefix("198.18.8.1/24") // the first router on the 1280 link
	routerFar  = netip.MustParsePrefix("198.18.8.2/24") // the second router on it
	farLAN     = netip.MustParsePrefix("198.18.9.1/24") // the second router on the host's link
	farHost    = netip.MustParsePrefix("198.18.9.2/24") // the kernel host
)

// far is the kernel host's address with a port.
func far(port int) string { return fmt.Sprintf("%v:%d", farHost.Addr(), port) }

// narrowMTU is the MTU of the link between the routers.
const narrowMTU = 1280

var pathSeq int

// newPathPeer builds the path: a one-core dpstack host routed through the
// TAP's namespace to a kernel host two hops away, across a 1280-byte link.
// With dropFragNeeded the first router drops the Fragmentation Needed it
// would send to dpstack, a black hole that only packetization-layer PMTUD
// gets through. The peer's helpers run on the kernel host. Every
// namespace is removed when the test ends.
func newPathPeer(t *testing.T, dropFragNeeded bool) *peer {
	t.Helper()
	if _, err := os.Stat("/dev/net/tun"); err != nil {
		t.Skip("no /dev/net/tun")
	}
	pathSeq++
	tag := fmt.Sprintf("%d-%d", os.Getpid(), pathSeq)
	iface := fmt.Sprintf("dpm%d_%d", os.Getpid()%100000, pathSeq)
	port, err := dpdk.Probe(fmt.Sprintf("net_tap_pmtu%d,iface=%s", pathSeq, iface))
	require.NoError(t, err)
	h, err := stack.Open(stack.Config{Name: fmt.Sprintf("pmtu%d", pathSeq), Port: port, Addr: hostAddr,
		Gateway: kernAddr.Addr()})
	if err != nil {
		port.Close()
		t.Fatal(err)
	}
	var spaces []*netns.NS
	p := &peer{h: h}
	t.Cleanup(func() {
		p.settle()
		assert.NoError(t, h.Close(), "close host (includes the mbuf leak check)")
		for _, ns := range spaces {
			assert.NoError(t, ns.Delete())
		}
	})
	mk := func(role string) *netns.NS {
		ns, err := netns.Create(fmt.Sprintf("dpstest-pmtu-%s-%s", role, tag))
		require.NoError(t, err)
		spaces = append(spaces, ns)
		return ns
	}
	near, mid, end := mk("r1"), mk("r2"), mk("h")
	p.ns = end
	require.NoError(t, near.Adopt(iface, kernAddr))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	link := func(a *netns.NS, aName string, aAddr netip.Prefix, b *netns.NS, bName string, bAddr netip.Prefix, mtu int) {
		require.NoError(t, a.IP("link", "add", aName, "mtu", fmt.Sprint(mtu), "type", "veth",
			"peer", "name", bName, "mtu", fmt.Sprint(mtu), "netns", b.Name))
		require.NoError(t, a.IP("addr", "add", aAddr.String(), "dev", aName))
		require.NoError(t, b.IP("addr", "add", bAddr.String(), "dev", bName))
		require.NoError(t, a.IP("link", "set", aName, "up"))
		require.NoError(t, b.IP("link", "set", bName, "up"))
	}
	link(near, "narrow0", routerNear, mid, "narrow1", routerFar, narrowMTU)
	link(mid, "lan0", farLAN, end, "lan1", farHost, 1500)
	for _, r := range []*netns.NS{near, mid} {
		require.NoError(t, r.Exec(ctx, "sysctl", "-q", "-w", "net.ipv4.ip_forward=1"))
	}
	require.NoError(t, near.IP("route", "add", farHost.Masked().String(), "via", routerFar.Addr().String()))
	require.NoError(t, mid.IP("route", "add", hostAddr.Masked().String(), "via", routerNear.Addr().String()))
	require.NoError(t, end.IP("route", "add", "default", "via", farLAN.Addr().String()))
	if dropFragNeeded {
		// The router's own ICMP leaves through OUTPUT.
		require.NoError(t, near.Exec(ctx, "iptables", "-A", "OUTPUT", "-p", "icmp",
			"--icmp-type", "fragmentation-needed", "-j", "DROP"))
	}
	require.NoError(t, h.Start())
	return p
}

// pathMTUOf is the path MTU core 0 of p's host learnt for the kernel host.
func (p *peer) pathMTUOf(t *testing.T) (int, bool) {
	var mtu int
	var ok bool
	require.NoError(t, p.h.Do(0, func(s *stack.Stack) { mtu, _, ok = s.Routes().PMTU(farHost.Addr()) }))
	return mtu, ok
}

// mib is 1 MiB of a recognisable stream.
var mib = message(3, 1<<20)

// TestPathMTUFragNeeded: across the 1280-byte link the router answers
// dpstack's full-size segments with Fragmentation Needed; dpstack follows
// it (RFC 1191), and 1 MiB goes through byte-exact both ways: dpstack to a
// kernel echo server and back, and the kernel to a dpstack echo server.
func TestPathMTUFragNeeded(t *testing.T) {
	p := newPathPeer(t, false)
	ctx, cancel := context.WithTimeout(context.Background(), helperTimeout)
	defer cancel()
	t.Run("dpstack to the kernel's echo", func(t *testing.T) {
		k := p.start(t, "serve-echo", env(far(9000))...)
		require.Equal(t, "listening", k.line())
		_, err := dialEcho(ctx, p, far(9000), mib)
		require.NoError(t, err)
		k.wait()
		mtu, ok := p.pathMTUOf(t)
		assert.True(t, ok, "a path MTU was learnt")
		assert.Equal(t, narrowMTU, mtu)
		assert.NotZero(t, p.tcpCount(func(s *tcp.Stats) uint64 { return s.PMTUReductions.Load() }))
	})
	t.Run("the kernel to dpstack's echo", func(t *testing.T) {
		srv := serve(t, listen(t, p.h, ":7"), echo)
		out := p.run(t, "echo", env(host(7), helperN, 1, helperSize, len(mib))...)
		assert.Equal(t, "ok 1", out)
		require.NoError(t, srv.err())
	})
}

// TestPathMTUBlackHole: the same path with the router's Fragmentation
// Needed dropped. dpstack's black hole detection (RFC 4821, Linux's
// tcp_mtu_probing) lowers the MSS after repeated timeouts, and the 1 MiB
// echo completes byte-exact; the route learns no path MTU.
func TestPathMTUBlackHole(t *testing.T) {
	p := newPathPeer(t, true)
	ctx, cancel := context.WithTimeout(context.Background(), helperTimeout)
	defer cancel()
	k := p.start(t, "serve-echo", env(far(9000))...)
	require.Equal(t, "listening", k.line())
	_, err := dialEcho(ctx, p, far(9000), mib)
	require.NoError(t, err)
	k.wait()
	_, ok := p.pathMTUOf(t)
	assert.False(t, ok, "no path MTU learnt: no ICMP came")
	assert.NotZero(t, p.tcpCount(func(s *tcp.Stats) uint64 { return s.MTUProbeBlackHoles.Load() }))
}

// TestDialPortUnreachable: a kernel that answers a closed port with an
// ICMP port unreachable (an iptables REJECT rule) instead of a RST makes
// Dial fail with ECONNREFUSED.
func TestDialPortUnreachable(t *testing.T) {
	p := newPathPeer(t, false)
	ctx, cancel := context.WithTimeout(context.Background(), helperTimeout)
	defer cancel()
	require.NoError(t, p.ns.Exec(ctx, "iptables", "-A", "INPUT", "-p", "tcp", "--dport", "9",
		"-j", "REJECT", "--reject-with", "icmp-port-unreachable"))
	_, err := api.Dial(ctx, p.h, "tcp", far(9))
	require.Error(t, err)
	assert.ErrorIs(t, err, syscall.ECONNREFUSED)
	assert.NotZero(t, p.tcpCount(func(s *tcp.Stats) uint64 { return s.ICMPErrors.Load() }), "refused by ICMP, not by a RST")
}
