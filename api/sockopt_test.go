package api_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dpstack/dpstack/api"
)

// TestReusePort: two listeners with SO_REUSEPORT share a port and the
// kernel's connections are spread over both; a listener without it is
// EADDRINUSE there.
func TestReusePort(t *testing.T) {
	p := newPeer(t)
	lc := &api.ListenConfig{ReusePort: true}
	var mu sync.Mutex
	accepted := map[int]int{}
	for i := range 2 {
		ln, err := lc.Listen(p.h, "tcp", ":6500")
		require.NoError(t, err, "listener %d", i)
		serve(t, ln, func(c net.Conn) error {
			mu.Lock()
			accepted[i]++
			mu.Unlock()
			return echo(c)
		})
	}
	_, err := api.Listen(p.h, "tcp", ":6500")
	assert.ErrorIs(t, err, syscall.EADDRINUSE, "without SO_REUSEPORT")

	const n = 40
	assert.Equal(t, fmt.Sprintf("ok %d", n), p.run(t, "echo", env(host(6500), helperN, n, helperConc, 1)...))
	mu.Lock()
	defer mu.Unlock()
	assert.Equal(t, n, accepted[0]+accepted[1])
	assert.Positive(t, accepted[0], "the first listener got connections")
	assert.Positive(t, accepted[1], "the second listener got connections")
}

