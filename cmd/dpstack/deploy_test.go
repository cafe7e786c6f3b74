package main

import (
	"context"
	"fmt"
	"net/netip"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dpstack/dpstack/diag"
	"github.com/dpstack/dpstack/stack"
)

// mgmt is r's management listener's address.
func (r *running) mgmt(t *testing.T) string {
	t.Helper()
	u, err := url.Parse(r.metricsURL)
	require.NoError(t, err)
	return u.Host
}

// inspectOut runs one of the inspecting subcommands (route, neigh ...)
// against r's management listener and returns what it prints.
func (r *running) inspectOut(t *testing.T, cmd string) string {
	t.Helper()
	var out strings.Builder
	require.NoError(t, inspect(cmd, []string{"--metrics", r.mgmt(t)}, &out))
	return out.String()
}

// state is r's state as its management listener serves it.
func (r *running) state(t *testing.T) *diag.State {
	t.Helper()
	st, err := fetchState(r.mgmt(t))
	require.NoError(t, err)
	return st
}

// TestRunAddrsAndRoutes: dpstack run with two --addr on different
// subnets answers ping, TCP and UDP on both, from the address asked, and
// a --route through a gateway on the second subnet carries the answers to
// a network behind the gateway (the kernel in the namespace, with an
// address of that network on its loopback): without the route dpstack
// would have nowhere to send them.
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
		// bash's UDP socket is connected: it takes the echo only from a.
		out, err = ns.Output(ctx, "bash", "-c", "exec 3<>/dev/udp/"+a+"/7; echo datagram >&3; timeout 10 head -c 9 <&3")
		require.NoError(t, err, out)
		assert.Equal(t, "datagram\n", out, a)
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
	assert.Equal(t, []string{"198.18.20.2/24", "198.19.20.2/24"}, r.state(t).Port.Addrs)
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
	echoMiB(t, ctx, ns, "198.18.23.2")
	out, err = ns.Output(ctx, "ip", "neigh", "show", "dev", "v100")
	require.NoError(t, err)
	assert.Contains(t, out, "198.18.23.2 lladdr", "the kernel resolved dpstack on VLAN 100")

	for _, a := range []string{"198.18.22.2", "198.18.24.2"} {
		out, err := ns.Output(ctx, "ping", "-c", "1", "-W", "1", a)
		assert.Error(t, err, "%s answered: %s", a, out)
	}
	assert.Equal(t, uint16(100), r.state(t).Port.VLAN)
	body := r.metrics(t)
	const drops = `dpstack_drops_total{core="0",port="net_tap0",reason="%s"}`
	assert.GreaterOrEqual(t, metricValue(body, fmt.Sprintf(drops, "vlan_untagged")), 1.0, "untagged ARP requests")
	assert.GreaterOrEqual(t, metricValue(body, fmt.Sprintf(drops, "vlan_other")), 1.0, "ARP requests on VLAN 200")
	assert.LessOrEqual(t, metricValue(body, fmt.Sprintf(drops, "unknown_ethertype")), 0.0)
	r.stop(t)
}

// writeConfig writes a config file into the test's temporary directory.
func writeConfig(t *testing.T, text string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "dpstack.conf")
	require.NoError(t, os.WriteFile(path, []byte(text), 0o644))
	return path
}

