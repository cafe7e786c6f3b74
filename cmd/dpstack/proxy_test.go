package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// proxyRoles are the kernel-side backends and clients of the proxy tests.
var proxyRoles = map[string]func(addr string, n int) error{
	"backend":       backend,
	"reset-backend": resetBackend,
	"stall-backend": stallBackend,
	"proxy-client":  proxyClient,
	"reset-client":  resetClient,
	"slow-client":   slowClient,
}

// trailerSize is what the backend sends after the client's FIN.
const trailerSize = 1 << 20

// trailerAt is where the trailer's bytes start in the pattern, so that
// they differ from the echoed ones.
const trailerAt = 1 << 40

// fillPattern fills p with the test stream's bytes from offset off: no
// period a lost, repeated or reordered segment could hide in.
func fillPattern(p []byte, off int64) {
	for i := range p {
		x := off + int64(i)
		p[i] = byte(x*131 + x>>11 + x>>19 + x>>27)
	}
}

// serveRole listens on addr, prints "listening", serves each connection
// with fn until its stdin closes, then closes the listener and the
// connections it holds.
func serveRole(addr string, fn func(c *net.TCPConn)) error {
	ln, err := net.Listen("tcp4", addr)
	if err != nil {
		return err
	}
	defer ln.Close()
	fmt.Println("listening")
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go fn(c.(*net.TCPConn))
		}
	}()
	select {
	case <-stdinClosed():
	case <-time.After(2 * time.Minute):
	}
	return nil
}

// backend echoes what it receives and, after the client's FIN, sends n
// more bytes of the trailer and closes: both directions and the
// half-close.
func backend(addr string, n int) error {
	return serveRole(addr, func(c *net.TCPConn) {
		defer c.Close()
		c.SetDeadline(time.Now().Add(time.Minute))
		if _, err := io.Copy(c, c); err != nil {
			return
		}
		buf := make([]byte, 64<<10)
		for off := 0; off < n; off += len(buf) {
			k := min(len(buf), n-off)
			fillPattern(buf[:k], trailerAt+int64(off))
			if _, err := c.Write(buf[:k]); err != nil {
				return
			}
		}
	})
}

// resetBackend reads a little of each connection and resets it.
func resetBackend(addr string, _ int) error {
	return serveRole(addr, func(c *net.TCPConn) {
		c.Read(make([]byte, 100))
		c.SetLinger(0)
		c.Close()
	})
}

// stallBackend accepts connections and never reads them.
func stallBackend(addr string, _ int) error {
	var held []net.Conn
	defer func() { closeAll(held) }()
	ch := make(chan net.Conn, 16)
	err := serveRole(addr, func(c *net.TCPConn) { ch <- c })
	for len(ch) > 0 {
		held = append(held, <-ch)
	}
	return err
}

// proxyClient sends n bytes of the pattern to addr, then its FIN, while it
// reads them back followed by the trailer and the end of the stream, and
// prints "ok".
func proxyClient(addr string, n int) error {
	c, err := net.DialTimeout("tcp4", addr, 5*time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(time.Minute))
	sent := make(chan error, 1)
	go func() {
		buf := make([]byte, 64<<10)
		for off := 0; off < n; off += len(buf) {
			k := min(len(buf), n-off)
			fillPattern(buf[:k], int64(off))
			if _, err := c.Write(buf[:k]); err != nil {
				sent <- err
				return
			}
		}
		sent <- c.(*net.TCPConn).CloseWrite()
	}()
	got, want := make([]byte, 64<<10), make([]byte, 64<<10)
	total := int64(n) + trailerSize
	for off := int64(0); off < total; {
		k, err := c.Read(got)
		if err != nil {
			return fmt.Errorf("after %d of %d bytes: %w", off, total, err)
		}
		for i := 0; i < k; {
			at := off + int64(i)
			base, limit := at, int64(n)
			if at >= int64(n) {
				base, limit = trailerAt+at-int64(n), total
			}
			m := int(min(int64(k-i), limit-at))
			fillPattern(want[:m], base)
			if string(got[i:i+m]) != string(want[:m]) {
				return fmt.Errorf("bytes differ within [%d, %d)", at, at+int64(m))
			}
			i += m
		}
		off += int64(k)
	}
	if k, err := c.Read(got); k != 0 || err != io.EOF {
		return fmt.Errorf("after the trailer: %d bytes, %v; want the end of the stream", k, err)
	}
	if err := <-sent; err != nil {
		return err
	}
	fmt.Println("ok")
	return nil
}

