package api_test

import (
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dpstack/dpstack/api"
)

// TestCopyIdleCost: io.Copy(c, c) on a dpstack conn goes through WriteTo,
// which holds no buffer while it waits. 200 idle echo connections cost a
// few KiB of heap each, where io.Copy's own buffer alone would be 32 KiB.
// (The bulk paths of WriteTo and ReadFrom are TestTransfer64MiB's: io.Copy
// from a conn into a hash, io.CopyN into a conn.)
func TestCopyIdleCost(t *testing.T) {
	const conns = 200
	p := newPeer(t)
	srv := serve(t, listen(t, p.h, ":6400"), echo)
	before := liveHeap()
	k := p.start(t, "idle", env(host(6400), helperN, conns)...)
	require.Equal(t, "ready", k.line())
	perConn := (liveHeap() - before) / conns
	t.Logf("heap per idle echo connection: %d bytes", perConn)
	assert.Less(t, perConn, uint64(16<<10))
	assert.Equal(t, "ok", k.wait())
	require.NoError(t, srv.err())
}

// liveHeap is the heap in use after a collection.
func liveHeap() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// onlyReader hides a reader's WriteTo, so that io.Copy takes the conn's
// ReadFrom.
type onlyReader struct{ io.Reader }

// TestCopyShapes: WriteTo and ReadFrom in the cases beside bulk transfer.
func TestCopyShapes(t *testing.T) {
	p := newPeer(t)
	t.Run("ReadFrom after the peer's FIN", func(t *testing.T) {
		// The conn is in CLOSE-WAIT: the stage is not used, the bytes
		// go through Write's path, and still arrive.
		srv := serve(t, listen(t, p.h, ":6401"), func(c net.Conn) error {
			got, err := io.ReadAll(c)
			if err != nil {
				return err
			}
			n, err := io.Copy(c, onlyReader{strings.NewReader("answer to " + string(got))})
			if err == nil && n != int64(len("answer to ")+len(got)) {
				err = fmt.Errorf("ReadFrom reported %d bytes", n)
			}
			return err
		})
		assert.Equal(t, "answer to question", p.run(t, "halfclose", env(host(6401))...))
		require.NoError(t, srv.err())
	})
	t.Run("WriteTo until the read deadline", func(t *testing.T) {
		// WriteTo returns the deadline's error with the count copied
		// so far; the conn goes on working.
		result := make(chan string, 1)
		serve(t, listen(t, p.h, ":6402"), func(c net.Conn) error {
			var sb strings.Builder
			c.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
			n, err := io.Copy(&sb, c)
			result <- fmt.Sprintf("%d %v", n, os.IsTimeout(err))
			c.SetReadDeadline(time.Time{})
			_, err = io.Copy(c, c)
			return err
		})
		k := p.start(t, "hold", env(host(6402))...) // echoes
		require.True(t, strings.HasPrefix(k.line(), "connected"))
		assert.Equal(t, "0 true", <-result)
		k.wait()
	})
	t.Run("WriteTo into a failing writer", func(t *testing.T) {
		// The writer's error ends WriteTo.
		result := make(chan error, 1)
		serve(t, listen(t, p.h, ":6403"), func(c net.Conn) error {
			if _, err := c.Write([]byte("x")); err != nil { // the kernel echoes it
				return err
			}
			w, r := net.Pipe()
			r.Close()
			_, err := c.(*api.TCPConn).WriteTo(w)
			result <- err
			return nil
		})
		k := p.start(t, "hold", env(host(6403))...)
		require.True(t, strings.HasPrefix(k.line(), "connected"))
		assert.ErrorIs(t, <-result, io.ErrClosedPipe)
		k.wait()
	})
}

// TestVanishedPeersLeaveNoGoroutine: 100 kernel connections to a
// goroutine-per-connection echo send without reading, so that every
// echo goroutine waits in Write, then reset. Each goroutine ends with the
// reset, and the mbufs the connections held come back.
func TestVanishedPeersLeaveNoGoroutine(t *testing.T) {
	const conns = 100
	p := newPeer(t)
	serve(t, listen(t, p.h, ":6404"), echo)
	time.Sleep(10 * time.Millisecond) // the accept loop's goroutine is up
	before, pool := runtime.NumGoroutine(), p.h.Pool().InUse()
	k := p.start(t, "vanish", env(host(6404), helperN, conns)...)
	require.Equal(t, "opened", k.line())
	// The kernel's connects return before dpstack's Accepts do.
	for deadline := time.Now().Add(10 * time.Second); runtime.NumGoroutine() < before+conns; {
		require.True(t, time.Now().Before(deadline), "a goroutine per connection: %d, %d before", runtime.NumGoroutine(), before)
		time.Sleep(10 * time.Millisecond)
	}
	k.wait()
	for deadline := time.Now().Add(10 * time.Second); runtime.NumGoroutine() > before || p.h.Pool().InUse() > pool+32; {
		require.True(t, time.Now().Before(deadline), "%d goroutines (%d before), %d mbufs in use (%d before)",
			runtime.NumGoroutine(), before, p.h.Pool().InUse(), pool)
		time.Sleep(20 * time.Millisecond)
	}
}
