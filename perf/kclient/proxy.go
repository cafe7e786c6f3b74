package kclient

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"github.com/dpstack/dpstack/perf/table"
)

// The proxy table: the same HTTP client (wrk kept alive, ab with a
// connection per request) and the same kernel backend (kserve's hello),
// through a proxy on one CPU: HAProxy and a Go io.Copy proxy on the kernel,
// "dpstack proxy" over net_tap. In every row the client and the backend
// share a namespace and the proxy sits across one link from them (a veth
// pair for the kernel's proxies, the TAP for dpstack's), so each request
// crosses that link four times. Every proxy runs on CPU 0; the table is
// taken twice, with the client and the backend left to the scheduler (which
// puts them on the proxy's CPU whenever it is free) and with both on CPU 1
// (proxyPlacements).
const (
	HAProxyRow      = "HAProxy 2.6 (mode tcp, 1 thread)"
	GoProxyRow      = "Go io.Copy proxy (kernel)"
	ProxyAdaptive   = "dpstack proxy (adaptive)"
	ProxyBusy       = "dpstack proxy (busy)"
	BackendAloneRow = "backend alone (no proxy, loopback)"

	// The kernel's proxies run in kernelSrvNS at kernelSrvAddr; the
	// client and the backend in kernelCliNS at kernelCliAddr.
	kernelCliAddr = "198.19.2.1"
)

// proxyPlacements are where the client and the backend run: left to the
// scheduler, as a user would leave them, and kept off the proxy's CPU (a
// proxy on a core of its own, as it is deployed), where the proxy's own
// share of the latency is not hidden by the backend's and the client's
// waits for its CPU. Pinned to one CPU, the backend (a Go program) also
// runs with GOMAXPROCS 1.
var proxyPlacements = []placement{
	{},
	{", client and backend on CPU 1", "1"},
}

// ProxyRow is one proxy's results; a zero field was not measured
// (CPUPer100k: a negative one).
type ProxyRow struct {
	System         string
	Baseline       string        // the HAProxy row its ratios are against
	Wrk            float64       // wrk requests per second, connections kept alive
	WrkP50, WrkP99 time.Duration // its latency percentiles
	One            float64       // wrk requests per second with one connection
	OneP50, OneP99 time.Duration // its latency percentiles
	AB             float64       // ab requests per second, a connection per request
	ABP50, ABP99   time.Duration // its latency percentiles
	CPUPer100k     float64       // the proxy's CPU seconds per 100,000 requests
	Errors         []string
}

func (r *ProxyRow) fail(what string, err error) {
	r.Errors = append(r.Errors, fmt.Sprintf("%s: %v", what, err))
}

// ProxyReport is the results of RunProxy; ratios are against HAProxy's
// row, the bar.
type ProxyReport struct {
	Rows  []ProxyRow
	Notes []string
}