// resetClient sends a little and prints "reset" when the reset the
// backend sent reaches it through the proxy.
func resetClient(addr string, _ int) error {
	c, err := net.DialTimeout("tcp4", addr, 5*time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(30 * time.Second))
	if _, err := c.Write(make([]byte, 1000)); err != nil {
		return err
	}
	_, err = io.Copy(io.Discard, c)
	if !errors.Is(err, syscall.ECONNRESET) {
		return fmt.Errorf("read ended with %v, want ECONNRESET", err)
	}
	fmt.Println("reset")
	return nil
}

// slowClient writes to addr until a write has waited for three seconds
// (at most n bytes), prints "blocked", and holds the connection until its
// stdin closes.
func slowClient(addr string, n int) error {
	c, err := net.DialTimeout("tcp4", addr, 5*time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	buf := make([]byte, 64<<10)
	for off := 0; ; off += len(buf) {
		if off >= n {
			return fmt.Errorf("wrote %d bytes and never blocked", off)
		}
		c.SetWriteDeadline(time.Now().Add(3 * time.Second))
		if _, err := c.Write(buf); err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) {
				break
			}
			return err
		}
	}
	fmt.Println("blocked")
	io.Copy(io.Discard, os.Stdin)
	return nil
}

// waitMetrics scrapes r's metrics until ok accepts them, for up to 30 s.
func waitMetrics(t *testing.T, r *running, what string, ok func(body string) bool) string {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); ; {
		body := r.metrics(t)
		if ok(body) {
			return body
		}
		require.True(t, time.Now().Before(deadline), "%s never happened:\n%s", what, body)
		time.Sleep(100 * time.Millisecond)
	}
}

// upstreamMetric is a per-upstream sample's name.
func upstreamMetric(name, upstream string) string {
	return fmt.Sprintf(`%s{upstream="%s"}`, name, upstream)
}

// TestProxy: kernel clients through "dpstack proxy" on two cores to a
// kernel backend: 64 MiB byte-exact each way and a half-close (the
// backend's trailer follows the client's FIN), with a first upstream that
// refuses, so that each core's first client fails over to the second.
// Each client's upstream leg is dialed from the client's own core.
func TestProxy(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	const refusing, good = "198.18.40.1:9001", "198.18.40.1:9000"
	r := startCmd(t, ctx, "proxy", "proxy", "198.18.40", "--cores", "0-1",
		"--listen", ":8000", "--upstream", refusing+","+good)
	be := startRole(t, ctx, r, "backend", good, strconv.Itoa(trailerSize))
	be.expect(t, "listening")
	sizes := []int{64 << 20, 1 << 20, 1 << 20, 1 << 20, 1 << 20}
	total := 0
	for _, n := range sizes {
		c := startRole(t, ctx, r, "proxy-client", "198.18.40.2:8000", strconv.Itoa(n))
		c.expect(t, "ok")
		require.NoError(t, c.cmd.Wait())
		total += n
	}
	body := waitMetrics(t, r, "every proxied connection ended", func(body string) bool {
		return metricValue(body, upstreamMetric("dpstack_proxy_upstream_active", good)) == 0
	})
	assert.Equal(t, float64(len(sizes)), metricValue(body, upstreamMetric("dpstack_proxy_upstream_connections_total", good)))
	assert.Zero(t, metricValue(body, upstreamMetric("dpstack_proxy_upstream_connections_total", refusing)))
	assert.GreaterOrEqual(t, metricValue(body, upstreamMetric("dpstack_proxy_upstream_connect_failures_total", refusing)), 1.0)
	assert.Equal(t, float64(total), metricValue(body, fmt.Sprintf(`dpstack_proxy_upstream_bytes_total{direction="to",upstream="%s"}`, good)))
	assert.Equal(t, float64(total+len(sizes)*trailerSize), metricValue(body, fmt.Sprintf(`dpstack_proxy_upstream_bytes_total{direction="from",upstream="%s"}`, good)))
	assert.Zero(t, metricValue(body, upstreamMetric("dpstack_proxy_upstream_resets_total", good)))
	// The bytes moved as buffers (64 MiB each way at most 1448 bytes a
	// segment). net_tap's queue choice is the kernel's, not predictable:
	// segments that reach the other core are handed over, and counted.
	spliced := 0.0
	for core := range 2 {
		spliced += metricValue(body, fmt.Sprintf(`dpstack_tcp_spliced_segs_total{core="%d",port="net_tap0"}`, core))
		t.Logf("core %d: tcp handoffs %v", core, metricValue(body, fmt.Sprintf(`dpstack_tcp_handoffs_total{core="%d",port="net_tap0"}`, core)))
	}
	assert.Greater(t, spliced, float64(2*(64<<20)/1448))
	r.stop(t)
}

