package main

import (
	"context"
	"fmt"
	"net/url"
	"path/filepath"
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

// addVLAN gives the namespace's TAP side a VLAN interface name of VLAN id
// with addr: the kernel's own (ip link add ... type vlan), or where the
// kernel has no 802.1Q driver a TAP of that name that the vlan-shim role
// tags and untags for.
func addVLAN(t *testing.T, ctx context.Context, r *running, name string, id int, addr string) {
	t.Helper()
	err := r.ns.IP("link", "add", "link", r.iface, "name", name, "type", "vlan", "id", fmt.Sprint(id))
	if err != nil && strings.Contains(err.Error(), "Unknown device type") {
		t.Logf("the kernel has no 802.1Q driver: %s is a TAP that the vlan-shim role tags for", name)
		startRole(t, ctx, r, "vlan-shim", r.iface+"/"+name, fmt.Sprint(id)).expect(t, "ready")
		err = nil
	}
	require.NoError(t, err)
	// IPv4 only, so that no IPv6 autoconfiguration shows up as drops.
	require.NoError(t, r.ns.Exec(ctx, "sysctl", "-q", "-w", "net.ipv6.conf."+name+".disable_ipv6=1"))
	require.NoError(t, r.ns.IP("addr", "add", addr, "dev", name))
	require.NoError(t, r.ns.IP("link", "set", name, "up"))
}

// TestRunVLAN: dpstack run --vlan 100 against a kernel VLAN interface on
// the TAP's kernel side (ip link add ... type vlan id 100): ping, the HTTP
// hello and 1 MiB through the echo service, sent back in TSO segments the
// port cuts with the tag in their headers, all over VLAN 100. The kernel's
// untagged frames (for dpstack's address on the TAP's own subnet) and its
// frames on VLAN 200 get no answer and are counted by reason.
func TestRunVLAN(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	r := startRun(t, ctx, "vlan", "198.18.22", "--vlan", "100", "--addr", "198.18.23.2/24")
	ns := r.ns
	addVLAN(t, ctx, r, "v100", 100, "198.18.23.1/24")
	addVLAN(t, ctx, r, "v200", 200, "198.18.24.1/24")

	out, err := ns.Output(ctx, "ping", "-c", "3", "-i", "0.2", "-W", "2", "-s", "1472", "198.18.23.2")
	require.NoError(t, err, out)
	curlHello(t, ctx, ns, "198.18.23.2")
	out, err = ns.Output(ctx, "bash", "-c", `set -e -o pipefail
head -c 1048576 /dev/urandom > "$0"
exec 3<>/dev/tcp/198.18.23.2/7
timeout 20 head -c 1048576 <&3 | sha256sum > "$0.echo" &
cat "$0" >&3
wait $!
exec 3>&-
sha256sum < "$0" | cmp - "$0.echo" && echo same`, filepath.Join(t.TempDir(), "data"))
	require.NoError(t, err, out)
	assert.Equal(t, "same\n", out)
	out, err = ns.Output(ctx, "ip", "neigh", "show", "dev", "v100")
	require.NoError(t, err)
	assert.Contains(t, out, "198.18.23.2 lladdr", "the kernel resolved dpstack on VLAN 100")

	for _, a := range []string{"198.18.22.2", "198.18.24.2"} {
		out, err := ns.Output(ctx, "ping", "-c", "1", "-W", "1", a)
		assert.Error(t, err, "%s answered: %s", a, out)
	}
	body := r.metrics(t)
	const drops = `dpstack_drops_total{core="0",port="net_tap0",reason="%s"}`
	assert.GreaterOrEqual(t, metricValue(body, fmt.Sprintf(drops, "vlan_untagged")), 1.0, "untagged ARP requests")
	assert.GreaterOrEqual(t, metricValue(body, fmt.Sprintf(drops, "vlan_other")), 1.0, "ARP requests on VLAN 200")
	assert.LessOrEqual(t, metricValue(body, fmt.Sprintf(drops, "unknown_ethertype")), 0.0)
	r.stop(t)
}
