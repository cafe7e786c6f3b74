package api_test

import (
	"bytes"
	"fmt"
	"runtime"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dpstack/dpstack/api"
	"github.com/dpstack/dpstack/stack"
)

// echoHandler echoes on the core, copying with Send or filling packet
// buffers in place with SendBuffer and Commit. What it cannot send yet it
// leaves unconsumed; it is offered again at the next event.
type echoHandler struct {
	inPlace          bool
	accepted, closed atomic.Int32
	errs             chan error
}

func (e *echoHandler) Accept(c *api.CConn) { e.accepted.Add(1) }

func (e *echoHandler) Data(c *api.CConn, data []byte) int {
	if !e.inPlace {
		n, _ := c.Send(data)
		return n
	}
	n := 0
	for n < len(data) {
		b, err := c.SendBuffer(len(data) - n)
		if err != nil {
			break
		}
		k := copy(b, data[n:])
		c.Commit(k)
		n += k
	}
	return n
}

func (e *echoHandler) Writable(c *api.CConn) {}

func (e *echoHandler) Closed(c *api.CConn, err error) {
	if err != nil {
		e.errs <- fmt.Errorf("%v: %w", c.RemoteAddr(), err)
	}
	e.closed.Add(1)
	c.Close()
}

// TestCallbackEcho: an echo server on the callback API answers kernel
// clients, sequential and concurrent, small messages and 1 MiB ones.
func TestCallbackEcho(t *testing.T) {
	p := newPeer(t)
	for i, mode := range []string{"Send", "SendBuffer"} {
		t.Run(mode, func(t *testing.T) {
			hd := &echoHandler{inPlace: mode == "SendBuffer", errs: make(chan error, 1024)}
			port := 7100 + i
			ln, err := api.ListenCallback(p.h, fmt.Sprintf(":%d", port), hd)
			require.NoError(t, err)
			defer func() { require.NoError(t, ln.Close()) }()
			assert.Equal(t, fmt.Sprintf("0.0.0.0:%d", port), ln.Addr().String())

			total := 0
			for _, w := range []struct {
				name          string
				n, conc, size int
			}{
				{"200 sequential", 200, 1, 0},
				{"50 concurrent", 50, 50, 0},
				{"1 MiB messages", 4, 2, 1 << 20},
			} {
				t.Run(w.name, func(t *testing.T) {
					out := p.run(t, "echo", env(host(port), helperN, w.n, helperConc, w.conc, helperSize, w.size)...)
					assert.Equal(t, fmt.Sprintf("ok %d", w.n), out)
				})
				total += w.n
			}
			assert.EqualValues(t, total, hd.accepted.Load())
			select {
			case err := <-hd.errs:
				t.Fatal(err)
			default:
			}
		})
	}
}

// resetHandler sends one byte to each client it accepts, consumes what
// arrives unless it keeps it unread, and reports how the connection ended.
type resetHandler struct {
	unread bool
	ended  chan error
}

func (r *resetHandler) Accept(c *api.CConn) { c.Send([]byte{1}) }

func (r *resetHandler) Data(c *api.CConn, data []byte) int {
	if r.unread {
		return 0
	}
	return len(data)
}

func (r *resetHandler) Writable(c *api.CConn) {}

func (r *resetHandler) Closed(c *api.CConn, err error) {
	r.ended <- err
	c.Close()
}

// TestCallbackReset: a peer's reset ends a callback connection with
// ECONNRESET, not as the end of the stream; also when the handler left
// received data unread, which it could never consume once the
// connection is gone (a handler that cannot send it on, as an echo).
func TestCallbackReset(t *testing.T) {
	for _, unread := range []bool{false, true} {
		t.Run(fmt.Sprintf("unread=%v", unread), func(t *testing.T) {
			p := newPeer(t)
			hd := &resetHandler{unread: unread, ended: make(chan error, 1)}
			ln, err := api.ListenCallback(p.h, ":7110", hd)
			require.NoError(t, err)
			defer func() { require.NoError(t, ln.Close()) }()
			assert.Equal(t, "reset", p.run(t, "reset", env(host(7110))...))
			select {
			case err := <-hd.ended:
				assert.ErrorIs(t, err, syscall.ECONNRESET)
			case <-time.After(30 * time.Second):
				t.Fatal("the connection never ended")
			}
		})
	}
}

// dialResult is what a dialHandler saw.
type dialResult struct {
	accepted bool
	got      []byte
	err      error
}

