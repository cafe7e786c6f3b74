package api_test

import (
	"fmt"
	"net/netip"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dpstack/dpstack/api"
)

// udpEcho is a callback echo: it replies from inside the handler, in
// place (SendBuffer, CommitTo) when the datagram fits one mbuf, by copy
// (WriteTo) otherwise. With since set, it reports to Error a datagram
// whose receive time is not a software time between since and now.
type udpEcho struct {
	errs  chan error
	since time.Time
}

func (e udpEcho) Datagram(c *api.CUDPConn, data []byte, from netip.AddrPort) {
	if rx, hw := c.RxTime(); !e.since.IsZero() && (hw || rx.Before(e.since) || rx.After(time.Now())) {
		e.Error(c, fmt.Errorf("datagram received at %v (hardware %v), not since %v", rx, hw, e.since))
	}
	if room, err := c.SendBuffer(len(data)); err == nil {
		copy(room, data)
		if c.CommitTo(len(data), from) == len(data) {
			return
		}
	}
	if _, err := c.WriteTo(data, from); err != nil {
		e.Error(c, err)
	}
}

func (e udpEcho) Error(c *api.CUDPConn, err error) {
	select {
	case e.errs <- err:
	default:
	}
}

// TestUDPCallbackEcho: a callback echo on both cores of a host answers a
// kernel socket's datagrams, up to 65,507 bytes, from inside its handler;
// each has its software receive time.
func TestUDPCallbackEcho(t *testing.T) {
	p := newPeerCores(t, 2)
	e := udpEcho{errs: make(chan error, 1), since: time.Now()}
	ln, err := api.ListenUDPCallback(p.h, ":7011", e)
	require.NoError(t, err)
	assert.Equal(t, "0.0.0.0:7011", ln.Addr().String())
	assert.Equal(t, "ok", p.run(t, "udp-echo", env(host(7011))...))
	require.NoError(t, ln.Close())
	select {
	case err := <-e.errs:
		t.Error(err)
	default:
	}
}

// TestUDPCallbackRefused: a connected callback socket hears of the kernel's
// port unreachable through Error.
func TestUDPCallbackRefused(t *testing.T) {
	p := newPeer(t)
	e := udpEcho{errs: make(chan error, 1)}
	c, err := api.DialUDPCallback(p.h, kern(7012), e)
	require.NoError(t, err)
	var werr error
	require.NoError(t, p.h.OnCore(c.Core(), func() { _, werr = c.Write([]byte("anyone?")) }))
	require.NoError(t, werr)
	select {
	case err := <-e.errs:
		assert.ErrorIs(t, err, syscall.ECONNREFUSED)
	case <-time.After(helperTimeout):
		t.Fatal("no error reported")
	}
	require.NoError(t, p.h.OnCore(c.Core(), func() { werr = c.Close() }))
	require.NoError(t, werr)
}
