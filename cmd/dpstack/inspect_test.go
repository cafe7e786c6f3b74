package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dpstack/dpstack/diag"
)

func TestSSArgs(t *testing.T) {
	assert.Equal(t, []string{"-t", "-n", "-i"}, ssArgs([]string{"-tni"}))
	assert.Equal(t, []string{"-t", "--metrics", "127.0.0.1:1", "state", "established"},
		ssArgs([]string{"-t", "--metrics", "127.0.0.1:1", "state", "established"}))
	assert.Equal(t, []string{"-metrics=127.0.0.1:1", "-l", "sport", "=", ":80"},
		ssArgs([]string{"-metrics=127.0.0.1:1", "-l", "sport", "=", ":80"}))
}

// TestStatsHistoryPerStack: dpstack stats prints what moved since its last
// call on the same stack; a history left by an earlier stack at the same
// management address (a restart, or a test's next run on a reused port)
// is none, even where a counter's value came out the same.
func TestStatsHistoryPerStack(t *testing.T) {
	t.Setenv("TMPDIR", t.TempDir())
	first := time.Date(2026, 12, 7, 0, 0, 0, 0, time.UTC)
	st := diag.State{Opened: first, Counters: map[string]uint64{"tcp_passive_opens": 4, "rx_frames": 10}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		json.NewEncoder(w).Encode(st)
	}))
	defer srv.Close()
	addr := strings.TrimPrefix(srv.URL, "http://")
	stats := func() string {
		var out strings.Builder
		require.NoError(t, statsCmd([]string{"--metrics", addr}, &out))
		return out.String()
	}

	assert.Equal(t, "#dpstack\n"+
		"rx_frames                        10\n"+
		"tcp_passive_opens                4\n", stats(), "no history: everything")
	st.Counters = map[string]uint64{"tcp_passive_opens": 4, "rx_frames": 15}
	assert.Equal(t, "#dpstack\n"+
		"rx_frames                        5\n", stats(), "the same stack: what moved")
	st.Opened = first.Add(time.Minute)
	st.Counters = map[string]uint64{"tcp_passive_opens": 4, "rx_frames": 20}
	assert.Equal(t, "#dpstack\n"+
		"rx_frames                        20\n"+
		"tcp_passive_opens                4\n", stats(), "another stack at the address: since it started")
}

// ssKeys are the field names of an ss -i line: "name:value" and bare words.
func ssKeys(line string) map[string]bool {
	keys := map[string]bool{}
	for _, f := range strings.Fields(line) {
		k, _, _ := strings.Cut(f, ":")
		keys[k] = true
	}
	return keys
}

// ssNames are field names of ss -i that the kernel prints only in some
// states (iproute2's tcp_show_info): dpstack's may show them where the
// kernel's connection in the test does not.
var ssNames = map[string]bool{"unacked": true, "backoff": true, "notsent": true, "ssthresh": true,
	"rcv_wnd": true, "snd_wnd": true, "ato": true, "sack": true, "ts": true, "minrtt": true,
	"cubic": true, "reno": true} // the kernel's congestion control may be another

