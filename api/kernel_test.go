package api_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dpstack/dpstack/api"
	"github.com/dpstack/dpstack/stack"
	"github.com/dpstack/dpstack/stack/tcp"
	"github.com/dpstack/dpstack/stat"
)

// TestHTTPHello: unmodified net/http serves over api.Listen, and the
// kernel's curl gets the hello, also twice on one connection.
func TestHTTPHello(t *testing.T) {
	p := newPeer(t)
	ln := listen(t, p.h, ":8080")
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "hello %s\n", r.URL.Path)
	})}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		assert.NoError(t, srv.Shutdown(ctx))
		assert.ErrorIs(t, <-served, http.ErrServerClosed)
	}()

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := p.ns.Output(ctx, "curl", "-sS", "--max-time", "10", "http://"+host(8080)+"/a", "http://"+host(8080)+"/b")
	require.NoError(t, err, out)
	assert.Equal(t, "hello /a\nhello /b\n", out)
}

// TestEcho: 1,000 sequential and 100 concurrent kernel connections to a
// dpstack echo server each get exactly their bytes back.
func TestEcho(t *testing.T) {
	p := newPeer(t)
	srv := serve(t, listen(t, p.h, ":7"), echo)
	for _, tc := range []struct {
		name    string
		n, conc int
	}{
		{"1000 sequential", 1000, 1},
		{"100 concurrent", 100, 100},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := p.run(t, "echo", env(host(7), helperN, tc.n, helperConc, tc.conc)...)
			assert.Equal(t, fmt.Sprintf("ok %d", tc.n), out)
			require.NoError(t, srv.err())
		})
	}
}

// transferSize is the size of the bulk transfers.
const transferSize = 64 << 20

// TestTransfer64MiB: 64 MiB each way between the kernel and dpstack, the
// SHA-256 of what arrives matching what was sent. From the kernel, dpstack
// takes the segments of each rx burst as groups (GRO, on by default): the
// counters show segments merged; a host with GRO off merges none and
// receives the same bytes.
func TestTransfer64MiB(t *testing.T) {
	transfer64MiB(t, newPeer(t))
	want := streamSum(1, transferSize)
	t.Run("kernel to dpstack, GRO off", func(t *testing.T) {
		assert.Zero(t, kernelSend(t, newPeerWith(t, stack.Config{NoGRO: true}), want), "no segment merged")
	})
}

// transfer64MiB is TestTransfer64MiB with p's host and kernel.
func transfer64MiB(t *testing.T, p *peer) {
	want := streamSum(1, transferSize)

	t.Run("kernel to dpstack", func(t *testing.T) {
		assert.Positive(t, kernelSend(t, p, want), "segments merged")
	})
	t.Run("dpstack to kernel", func(t *testing.T) {
		serve(t, listen(t, p.h, ":5002"), func(c net.Conn) error {
			_, err := io.CopyN(c, stream(1), transferSize)
			return err
		})
		out := p.run(t, "recv", env(host(5002))...)
		assert.Equal(t, fmt.Sprintf("%s %d", want, transferSize), out)
	})
}

// kernelSend has a kernel client send transferSize bytes of stream 1 to a
// listener of p's host, checks that they arrive whole (want is their sum),
// logs the rate, and returns how many segments GRO merged meanwhile.
func kernelSend(t *testing.T, p *peer, want string) uint64 {
	t.Helper()
	st := p.h.Stacks()[0].TCP().Stats()
	merged, groups := st.GROMerged.Load(), st.GROGroups.Load()
	got := make(chan string, 1)
	serve(t, listen(t, p.h, ":5001"), func(c net.Conn) error {
		h := sha256.New()
		n, err := io.CopyBuffer(h, c, make([]byte, 256<<10))
		got <- fmt.Sprintf("%x %d", h.Sum(nil), n)
		return err
	})
	start := time.Now()
	out := p.run(t, "send", env(host(5001), helperSize, transferSize)...)
	took := time.Since(start)
	assert.Equal(t, want, out, "what the kernel sent")
	assert.Equal(t, fmt.Sprintf("%s %d", want, transferSize), <-got, "what dpstack received")
	merged, groups = st.GROMerged.Load()-merged, st.GROGroups.Load()-groups
	t.Logf("64 MiB in %v (%.0f Mbit/s); GRO merged %d segments in %d groups", took,
		float64(transferSize*8)/took.Seconds()/1e6, merged, groups)
	return merged
}

