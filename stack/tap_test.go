package stack_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dpstack/dpstack/dpdk"
	"github.com/dpstack/dpstack/internal/netns"
	"github.com/dpstack/dpstack/metrics"
	"github.com/dpstack/dpstack/stack"
)

var (
	tapAddr  = netip.MustParsePrefix("198.18.2.2/24")
	peerAddr = netip.MustParsePrefix("198.18.2.1/24")
)

// kernelPeer runs a host on a net_tap port whose kernel side sits in a
// namespace of the test's own, with the loop on its own thread.
func kernelPeer(t *testing.T, name string, cores int) (*stack.Host, *netns.NS, string) {
	t.Helper()
	return kernelPeerWith(t, name, stack.Config{Cores: cores})
}

// kernelPeerWith is kernelPeer for a host configured as cfg, whose name,
// port and address it sets.
func kernelPeerWith(t *testing.T, name string, cfg stack.Config) (*stack.Host, *netns.NS, string) {
	t.Helper()
	if _, err := os.Stat("/dev/net/tun"); err != nil {
		t.Skip("no /dev/net/tun")
	}
	iface := fmt.Sprintf("dps%s%d", name, os.Getpid()%100000)
	port, err := dpdk.Probe("net_tap_" + name + ",iface=" + iface)
	require.NoError(t, err)
	cfg.Name, cfg.Port, cfg.Addr = name, port, tapAddr
	h, err := stack.Open(cfg)
	if err != nil {
		port.Close()
		t.Fatal(err)
	}
	ns, err := netns.Create(fmt.Sprintf("dpstest-%s-%d", name, os.Getpid()))
	if err != nil {
		h.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		assert.NoError(t, h.Close(), "close host (includes the mbuf leak check)")
		assert.NoError(t, ns.Delete())
	})
	require.NoError(t, ns.Adopt(iface, peerAddr))
	require.NoError(t, h.Start())
	return h, ns, iface
}

// TestKernelPeer: the Linux kernel, in a namespace behind the TAP, pings
// dpstack with every size up to the MTU, arpings it and learns its MAC;
// the metrics endpoint shows the counters that moved.
func TestKernelPeer(t *testing.T) {
	h, ns, iface := kernelPeer(t, "stack", 1)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	target := tapAddr.Addr().String()

	for _, size := range []int{0, 56, 1472} {
		t.Run(fmt.Sprintf("ping -s %d", size), func(t *testing.T) {
			out, err := ns.Output(ctx, "ping", "-c", "3", "-i", "0.2", "-W", "2", "-s", fmt.Sprint(size), target)
			require.NoError(t, err, out)
			assert.Contains(t, out, "3 received")
		})
	}
	t.Run("arping", func(t *testing.T) {
		out, err := ns.Output(ctx, "arping", "-c", "2", "-i", iface, target)
		require.NoError(t, err, out)
		assert.Contains(t, strings.ToLower(out), strings.ToLower(h.MAC().String()))
	})
	t.Run("kernel neighbour entry", func(t *testing.T) {
		out, err := ns.Output(ctx, "ip", "neigh", "show", target)
		require.NoError(t, err)
		assert.Contains(t, out, "lladdr "+h.MAC().String())
		assert.NotContains(t, out, "FAILED")
		assert.NotContains(t, out, "INCOMPLETE")
	})
	t.Run("metrics", func(t *testing.T) {
		m := scrape(t, h)
		labels := `{core="0",port="net_tap_stack"}`
		assert.GreaterOrEqual(t, m["dpstack_icmp_in_echos_total"+labels], 9.0)
		assert.GreaterOrEqual(t, m["dpstack_icmp_out_echo_replies_total"+labels], 9.0)
		assert.GreaterOrEqual(t, m["dpstack_arp_in_requests_total"+labels], 1.0)
		assert.GreaterOrEqual(t, m["dpstack_arp_out_replies_total"+labels], 1.0)
		assert.GreaterOrEqual(t, m[`dpstack_port_packets_total{dir="rx",port="net_tap_stack"}`], 11.0)
		assert.Contains(t, m, `dpstack_drops_total{core="0",port="net_tap_stack",reason="ip_bad_checksum"}`)
		assert.Contains(t, m, `dpstack_mempool_in_use{port="net_tap_stack"}`)
	})
}

// TestKernelPeerTwoCores: with two queue pairs the kernel spreads its
// packets over both cores; whichever core an ARP reply lands on, the other
// learns the neighbour too, and every core that answered a ping knows the
// peer.
func TestKernelPeerTwoCores(t *testing.T) {
	h, ns, _ := kernelPeer(t, "two", 2)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for i := range 4 {
		// Different ICMP identifiers hash to different queues.
		out, err := ns.Output(ctx, "ping", "-c", "2", "-i", "0.2", "-W", "2", "-s", fmt.Sprint(56+i), tapAddr.Addr().String())
		require.NoError(t, err, out)
	}
	for core := range h.Stacks() {
		var replies uint64
		var state string
		require.NoError(t, h.Do(core, func(s *stack.Stack) {
			replies = s.IPv4().Stats().ICMPOutEchoReplies.Load()
			if n := s.Routes().Neighbours().Lookup(peerAddr.Addr()); n != nil {
				state = n.State().String()
			}
		}))
		if replies > 0 {
			assert.NotEmpty(t, state, "core %d answered pings, so it knows the peer", core)
		}
	}
}

// parseMetrics reads the Prometheus text format into name{labels} -> value.
// scrape reads h's metrics as the endpoint serves them.
func scrape(t *testing.T, h *stack.Host) map[string]float64 {
	t.Helper()
	srv := httptest.NewServer(metrics.Handler(h))
	defer srv.Close()
	resp, err := http.Get(srv.URL)
	require.NoError(t, err)
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.NoError(t, err)
	return parseMetrics(string(body))
}

func parseMetrics(text string) map[string]float64 {
	m := map[string]float64{}
	for _, line := range strings.Split(text, "\n") {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		var v float64
		if _, err := fmt.Sscan(line[i+1:], &v); err == nil {
			m[line[:i]] = v
		}
	}
	return m
}
