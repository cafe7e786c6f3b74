package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// roleEnv names the role the test binary plays as a kernel-side client,
// started in a test's namespace; its arguments follow in os.Args.
const roleEnv = "DPSTACK_TEST_ROLE"

// runRole plays role against the address and count in os.Args and
// returns the exit status.
func runRole(role string) int {
	roles := map[string]func(addr string, n int) error{"crowd": crowd, "tiny-crowd": tinyCrowd, "wide-crowd": wideCrowd, "mass-close": massClose, "over-limit": overLimit, "mcast-echo": mcastEcho, "vlan-shim": vlanShim}
	for name, play := range proxyRoles {
		roles[name] = play
	}
	err := fmt.Errorf("unknown role %q", role)
	if play := roles[role]; play != nil {
		err = fmt.Errorf("want: addr n")
		if len(os.Args) == 3 {
			var n int
			if n, err = strconv.Atoi(os.Args[2]); err == nil {
				err = play(os.Args[1], n)
			}
		}
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", role, err)
		return 1
	}
	return 0
}

// crowdSize is how many connections the crowd opens.
const crowdSize = 300

// crowd opens n connections to addr, each with a 4 KiB
// receive buffer, writes on all of them without ever reading, prints
// "opened N" once they are up, and holds them until its stdin closes (or
// a minute passes); closing them with unread data then resets them.
func crowd(addr string, n int) error { return crowdWith(addr, n, 0, 4096) }

// tinyMSS is the smallest MSS Linux lets a socket set (TCP_MIN_MSS).
const tinyMSS = 88

// tinyCrowd is a crowd whose connections send tinyMSS-byte segments: each
// costs the receiver a whole mbuf for 88 bytes.
func tinyCrowd(addr string, n int) error { return crowdWith(addr, n, tinyMSS, 4096) }

// wideCrowd is a crowd whose connections keep the kernel's receive
// buffers: the echo service sends each of them as much as the kernel
// takes before it stops reading, so the stack transmits from mbufs all
// over its pool.
func wideCrowd(addr string, n int) error { return crowdWith(addr, n, 0, 0) }

// crowdWith is crowd with the connections' MSS set to mss (TCP_MAXSEG)
// and their receive buffer to rcvbuf (SO_RCVBUF), each unless it is 0.
func crowdWith(addr string, n, mss, rcvbuf int) error {
	d := net.Dialer{Timeout: 5 * time.Second, Control: func(_, _ string, c syscall.RawConn) error {
		var serr error
		c.Control(func(fd uintptr) {
			if rcvbuf > 0 {
				serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, rcvbuf)
			}
			if serr == nil && mss > 0 {
				serr = syscall.SetsockoptInt(int(fd), syscall.IPPROTO_TCP, syscall.TCP_MAXSEG, mss)
			}
		})
		return serr
	}}
	var conns []net.Conn
	defer func() { closeAll(conns) }()
	for range n {
		c, err := d.Dial("tcp4", addr)
		if err != nil {
			return fmt.Errorf("after %d connections: %w", len(conns), err)
		}
		conns = append(conns, c)
		go func() {
			buf := make([]byte, 64<<10)
			for {
				c.SetWriteDeadline(time.Now().Add(time.Minute))
				if _, err := c.Write(buf); err != nil {
					return
				}
			}
		}()
	}
	fmt.Printf("opened %d\n", len(conns))
	select {
	case <-stdinClosed():
	case <-time.After(time.Minute):
	}
	return nil
}

// stdinClosed returns a channel that is closed once the test closes the
// role's standard input, its signal to end.
func stdinClosed() <-chan struct{} {
	done := make(chan struct{})
	go func() {
		io.Copy(io.Discard, os.Stdin)
		close(done)
	}()
	return done
}

// roleProc is the test binary playing a role in a run's namespace.
type roleProc struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser // closing it tells the role to finish
	out   *bufio.Reader
}

// startRole starts role with args in r's namespace; cleanup ends it.
func startRole(t *testing.T, ctx context.Context, r *running, role string, args ...string) *roleProc {
	t.Helper()
	cmd := r.ns.Command(ctx, os.Args[0], args...)
	cmd.Env = append(os.Environ(), roleEnv+"="+role)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	require.NoError(t, err)
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	t.Cleanup(func() {
		stdin.Close()
		cmd.Wait()
	})
	return &roleProc{cmd: cmd, stdin: stdin, out: bufio.NewReader(stdout)}
}

