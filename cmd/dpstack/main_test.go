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
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dpstack/dpstack/internal/netns"
	"github.com/dpstack/dpstack/lcore"
)

// The test binary doubles as dpstack: with DPSTACK_TEST_MAIN=1 it runs
// main, so the tests can start the real command as a child process.
func TestMain(m *testing.M) {
	if os.Getenv("DPSTACK_TEST_MAIN") == "1" {
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
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
		{"bad idle", with("--idle", "lazy"), "idle"},
		{"bad hugepages", with("--hugepages", "maybe"), "hugepages"},
		{"bad mtu", with("--mtu", "20"), "--mtu"},
		{"netns without peer", with("--netns", "x"), "--peer-addr"},
		{"peer without netns", with("--peer-addr", "198.18.0.1/24"), "needs --netns"},
		{"netns on pci", []string{"--pci", "0000:01:00.0", "--addr", "198.18.0.2/24", "--netns", "x", "--peer-addr", "198.18.0.1/24"}, "net_tap"},
		{"same peer", with("--netns", "x", "--peer-addr", "198.18.0.2/24"), "differ"},
		{"unknown flag", with("--frobnicate"), "frobnicate"},
		{"stray argument", with("extra"), "unexpected"},
		{"bad log level", with("--log-level", "loud"), "--log-level"},
		{"unknown congestion control", with("--congestion", "bbr"), "--congestion"},
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
	assert.Equal(t, netip.MustParsePrefix("198.18.0.2/24"), c.addr)
	assert.Equal(t, netip.MustParseAddr("198.18.0.1"), c.gateway)
	assert.Equal(t, lcore.IdleBusyPoll, c.idle)
	assert.Equal(t, "127.0.0.1:9100", c.metrics)
	assert.True(t, c.services, "the built-in services are on by default")
	c, err = parseRunFlags(with("--services=false"))
	require.NoError(t, err)
	assert.False(t, c.services)
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
// SIGINT: it must exit 0 and leave no namespace behind.
func TestRunDemoCommandLine(t *testing.T) {
	if _, err := os.Stat("/dev/net/tun"); err != nil {
		t.Skip("no /dev/net/tun")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	nsName := fmt.Sprintf("dpstest-cmd-%d", os.Getpid())
	iface := fmt.Sprintf("dpsc%d", os.Getpid()%100000)
	cmd := dpstack(ctx, "run", "--vdev", "net_tap0,iface="+iface, "--addr", "198.18.3.2/24",
		"--netns", nsName, "--peer-addr", "198.18.3.1/24", "--metrics", "127.0.0.1:0",
		"--file-prefix", "dpstest-cmd-"+fmt.Sprint(os.Getpid()))
	stderr, err := cmd.StderrPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			cmd.Wait()
		}
		exec.Command("ip", "netns", "del", nsName).Run() // only if the command failed to
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
	go func() {
		for l := range lines {
			log.WriteString(l + "\n")
		}
	}()

	ns := &netns.NS{Name: nsName}
	out, err := ns.Output(ctx, "ping", "-c", "2", "-i", "0.2", "-W", "2", "198.18.3.2")
	require.NoError(t, err, out)

	// The built-in HTTP hello, net/http over package api.
	out, err = ns.Output(ctx, "curl", "-sS", "--max-time", "10", "http://198.18.3.2:8080/")
	require.NoError(t, err, out)
	assert.Equal(t, helloBody, out)

	resp, err := http.Get(metricsURL)
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	assert.Contains(t, string(body), `dpstack_icmp_out_echo_replies_total{core="0",port="net_tap0"} 2`)

	require.NoError(t, cmd.Process.Signal(syscall.SIGINT))
	err = cmd.Wait()
	require.NoError(t, err, "exit status after SIGINT")
	out2, _ := exec.Command("ip", "netns", "list").Output()
	assert.NotContains(t, string(out2), nsName, "namespace removed on exit")
}
