package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime/debug"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dpstack/dpstack/dpdk"
	"github.com/dpstack/dpstack/dpdk/dpdktest"
	"github.com/dpstack/dpstack/internal/httphello"
	"github.com/dpstack/dpstack/internal/netns"
	"github.com/dpstack/dpstack/lcore"
	"github.com/dpstack/dpstack/stack"
	"github.com/dpstack/dpstack/stack/tcp"
)

// The test binary doubles as dpstack: with DPSTACK_TEST_MAIN=1 it runs
// main, so the tests can start the real command as a child process.
func TestMain(m *testing.M) {
	if os.Getenv("DPSTACK_TEST_MAIN") == "1" {
		main()
		os.Exit(0)
	}
	if role := os.Getenv(roleEnv); role != "" {
		os.Exit(runRole(role)) // a kernel-side client in the namespace
	}
	// EAL for the in-process tests (TestSockperfAllocs); the command the
	// other tests start runs its own.
	dpdktest.Main(m, "dpstack", dpdk.EALConfig{})
}

func dpstack(ctx context.Context, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, os.Args[0], args...)
	cmd.Env = append(os.Environ(), "DPSTACK_TEST_MAIN=1")
	return cmd
}

func TestParseRunFlags(t *testing.T) {
	base := []string{"--vdev", "net_tap0", "--addr", "198.18.0.2/24"}
	with := func(extra ...string) []string { return append(append([]string{}, base...), extra...) }
	bad := []struct {
		name string
		args []string
		want string
	}{
		{"no device", []string{"--addr", "198.18.0.2/24"}, "exactly one of --vdev and --pci"},
		{"two devices", with("--pci", "0000:01:00.0"), "exactly one"},
		{"no addr", []string{"--vdev", "net_tap0"}, "--addr"},
		{"addr without prefix", []string{"--vdev", "net_tap0", "--addr", "198.18.0.2"}, "--addr"},
		{"ipv6 addr", []string{"--vdev", "net_tap0", "--addr", "2001:2::1/64"}, "--addr"},
		{"gateway off subnet", with("--gateway", "198.19.0.1"), "is not on"},
		{"second addr without prefix", with("--addr", "198.19.0.2"), "--addr"},
		{"addr twice", with("--addr", "198.18.0.2/16"), "given twice"},
		{"route without via", with("--route", "198.19.0.0/16"), "PREFIX via GATEWAY"},
		{"route bad prefix", with("--route", "198.19.0.0/33 via 198.18.0.1"), "not an IPv4 prefix"},
		{"route host bits", with("--route", "198.19.0.1/16", "via", "198.18.0.1"), "host bits"},
		{"route bad gateway", with("--route", "198.19.0.0/16 via nowhere"), "not an IPv4 address"},
		{"route gateway off subnet", with("--route", "198.19.0.0/16", "via", "198.19.0.1"), "not on a subnet"},
		{"route twice", with("--route", "198.19.0.0/16 via 198.18.0.1", "--route", "198.19.0.0/16 via 198.18.0.3"), "given twice"},
		{"peer is a second addr", with("--addr", "198.19.0.2/24", "--netns", "x", "--peer-addr", "198.19.0.2/24"), "differ"},
		{"bad idle", with("--idle", "lazy"), "idle"},
		{"bad hugepages", with("--hugepages", "maybe"), "hugepages"},
		{"bad mtu", with("--mtu", "20"), "--mtu"},
		{"vlan too big", with("--vlan", "4095"), "--vlan"},
		{"negative vlan", with("--vlan", "-1"), "--vlan"},
		{"vlan not a number", with("--vlan", "blue"), "vlan"},
		{"netns without peer", with("--netns", "x"), "--peer-addr"},
		{"peer without netns", with("--peer-addr", "198.18.0.1/24"), "needs --netns"},
		{"netns on pci", []string{"--pci", "0000:01:00.0", "--addr", "198.18.0.2/24", "--netns", "x", "--peer-addr", "198.18.0.1/24"}, "net_tap"},
		{"same peer", with("--netns", "x", "--peer-addr", "198.18.0.2/24"), "differ"},
		{"unknown flag", with("--frobnicate"), "frobnicate"},
		{"stray argument", with("extra"), "unexpected"},
		{"bad log level", with("--log-level", "loud"), "--log-level"},
		{"zero idle timeout", with("--idle-timeout", "0s"), "--idle-timeout"},
		{"negative mbufs", with("--mbufs", "-1"), "--mbufs"},
		{"unknown congestion control", with("--congestion", "bbr"), "--congestion"},
		{"join not a group", with("--join", "239.18.0.1,198.18.0.1"), "--join"},
		{"join without services", with("--join", "239.18.0.1", "--services=false"), "--join needs"},
		{"bad sockperf port", with("--sockperf", "70000"), "--sockperf"},
		{"kni-ports without kni", with("--kni-ports", "22"), "--kni-ports needs --kni"},
		{"kni-arp without kni", with("--kni-arp"), "--kni-arp needs --kni"},
		{"bad kni name", with("--kni", "a,b"), "--kni"},
		{"long kni name", with("--kni", "sixteen-chars-xx"), "--kni"},
		{"kni is the tap", []string{"--vdev", "net_tap0,iface=dtx", "--addr", "198.18.0.2/24", "--kni", "dtx"}, "own TAP"},
		{"kni in the peer's netns", with("--netns", "x", "--peer-addr", "198.18.0.1/24", "--kni", "k0", "--kni-netns", "x"), "--kni-netns must differ"},
		{"bad kni ports", with("--kni", "k0", "--kni-ports", "22-"), "--kni-ports"},
		{"tiny rmem max", with("--tcp-rmem-max", "100"), "--tcp-rmem-max"},
		{"huge rmem max", with("--tcp-rmem-max", "4294967296"), "--tcp-rmem-max"},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parseRunFlags(tc.args)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
		})
	}
	c, err := parseRunFlags(with("--netns", "dpstack", "--peer-addr", "198.18.0.1/24", "--idle", "busy", "--gateway", "198.18.0.1"))
	require.NoError(t, err)
	assert.Equal(t, []netip.Prefix{netip.MustParsePrefix("198.18.0.2/24")}, c.addrs)
	assert.Equal(t, netip.MustParseAddr("198.18.0.1"), c.gateway)
	assert.Equal(t, lcore.IdleBusyPoll, c.idle)
	assert.Equal(t, "127.0.0.1:9100", c.metrics)
	assert.True(t, c.services, "the built-in services are on by default")
	assert.Empty(t, c.join)
	// More addresses, and routes through gateways on any of their
	// subnets, in both spellings of --route.
	c, err = parseRunFlags(with("--addr", "198.19.5.2/24", "--route", "198.19.128.0/17", "via", "198.19.5.1",
		"--route", "198.18.128.0/20 via 198.18.0.1", "--gateway", "198.19.5.1"))
	require.NoError(t, err)
	assert.Equal(t, []netip.Prefix{netip.MustParsePrefix("198.18.0.2/24"), netip.MustParsePrefix("198.19.5.2/24")}, c.addrs)
	assert.Equal(t, []stack.Route{
		{Prefix: netip.MustParsePrefix("198.19.128.0/17"), Gateway: netip.MustParseAddr("198.19.5.1")},
		{Prefix: netip.MustParsePrefix("198.18.128.0/20"), Gateway: netip.MustParseAddr("198.18.0.1")},
	}, c.routes)
	assert.Equal(t, netip.MustParseAddr("198.19.5.1"), c.gateway)
	assert.Zero(t, c.vlan, "untagged by default")
	c, err = parseRunFlags(with("--vlan", "4094"))
	require.NoError(t, err)
	assert.Equal(t, 4094, c.vlan)
	c, err = parseRunFlags(with("--join", "239.18.0.1, 239.18.0.2"))
	require.NoError(t, err)
	assert.Equal(t, []netip.Addr{netip.MustParseAddr("239.18.0.1"), netip.MustParseAddr("239.18.0.2")}, c.join)
	c, err = parseRunFlags(with("--services=false"))
	require.NoError(t, err)
	assert.False(t, c.services)
	assert.Equal(t, defaultSockperfPort, c.sockperfPort, "the sockperf server is on by default")
	c, err = parseRunFlags(with("--sockperf", "off"))
	require.NoError(t, err)
	assert.Zero(t, c.sockperfPort)
	assert.Nil(t, c.kniPolicy, "no exception path without --kni")
	c, err = parseRunFlags(with("--kni", "dpsk0", "--kni-netns", "k", "--kni-ports", "22,9100-9200", "--kni-arp"))
	require.NoError(t, err)
	require.NotNil(t, c.kniPolicy)
	assert.True(t, c.kniPolicy.Port(22) && c.kniPolicy.Port(9150) && !c.kniPolicy.Port(80))
	assert.True(t, c.kniPolicy.ARP)
	assert.False(t, c.kniPolicy.ICMP || c.kniPolicy.Auto)
	c, err = parseRunFlags(with("--kni", "dpsk0"))
	require.NoError(t, err)
	assert.True(t, c.kniPolicy.Auto, "--kni-ports defaults to auto")
	assert.False(t, c.moderateRcvbuf, "receive-buffer autotuning is off by default")
	assert.Equal(t, tcp.DefaultRmemMax, c.rmemMax)
	c, err = parseRunFlags(with("--tcp-moderate-rcvbuf", "--tcp-rmem-max", "16777216"))
	require.NoError(t, err)
	assert.True(t, c.moderateRcvbuf)
	assert.Equal(t, 16<<20, c.rmemMax)
	assert.False(t, c.noGRO, "GRO is on by default")
	c, err = parseRunFlags(with("--gro", "off"))
	require.NoError(t, err)
	assert.True(t, c.noGRO)
	_, err = parseRunFlags(with("--gro", "maybe"))
	assert.ErrorContains(t, err, "--gro")
	assert.False(t, c.noLRO, "LRO where the port offers it, by default")
	c, err = parseRunFlags(with("--lro", "off"))
	require.NoError(t, err)
	assert.True(t, c.noLRO)
	_, err = parseRunFlags(with("--lro", "maybe"))
	assert.ErrorContains(t, err, "--lro")
	assert.Equal(t, defaultGOGC, c.gogc)
	c, err = parseRunFlags(with("--gogc", "-1"))
	require.NoError(t, err)
	assert.Equal(t, -1, c.gogc)
}