// RunProxy measures wrk and ab through each proxy, one after the other,
// and the backend alone for the ceiling.
func RunProxy(ctx context.Context, c Config) (*ProxyReport, error) {
	b, err := build(ctx, c)
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(b.dir)
	rep := &ProxyReport{}
	upstream := kernelCliAddr + ":" + httpPort
	type proxy struct {
		name  string
		start func(ctx context.Context, cpu string) (*target, error)
	}
	proxies := []proxy{
		{HAProxyRow, func(ctx context.Context, cpu string) (*target, error) { return startHAProxy(ctx, b, cpu) }},
		{GoProxyRow, func(ctx context.Context, cpu string) (*target, error) {
			return startKernelProxy(ctx, b, cpu, "kproxy", b.kproxy, "-listen", kernelSrvAddr+":"+httpPort, "-upstream", upstream)
		}},
		{ProxyAdaptive, func(ctx context.Context, cpu string) (*target, error) {
			return startDpstackProxy(ctx, b, "adaptive", cpu)
		}},
		{ProxyBusy, func(ctx context.Context, cpu string) (*target, error) { return startDpstackProxy(ctx, b, "busy", cpu) }},
	}
	for i, p := range proxyPlacements {
		rows := proxies
		if i == 0 {
			rows = append(rows, proxy{BackendAloneRow, func(ctx context.Context, _ string) (*target, error) {
				return startBackendAlone(ctx, b)
			}})
		}
		for _, s := range rows {
			row := ProxyRow{System: s.name + p.label, Baseline: HAProxyRow + p.label, CPUPer100k: -1}
			fmt.Fprintf(c.Log, "kclient: proxy, %s\n", row.System)
			if t, err := s.start(ctx, p.cpu); err != nil {
				row.fail("setup", err)
			} else {
				measureProxy(ctx, t, b, c.Limits, &row, c.Log)
				if err := t.stop(); err != nil {
					row.fail("stop", err)
				}
			}
			rep.Rows = append(rep.Rows, row)
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
		}
	}
	l := c.Limits
	rep.Notes = append(rep.Notes,
		fmt.Sprintf("wrk -t1 -c%s -d%v and -c1 (kept alive), ab -c%s -n %d -t %v (a connection per request), GET / of kserve's hello; ratios against the %q row with the same placement",
			concurrency, l.LoadTime, concurrency, l.Requests, l.LoadTime, HAProxyRow),
		"each proxy runs on CPU "+serverCPU+" (taskset; dpstack --cores "+serverCPU+"); client and backend are placed by the scheduler, or where the row says",
		"CPU s/100k req: the proxy's own CPU time (the backend's and the client's are not counted); dpstack's includes its polling")
	return rep, nil
}

// measureProxy runs wrk (10 connections and one) and ab through t into
// row, with the proxy's CPU time over all three. With ten, the client's
// and the backend's CPU is what limits, and a faster proxy lengthens their
// queue (a closed loop); one connection shows the proxy's own latency.
func measureProxy(ctx context.Context, t *target, b *bins, l Limits, row *ProxyRow, log io.Writer) {
	c := clients{t, b, l}
	step := func(name string, fn func() error) { step(log, row, name, fn) }
	cpu0, cpuErr := t.srv.cpu()
	requests, loadErr := 0, error(nil)
	wrk := func(name, conns string, perSecond *float64, p50, p99 *time.Duration) {
		step(name, func() error {
			s, err := c.wrk(ctx, conns)
			*perSecond, *p50, *p99, requests = s.perSecond, s.p50, s.p99, requests+s.requests
			loadErr = firstErr(loadErr, err)
			return err
		})
	}
	wrk("wrk", concurrency, &row.Wrk, &row.WrkP50, &row.WrkP99)
	wrk("wrk -c1", "1", &row.One, &row.OneP50, &row.OneP99)
	step("ab", func() error {
		s, err := c.ab(ctx, false)
		row.AB, row.ABP50, row.ABP99, requests = s.perSecond, s.p50, s.p99, requests+s.complete
		loadErr = firstErr(loadErr, err)
		return err
	})
	cpu1, err := t.srv.cpu()
	switch cpuErr = firstErr(cpuErr, err); {
	case cpuErr != nil:
		row.fail("proxy CPU", cpuErr)
	case loadErr == nil && requests > 0:
		row.CPUPer100k = (cpu1 - cpu0).Seconds() * 100000 / float64(requests)
	}
}

// startBackend starts kserve at addr in namespace ns, on the clients' CPU
// (t.cpu), and adds its stop to t's undo.
func (t *target) startBackend(ctx context.Context, b *bins, ns, addr string) error {
	srv, err := startServer(ctx, "kserve", inNetns(context.Background(), ns, onCPU(t.cpu, b.kserve, "-addr", addr)...),
		filepath.Join(b.dir, "kserve-"+ns+".log"), "kserve up")
	if err != nil {
		return err
	}
	t.undo.add(srv.stop)
	return nil
}

