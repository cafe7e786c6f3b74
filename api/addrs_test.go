package api_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/netip"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dpstack/dpstack/api"
	"github.com/dpstack/dpstack/stack"
)

// TestDialSourceAddress: on a host with two addresses, a connection's
// source is the preferred source of the route to its destination (Linux's
// inet_select_addr through the connected route, the fib_info's prefsrc):
// the first address towards the first subnet, the second towards the
// second subnet and towards a network behind a gateway on it. The kernel,
// which holds an address on each, echoes over every connection.
func TestDialSourceAddress(t *testing.T) {
	second := netip.MustParsePrefix("198.19.40.2/24")
	kernSecond := netip.MustParsePrefix("198.19.40.1/24")
	behind := netip.MustParsePrefix("198.19.41.0/24")
	p := newPeerWith(t, stack.Config{Addrs: []netip.Prefix{second},
		Routes: []stack.Route{{Prefix: behind, Gateway: kernSecond.Addr()}}})
	require.NoError(t, p.ns.IP("addr", "add", kernSecond.String(), "dev", p.iface))
	require.NoError(t, p.ns.IP("addr", "add", "198.19.41.1/32", "dev", "lo"))
	require.NoError(t, p.ns.IP("link", "set", "lo", "up"))
	k := p.start(t, "serve-echo-many", env("0.0.0.0:9030", helperN, 3)...)
	require.Equal(t, "listening", k.line())
	ctx, cancel := context.WithTimeout(context.Background(), helperTimeout)
	defer cancel()
	for dst, src := range map[string]netip.Addr{
		kernAddr.Addr().String():   hostAddr.Addr(),
		kernSecond.Addr().String(): second.Addr(),
		"198.19.41.1":              second.Addr(),
	} {
		c, err := api.DialTCP(ctx, p.h, "tcp", dst+":9030")
		require.NoError(t, err, dst)
		assert.Equal(t, src, c.LocalAddr().(*net.TCPAddr).AddrPort().Addr(), "source towards %s", dst)
		msg := []byte(fmt.Sprintf("to %s", dst))
		_, err = c.Write(msg)
		require.NoError(t, err)
		require.NoError(t, c.CloseWrite())
		got, err := io.ReadAll(c)
		require.NoError(t, err, dst)
		assert.Equal(t, msg, got)
		require.NoError(t, c.Close())
	}
	assert.Equal(t, "ok 3", k.wait())
}