// TestSetGCPercent: --gogc sets the collector, unless GOGC in the
// environment did.
func TestSetGCPercent(t *testing.T) {
	old := debug.SetGCPercent(100)
	defer debug.SetGCPercent(old)
	env, had := os.LookupEnv("GOGC")
	os.Unsetenv("GOGC")
	defer func() {
		if had {
			os.Setenv("GOGC", env)
		}
	}()
	setGCPercent(400)
	assert.Equal(t, 400, debug.SetGCPercent(100))
	t.Setenv("GOGC", "100")
	setGCPercent(400)
	assert.Equal(t, 100, debug.SetGCPercent(100), "GOGC in the environment wins")
}

func TestTapIface(t *testing.T) {
	for in, want := range map[string][2]string{
		"net_tap0":                 {"net_tap0,iface=dtap0", "dtap0"},
		"net_tap3,mac=fixed":       {"net_tap3,mac=fixed,iface=dtap3", "dtap3"},
		"net_tap0,iface=mine":      {"net_tap0,iface=mine", "mine"},
		"net_tap1,iface=x,mac=fix": {"net_tap1,iface=x,mac=fix", "x"},
	} {
		vdev, iface := tapIface(in)
		assert.Equal(t, want[0], vdev, in)
		assert.Equal(t, want[1], iface, in)
	}
}