// TestProxyResetAndSlowReader: a backend's reset reaches the client as a
// reset; a backend that never reads closes the window on the client, and
// the proxy holds a bounded number of buffers meanwhile; everything comes
// back when they leave.
func TestProxyResetAndSlowReader(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	const up = "198.18.41.1:9000"
	r := startCmd(t, ctx, "proxy", "proxyslow", "198.18.41", "--listen", ":8000", "--upstream", up)
	const (
		inUse = `dpstack_mempool_in_use{port="net_tap0"}`
		est   = `dpstack_tcp_sockets{core="0",port="net_tap0",state="established"}`
		held  = `dpstack_sock_mem_bytes{core="0",port="net_tap0"}`
		slack = 32
	)
	base := metricValue(r.metrics(t), inUse)
	require.Positive(t, base)

	rb := startRole(t, ctx, r, "reset-backend", up, "0")
	rb.expect(t, "listening")
	c := startRole(t, ctx, r, "reset-client", "198.18.41.2:8000", "0")
	c.expect(t, "reset")
	require.NoError(t, c.cmd.Wait())
	rb.stdin.Close()
	require.NoError(t, rb.cmd.Wait())
	body := waitMetrics(t, r, "the reset counted", func(body string) bool {
		return metricValue(body, upstreamMetric("dpstack_proxy_upstream_resets_total", up)) == 1
	})

	sb := startRole(t, ctx, r, "stall-backend", up, "0")
	sb.expect(t, "listening")
	slow := startRole(t, ctx, r, "slow-client", "198.18.41.2:8000", strconv.Itoa(256<<20))
	slow.expect(t, "blocked")
	body = r.metrics(t)
	// The client's receive buffer and the upstream's send buffer (at
	// most 4 MiB of 2 KiB buffers), and no more.
	held1 := metricValue(body, inUse) - base
	t.Logf("a stalled proxied connection holds %v mbufs, %v bytes of socket memory", held1, metricValue(body, held))
	assert.Less(t, held1, 2600.0, "mbufs held by one stalled proxied connection")

	slow.stdin.Close()
	require.NoError(t, slow.cmd.Wait())
	sb.stdin.Close()
	require.NoError(t, sb.cmd.Wait())
	waitMetrics(t, r, "the buffers came back", func(body string) bool {
		return metricValue(body, held) == 0 && metricValue(body, est) == 0 && metricValue(body, inUse) <= base+slack
	})
	r.stop(t)
}

// TestParseProxyFlags: the proxy's flags, and the stack's through them.
func TestParseProxyFlags(t *testing.T) {
	base := []string{"--vdev", "net_tap0", "--addr", "198.18.0.2/24"}
	c, p, err := parseProxyFlags(append(base, "--listen", ":80", "--upstream", "198.18.0.1:8080, 198.18.0.3:8080", "--balance", "source"))
	require.NoError(t, err)
	assert.False(t, c.services, "no built-in services by default")
	assert.Equal(t, "0.0.0.0:80", p.listen.String())
	assert.Len(t, p.upstreams, 2)
	assert.Equal(t, balanceSource, p.balance)
	for _, bad := range [][]string{
		{"--upstream", "198.18.0.1:8080"},
		{"--listen", ":80"},
		{"--listen", ":0", "--upstream", "198.18.0.1:8080"},
		{"--listen", ":80", "--upstream", "198.18.0.1"},
		{"--listen", ":80", "--upstream", "198.18.0.1:8080", "--balance", "least"},
		{"--listen", ":80", "--upstream", "198.18.0.1:8080", "--connect-timeout", "0s"},
	} {
		_, _, err := parseProxyFlags(append(append([]string{}, base...), bad...))
		assert.Error(t, err, strings.Join(bad, " "))
	}
}
