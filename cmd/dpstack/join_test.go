package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"golang.org/x/sys/unix"
)

// mcastEcho is the kernel's side of TestRunJoin: it sends n datagrams to
// the group addr from the namespace's 198.18.0.0/15 address
// (IP_MULTICAST_IF) and waits for each to come back from dpstack's UDP
// echo, resending once a second for at most 10 s; then it prints
// "echoed N".
func mcastEcho(addr string, n int) error {
	group, err := net.ResolveUDPAddr("udp4", addr)
	if err != nil {
		return err
	}
	local, err := testNetAddr()
	if err != nil {
		return err
	}
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: local.AsSlice()})
	if err != nil {
		return err
	}
	defer c.Close()
	rc, err := c.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	if err := rc.Control(func(fd uintptr) {
		serr = unix.SetsockoptInet4Addr(int(fd), unix.IPPROTO_IP, unix.IP_MULTICAST_IF, local.As4())
	}); err != nil || serr != nil {
		return fmt.Errorf("IP_MULTICAST_IF: %v %v", err, serr)
	}
	buf := make([]byte, 64)
	for i := range n {
		msg := fmt.Appendf(nil, "quote %d", i)
		if err := echoedOnce(c, group, msg, buf); err != nil {
			return err
		}
	}
	fmt.Printf("echoed %d\n", n)
	return nil
}

// echoedOnce sends msg to group until it comes back, for at most 10 s.
func echoedOnce(c *net.UDPConn, group *net.UDPAddr, msg, buf []byte) error {
	for try := 0; try < 10; try++ {
		if _, err := c.WriteToUDP(msg, group); err != nil {
			return err
		}
		if err := c.SetReadDeadline(time.Now().Add(time.Second)); err != nil {
			return err
		}
		k, _, err := c.ReadFromUDP(buf)
		var ne net.Error
		switch {
		case errors.As(err, &ne) && ne.Timeout():
			continue
		case err != nil:
			return err
		case !bytes.Equal(buf[:k], msg):
			return fmt.Errorf("sent %q, %q came back", msg, buf[:k])
		}
		return nil
	}
	return fmt.Errorf("%q to %v: no echo: %w", msg, group, syscall.ETIMEDOUT)
}

// testNetAddr is the namespace's address in 198.18.0.0/15.
func testNetAddr() (netip.Addr, error) {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return netip.Addr{}, err
	}
	bench := netip.MustParsePrefix("198.18.0.0/15")
	for _, a := range addrs {
		if p, err := netip.ParsePrefix(a.String()); err == nil && bench.Contains(p.Addr()) {
			return p.Addr(), nil
		}
	}
	return netip.Addr{}, errors.New("no address in 198.18.0.0/15")
}

// TestRunJoin: "dpstack run --join" has the UDP echo join two groups; a
// kernel socket's datagrams to the second come back from dpstack's
// address, and the metrics count the IGMP reports.
func TestRunJoin(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	r := startRun(t, ctx, "join", "198.18.10", "--join", "239.18.10.1,239.18.10.2")
	startRole(t, ctx, r, "mcast-echo", "239.18.10.2:7", "3").expect(t, "echoed 3")
	body := r.metrics(t)
	assert.Positive(t, metricValue(body, `dpstack_igmp_out_v3_reports_total{core="0",port="net_tap0"}`))
	assert.GreaterOrEqual(t, metricValue(body, `dpstack_udp_out_datagrams_total{core="0",port="net_tap0"}`), 3.0, "resent ones are echoed too")
	r.stop(t)
}