// TestRunFailsClearly: flags and devices that cannot work end the command
// with a message and a non-zero status.
func TestRunFailsClearly(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for _, tc := range []struct {
		name string
		args []string
		code int
		want string
	}{
		{"usage", nil, 2, "usage"},
		{"unknown command", []string{"fly"}, 2, "unknown command"},
		{"bad flag", []string{"run", "--vdev", "net_tap0"}, 2, "--addr"},
		{"bad vdev", []string{"run", "--vdev", "net_nosuchdev0", "--addr", "198.18.0.2/24", "--metrics", "off",
			"--file-prefix", fmt.Sprintf("dpstest-cmd-bad-%d", os.Getpid())}, 1, "net_nosuchdev0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := dpstack(ctx, tc.args...).CombinedOutput()
			var exit *exec.ExitError
			require.ErrorAs(t, err, &exit, string(out))
			assert.Equal(t, tc.code, exit.ExitCode(), string(out))
			assert.Contains(t, string(out), tc.want)
		})
	}
}

// TestRunDemoCommandLine runs the demo's command line (with a TAP and a
// namespace name of the test's own), pings dpstack from the namespace,
// curls its built-in HTTP hello, scrapes the metrics, and stops it with
// SIGINT: it must exit 0 (its close found every mbuf back in the pool)
// and leave no namespace behind.
func TestRunDemoCommandLine(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	r := startRun(t, ctx, "demo", "198.18.3", "--idle-timeout", "1s")
	ns := r.ns
	out, err := ns.Output(ctx, "ping", "-c", "2", "-i", "0.2", "-W", "2", "198.18.3.2")
	require.NoError(t, err, out)

	testHello(t, ctx, ns, "198.18.3.2:8080")

	// Echo and discard, callback services: 1 MiB echoed back intact
	// while it is still being sent, and 1 MiB discarded.
	echoMiB(t, ctx, ns, "198.18.3.2")
	out, err = ns.Output(ctx, "bash", "-c", `head -c 1048576 /dev/urandom >/dev/tcp/198.18.3.2/9`)
	require.NoError(t, err, out)

	// UDP echo on port 7 beside TCP's.
	out, err = ns.Output(ctx, "bash", "-c", `exec 3<>/dev/udp/198.18.3.2/7; echo datagram >&3; timeout 10 head -c 9 <&3`)
	require.NoError(t, err, out)
	assert.Equal(t, "datagram\n", out)

	// A second command with the same EAL file prefix fails clearly.
	out2, err := dpstack(ctx, "run", "--vdev", "net_tap1", "--addr", "198.18.3.9/24", "--metrics", "off",
		"--file-prefix", "dpstest-cmd-demo-"+fmt.Sprint(os.Getpid())).CombinedOutput()
	var exit *exec.ExitError
	require.ErrorAs(t, err, &exit, string(out2))
	assert.Contains(t, string(out2), "is in use by process")

	// Echo and discard close a connection idle past --idle-timeout (1s).
	for _, port := range []string{"7", "9"} {
		out, err = ns.Output(ctx, "bash", "-c", "exec 3<>/dev/tcp/198.18.3.2/"+port+"; timeout 10 cat <&3")
		assert.NoError(t, err, "port %s: the idle connection was not closed: %s", port, out)
	}

	body := r.metrics(t)
	assert.Contains(t, body, `dpstack_icmp_out_echo_replies_total{core="0",port="net_tap0"} 2`)
	assert.Contains(t, body, `dpstack_udp_in_datagrams_total{core="0",port="net_tap0"} 1`)
	assert.Contains(t, body, `dpstack_udp_out_datagrams_total{core="0",port="net_tap0"} 1`)
	assert.Contains(t, body, `dpstack_loop_rx_interrupts{core="0",port="net_tap0"} 1`, "the idle loop sleeps until a packet")

	r.stop(t)
}