// TestInspect runs dpstack ss, neigh, route and stats against a running
// stack holding a kernel connection open, listeners and TIME-WAIT
// entries, and compares ss's output with the kernel's own ss on the
// other end of the same connection.
func TestInspect(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	r := startRun(t, ctx, "inspect", "198.18.13")
	u, err := url.Parse(r.metricsURL)
	require.NoError(t, err)
	mgmt := u.Host
	run := func(args ...string) string {
		out, err := dpstack(ctx, append([]string{args[0], "--metrics", mgmt}, args[1:]...)...).CombinedOutput()
		require.NoError(t, err, "dpstack %v: %s", args, out)
		return string(out)
	}

	// A connection held open to the echo service, and three HTTP
	// requests that dpstack closes first: their TIME-WAIT is dpstack's.
	hold := r.ns.Command(ctx, "bash", "-c", "exec 3<>/dev/tcp/198.18.13.2/7; echo up; sleep 30")
	stdout, err := hold.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, hold.Start())
	t.Cleanup(func() { hold.Process.Kill(); hold.Wait() })
	line := make([]byte, 3)
	_, err = io.ReadFull(stdout, line)
	require.NoError(t, err, "the kernel's connection to port 7")
	for range 3 {
		out, err := r.ns.Output(ctx, "curl", "-sS", "--max-time", "5", "-H", "Connection: close", "http://198.18.13.2:8080/")
		require.NoError(t, err, out)
	}

	kernel, err := r.ns.Output(ctx, "ss", "-tni", "dst", "198.18.13.2:7")
	require.NoError(t, err)
	ours := run("ss", "-tni", "sport", "=", ":7")
	kl, ol := strings.Split(strings.TrimSpace(kernel), "\n"), strings.Split(strings.TrimSpace(ours), "\n")
	require.Len(t, kl, 3, "the kernel's ss: header, connection, info:\n%s", kernel)
	require.Len(t, ol, 3, "dpstack ss: header, connection, info:\n%s", ours)
	// ss runs the last two titles together when the columns are narrow.
	noSpace := func(s string) string { return strings.ReplaceAll(s, " ", "") }
	assert.Equal(t, noSpace(kl[0]), noSpace(ol[0]), "the same header")
	kf, of := strings.Fields(kl[1]), strings.Fields(ol[1])
	require.Len(t, of, 5)
	assert.Equal(t, []string{"ESTAB", "0", "0"}, of[:3])
	assert.Equal(t, kf[3], of[4], "our peer is the kernel's local end")
	assert.Equal(t, kf[4], of[3], "our local end is the kernel's peer")
	kk, ok := ssKeys(kl[2]), ssKeys(ol[2])
	for k := range ok {
		assert.True(t, kk[k] || ssNames[k], "field %q of %q is not one ss prints (kernel: %q)", k, ol[2], kl[2])
	}
	for _, k := range []string{"cubic", "wscale", "rto", "rtt", "mss", "rcvmss", "advmss", "cwnd"} {
		assert.True(t, ok[k], "dpstack ss -i shows %s: %q", k, ol[2])
	}

	listeners := run("ss", "-tl")
	for _, port := range []string{":7", ":9", ":8080"} {
		assert.Regexp(t, regexp.MustCompile(`(?m)^LISTEN +0 +\d+ +\*`+port+` +\*:\*`), listeners)
	}
	tw := run("ss", "-tan", "-o", "state", "time-wait")
	assert.GreaterOrEqual(t, strings.Count(tw, "TIME-WAIT"), 3, tw)
	assert.Contains(t, tw, "timer:(timewait,")
	assert.NotContains(t, tw, "ESTAB")
	udp := run("ss", "-ul")
	assert.Regexp(t, `(?m)^UNCONN +0 +0 +\*:7 +\*:\*`, udp)

	assert.Regexp(t, `(?m)^198\.18\.13\.1 dev net_tap0 lladdr [0-9a-f:]{17} [A-Z]+$`, run("neigh"))
	assert.Contains(t, run("route"), "198.18.13.0/24 dev net_tap0 proto kernel scope link src 198.18.13.2\n")
	first := run("stats")
	assert.Regexp(t, `(?m)^tcp_passive_opens +[1-9]`, first)
	again := run("stats")
	assert.NotContains(t, again, "tcp_passive_opens", "nothing opened since the last call")
	assert.Less(t, strings.Count(again, "\n"), strings.Count(first, "\n"))

	// The histograms: the three closed connections' RTTs, and the
	// delivery delay of one in 16 deliveries (32 requests on one
	// connection are 32 deliveries at least).
	urls := make([]string, 32)
	for i := range urls {
		urls[i] = "http://198.18.13.2:8080/"
	}
	out, err := r.ns.Output(ctx, "curl", append([]string{"-sS", "--max-time", "10", "-o", "/dev/null"}, urls...)...)
	require.NoError(t, err, out)
	m := r.metrics(t)
	count := func(name string) float64 {
		re := regexp.MustCompile(`(?m)^dpstack_` + name + `_seconds_count\{core="0",port="net_tap0"\} (\d+)$`)
		sub := re.FindStringSubmatch(m)
		require.NotNil(t, sub, "%s in the metrics", name)
		v, err := strconv.ParseFloat(sub[1], 64)
		require.NoError(t, err)
		return v
	}
	assert.GreaterOrEqual(t, count("tcp_close_srtt"), 3.0)
	assert.GreaterOrEqual(t, count("loop_delivery_delay"), 2.0)
	assert.Contains(t, m, `dpstack_tcp_close_srtt_seconds_bucket{core="0",port="net_tap0",le="+Inf"}`)

	// Every metric the Grafana dashboard plots is one the stack exports
	// (the exception path's, with --kni: TestKNI).
	for _, name := range dashboardMetrics(t) {
		if !kniMetric.MatchString(name) {
			assert.Regexp(t, `(?m)^`+name+`[{ ]`, m, "the dashboard's %s", name)
		}
	}

	for path, want := range map[string]string{"/healthz": "ok", "/readyz": "ok"} {
		resp, err := http.Get("http://" + mgmt + path)
		require.NoError(t, err)
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		assert.Equal(t, http.StatusOK, resp.StatusCode, "%s: %s", path, body)
		assert.True(t, strings.HasPrefix(string(body), want), "%s: %s", path, body)
	}
	hold.Process.Kill()
	hold.Wait()
	r.stop(t)
}

// kniMetric matches the metrics of the kernel exception path, which a
// stack exports only with --kni.
var kniMetric = regexp.MustCompile(`^dpstack_(kni_to|kni_from|tcp_to|udp_to)_kernel_`)

// dashboardMetrics lists the metrics the Grafana dashboard plots.
func dashboardMetrics(t *testing.T) []string {
	t.Helper()
	dash, err := os.ReadFile("../../docs/grafana/dpstack.json")
	require.NoError(t, err)
	names := regexp.MustCompile(`dpstack_[a-z0-9_]+`).FindAllString(string(dash), -1)
	require.NotEmpty(t, names)
	return names
}