// TestDialFrom: a Dialer with a LocalAddr dials from that address and
// port (the kernel sees it); a second dial from the same address and port
// to the same peer is EADDRINUSE.
func TestDialFrom(t *testing.T) {
	p := newPeer(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	k := p.start(t, "serve-echo", env(kern(9001))...)
	require.Equal(t, "listening", k.line())
	from := &net.TCPAddr{IP: hostAddr.Addr().AsSlice(), Port: 45001}
	d := &api.Dialer{LocalAddr: from}
	c, err := d.DialContext(ctx, p.h, "tcp", kern(9001))
	require.NoError(t, err)
	assert.Equal(t, from.String(), c.LocalAddr().String())
	_, err = d.DialContext(ctx, p.h, "tcp", kern(9001))
	assert.ErrorIs(t, err, syscall.EADDRINUSE)

	go func() {
		c.Write([]byte("from a chosen port"))
		c.(*api.TCPConn).CloseWrite()
	}()
	got, err := io.ReadAll(c)
	require.NoError(t, err)
	assert.Equal(t, "from a chosen port", string(got))
	c.Close()
	k.wait()
}

// TestPeek: Peek waits for data as Read does and leaves it for the next
// Read (MSG_PEEK); at the end of the stream it is io.EOF.
func TestPeek(t *testing.T) {
	p := newPeer(t)
	result := make(chan string, 1)
	srv := serve(t, listen(t, p.h, ":6501"), func(c net.Conn) error {
		tc := c.(*api.TCPConn)
		peek := make([]byte, 3)
		n, err := tc.Peek(peek)
		if err != nil {
			return err
		}
		all, err := io.ReadAll(c)
		if err != nil {
			return err
		}
		_, eof := tc.Peek(peek)
		result <- fmt.Sprintf("%s|%s|%v", peek[:n], all, eof)
		_, err = c.Write([]byte("answer"))
		return err
	})
	assert.Equal(t, "answer", p.run(t, "halfclose", env(host(6501))...))
	assert.Equal(t, "que|question|EOF", <-result)
	require.NoError(t, srv.err())
}

// TestSockopts: options by level and name reach the socket and read back,
// integers, names (TCP_CONGESTION) and struct linger (SO_LINGER) alike; an
// unknown one is ENOPROTOOPT, one of another kind EINVAL.
func TestSockopts(t *testing.T) {
	p := newPeer(t)
	conns := make(chan *api.TCPConn, 1)
	release := make(chan struct{})
	serve(t, listen(t, p.h, ":6502"), func(c net.Conn) error {
		conns <- c.(*api.TCPConn)
		<-release
		return nil
	})
	k := p.start(t, "hold", env(host(6502))...)
	require.Contains(t, k.line(), "connected")
	c := <-conns
	require.NoError(t, c.SetSockoptInt(syscall.IPPROTO_TCP, syscall.TCP_NODELAY, 1))
	v, err := c.GetSockoptInt(syscall.IPPROTO_TCP, syscall.TCP_NODELAY)
	require.NoError(t, err)
	assert.Equal(t, 1, v)
	require.NoError(t, c.SetSockoptInt(syscall.SOL_SOCKET, syscall.SO_RCVBUF, 65536))
	v, err = c.GetSockoptInt(syscall.SOL_SOCKET, syscall.SO_RCVBUF)
	require.NoError(t, err)
	assert.Equal(t, 2*65536, v, "doubled, as Linux reports it")
	assert.ErrorIs(t, c.SetSockoptInt(syscall.SOL_SOCKET, 9999, 1), syscall.ENOPROTOOPT)
	require.NoError(t, c.SetCongestion("reno"))
	cc, err := c.GetSockoptString(syscall.IPPROTO_TCP, syscall.TCP_CONGESTION)
	require.NoError(t, err)
	assert.Equal(t, "reno", cc)
	assert.ErrorIs(t, c.SetSockoptString(syscall.IPPROTO_TCP, syscall.TCP_CONGESTION, "bbr9"), syscall.ENOENT,
		"an algorithm the stack does not have")
	assert.ErrorIs(t, c.SetSockoptInt(syscall.IPPROTO_TCP, syscall.TCP_CONGESTION, 1), syscall.EINVAL)
	assert.ErrorIs(t, c.SetSockoptString(syscall.IPPROTO_TCP, syscall.TCP_NODELAY, "1"), syscall.EINVAL)

	require.NoError(t, c.SetSockoptLinger(syscall.SOL_SOCKET, syscall.SO_LINGER, &syscall.Linger{Onoff: 1, Linger: 7}))
	l, err := c.GetSockoptLinger(syscall.SOL_SOCKET, syscall.SO_LINGER)
	require.NoError(t, err)
	assert.Equal(t, syscall.Linger{Onoff: 1, Linger: 7}, *l)
	require.NoError(t, c.SetLinger(-1))
	l, err = c.GetSockoptLinger(syscall.SOL_SOCKET, syscall.SO_LINGER)
	require.NoError(t, err)
	assert.Equal(t, syscall.Linger{Linger: 7}, *l, "off keeps the time, as Linux")
	assert.ErrorIs(t, c.SetSockoptLinger(syscall.SOL_SOCKET, syscall.SO_KEEPALIVE, &syscall.Linger{}), syscall.EINVAL)
	close(release)
	k.wait()
}

// TestIPOptionsKernel: IP_OPTIONS set on a connection to the kernel go
// with its segments, which the kernel takes (it fills in the Record Route
// as the destination) while 100 kB cross both ways; they read back padded,
// and a list the kernel too would refuse is EINVAL.
func TestIPOptionsKernel(t *testing.T) {
	p := newPeer(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	k := p.start(t, "serve-echo", env(kern(9010))...)
	require.Equal(t, "listening", k.line())
	nc, err := api.Dial(ctx, p.h, "tcp", kern(9010))
	require.NoError(t, err)
	defer nc.Close()
	c := nc.(*api.TCPConn)

	rr := []byte{7, 11, 4, 0, 0, 0, 0, 0, 0, 0, 0}
	require.NoError(t, c.SetSockoptBytes(syscall.IPPROTO_IP, syscall.IP_OPTIONS, rr))
	got, err := c.GetSockoptBytes(syscall.IPPROTO_IP, syscall.IP_OPTIONS)
	require.NoError(t, err)
	assert.Equal(t, append(rr, 0), got)
	assert.ErrorIs(t, c.SetSockoptBytes(syscall.IPPROTO_IP, syscall.IP_OPTIONS, []byte{7, 2, 4, 0}), syscall.EINVAL)
	assert.ErrorIs(t, c.SetSockoptBytes(syscall.IPPROTO_TCP, syscall.TCP_NODELAY, []byte{1}), syscall.EINVAL)
	assert.ErrorIs(t, c.SetSockoptInt(syscall.IPPROTO_IP, syscall.IP_OPTIONS, 1), syscall.EINVAL)

	msg := message(9, 100000)
	go func() {
		c.Write(msg)
		c.CloseWrite()
	}()
	back, err := io.ReadAll(c)
	require.NoError(t, err)
	assert.Equal(t, msg, back)
	k.wait()
	out := 0
	for _, s := range p.h.Stacks() {
		out += int(s.IPv4().Stats().OutOptions.Load())
	}
	assert.Greater(t, out, 10, "the segments carried the options")
}