// startKernelProxy creates the veth pair, starts the backend in the
// client's namespace and argv (a proxy listening on kernelSrvAddr) on
// serverCPU in the other, and waits until a request goes through. The
// client and the backend run on cliCPU ("": any).
func startKernelProxy(ctx context.Context, b *bins, cliCPU, name string, argv ...string) (*target, error) {
	t, err := startVeth(cliCPU)
	if err != nil {
		return nil, err
	}
	if err := t.startBackend(ctx, b, kernelCliNS, kernelCliAddr); err != nil {
		return t.fail(err)
	}
	cmd := inNetns(context.Background(), kernelSrvNS, onCPU(serverCPU, argv[0], argv[1:]...)...)
	return t.serveHTTP(ctx, name, cmd, filepath.Join(b.dir, name+".log"), proxyReady[name])
}

// proxyReady is what each kernel proxy prints once it runs; HAProxy
// prints its polling mechanism (-V) before it binds, so serveHTTP's
// request is what says it is ready.
var proxyReady = map[string]string{"kproxy": "kproxy up", "haproxy": "will use epoll"}

// haproxyConfig is HAProxy in TCP mode with one thread, its timeouts
// those of a typical L4 deployment.
const haproxyConfig = `global
    nbthread 1
    maxconn 4096
defaults
    mode tcp
    timeout connect 5s
    timeout client 60s
    timeout server 60s
frontend proxy
    bind %s:%s
    default_backend upstream
backend upstream
    server backend %s:%s
`

// startHAProxy runs Debian's haproxy in the foreground (-db) with
// haproxyConfig.
func startHAProxy(ctx context.Context, b *bins, cliCPU string) (*target, error) {
	cfg := filepath.Join(b.dir, "haproxy.cfg")
	text := fmt.Sprintf(haproxyConfig, kernelSrvAddr, httpPort, kernelCliAddr, httpPort)
	if err := os.WriteFile(cfg, []byte(text), 0o644); err != nil {
		return nil, err
	}
	return startKernelProxy(ctx, b, cliCPU, "haproxy", "haproxy", "-db", "-V", "-f", cfg)
}

// startDpstackProxy runs "dpstack proxy" on net_tap with the idle policy
// given, listening on its address and forwarding to a backend in its
// namespace, behind the TAP's kernel side; the client and the backend run
// on cliCPU ("": any).
func startDpstackProxy(ctx context.Context, b *bins, idle, cliCPU string) (*target, error) {
	t, err := startDpstackCmd(ctx, b, idle, cliCPU, serverCPU, "proxy",
		"--listen", dpstackAddr+":"+httpPort, "--upstream", dpstackPeerAddr+":"+httpPort)
	if err != nil {
		return nil, err
	}
	if err := t.startBackend(ctx, b, dpstackNS, dpstackPeerAddr); err != nil {
		return t.fail(err)
	}
	if err := waitHTTP(ctx, t.ns, t.addr); err != nil {
		return t.fail(err)
	}
	return t, nil
}

// startBackendAlone is the ceiling: the client straight to the backend in
// the same namespace, over loopback. Its CPU column is the backend's.
func startBackendAlone(ctx context.Context, b *bins) (*target, error) {
	t, err := startVeth("")
	if err != nil {
		return nil, err
	}
	t.addr = kernelCliAddr
	if err := t.run(ctx, "kserve", inNetns(context.Background(), kernelCliNS, onCPU(serverCPU, b.kserve, "-addr", kernelCliAddr)...),
		filepath.Join(b.dir, "kserve-alone.log"), "kserve up"); err != nil {
		return t.fail(err)
	}
	return t, nil
}

// serveHTTP is serve for a proxy: it starts the proxy and waits until a
// request through it is answered.
func (t *target) serveHTTP(ctx context.Context, name string, cmd *exec.Cmd, logPath, ready string) (*target, error) {
	if err := t.run(ctx, name, cmd, logPath, ready); err != nil {
		return t.fail(err)
	}
	if err := waitHTTP(ctx, t.ns, t.addr); err != nil {
		return t.fail(err)
	}
	return t, nil
}