// expect reads the role's next line and requires it to be want.
func (p *roleProc) expect(t *testing.T, want string) {
	t.Helper()
	line, err := p.out.ReadString('\n')
	require.NoError(t, err)
	require.Equal(t, want+"\n", line)
}

// metricValue is the value of the sample of name (labels included, as
// the metrics print them) in body, or -1.
func metricValue(body, name string) float64 {
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(name) + ` (\S+)$`).FindStringSubmatch(body)
	if m == nil {
		return -1
	}
	v, err := strconv.ParseFloat(m[1], 64)
	if err != nil {
		return -1
	}
	return v
}

// TestCrowdThatNeverReads: 300 kernel connections that send to the echo
// service and never read (so dpstack can neither echo nor take more) fill
// the sockets' share of the pool, not the pool: ping and the HTTP hello
// still answer within a second, and when the crowd leaves every mbuf comes
// back and only the listeners remain.
func TestCrowdThatNeverReads(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	r := startRun(t, ctx, "crowd", "198.18.6")
	const (
		inUse    = `dpstack_mempool_in_use{port="net_tap0"}`
		size     = `dpstack_mempool_size{port="net_tap0"}`
		pressure = `dpstack_sock_mem_pressure{core="0",port="net_tap0"}`
		est      = `dpstack_tcp_sockets{core="0",port="net_tap0",state="established"}`
		held     = `dpstack_sock_mem_bytes{core="0",port="net_tap0"}`
		// The core's cache of spare mbufs may hold a burst more than
		// at the start; its exit checks the pool exactly.
		slack = 32
	)
	base := metricValue(r.metrics(t), inUse)
	require.Positive(t, base)

	crowd := startRole(t, ctx, r, "crowd", "198.18.6.2:7", strconv.Itoa(crowdSize))
	crowd.expect(t, fmt.Sprintf("opened %d", crowdSize))

	// The crowd fills what it may: the sockets are under pressure.
	var body string
	for deadline := time.Now().Add(30 * time.Second); ; {
		body = r.metrics(t)
		if metricValue(body, pressure) == 1 {
			break
		}
		require.True(t, time.Now().Before(deadline), "the crowd never brought memory pressure:\n%s", body)
		time.Sleep(100 * time.Millisecond)
	}
	assert.Less(t, metricValue(body, inUse), metricValue(body, size), "the pool is not exhausted")
	out, err := r.ns.Output(ctx, "ping", "-c", "3", "-i", "0.2", "-W", "1", "198.18.6.2")
	assert.NoError(t, err, "ping during the crowd: %s", out)
	out, err = r.ns.Output(ctx, "curl", "-sS", "--max-time", "1", "http://198.18.6.2:8080/")
	assert.NoError(t, err, "HTTP during the crowd: %s", out)

	// The crowd leaves (resetting its connections): everything comes back.
	crowd.stdin.Close()
	require.NoError(t, crowd.cmd.Wait())
	for deadline := time.Now().Add(30 * time.Second); ; {
		body = r.metrics(t)
		if metricValue(body, held) == 0 && metricValue(body, est) == 0 && metricValue(body, inUse) <= base+slack {
			break
		}
		require.True(t, time.Now().Before(deadline), "sockets still hold buffers, or more than %v mbufs in use:\n%s", base+slack, body)
		time.Sleep(100 * time.Millisecond)
	}
	r.stop(t)
}

// massClose opens n connections to addr, each sending a
// line and reading it back, prints "opened N", waits for its stdin to
// close, then closes them all at once and prints "closed N".
func massClose(addr string, n int) error {
	conns, err := openEchoed(addr, n)
	if err != nil {
		return err
	}
	fmt.Printf("opened %d\n", len(conns))
	io.Copy(io.Discard, os.Stdin)
	closeAll(conns)
	fmt.Printf("closed %d\n", len(conns))
	return nil
}

// openEchoed opens n connections to the echo service at addr, each
// sending a line and reading it back. On an error it closes what it
// opened.
func openEchoed(addr string, n int) ([]net.Conn, error) {
	conns := make([]net.Conn, 0, n)
	msg := []byte("hello\n")
	for range n {
		c, err := net.DialTimeout("tcp4", addr, 5*time.Second)
		if err != nil {
			closeAll(conns)
			return nil, fmt.Errorf("after %d connections: %w", len(conns), err)
		}
		conns = append(conns, c)
		c.SetDeadline(time.Now().Add(10 * time.Second))
		if _, err := c.Write(msg); err != nil {
			closeAll(conns)
			return nil, err
		}
		if _, err := io.ReadFull(c, make([]byte, len(msg))); err != nil {
			closeAll(conns)
			return nil, err
		}
	}
	return conns, nil
}

