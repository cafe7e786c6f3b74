package api_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dpstack/dpstack/api"
	"github.com/dpstack/dpstack/dpdk"
	"github.com/dpstack/dpstack/dpdk/dpdktest"
	"github.com/dpstack/dpstack/internal/netns"
	"github.com/dpstack/dpstack/stack"
)

func TestMain(m *testing.M) {
	if role := os.Getenv(helperEnv); role != "" {
		os.Exit(runHelper(role)) // the kernel-side peer: no EAL
	}
	dpdktest.Main(m, "api", dpdk.EALConfig{})
}

// The link between dpstack and the kernel in every test's namespace.
var (
	hostAddr = netip.MustParsePrefix("198.18.4.2/24")
	kernAddr = netip.MustParsePrefix("198.18.4.1/24")
)

// host is dpstack's address with a port, for the kernel to dial.
func host(port int) string { return fmt.Sprintf("%v:%d", hostAddr.Addr(), port) }

// kern is the kernel's address with a port, for dpstack to dial.
func kern(port int) string { return fmt.Sprintf("%v:%d", kernAddr.Addr(), port) }

// peer is a dpstack host on a net_tap port whose kernel side sits in a
// namespace of the test's own.
type peer struct {
	h     *stack.Host
	ns    *netns.NS
	iface string // the TAP's kernel side, in ns
}

var peerSeq atomic.Int32

// newPeer starts a one-core host and its namespace. When the test ends it
// closes the host (whose Close checks that every mbuf came back), removes
// the namespace, and checks that no goroutine was left behind.
func newPeer(t *testing.T) *peer {
	t.Helper()
	return newPeerCores(t, 1)
}

// newPeerCores is newPeer with a host of that many cores (queue pairs).
func newPeerCores(t *testing.T, cores int) *peer {
	t.Helper()
	return newPeerWith(t, stack.Config{Cores: cores})
}

// newPeerWith is newPeer with a host configured as cfg, whose name, port
// and first address it sets.
func newPeerWith(t *testing.T, cfg stack.Config) *peer {
	t.Helper()
	if _, err := os.Stat("/dev/net/tun"); err != nil {
		t.Skip("no /dev/net/tun")
	}
	before := runtime.NumGoroutine()
	t.Cleanup(func() { checkGoroutines(t, before) })

	n := peerSeq.Add(1)
	name := fmt.Sprintf("api%d", n)
	iface := fmt.Sprintf("dpa%d_%d", os.Getpid()%100000, n)
	port, err := dpdk.Probe("net_tap_" + name + ",iface=" + iface)
	require.NoError(t, err)
	cfg.Name, cfg.Port, cfg.Addr = name, port, hostAddr
	h, err := stack.Open(cfg)
	if err != nil {
		port.Close()
		t.Fatal(err)
	}
	ns, err := netns.Create(fmt.Sprintf("dpstest-api-%d-%d", os.Getpid(), n))
	if err != nil {
		h.Close()
		t.Fatal(err)
	}
	p := &peer{h: h, ns: ns, iface: iface}
	t.Cleanup(func() {
		p.settle()
		assert.NoError(t, h.Close(), "close host (includes the mbuf leak check)")
		assert.NoError(t, ns.Delete())
	})
	require.NoError(t, ns.Adopt(iface, kernAddr))
	require.NoError(t, h.Start())
	return p
}

// settle gives connections the test closed a bounded time to finish their
// closing handshakes, so that the packets they hold are freed before the
// host's leak check.
func (p *peer) settle() {
	base := p.h.Pool().InUse()
	for range 50 {
		time.Sleep(20 * time.Millisecond)
		n := p.h.Pool().InUse()
		if n <= base {
			return
		}
		base = n
	}
}

