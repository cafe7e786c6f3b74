package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dpstack/dpstack/internal/netns"
)

// TestAFPacket and TestAFXDP run "dpstack run" on one end of a veth pair
// through DPDK's AF_PACKET and AF_XDP drivers, the ports that need no
// NIC, with the kernel on the other end as the peer (README "Deployment
// shapes"). Each pings dpstack, curls its HTTP hello, runs "ab -n 20000
// -k" against it ten times, opens 300 connections that never read, and
// stops it with SIGINT: it must exit 0, so
// its close found every mbuf back in the pool (net_af_xdp's fill ring,
// which DPDK 22.11 never returns, is the driver's: stack.Host.Close).
func TestAFPacket(t *testing.T) { testVethPort(t, "net_af_packet0", "p", "198.18.50") }

func TestAFXDP(t *testing.T) { testVethPort(t, "net_af_xdp0", "x", "198.18.51") }

// testVethPort runs the checks on driver dev; tag tells the namespaces
// and interfaces of the two tests apart.
func testVethPort(t *testing.T, dev, tag, net string) {
	if _, err := exec.LookPath("ab"); err != nil {
		t.Skip("no ab (apache2-utils; make setup installs it)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	v := newVeth(t, tag, net)

	cmd := exec.CommandContext(ctx, "ip", "netns", "exec", v.stack.Name, os.Args[0], "run",
		"--vdev", dev+",iface="+v.stackIf, "--addr", net+".2/24", "--metrics", "127.0.0.1:0",
		"--file-prefix", fmt.Sprintf("dpstest-cmd-afx%s-%d", tag, os.Getpid()))
	cmd.Env = append(os.Environ(), "DPSTACK_TEST_MAIN=1")
	stdout, err := os.Create(t.TempDir() + "/stdout") // DPDK's log
	require.NoError(t, err)
	defer stdout.Close()
	cmd.Stdout = stdout
	r := startUp(t, ctx, cmd)
	r.ns, r.mgmtNS = v.peer, v.stack
	// Deferred after cancel, so it runs before it kills dpstack.
	defer func() {
		if !t.Failed() || r.cmd.ProcessState != nil {
			return
		}
		if out, err := v.stack.Output(ctx, "curl", "-sS", "--max-time", "5", r.metricsURL); err == nil {
			t.Logf("the port and the pool at the failure:\n%s", portState(out))
		}
		ethtool, _ := v.stack.Output(ctx, "ethtool", "-S", v.stackIf)
		links, _ := v.stack.Output(ctx, "ip", "-s", "link", "show", v.stackIf)
		plinks, _ := v.peer.Output(ctx, "ip", "-s", "link", "show", v.peerIf)
		t.Logf("the veth:\n%s\n%s\n%s", ethtool, links, plinks)
		r.mu.Lock()
		defer r.mu.Unlock()
		dpdkLog, _ := os.ReadFile(stdout.Name())
		t.Logf("dpstack's log ends:\n%s\nDPDK's:\n%s", strings.Join(r.tail, "\n"), dpdkLog)
	}()

	out, err := r.ns.Output(ctx, "ping", "-c", "2", "-i", "0.2", "-W", "2", net+".2")
	require.NoError(t, err, out)
	curlHello(t, ctx, r.ns, net+".2")

	// Ten runs of ab, each of 20,000 requests on one kept-alive
	// connection, each bounded in time: a driver that runs dry of mbufs,
	// or a packet the driver mangles, shows as a run that does not end
	// or requests that fail.
	done := regexp.MustCompile(`(?m)^Complete requests:\s+20000$`)
	failed := regexp.MustCompile(`(?m)^Failed requests:\s+0$`)
	for i := range 10 {
		out, err := r.ns.Output(ctx, "timeout", "60", "ab", "-q", "-k", "-n", "20000", "-s", "10", "http://"+net+".2:8080/")
		require.NoError(t, err, "ab run %d: %s", i, out)
		require.Regexp(t, done, out, "ab run %d", i)
		require.Regexp(t, failed, out, "ab run %d", i)
	}

	// 300 connections that send to the echo service and never read,
	// with the kernel's receive buffers: what the stack echoes fills
	// them, so it sends from mbufs all over its pool. Over net_af_xdp
	// with a pool not laid out as its UMEM (mbuf.PoolConfig.PageObjects),
	// the kernel dropped every frame in an mbuf past the UMEM's end: the
	// SYN-ACKs stopped leaving after about a hundred connections, and the
	// fill ring lost mbufs for good.
	crowd := startRole(t, ctx, r, "wide-crowd", net+".2:7", strconv.Itoa(crowdSize))
	crowd.expect(t, fmt.Sprintf("opened %d", crowdSize))
	out, err = r.ns.Output(ctx, "ping", "-c", "3", "-i", "0.2", "-W", "1", net+".2")
	assert.NoError(t, err, "ping during the crowd: %s", out)
	crowd.stdin.Close()
	require.NoError(t, crowd.cmd.Wait())

	body := r.metrics(t)
	for _, reason := range []string{"tcp_bad_checksum", "ip_bad_checksum"} {
		assert.LessOrEqual(t, metricValue(body, fmt.Sprintf(`dpstack_drops_total{core="0",port="%s",reason="%s"}`, dev, reason)), 0.0,
			"the peer's checksums are whole (its veth's tx checksum offload is off)")
	}
	r.stop(t)
}

// veth is a veth pair whose ends are in two namespaces of a test's own:
// dpstack's end (no address: the stack has it) and the kernel peer's.
type veth struct {
	stack, peer     *netns.NS
	stackIf, peerIf string
}

// newVeth makes the namespaces and the pair, named after tag and the
// process, and gives the peer's end net.1/24. The kernel's checksum
// offload on the peer's end is off: over veth a TCP segment crosses with
// its checksum left for a NIC to fill in, which no NIC does here, and
// AF_PACKET and XDP pass the frame as it is. Cleanup removes both
// namespaces, and the pair with them.
func newVeth(t *testing.T, tag, net string) *veth {
	t.Helper()
	id := fmt.Sprintf("%s-%d", tag, os.Getpid())
	v := &veth{stackIf: fmt.Sprintf("afx%sd%d", tag, os.Getpid()%10000), peerIf: fmt.Sprintf("afx%sk%d", tag, os.Getpid()%10000)}
	var err error
	v.stack, err = netns.Create("dpstest-afx-d-" + id)
	require.NoError(t, err)
	t.Cleanup(func() { v.stack.Delete() })
	v.peer, err = netns.Create("dpstest-afx-k-" + id)
	require.NoError(t, err)
	t.Cleanup(func() { v.peer.Delete() })
	if err := v.stack.IP("link", "add", v.stackIf, "type", "veth", "peer", "name", v.peerIf, "netns", v.peer.Name); err != nil {
		t.Skipf("no veth pairs here: %v", err)
	}
	ctx := context.Background()
	for _, c := range []struct {
		ns   *netns.NS
		args []string
	}{
		{v.stack, []string{"sysctl", "-q", "-w", "net.ipv6.conf." + v.stackIf + ".disable_ipv6=1"}},
		{v.stack, []string{"ip", "link", "set", v.stackIf, "up"}},
		{v.peer, []string{"sysctl", "-q", "-w", "net.ipv6.conf." + v.peerIf + ".disable_ipv6=1"}},
		{v.peer, []string{"ethtool", "-K", v.peerIf, "tx", "off"}},
		{v.peer, []string{"ip", "addr", "add", net + ".1/24", "dev", v.peerIf}},
		{v.peer, []string{"ip", "link", "set", v.peerIf, "up"}},
	} {
		require.NoError(t, c.ns.Exec(ctx, c.args[0], c.args[1:]...), strings.Join(c.args, " "))
	}
	return v
}

// portState is the lines of the metrics body that tell of the port, the
// pool, the loop's receive and the sockets' memory.
func portState(body string) string {
	var b strings.Builder
	for _, l := range strings.Split(body, "\n") {
		if !strings.HasPrefix(l, "#") && regexp.MustCompile(`dpstack_(port_|mempool_|loop_rx|rx_frames|sock_mem|tcp_sockets|drops_total)`).MatchString(l) {
			b.WriteString(l + "\n")
		}
	}
	return b.String()
}