// running is a "dpstack run" started by startRun.
type running struct {
	cmd   *exec.Cmd
	ns    *netns.NS // the kernel peer's namespace
	iface string    // with ownsNS: the TAP's kernel side, in ns
	// ownsNS: dpstack made ns (--netns) and must remove it on exit.
	ownsNS     bool
	metricsURL string
	// mgmtNS, when set, is the namespace dpstack runs in, where its
	// management listener is.
	mgmtNS *netns.NS
	// drained is closed when dpstack's stderr ends; tail holds its last
	// lines, for a failed exit to show.
	drained chan struct{}
	mu      sync.Mutex
	tail    []string
}

// startRun starts "dpstack run" with a TAP and a namespace of the test's
// own (name tells the tests apart), dpstack at net.2/24 and the kernel at
// net.1/24, and waits until it serves its metrics. Cleanup kills it and
// removes the namespace if the test did not stop it.
func startRun(t *testing.T, ctx context.Context, name, net string, args ...string) *running {
	t.Helper()
	return startCmd(t, ctx, "run", name, net, args...)
}

// startCmd is startRun for the subcommand sub ("run" or "proxy").
func startCmd(t *testing.T, ctx context.Context, sub, name, net string, args ...string) *running {
	t.Helper()
	if _, err := os.Stat("/dev/net/tun"); err != nil {
		t.Skip("no /dev/net/tun")
	}
	id := fmt.Sprintf("%s-%d", name, os.Getpid())
	nsName := "dpstest-cmd-" + id
	iface := fmt.Sprintf("dpsc%s%d", name[:1], os.Getpid()%100000)
	cmd := dpstack(ctx, append([]string{sub, "--vdev", "net_tap0,iface=" + iface, "--addr", net + ".2/24",
		"--netns", nsName, "--peer-addr", net + ".1/24", "--metrics", "127.0.0.1:0",
		"--file-prefix", "dpstest-cmd-" + id}, args...)...)
	t.Cleanup(func() {
		exec.Command("ip", "netns", "del", nsName).Run() // only if the command failed to
	})
	r := startUp(t, ctx, cmd)
	r.ns, r.iface, r.ownsNS = &netns.NS{Name: nsName}, iface, true
	return r
}

