package api_test

import (
	"fmt"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/dpstack/dpstack/api"
)

// helperMcastRecv is the kernel's side of TestUDPMulticastLoopKernel: a
// socket on addr's port that joined mcGroup on the kernel's interface
// prints "ready", then the data of the first datagram it receives.
func helperMcastRecv(addr string) error {
	at, err := net.ResolveUDPAddr("udp4", addr)
	if err != nil {
		return err
	}
	c, err := net.ListenUDP("udp4", &net.UDPAddr{Port: at.Port})
	if err != nil {
		return err
	}
	defer c.Close()
	if err := setsockopt(c, func(fd int) error {
		m := &unix.IPMreq{Multiaddr: mcGroup.As4(), Interface: kernAddr.Addr().As4()}
		return unix.SetsockoptIPMreq(fd, unix.IPPROTO_IP, unix.IP_ADD_MEMBERSHIP, m)
	}); err != nil {
		return fmt.Errorf("IP_ADD_MEMBERSHIP: %w", err)
	}
	fmt.Println("ready")
	if err := c.SetReadDeadline(time.Now().Add(helperTimeout)); err != nil {
		return err
	}
	buf := make([]byte, 64)
	n, err := c.Read(buf)
	if err != nil {
		return err
	}
	fmt.Println(string(buf[:n]))
	return nil
}

// TestUDPMulticastLoopKernel: a dpstack socket that sends to a group
// reaches both the kernel's member socket, over the link, and dpstack's
// own member socket, through the looped copy (IP_MULTICAST_LOOP, on by
// default); turned off, the copy stops and the kernel still gets the
// datagram.
func TestUDPMulticastLoopKernel(t *testing.T) {
	p := newPeer(t)
	member, err := api.ListenUDP(p.h, "udp", netip.AddrPortFrom(netip.IPv4Unspecified(), 7022))
	require.NoError(t, err)
	defer member.Close()
	require.NoError(t, member.JoinGroup(nil, &net.UDPAddr{IP: mcGroup.AsSlice()}))
	sender, err := api.ListenUDP(p.h, "udp", netip.AddrPortFrom(netip.IPv4Unspecified(), 7023))
	require.NoError(t, err)
	defer sender.Close()
	loop, err := sender.MulticastLoopback()
	require.NoError(t, err)
	assert.True(t, loop, "on by default, as in Linux")
	to := netip.AddrPortFrom(mcGroup, 7022)

	read := func() string {
		t.Helper()
		require.NoError(t, member.SetReadDeadline(time.Now().Add(helperTimeout)))
		buf := make([]byte, 64)
		n, from, err := member.ReadFromUDPAddrPort(buf)
		require.NoError(t, err)
		assert.Equal(t, netip.AddrPortFrom(hostAddr.Addr(), 7023), from)
		return string(buf[:n])
	}
	for i, on := range []bool{true, false} {
		require.NoError(t, sender.SetMulticastLoopback(on))
		k := p.start(t, "mcast-recv", env(host(7022))...)
		require.Equal(t, "ready", k.line())
		quote := fmt.Sprintf("quote %d", i)
		_, err := sender.WriteToUDPAddrPort([]byte(quote), to)
		require.NoError(t, err)
		assert.Equal(t, quote, k.line(), "the kernel's member")
		k.wait()
		if on {
			assert.Equal(t, quote, read(), "the looped copy")
		}
	}
	// With the loop off nothing came: the next copy is that of a
	// datagram sent with the loop on again.
	require.NoError(t, sender.SetMulticastLoopback(true))
	_, err = sender.WriteToUDPAddrPort([]byte("marker"), to)
	require.NoError(t, err)
	assert.Equal(t, "marker", read())
}