// TestDialKernel: dpstack dials a kernel listener and exchanges data;
// dialling a kernel port where nothing listens is ECONNREFUSED.
func TestDialKernel(t *testing.T) {
	p := newPeer(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	t.Run("exchange", func(t *testing.T) {
		k := p.start(t, "serve-echo", env(kern(9000))...)
		require.Equal(t, "listening", k.line())
		c, err := api.Dial(ctx, p.h, "tcp", kern(9000))
		require.NoError(t, err)
		defer c.Close()
		assert.Equal(t, kern(9000), c.RemoteAddr().String())
		la := c.LocalAddr().(*net.TCPAddr)
		assert.Equal(t, hostAddr.Addr().String(), la.IP.String())
		assert.NotZero(t, la.Port)

		msg := message(7, 100000)
		go func() {
			c.Write(msg)
			c.(*api.TCPConn).CloseWrite()
		}()
		got, err := io.ReadAll(c)
		require.NoError(t, err)
		assert.Equal(t, msg, got)
		k.wait()
	})
	t.Run("refused", func(t *testing.T) {
		_, err := api.Dial(ctx, p.h, "tcp", kern(9))
		require.Error(t, err)
		assert.ErrorIs(t, err, syscall.ECONNREFUSED)
		var oe *net.OpError
		require.ErrorAs(t, err, &oe)
		assert.Equal(t, "dial", oe.Op)
		assert.Equal(t, kern(9), oe.Addr.String())
	})
	t.Run("kernel to a closed dpstack port", func(t *testing.T) {
		assert.Equal(t, "ECONNREFUSED", p.run(t, "dial", env(host(4444))...))
	})
}

// TestHalfClose: either side may stop sending and still receive.
func TestHalfClose(t *testing.T) {
	p := newPeer(t)
	t.Run("kernel first", func(t *testing.T) {
		// The kernel sends, half-closes, and reads dpstack's answer,
		// which dpstack sends after it has read to the end.
		srv := serve(t, listen(t, p.h, ":6001"), func(c net.Conn) error {
			got, err := io.ReadAll(c)
			if err != nil {
				return err
			}
			_, err = fmt.Fprintf(c, "answer to %s", got)
			return err
		})
		assert.Equal(t, "answer to question", p.run(t, "halfclose", env(host(6001))...))
		require.NoError(t, srv.err())
	})
	t.Run("dpstack first", func(t *testing.T) {
		// dpstack sends, half-closes, and reads the kernel's answer.
		answer := make(chan string, 1)
		srv := serve(t, listen(t, p.h, ":6002"), func(c net.Conn) error {
			if _, err := c.Write(make([]byte, 5000)); err != nil {
				return err
			}
			if err := c.(*api.TCPConn).CloseWrite(); err != nil {
				return err
			}
			got, err := io.ReadAll(c)
			answer <- string(got)
			return err
		})
		p.run(t, "read-then-reply", env(host(6002))...)
		assert.Equal(t, "got 5000", <-answer)
		require.NoError(t, srv.err())
	})
}

// TestLinger: closing with SO_LINGER 0 resets the connection (the
// kernel's read fails with ECONNRESET); with a linger time, Close waits
// for the data to be acknowledged and the kernel gets all of it.
func TestLinger(t *testing.T) {
	p := newPeer(t)
	t.Run("zero resets", func(t *testing.T) {
		serve(t, listen(t, p.h, ":6003"), func(c net.Conn) error {
			if _, err := io.ReadFull(c, make([]byte, 5)); err != nil {
				return err
			}
			return c.(*api.TCPConn).SetLinger(0)
		})
		assert.Equal(t, "ECONNRESET", p.run(t, "reset-read", env(host(6003))...))
	})
	t.Run("lingering close", func(t *testing.T) {
		const size = 4 << 20
		closed := make(chan error, 1)
		serve(t, listen(t, p.h, ":6007"), func(c net.Conn) error {
			if _, err := io.CopyN(c, stream(2), size); err != nil {
				return err
			}
			if err := c.(*api.TCPConn).SetLinger(30); err != nil {
				return err
			}
			closed <- c.Close()
			return nil
		})
		out := p.run(t, "recv", env(host(6007))...)
		assert.Equal(t, fmt.Sprintf("%s %d", streamSum(2, size), size), out)
		assert.NoError(t, waitErr(t, closed))
	})
}

// holdPeer listens on port and starts a kernel peer in role ("hold", which
// echoes, or "stall", which reads nothing) that connects there. It returns
// the peer and the conns accepted on port, which stay open until the test
// ends.
func holdPeer(t *testing.T, p *peer, port int, role string) (*kproc, <-chan net.Conn) {
	conns := make(chan net.Conn, 4)
	release := make(chan struct{})
	serve(t, listen(t, p.h, fmt.Sprintf(":%d", port)), func(c net.Conn) error {
		conns <- c
		<-release
		return nil
	})
	t.Cleanup(func() { close(release) })
	k := p.start(t, role, env(host(port))...)
	require.True(t, strings.HasPrefix(k.line(), "connected"))
	return k, conns
}

// TestCloseStaged: a conn closed while bytes its Writes staged still wait
// for room in the send buffer (the peer reads nothing) hands them all to
// its socket and closes it at once, as close(2) leaves the send buffer to
// the orphan: the socket is an orphan when Close returns, until the peer
// goes away.
func TestCloseStaged(t *testing.T) {
	p := newPeer(t)
	k, conns := holdPeer(t, p, 6008, "stall")
	c := (<-conns).(*api.TCPConn)
	orphans := func() (n int) {
		require.NoError(t, p.h.Do(0, func(s *stack.Stack) { n = s.TCP().Orphans() }))
		return n
	}
	require.NoError(t, c.SetWriteDeadline(time.Now().Add(300*time.Millisecond)))
	_, err := c.Write(make([]byte, 64<<20))
	requireTimeout(t, err) // the send buffer is full and the stage holds more
	assert.Zero(t, orphans())
	require.NoError(t, c.Close())
	assert.Equal(t, 1, orphans(), "closed, not waiting for the stage to drain")
	k.wait() // the peer closes with unread data: a RST ends the orphan
	for deadline := time.Now().Add(10 * time.Second); orphans() > 0; {
		require.True(t, time.Now().Before(deadline), "the orphan outlived its peer")
		time.Sleep(10 * time.Millisecond)
	}
}

// TestAcceptBacklogFull: more clients than the backlog connect while
// nobody accepts; once dpstack accepts, every client's data arrives and is
// echoed.
func TestAcceptBacklogFull(t *testing.T) {
	p := newPeer(t)
	const clients, backlog = 6, 2
	ln, err := (&api.ListenConfig{Backlog: backlog}).Listen(p.h, "tcp", ":6004")
	require.NoError(t, err)
	stats := p.h.Stacks()[0].TCP().Stats()
	k := p.start(t, "backlog", env(host(6004), helperN, clients)...)
	// Accept nothing until the queue has overflowed: the listener has
	// turned a client's SYN or handshake away.
	for range backlog {
		assert.True(t, strings.HasPrefix(k.line(), "connected"))
	}
	for i := 0; stats.ListenOverflows.Load() == 0; i++ {
		require.Less(t, i, 1000, "the accept queue never overflowed")
		time.Sleep(10 * time.Millisecond)
	}
	srv := serve(t, ln, echo)
	out := k.wait()
	assert.True(t, strings.HasSuffix(out, "ok"), out)
	require.NoError(t, srv.err())
}

// TestSSOptions: the kernel's ss shows that a connection to dpstack
// negotiated window scaling (with the shifts dpstack chose and saw), SACK,
// timestamps and the MSS of the link.
func TestSSOptions(t *testing.T) {
	p := newPeer(t)
	conns := make(chan net.Conn, 1)
	serve(t, listen(t, p.h, ":6005"), func(c net.Conn) error {
		conns <- c
		_, err := io.Copy(io.Discard, c)
		return err
	})
	k := p.start(t, "hold", env(host(6005))...)
	require.True(t, strings.HasPrefix(k.line(), "connected"))
	c := <-conns
	info, err := c.(*api.TCPConn).Info()
	require.NoError(t, err)
	t.Logf("dpstack's view: %+v", info)

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// -o too: ss shows ts and sack only with it.
	out, err := p.ns.Output(ctx, "ss", "-tnio", "dst", hostAddr.Addr().String())
	require.NoError(t, err, out)
	t.Logf("ss -tnio:\n%s", out)
	// The kernel's shift for what it sends, then for what it receives.
	assert.Contains(t, out, fmt.Sprintf(" wscale:%d,%d ", info.RcvWscale, info.SndWscale))
	assert.True(t, info.WindowScaling && info.SACK && info.Timestamps, "dpstack's side agrees")
	assert.Regexp(t, `\bsack\b`, out)
	assert.Regexp(t, `\bts\b`, out)
	m := regexp.MustCompile(`\bmss:(\d+)`).FindStringSubmatch(out)
	require.NotNil(t, m, "no mss in ss output")
	// 1500 - 20 (IP) - 20 (TCP) - 12 (timestamps) with a 1500 MTU link.
	assert.Equal(t, "1448", m[1])
	k.wait()
}

// TestDeadlines: a read deadline fires with a timeout error and can be
// moved, also while a Read waits; a write deadline stops a Write to a peer
// that does not read; Close unblocks a waiting Read.
func TestDeadlines(t *testing.T) {
	p := newPeer(t)
	k, conns := holdPeer(t, p, 6006, "hold") // echoes
	c := (<-conns).(*api.TCPConn)
	buf := make([]byte, 64)

	t.Run("read deadline fires", func(t *testing.T) {
		require.NoError(t, c.SetReadDeadline(time.Now().Add(50*time.Millisecond)))
		_, err := c.Read(buf)
		requireTimeout(t, err)
		_, err = c.Read(buf) // still passed
		requireTimeout(t, err)
	})
	t.Run("extending it works", func(t *testing.T) {
		require.NoError(t, c.SetReadDeadline(time.Now().Add(time.Minute)))
		_, err := c.Write([]byte("ping"))
		require.NoError(t, err)
		n, err := io.ReadFull(c, buf[:4])
		require.NoError(t, err)
		assert.Equal(t, "ping", string(buf[:n]))
	})
	t.Run("extending a waiting Read", func(t *testing.T) {
		require.NoError(t, c.SetReadDeadline(time.Now().Add(100*time.Millisecond)))
		res := make(chan error, 1)
		go func() {
			_, err := io.ReadFull(c, buf[:4])
			res <- err
		}()
		require.NoError(t, c.SetReadDeadline(time.Now().Add(time.Minute)))
		time.Sleep(200 * time.Millisecond) // past the first deadline
		_, err := c.Write([]byte("pong"))
		require.NoError(t, err)
		require.NoError(t, waitErr(t, res))
		assert.Equal(t, "pong", string(buf[:4]))
	})
	t.Run("deadline in the past wakes a waiting Read", func(t *testing.T) {
		require.NoError(t, c.SetReadDeadline(time.Time{}))
		res := make(chan error, 1)
		go func() {
			_, err := c.Read(buf)
			res <- err
		}()
		require.NoError(t, c.SetReadDeadline(time.Unix(1, 0)))
		requireTimeout(t, waitErr(t, res))
		require.NoError(t, c.SetReadDeadline(time.Time{}))
	})
	t.Run("deadlines passing as the Read starts", func(t *testing.T) {
		// The deadline passes before, during and after the Read's trip
		// to the core: every Read times out, none waits for data.
		for i := range 200 {
			require.NoError(t, c.SetReadDeadline(time.Now().Add(time.Duration(i%50)*time.Microsecond)))
			res := make(chan error, 1)
			go func() {
				_, err := c.Read(buf)
				res <- err
			}()
			requireTimeout(t, waitErr(t, res))
		}
		require.NoError(t, c.SetReadDeadline(time.Time{}))
	})
	t.Run("CloseRead ends a waiting Read", func(t *testing.T) {
		res := make(chan error, 1)
		go func() {
			_, err := c.Read(buf)
			res <- err
		}()
		time.Sleep(20 * time.Millisecond) // let the Read wait on the core
		require.NoError(t, c.CloseRead())
		assert.ErrorIs(t, waitErr(t, res), io.EOF)
	})
	t.Run("Close unblocks Read", func(t *testing.T) {
		res := make(chan error, 1)
		go func() {
			_, err := c.Read(buf)
			res <- err
		}()
		require.NoError(t, c.Close())
		err := waitErr(t, res)
		assert.ErrorIs(t, err, net.ErrClosed)
		_, err = c.Write([]byte("x"))
		assert.ErrorIs(t, err, net.ErrClosed)
		assert.ErrorIs(t, c.Close(), net.ErrClosed, "a second Close")
	})
	k.wait()

	t.Run("write deadline against a stalled reader", func(t *testing.T) {
		k := p.start(t, "stall", env(host(6006))...)
		require.True(t, strings.HasPrefix(k.line(), "connected"))
		c := (<-conns).(*api.TCPConn)
		require.NoError(t, c.SetWriteDeadline(time.Now().Add(300*time.Millisecond)))
		n, err := c.Write(make([]byte, 64<<20))
		requireTimeout(t, err)
		assert.Positive(t, n)
		assert.Less(t, n, 64<<20)
		require.NoError(t, c.SetLinger(0))
		require.NoError(t, c.Close())
		k.wait()
	})
}

// TestErrors: errors are *net.OpError values that errors.Is maps to their
// errno.
func TestErrors(t *testing.T) {
	p := newPeer(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	t.Run("EADDRINUSE", func(t *testing.T) {
		ln := listen(t, p.h, ":6100")
		defer ln.Close()
		_, err := api.Listen(p.h, "tcp", ":6100")
		require.ErrorIs(t, err, syscall.EADDRINUSE)
		var oe *net.OpError
		require.ErrorAs(t, err, &oe)
		assert.Equal(t, "listen", oe.Op)
	})
	t.Run("families and networks", func(t *testing.T) {
		_, err := api.Listen(p.h, "tcp6", ":6101")
		assert.ErrorIs(t, err, syscall.EAFNOSUPPORT)
		_, err = api.Listen(p.h, "tcp", "[2001:db8::1]:6101")
		assert.ErrorIs(t, err, syscall.EAFNOSUPPORT)
		_, err = api.Dial(ctx, p.h, "tcp", "[2001:db8::1]:80")
		assert.ErrorIs(t, err, syscall.EAFNOSUPPORT)
		_, err = api.Dial(ctx, p.h, "udp6", kern(80))
		assert.ErrorIs(t, err, syscall.EAFNOSUPPORT)
		_, err = api.Dial(ctx, p.h, "sctp", kern(80))
		var unknown net.UnknownNetworkError
		assert.ErrorAs(t, err, &unknown)
		_, err = api.Dial(ctx, p.h, "tcp", "nohost.example:80")
		var ae *net.AddrError
		assert.ErrorAs(t, err, &ae)
	})
	t.Run("EPIPE after CloseWrite", func(t *testing.T) {
		k := p.start(t, "serve-echo", env(kern(9001))...)
		require.Equal(t, "listening", k.line())
		c, err := api.Dial(ctx, p.h, "tcp", kern(9001))
		require.NoError(t, err)
		defer c.Close()
		require.NoError(t, c.(*api.TCPConn).CloseWrite())
		_, err = c.Write([]byte("x"))
		assert.ErrorIs(t, err, syscall.EPIPE)
		_, err = c.Read(make([]byte, 1))
		assert.ErrorIs(t, err, io.EOF, "the kernel echoes EOF")
		k.wait()
	})
	t.Run("ECONNRESET", func(t *testing.T) {
		errs := make(chan error, 1)
		serve(t, listen(t, p.h, ":6102"), func(c net.Conn) error {
			if _, err := c.Write([]byte("g")); err != nil {
				return err
			}
			_, err := io.Copy(io.Discard, c)
			errs <- err
			return nil
		})
		assert.Equal(t, "reset", p.run(t, "reset", env(host(6102))...))
		err := waitErr(t, errs)
		assert.ErrorIs(t, err, syscall.ECONNRESET)
		var oe *net.OpError
		require.ErrorAs(t, err, &oe)
		assert.Equal(t, "read", oe.Op)
	})
	t.Run("dial context deadline", func(t *testing.T) {
		// Nobody answers ARP for .99: the dial waits until ctx ends.
		ctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
		defer cancel()
		_, err := api.Dial(ctx, p.h, "tcp", "198.18.4.99:80")
		requireTimeout(t, err)
		assert.ErrorIs(t, err, context.DeadlineExceeded)
	})
	t.Run("dial context canceled", func(t *testing.T) {
		ctx, cancel := context.WithCancel(ctx)
		cancel()
		_, err := api.Dial(ctx, p.h, "tcp", kern(80))
		assert.ErrorIs(t, err, context.Canceled)
	})
	t.Run("accept deadline and Close", func(t *testing.T) {
		ln, err := api.Listen(p.h, "tcp", ":6103")
		require.NoError(t, err)
		tl := ln.(*api.TCPListener)
		require.NoError(t, tl.SetDeadline(time.Now().Add(50*time.Millisecond)))
		_, err = ln.Accept()
		requireTimeout(t, err)
		require.NoError(t, tl.SetDeadline(time.Time{}))
		res := make(chan error, 1)
		go func() {
			_, err := ln.Accept()
			res <- err
		}()
		require.NoError(t, ln.Close())
		assert.ErrorIs(t, waitErr(t, res), net.ErrClosed)
		// The port is free again.
		ln, err = api.Listen(p.h, "tcp", ":6103")
		require.NoError(t, err)
		ln.Close()
	})
}

// requireTimeout checks that err is a deadline: a net.Error whose Timeout
// is true, matching os.ErrDeadlineExceeded.
func requireTimeout(t *testing.T, err error) {
	t.Helper()
	require.Error(t, err)
	var ne net.Error
	require.True(t, errors.As(err, &ne), "%v is not a net.Error", err)
	assert.True(t, ne.Timeout(), "%v is not a timeout", err)
	assert.ErrorIs(t, err, os.ErrDeadlineExceeded)
}

// waitErr waits, bounded, for a result.
func waitErr(t *testing.T, ch <-chan error) error {
	t.Helper()
	select {
	case err := <-ch:
		return err
	case <-time.After(30 * time.Second):
		t.Fatal("the call did not return")
		return nil
	}
}

// TestConnAllocs: a Write and a Read on a blocking conn allocate nothing
// on the Go heap in steady state (ARCHITECTURE.md §5), the stack's core
// included: AllocsPerRun counts every goroutine's allocations.
func TestConnAllocs(t *testing.T) {
	p := newPeer(t)
	conns := make(chan net.Conn, 1)
	release := make(chan struct{})
	serve(t, listen(t, p.h, ":6200"), func(c net.Conn) error {
		conns <- c
		<-release
		return nil
	})
	defer close(release)
	k := p.start(t, "hold", env(host(6200))...) // echoes
	require.True(t, strings.HasPrefix(k.line(), "connected"))
	c := <-conns
	msg := make([]byte, 64)
	buf := make([]byte, 64)
	roundTrip := func() {
		if _, err := c.Write(msg); err != nil {
			panic(err)
		}
		if _, err := io.ReadFull(c, buf); err != nil {
			panic(err)
		}
	}
	for range 100 {
		roundTrip() // warm up: windows, caches, the scheduler's sudogs
	}
	assert.Zero(t, testing.AllocsPerRun(300, roundTrip))
	c.Close()
	k.wait()
}

// TestTwoCores: with two queue pairs the kernel spreads its connections
// over both cores; a listener listens on both, Accept returns connections
// from either, and each echoes exactly. dpstack dials out from both cores
// in turn: the kernel's TAP puts a flow's packets on a queue of its own
// choosing (its automatic flow steering, which need not agree with the
// core that sent the SYN), so some replies reach the other core, which
// hands them over instead of answering with a RST. Every dial succeeds.
func TestTwoCores(t *testing.T) {
	p := newPeerCores(t, 2)
	t.Run("accept", func(t *testing.T) {
		var mu sync.Mutex
		perCore := map[int]int{}
		srv := serve(t, listen(t, p.h, ":6300"), func(c net.Conn) error {
			mu.Lock()
			perCore[c.(*api.TCPConn).Core()]++
			mu.Unlock()
			return echo(c)
		})
		out := p.run(t, "echo", env(host(6300), helperN, 200, helperConc, 20)...)
		assert.Equal(t, "ok 200", out)
		require.NoError(t, srv.err())
		mu.Lock()
		t.Logf("connections per core: %v", perCore)
		assert.Len(t, perCore, 2, "both cores accepted connections")
		mu.Unlock()
	})
	t.Run("dial", func(t *testing.T) {
		const dials, conc = 50, 10
		k := p.start(t, "serve-echo-many", env(kern(9300), helperN, dials)...)
		require.Equal(t, "listening", k.line())
		rsts, handoffs := p.tcpCount(func(s *tcp.Stats) uint64 { return s.OutRsts.Load() }),
			p.tcpCount(func(s *tcp.Stats) uint64 { return s.Handoffs.Load() })
		ctx, cancel := context.WithTimeout(context.Background(), helperTimeout)
		defer cancel()
		cores := make([]int, dials)
		errs := make([]error, dials)
		sem := make(chan struct{}, conc)
		var wg sync.WaitGroup
		for i := range dials {
			wg.Add(1)
			go func() {
				defer wg.Done()
				sem <- struct{}{}
				defer func() { <-sem }()
				cores[i], errs[i] = dialEcho(ctx, p, kern(9300), message(i, 0))
			}()
		}
		wg.Wait()
		for i, err := range errs {
			assert.NoError(t, err, "dial %d", i)
		}
		assert.Equal(t, fmt.Sprintf("ok %d", dials), k.wait())
		perCore := map[int]int{}
		for _, c := range cores {
			perCore[c]++
		}
		handedOver := p.tcpCount(func(s *tcp.Stats) uint64 { return s.Handoffs.Load() }) - handoffs
		t.Logf("connections per core: %v; segments handed over: %d", perCore, handedOver)
		assert.Equal(t, map[int]int{0: dials / 2, 1: dials / 2}, perCore, "dials take the cores in turn")
		assert.Equal(t, rsts, p.tcpCount(func(s *tcp.Stats) uint64 { return s.OutRsts.Load() }), "no RST from dpstack")
		for i, s := range p.h.Stacks() {
			assert.Zero(t, s.Device().Drops.Get(stat.DropHandoffFull), "core %d: handoffs dropped", i)
		}
	})
}

// dialEcho dials addr from h, sends msg, half-closes, and checks that
// exactly msg comes back; it returns the core that owned the connection.
func dialEcho(ctx context.Context, p *peer, addr string, msg []byte) (int, error) {
	c, err := api.DialTCP(ctx, p.h, "tcp", addr)
	if err != nil {
		return -1, err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(helperTimeout))
	werr := make(chan error, 1)
	go func() {
		_, err := c.Write(msg)
		if err == nil {
			err = c.CloseWrite()
		}
		werr <- err
	}()
	got, err := io.ReadAll(c)
	if err := errors.Join(err, <-werr); err != nil {
		return c.Core(), err
	}
	if !bytes.Equal(got, msg) {
		return c.Core(), fmt.Errorf("%d bytes back, %d sent, or different ones", len(got), len(msg))
	}
	return c.Core(), nil
}

// tcpCount sums a TCP counter over the host's cores.
func (p *peer) tcpCount(get func(*tcp.Stats) uint64) uint64 {
	var n uint64
	for _, s := range p.h.Stacks() {
		n += get(s.TCP().Stats())
	}
	return n
}