// startUp starts cmd, a dpstack command, and waits until it serves its
// metrics. Cleanup kills it if the test did not stop it.
func startUp(t *testing.T, ctx context.Context, cmd *exec.Cmd) *running {
	t.Helper()
	stderr, err := cmd.StderrPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			cmd.Wait()
		}
	})

	lines := make(chan string, 100)
	go func() {
		s := bufio.NewScanner(stderr)
		for s.Scan() {
			lines <- s.Text()
		}
		close(lines)
	}()
	var log strings.Builder
	metricsURL := ""
	urlRE := regexp.MustCompile(`url=(http://\S+)`)
	for metricsURL == "" {
		select {
		case l, ok := <-lines:
			require.True(t, ok, "dpstack exited early:\n%s", log.String())
			log.WriteString(l + "\n")
			if m := urlRE.FindStringSubmatch(l); m != nil {
				metricsURL = m[1]
			}
		case <-ctx.Done():
			t.Fatalf("dpstack did not come up:\n%s", log.String())
		}
	}
	assert.Contains(t, log.String(), "dpstack up")
	r := &running{cmd: cmd, metricsURL: metricsURL, drained: make(chan struct{})}
	go func() {
		defer close(r.drained)
		for l := range lines { // keep the pipe drained, and the last lines
			r.mu.Lock()
			r.tail = append(r.tail[max(0, len(r.tail)-199):], l)
			r.mu.Unlock()
		}
	}()
	return r
}

// stop stops dpstack with SIGINT, as Ctrl-C would: it must exit 0 (its
// close found every mbuf back in the pool) and remove its namespace.
func (r *running) stop(t *testing.T) {
	t.Helper()
	require.NoError(t, r.cmd.Process.Signal(syscall.SIGINT))
	select {
	case <-r.drained: // Wait closes the pipe: read it to its end first
	case <-time.After(30 * time.Second):
	}
	err := r.cmd.Wait()
	r.mu.Lock()
	defer r.mu.Unlock()
	require.NoError(t, err, "exit status after SIGINT; the log ends:\n%s", strings.Join(r.tail, "\n"))
	if !r.ownsNS {
		return
	}
	out, _ := exec.Command("ip", "netns", "list").Output()
	assert.NotContains(t, string(out), r.ns.Name, "namespace removed on exit")
}

// metrics scrapes the running command's metrics.
func (r *running) metrics(t *testing.T) string {
	t.Helper()
	if r.mgmtNS != nil {
		out, err := r.mgmtNS.Output(context.Background(), "curl", "-sS", "--max-time", "10", r.metricsURL)
		require.NoError(t, err, out)
		return out
	}
	resp, err := http.Get(r.metricsURL)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return string(body)
}

// curlHello fetches the built-in HTTP hello at addr from ns, with curl's
// further arguments, and checks the answer.
func curlHello(t *testing.T, ctx context.Context, ns *netns.NS, addr string, args ...string) {
	t.Helper()
	out, err := ns.Output(ctx, "curl", append([]string{"-sS", "--max-time", "10", "http://" + addr + ":8080/"}, args...)...)
	require.NoError(t, err, out)
	assert.Equal(t, httphello.Body, out)
}

// echoMiB sends 1 MiB to the echo service at addr from ns and checks that
// it comes back intact while it is still being sent (the reader runs
// beside the writer).
func echoMiB(t *testing.T, ctx context.Context, ns *netns.NS, addr string) {
	t.Helper()
	echoBytes(t, ctx, ns, addr, 1<<20)
}