// dialHandler sends msg from a core timer armed in Accept, half-closes,
// and collects the answer until the peer closes.
type dialHandler struct {
	msg      []byte
	accepted bool
	got      []byte
	done     chan dialResult
}

func (d *dialHandler) Accept(c *api.CConn) {
	d.accepted = true
	c.AfterFunc(time.Millisecond, func() {
		if n, err := c.Send(d.msg); err != nil || n != len(d.msg) {
			d.done <- dialResult{err: fmt.Errorf("send: %d of %d: %v", n, len(d.msg), err)}
			c.Close()
			return
		}
		c.CloseWrite()
	})
}

func (d *dialHandler) Data(c *api.CConn, data []byte) int {
	d.got = append(d.got, data...)
	return len(data)
}

func (d *dialHandler) Writable(c *api.CConn) {}

func (d *dialHandler) Closed(c *api.CConn, err error) {
	d.done <- dialResult{accepted: d.accepted, got: d.got, err: err}
	c.Close()
}

// TestCallbackDial: a callback connection to a kernel listener exchanges
// data; one to a closed kernel port ends in ECONNREFUSED.
func TestCallbackDial(t *testing.T) {
	p := newPeer(t)
	t.Run("exchange", func(t *testing.T) {
		k := p.start(t, "serve-echo", env(kern(9100))...)
		require.Equal(t, "listening", k.line())
		hd := &dialHandler{msg: message(3, 3000), done: make(chan dialResult, 2)}
		require.NoError(t, api.DialCallback(p.h, kern(9100), hd))
		r := waitResult(t, hd.done)
		require.NoError(t, r.err)
		assert.True(t, r.accepted)
		assert.Equal(t, hd.msg, r.got)
		k.wait()
	})
	t.Run("refused", func(t *testing.T) {
		hd := &dialHandler{done: make(chan dialResult, 2)}
		require.NoError(t, api.DialCallback(p.h, kern(9), hd))
		r := waitResult(t, hd.done)
		assert.False(t, r.accepted)
		assert.ErrorIs(t, r.err, syscall.ECONNREFUSED)
	})
}

func waitResult(t *testing.T, ch <-chan dialResult) dialResult {
	t.Helper()
	select {
	case r := <-ch:
		return r
	case <-time.After(30 * time.Second):
		t.Fatal("no result")
		return dialResult{}
	}
}

// TestAfterFunc: an application timer runs on the core's own loop (its
// goroutine: without lcores a loop is not tied to one thread) and can be
// stopped before it fires.
func TestAfterFunc(t *testing.T) {
	p := newPeer(t)
	var loopG string
	require.NoError(t, p.h.Do(0, func(*stack.Stack) { loopG = goroutine() }))

	gs := make(chan string, 1)
	stop := api.AfterFunc(p.h, 0, 10*time.Millisecond, func() { gs <- goroutine() })
	select {
	case g := <-gs:
		assert.Equal(t, loopG, g, "runs on the core's loop")
	case <-time.After(30 * time.Second):
		t.Fatal("timer did not fire")
	}
	assert.False(t, stop(), "stop after firing")

	stop = api.AfterFunc(p.h, 0, time.Hour, func() { t.Error("a stopped timer fired") })
	assert.True(t, stop())
	assert.False(t, stop(), "second stop")
}

// goroutine names the calling goroutine ("goroutine 42"), from the first
// line of its stack trace.
func goroutine() string {
	buf := make([]byte, 64)
	buf = buf[:runtime.Stack(buf, false)]
	id, _, _ := bytes.Cut(buf, []byte(" ["))
	return string(id)
}

// answerHandler answers the first data with "answer to DATA" and closes
// the connection in the same call.
type answerHandler struct{ echoHandler }

func (a *answerHandler) Data(c *api.CConn, data []byte) int {
	c.Send([]byte("answer to " + string(data)))
	c.Close()
	return len(data)
}

// TestCallbackCloseInData: a handler that closes the conn from Data, after
// consuming what it was given, ends the connection with a FIN after its
// answer (not a reset for unread data).
func TestCallbackCloseInData(t *testing.T) {
	p := newPeer(t)
	ln, err := api.ListenCallback(p.h, ":7200", &answerHandler{echoHandler{errs: make(chan error, 64)}})
	require.NoError(t, err)
	defer ln.Close()
	for range 20 {
		assert.Equal(t, "answer to question", p.run(t, "halfclose", env(host(7200))...))
	}
}