// waitHTTP asks for GET / at addr from ns every 100 ms until an answer
// comes or startTimeout passes.
func waitHTTP(ctx context.Context, ns, addr string) error {
	deadline := time.Now().Add(startTimeout)
	url := "http://" + addr + ":" + httpPort + "/"
	for {
		out, err := inNetns(ctx, ns, "curl", "-sS", "-o", "/dev/null", "--max-time", "1", url).CombinedOutput()
		if err == nil {
			return nil
		}
		if ctx.Err() != nil || time.Now().After(deadline) {
			return fmt.Errorf("GET %s from %s: %v: %s", url, ns, err, oneLine(string(out)))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

type proxyColumn = table.Column[ProxyRow]

var pxCol = table.NewColumn[ProxyRow]

var proxyColumns = []proxyColumn{
	pxCol("wrk req/s", "wrk_req_s", "%.0f", func(r, _ ProxyRow) (float64, bool) { return r.Wrk, r.Wrk > 0 }),
	pxCol("wrk/HAProxy", "wrk_vs_haproxy", "%.2f×", func(r, b ProxyRow) (float64, bool) { return ratio(r.Wrk, b.Wrk) }),
	pxCol("wrk p50 µs", "wrk_p50_us", "%.0f", func(r, _ ProxyRow) (float64, bool) { return us(r.WrkP50) }),
	pxCol("wrk p99 µs", "wrk_p99_us", "%.0f", func(r, _ ProxyRow) (float64, bool) { return us(r.WrkP99) }),
	pxCol("p99/HAProxy", "wrk_p99_vs_haproxy", "%.2f×", func(r, b ProxyRow) (float64, bool) {
		return ratio(float64(r.WrkP99), float64(b.WrkP99))
	}),
	pxCol("wrk -c1 req/s", "wrk1_req_s", "%.0f", func(r, _ ProxyRow) (float64, bool) { return r.One, r.One > 0 }),
	pxCol("-c1 p50 µs", "wrk1_p50_us", "%.0f", func(r, _ ProxyRow) (float64, bool) { return us(r.OneP50) }),
	pxCol("-c1 p99 µs", "wrk1_p99_us", "%.0f", func(r, _ ProxyRow) (float64, bool) { return us(r.OneP99) }),
	pxCol("p99/HAProxy", "wrk1_p99_vs_haproxy", "%.2f×", func(r, b ProxyRow) (float64, bool) {
		return ratio(float64(r.OneP99), float64(b.OneP99))
	}),
	pxCol("ab req/s", "ab_req_s", "%.0f", func(r, _ ProxyRow) (float64, bool) { return r.AB, r.AB > 0 }),
	pxCol("ab/HAProxy", "ab_vs_haproxy", "%.2f×", func(r, b ProxyRow) (float64, bool) { return ratio(r.AB, b.AB) }),
	pxCol("ab p50 µs", "ab_p50_us", "%.0f", func(r, _ ProxyRow) (float64, bool) { return us(r.ABP50) }),
	pxCol("ab p99 µs", "ab_p99_us", "%.0f", func(r, _ ProxyRow) (float64, bool) { return us(r.ABP99) }),
	pxCol("p99/HAProxy", "ab_p99_vs_haproxy", "%.2f×", func(r, b ProxyRow) (float64, bool) {
		return ratio(float64(r.ABP99), float64(b.ABP99))
	}),
	pxCol("CPU s/100k req", "proxy_cpu_s_per_100k_req", "%.2f", func(r, _ ProxyRow) (float64, bool) { return r.CPUPer100k, r.CPUPer100k >= 0 }),
}

// table is the report as a table.Table.
func (rep *ProxyReport) table() table.Table[ProxyRow] {
	return table.Table[ProxyRow]{
		Columns: proxyColumns,
		Rows:    rep.Rows,
		Name:    func(r ProxyRow) string { return r.System },
		Errors:  func(r ProxyRow) []string { return r.Errors },
		Base: func(r ProxyRow) ProxyRow {
			for _, b := range rep.Rows {
				if b.System == r.Baseline {
					return b
				}
			}
			return ProxyRow{}
		},
	}
}

// WriteTable prints the table, the errors and the notes.
func (rep *ProxyReport) WriteTable(w io.Writer) error { return rep.table().WriteText(w, rep.Notes) }

// WriteCSV writes the table as CSV.
func (rep *ProxyReport) WriteCSV(w io.Writer) error { return rep.table().WriteCSV(w) }