// echoBytes is echoMiB with n bytes.
func echoBytes(t *testing.T, ctx context.Context, ns *netns.NS, addr string, n int) {
	t.Helper()
	out, err := ns.Output(ctx, "bash", "-c", `set -e -o pipefail
head -c $2 /dev/urandom > "$0"
exec 3<>/dev/tcp/$1/7
timeout 60 head -c $2 <&3 | sha256sum > "$0.echo" &
cat "$0" >&3
wait $!
exec 3>&-
sha256sum < "$0" | cmp - "$0.echo" && echo same`, filepath.Join(t.TempDir(), "data"), addr, fmt.Sprint(n))
	require.NoError(t, err, out)
	assert.Equal(t, "same\n", out)
}

// testHello talks HTTP to the built-in hello at addr from ns: with curl,
// and raw over bash's /dev/tcp for what curl would not send. The hello
// must close idle connections within 10 s.
func testHello(t *testing.T, ctx context.Context, ns *netns.NS, addr string) {
	url := "http://" + addr + "/"
	// Two requests on one connection (curl reports one connect, then
	// none), and HEAD.
	out, err := ns.Output(ctx, "curl", "-sS", "--max-time", "10", "-w", "%{num_connects}\n", url+"a", url+"b")
	require.NoError(t, err, out)
	assert.Equal(t, httphello.Body+"1\n"+httphello.Body+"0\n", out)
	out, err = ns.Output(ctx, "curl", "-sS", "--max-time", "10", "-I", url)
	require.NoError(t, err, out)
	assert.Contains(t, out, "HTTP/1.1 200 OK\r\n")
	assert.Contains(t, out, "Content-Length: 19\r\n")

	host, port, _ := strings.Cut(addr, ":")
	// raw sends the parts (a pause between them: separate segments) and
	// returns everything the hello answers until it closes.
	raw := func(parts ...string) string {
		script := "exec 3<>/dev/tcp/" + host + "/" + port + "\n"
		for i := range parts {
			script += fmt.Sprintf("printf '%%s' \"${%d}\" >&3; sleep 0.05\n", i+1)
		}
		script += "timeout 10 cat <&3"
		out, err := ns.Output(ctx, "bash", append([]string{"-c", script, "raw"}, parts...)...)
		require.NoError(t, err, "the hello closes the connection: %s", out)
		return out
	}
	get := "GET / HTTP/1.1\r\nHost: x\r\n\r\n"
	empty := "Content-Length: 0\r\n\r\n" // the end of an error's answer
	for _, tc := range []struct {
		name  string
		parts []string
		want  []string // in this order
	}{
		{"HTTP/1.0 closes", []string{"GET / HTTP/1.0\r\n\r\n"}, []string{"HTTP/1.1 200 OK", "\r\n\r\n" + httphello.Body}},
		{"pipelined, then close", []string{get + "GET / HTTP/1.1\r\nConnection: close\r\n\r\n"},
			[]string{"200 OK", httphello.Body, "200 OK", "Connection: close", httphello.Body}},
		{"head across segments", []string{"GET / HT", "TP/1.1\r\nHost: x\r", "\n\r\nGET / HTTP/1.1\r\nConnection: close\r\n\r\n"},
			[]string{"200 OK", httphello.Body, "200 OK", httphello.Body}},
		{"a body", []string{"POST / HTTP/1.1\r\nContent-Length: 1\r\n\r\nx"}, []string{"413 Content Too Large", "Connection: close", empty}},
		{"other method", []string{"DELETE / HTTP/1.1\r\n\r\n"}, []string{"405 Method Not Allowed", empty}},
		{"malformed", []string{"NONSENSE\r\n\r\n"}, []string{"400 Bad Request", empty}},
		{"space before colon", []string{"GET / HTTP/1.1\r\nHost : x\r\n\r\n"}, []string{"400 Bad Request", empty}},
		{"head too large", []string{"GET / HTTP/1.1\r\nX: " + strings.Repeat("a", httphello.MaxHead) + "\r\n\r\n"},
			[]string{"431 Request Header Fields Too Large", empty}},
		{"idle connection closed (--idle-timeout)", nil, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := raw(tc.parts...)
			rest := out
			for _, w := range tc.want {
				_, after, ok := strings.Cut(rest, w)
				require.True(t, ok, "%q after the earlier parts of:\n%s", w, out)
				rest = after
			}
			assert.Empty(t, rest, "nothing after the last answer")
		})
	}
}