// TestConfigFile: a config file sets every flag the command line can, in
// lines of "flag value" with comments, quotes and bool flags alone; a flag
// on the command line overrides the file's, and a repeatable one replaces
// all the file's lines for it.
func TestConfigFile(t *testing.T) {
	path := writeConfig(t, `# dpstack.conf
vdev  "net_tap0,iface=dtap0"
addr  198.18.0.2/24
--addr 198.19.0.2/24     # a second subnet
route 198.19.128.0/17 via 198.19.0.1
	route	198.18.128.0/20 via 198.18.0.1
vlan  100
mtu   1400
accept-source-route
services false

metrics off
`)
	c, err := parseRunFlags([]string{"--config", path})
	require.NoError(t, err)
	assert.Equal(t, "net_tap0,iface=dtap0", c.vdev)
	assert.Equal(t, []netip.Prefix{netip.MustParsePrefix("198.18.0.2/24"), netip.MustParsePrefix("198.19.0.2/24")}, c.addrs)
	assert.Equal(t, []stack.Route{
		{Prefix: netip.MustParsePrefix("198.19.128.0/17"), Gateway: netip.MustParseAddr("198.19.0.1")},
		{Prefix: netip.MustParsePrefix("198.18.128.0/20"), Gateway: netip.MustParseAddr("198.18.0.1")},
	}, c.routes)
	assert.Equal(t, 100, c.vlan)
	assert.Equal(t, 1400, c.mtu)
	assert.True(t, c.sourceRoute)
	assert.False(t, c.services)
	assert.Equal(t, "off", c.metrics)

	// The command line wins, before or after --config.
	c, err = parseRunFlags([]string{"--vlan", "200", "--config", path, "--addr", "198.19.0.2/24", "--services",
		"--route", "198.18.64.0/20 via 198.19.0.1"})
	require.NoError(t, err)
	assert.Equal(t, 200, c.vlan)
	assert.Equal(t, []netip.Prefix{netip.MustParsePrefix("198.19.0.2/24")}, c.addrs, "--addr replaces the file's addresses")
	assert.Equal(t, []stack.Route{{Prefix: netip.MustParsePrefix("198.18.64.0/20"), Gateway: netip.MustParseAddr("198.19.0.1")}}, c.routes)
	assert.True(t, c.services)
	assert.Equal(t, 1400, c.mtu, "what the command line leaves, the file sets")

	for _, tc := range []struct{ name, text, want string }{
		{"unknown flag", "vdev net_tap0\naddr 198.18.0.2/24\nfrobnicate 1\n", `dpstack.conf:3: unknown flag "frobnicate"`},
		{"bad value", "vdev net_tap0\n\naddr 198.18.0.2/24\nmtu big\n", `dpstack.conf:4: mtu "big"`},
		{"no value", "vdev net_tap0\naddr\n", "dpstack.conf:2: addr needs a value"},
		{"config in config", "config other.conf\n", `unknown flag "config"`},
		{"bad quoting", "vdev \"net_tap0\n", "dpstack.conf:1: vdev: bad quoting"},
		{"checked as flags are", "vdev net_tap0\naddr 198.18.0.2/24\nroute 198.19.0.0/16 via 198.20.0.1\n", "not on a subnet"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parseRunFlags([]string{"--config", writeConfig(t, tc.text)})
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
		})
	}
	_, err = parseRunFlags([]string{"--config", filepath.Join(t.TempDir(), "missing.conf")})
	assert.ErrorContains(t, err, "missing.conf: no such file")
}

// TestRunConfigFile: dpstack run reads its config file, and the command
// line overrides it: the file's static route is in the table; its
// address and "metrics off" are not, since the command line gives --addr
// and --metrics. A config file it cannot use ends the command with a
// message naming the line and status 2.
func TestRunConfigFile(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	path := writeConfig(t, `addr 198.18.31.2/24
route 198.19.31.0/24 via 198.18.30.1
metrics off # overridden
`)
	r := startRun(t, ctx, "conf", "198.18.30", "--config", path)
	out, err := r.ns.Output(ctx, "ping", "-c", "1", "-W", "2", "198.18.30.2")
	require.NoError(t, err, out)
	routes := r.inspectOut(t, "route")
	assert.Contains(t, routes, "198.19.31.0/24 via 198.18.30.1 dev net_tap0 src 198.18.30.2")
	assert.NotContains(t, routes, "198.18.31.")
	r.stop(t)

	bad := writeConfig(t, "vdev net_tap0\naddr 198.18.0.2/24\nvlan 5000\n")
	outb, err := dpstack(ctx, "run", "--config", bad).CombinedOutput()
	var exit *exec.ExitError
	require.ErrorAs(t, err, &exit, string(outb))
	assert.Equal(t, 2, exit.ExitCode())
	assert.Contains(t, string(outb), "--vlan 5000: want a VLAN ID 1-4094")
}