// closeAll closes every connection of conns.
func closeAll(conns []net.Conn) {
	for _, c := range conns {
		c.Close()
	}
}

// massCloseSize is how many connections close at once, opened by
// massCloseHelpers processes (a process may have 20,000 descriptors here).
const massCloseSize, massCloseHelpers = 20000, 2

// TestMassClose: 20,000 echo connections closed by the kernel at once
// (each then closed by the echo, which sends its FIN and waits for the
// ACK as an orphan): ping answers throughout; soon after, the sockets,
// the orphans and their buffers are gone, and no goroutine is left.
func TestMassClose(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	// A FIN the TAP's queue dropped is retransmitted by the kernel, but
	// a peer may give up first (its own orphan limits): the echo's idle
	// timeout then ends what it left. It is long enough that no
	// connection idles out while the 20,000 are still being opened on a
	// busy machine, and short enough to end within the wait below.
	r := startRun(t, ctx, "massclose", "198.18.7", "--idle-timeout", "30s")
	const (
		held    = `dpstack_sock_mem_bytes{core="0",port="net_tap0"}`
		sockets = `dpstack_sock_count{core="0",port="net_tap0"}`
		orphans = `dpstack_tcp_orphans{core="0",port="net_tap0"}`
		gs      = `go_goroutines`
	)
	goroutines := metricValue(r.metrics(t), gs)
	require.Positive(t, goroutines)
	each := massCloseSize / massCloseHelpers
	var hs []*roleProc
	for range massCloseHelpers {
		hs = append(hs, startRole(t, ctx, r, "mass-close", "198.18.7.2:7", strconv.Itoa(each)))
	}
	for _, h := range hs {
		h.expect(t, fmt.Sprintf("opened %d", each))
	}
	assert.GreaterOrEqual(t, metricValue(r.metrics(t), sockets), float64(massCloseSize))

	for _, h := range hs {
		h.stdin.Close()
	}
	ping := r.ns.Command(ctx, "ping", "-c", "20", "-i", "0.1", "-W", "1", "198.18.7.2")
	pingOut, pingErr := ping.CombinedOutput() // during the close: 2 s
	for _, h := range hs {
		h.expect(t, fmt.Sprintf("closed %d", each))
		require.NoError(t, h.cmd.Wait())
	}
	// The 40,000 segments of the close cross the TAP in the first few
	// hundred milliseconds, and the kernel's queue for it may drop a
	// ping or two then; the stack must answer the rest.
	assert.NoError(t, pingErr, "ping during the mass close:\n%s", pingOut)
	m := regexp.MustCompile(`(\d+) received`).FindSubmatch(pingOut)
	require.NotNil(t, m, "%s", pingOut)
	got, _ := strconv.Atoi(string(m[1]))
	assert.GreaterOrEqual(t, got, 15, "pings answered of 20 during the mass close:\n%s", pingOut)

	// What remains are the services' sockets: four TCP listeners (echo,
	// discard, HTTP, sockperf) and two UDP sockets (echo, sockperf).
	var body string
	for deadline := time.Now().Add(90 * time.Second); ; {
		body = r.metrics(t)
		if metricValue(body, sockets) == 6 && metricValue(body, orphans) == 0 && metricValue(body, held) == 0 &&
			metricValue(body, gs) <= goroutines {
			break
		}
		require.True(t, time.Now().Before(deadline), "connections left after the mass close:\n%s", body)
		time.Sleep(200 * time.Millisecond)
	}
	r.stop(t)
}

// overLimit opens n echo connections, each echoing a line, prints "held
// N", then opens one more and prints how it ends ("ECONNRESET" for the
// reset of a refused connection), and closes them all when its stdin
// closes.
func overLimit(addr string, n int) error {
	conns, err := openEchoed(addr, n)
	if err != nil {
		return err
	}
	defer func() { closeAll(conns) }()
	fmt.Printf("held %d\n", len(conns))
	// The reset may come before connect(2) has returned.
	c, err := net.DialTimeout("tcp4", addr, 5*time.Second)
	if err == nil {
		conns = append(conns, c)
		c.SetDeadline(time.Now().Add(10 * time.Second))
		_, err = c.Read(make([]byte, 1))
	}
	switch {
	case errors.Is(err, syscall.ECONNRESET):
		fmt.Println("ECONNRESET")
	default:
		fmt.Println(err)
	}
	io.Copy(io.Discard, os.Stdin)
	return nil
}

