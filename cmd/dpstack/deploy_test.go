package main

import (
	"context"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dpstack/dpstack/internal/httphello"
	"github.com/dpstack/dpstack/internal/netns"
)

// inspectOut runs one of the inspecting subcommands (route, neigh ...)
// against r's management listener and returns what it prints.
func (r *running) inspectOut(t *testing.T, cmd string) string {
	t.Helper()
	u, err := url.Parse(r.metricsURL)
	require.NoError(t, err)
	var out strings.Builder
	require.NoError(t, inspect(cmd, []string{"--metrics", u.Host}, &out))
	return out.String()
}

// curlHello fetches the built-in HTTP hello at addr from ns, with curl's
// further arguments, and checks the answer.
func curlHello(t *testing.T, ctx context.Context, ns *netns.NS, addr string, args ...string) {
	t.Helper()
	out, err := ns.Output(ctx, "curl", append([]string{"-sS", "--max-time", "10", "http://" + addr + ":8080/"}, args...)...)
	require.NoError(t, err, out)
	assert.Equal(t, httphello.Body, out)
}

// TestRunAddrsAndRoutes: dpstack run with two --addr on different
// subnets answers ping and TCP on both, and a --route through a gateway on
// the second subnet carries the answers to a network behind the gateway
// (the kernel in the namespace, with an address of that network on its
// loopback): without the route dpstack would have nowhere to send them.
func TestRunAddrsAndRoutes(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	r := startRun(t, ctx, "addrs", "198.18.20", "--addr", "198.19.20.2/24",
		"--route", "198.19.21.0/24", "via", "198.19.20.1")
	ns := r.ns
	require.NoError(t, ns.IP("addr", "add", "198.19.20.1/24", "dev", r.iface))
	require.NoError(t, ns.IP("addr", "add", "198.19.21.1/32", "dev", "lo"))
	require.NoError(t, ns.IP("link", "set", "lo", "up"))

	for _, a := range []string{"198.18.20.2", "198.19.20.2"} {
		out, err := ns.Output(ctx, "ping", "-c", "2", "-i", "0.2", "-W", "2", a)
		require.NoError(t, err, out)
		curlHello(t, ctx, ns, a)
	}
	// From the network behind the gateway: the echo replies and the
	// SYN-ACK go back through 198.19.20.1.
	out, err := ns.Output(ctx, "ping", "-c", "2", "-i", "0.2", "-W", "2", "-I", "198.19.21.1", "198.18.20.2")
	require.NoError(t, err, out)
	curlHello(t, ctx, ns, "198.18.20.2", "--interface", "198.19.21.1")

	routes := r.inspectOut(t, "route")
	assert.Contains(t, routes, "198.18.20.0/24 dev net_tap0 proto kernel scope link src 198.18.20.2")
	assert.Contains(t, routes, "198.19.20.0/24 dev net_tap0 proto kernel scope link src 198.19.20.2")
	assert.Contains(t, routes, "198.19.21.0/24 via 198.19.20.1 dev net_tap0 src 198.19.20.2")
	assert.Contains(t, r.inspectOut(t, "neigh"), "198.19.20.1 dev net_tap0 lladdr")
	r.stop(t)
}
