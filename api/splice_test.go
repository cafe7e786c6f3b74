package api_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dpstack/dpstack/api"
)

// TestCopySameCore: a goroutine-per-connection proxy on the blocking API
// dials its upstream on the core of the accepted conn (Dialer.SameCoreAs)
// and joins the two with io.Copy each way, which then moves the received
// buffers from one conn to the other without a copy (WriteTo finds the
// splice). Kernel clients through it to a kernel echo server get every
// byte back; the half-close crosses both ways.
func TestCopySameCore(t *testing.T) {
	p := newPeer(t)
	k := p.start(t, "serve-echo-many", env(kern(9300), helperN, 4)...)
	require.Equal(t, "listening", k.line())
	ln := listen(t, p.h, host(6500))
	srv := serve(t, ln, func(c net.Conn) error {
		client := c.(*api.TCPConn)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		up, err := (&api.Dialer{SameCoreAs: client}).DialTCP(ctx, p.h, "tcp", kern(9300))
		if err != nil {
			return err
		}
		defer up.Close()
		if up.Core() != client.Core() {
			return fmt.Errorf("upstream on core %d, client on %d", up.Core(), client.Core())
		}
		sent := make(chan error, 1)
		go func() {
			_, err := io.Copy(up, client)
			if err == nil {
				err = up.CloseWrite()
			}
			sent <- err
		}()
		_, err = io.Copy(client, up)
		if err == nil {
			err = client.CloseWrite()
		}
		if serr := <-sent; err == nil {
			err = serr
		}
		return err
	})
	spliced := p.h.Stacks()[0].TCP().Stats().SplicedSegs.Load()
	assert.Equal(t, "ok 4", p.run(t, "echo", env(host(6500), helperN, 4, helperConc, 2, helperSize, 4<<20)...))
	require.NoError(t, srv.err())
	// 4 MiB each way per connection, in segments of at most an MSS.
	assert.Greater(t, p.h.Stacks()[0].TCP().Stats().SplicedSegs.Load()-spliced, uint64(2*4*(4<<20)/1460))
	k.wait()
}