// TestServiceConnLimit: with --max-conns 20 the services hold 20
// connections; the 21st is reset at once and counted, and once the 20
// close, new connections are served again.
func TestServiceConnLimit(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	r := startRun(t, ctx, "limit", "198.18.8", "--max-conns", "20")
	const (
		open    = `dpstack_service_connections{service="echo"}`
		refused = `dpstack_service_refused_total{service="echo"}`
	)
	p := startRole(t, ctx, r, "over-limit", "198.18.8.2:7", "20")
	p.expect(t, "held 20")
	p.expect(t, "ECONNRESET")
	body := r.metrics(t)
	assert.Equal(t, 20.0, metricValue(body, open), body)
	assert.Equal(t, 1.0, metricValue(body, refused), body)

	p.stdin.Close()
	require.NoError(t, p.cmd.Wait())
	for deadline := time.Now().Add(10 * time.Second); metricValue(body, open) != 0; body = r.metrics(t) {
		require.True(t, time.Now().Before(deadline), "connections still counted:\n%s", body)
		time.Sleep(50 * time.Millisecond)
	}
	out, err := r.ns.Output(ctx, "curl", "-sS", "--max-time", "5", "http://198.18.8.2:8080/")
	assert.NoError(t, err, "HTTP after the limit: %s", out)
	r.stop(t)
}

// TestTinyMSSPeers: connections that send 88-byte segments and never read
// are held to their share in mbufs, not bytes. One alone holds what its
// buffers' true size allows (tens of mbufs, where the issue measured one
// holding 1,580); 200 of them leave the receive reserve untouched, and
// ping and the HTTP hello answer within a second.
func TestTinyMSSPeers(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	r := startRun(t, ctx, "tinymss", "198.18.9")
	const (
		inUse = `dpstack_mempool_in_use{port="net_tap0"}`
		size  = `dpstack_mempool_size{port="net_tap0"}`
		held  = `dpstack_sock_mem_bytes{core="0",port="net_tap0"}`
		est   = `dpstack_tcp_sockets{core="0",port="net_tap0",state="established"}`
		// One connection's receive and send buffers, in mbufs: their
		// default limits over an mbuf's true size, with room to spare.
		perConn = 128
		reserve = 1152 // stack.RxReserve, for the one core
		slack   = 32   // the core's cache of spare mbufs
	)
	base := metricValue(r.metrics(t), inUse)
	require.Positive(t, base)

	// settle waits until the pool's use has not grown for half a second.
	settle := func() string {
		var body string
		last := -1.0
		for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(500 * time.Millisecond) {
			body = r.metrics(t)
			if v := metricValue(body, inUse); v == last {
				break
			} else {
				last = v
			}
		}
		return body
	}
	one := startRole(t, ctx, r, "tiny-crowd", "198.18.9.2:7", "1")
	one.expect(t, "opened 1")
	body := settle()
	t.Logf("one tiny-MSS connection: %v mbufs, %v bytes held", metricValue(body, inUse)-base, metricValue(body, held))
	assert.LessOrEqual(t, metricValue(body, inUse), base+perConn+slack, body)
	one.stdin.Close()
	require.NoError(t, one.cmd.Wait())

	many := startRole(t, ctx, r, "tiny-crowd", "198.18.9.2:7", "200")
	many.expect(t, "opened 200")
	body = settle()
	t.Logf("200 tiny-MSS connections: %v mbufs of %v, %v bytes held", metricValue(body, inUse)-base, metricValue(body, size), metricValue(body, held))
	assert.LessOrEqual(t, metricValue(body, inUse), metricValue(body, size)-reserve+slack, "the receive reserve is intact")
	out, err := r.ns.Output(ctx, "ping", "-c", "3", "-i", "0.2", "-W", "1", "198.18.9.2")
	assert.NoError(t, err, "ping during the crowd: %s", out)
	out, err = r.ns.Output(ctx, "curl", "-sS", "--max-time", "1", "http://198.18.9.2:8080/")
	assert.NoError(t, err, "HTTP during the crowd: %s", out)

	many.stdin.Close()
	require.NoError(t, many.cmd.Wait())
	for deadline := time.Now().Add(30 * time.Second); ; {
		body = r.metrics(t)
		if metricValue(body, held) == 0 && metricValue(body, est) == 0 && metricValue(body, inUse) <= base+slack {
			break
		}
		require.True(t, time.Now().Before(deadline), "sockets still hold buffers:\n%s", body)
		time.Sleep(100 * time.Millisecond)
	}
	r.stop(t)
}