// checkGoroutines fails the test if more goroutines run than before it
// began, after a bounded wait for those that are finishing.
func checkGoroutines(t *testing.T, before int) {
	t.Helper()
	var n int
	for range 100 {
		if n = runtime.NumGoroutine(); n <= before {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	t.Errorf("%d goroutines left behind (%d before the test):\n%s", n-before, before, buf)
}

// kproc is a helper process: the test binary in a kernel-side role,
// inside the namespace.
type kproc struct {
	t      *testing.T
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	out    <-chan string
	stderr *lockedBuffer
	done   bool
}

// lockedBuffer collects a helper's stderr, written by exec's goroutine and
// read by the test's.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// helperCmd is the command for role with the given environment
// ("DPSTACK_API_ADDR=..."), in the namespace.
func (p *peer) helperCmd(ctx context.Context, role string, env ...string) *exec.Cmd {
	cmd := p.ns.Command(ctx, os.Args[0], "-test.run=^$")
	cmd.Env = append(append(os.Environ(), helperEnv+"="+role), env...)
	return cmd
}

// start runs role in the background.
func (p *peer) start(t *testing.T, role string, env ...string) *kproc {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*helperTimeout)
	cmd := p.helperCmd(ctx, role, env...)
	k := &kproc{t: t, cmd: cmd, stderr: &lockedBuffer{}}
	cmd.Stderr = k.stderr
	var err error
	k.stdin, err = cmd.StdinPipe()
	require.NoError(t, err)
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	k.out = lines(stdout)
	t.Cleanup(func() {
		if !k.done {
			k.stdin.Close()
			cmd.Process.Kill()
			cmd.Wait()
		}
		cancel()
	})
	return k
}

// line returns the helper's next line of output.
func (k *kproc) line() string {
	k.t.Helper()
	select {
	case l, ok := <-k.out:
		require.True(k.t, ok, "helper ended early: %s", k.stderr.String())
		return l
	case <-time.After(helperTimeout):
		k.t.Fatalf("no output from the helper: %s", k.stderr.String())
		return ""
	}
}

// wait closes the helper's stdin, waits for it to exit successfully and
// returns the rest of its output.
func (k *kproc) wait() string {
	k.t.Helper()
	k.stdin.Close()
	var rest []string
	for l := range k.out {
		rest = append(rest, l)
	}
	err := k.cmd.Wait()
	k.done = true
	require.NoError(k.t, err, "helper: %s", k.stderr.String())
	return strings.Join(rest, "\n")
}

// run runs role to the end and returns its output.
func (p *peer) run(t *testing.T, role string, env ...string) string {
	t.Helper()
	return p.start(t, role, env...).wait()
}

// env builds a helper's environment.
func env(addr string, kv ...any) []string {
	e := []string{helperAddr + "=" + addr}
	for i := 0; i+1 < len(kv); i += 2 {
		e = append(e, fmt.Sprintf("%s=%v", kv[i], kv[i+1]))
	}
	return e
}

// server runs a blocking dpstack server on address: every accepted
// connection is handled by fn on its own goroutine and closed after it.
type server struct {
	ln    net.Listener
	wg    sync.WaitGroup
	mu    sync.Mutex
	conns []net.Conn
	errs  chan error
}

func serve(t *testing.T, ln net.Listener, fn func(c net.Conn) error) *server {
	t.Helper()
	s := &server{ln: ln, errs: make(chan error, 1024)}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				assert.ErrorIs(t, err, net.ErrClosed)
				return
			}
			s.mu.Lock()
			s.conns = append(s.conns, c)
			s.mu.Unlock()
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				defer c.Close()
				if err := fn(c); err != nil {
					s.errs <- err
				}
			}()
		}
	}()
	t.Cleanup(s.stop)
	return s
}

// stop closes the listener and every connection and waits for the
// handlers.
func (s *server) stop() {
	s.ln.Close()
	s.mu.Lock()
	for _, c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
}

// err returns the first handler error, if any.
func (s *server) err() error {
	select {
	case err := <-s.errs:
		return err
	default:
		return nil
	}
}

// echo copies what it reads back until the peer half-closes.
func echo(c net.Conn) error {
	_, err := io.CopyBuffer(c, c, make([]byte, 64<<10))
	return err
}

// listen is api.Listen that must succeed.
func listen(t *testing.T, h *stack.Host, address string) net.Listener {
	t.Helper()
	ln, err := api.Listen(h, "tcp", address)
	require.NoError(t, err)
	return ln
}
