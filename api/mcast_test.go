package api_test

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/dpstack/dpstack/api"
	"github.com/dpstack/dpstack/stack/header"
)

var mcGroup = netip.MustParseAddr("239.18.4.9")

// helperMcastSend is the kernel's side of TestUDPMulticastKernel. For
// each line of its stdin it does one thing and prints what came of it:
// "group DATA" sends DATA to the group, from the kernel's address
// (IP_MULTICAST_IF); "unicast DATA" sends it to addr; "igmp" waits for
// dpstack's IGMP report naming the group, read off the link with a packet
// socket, and prints "igmp". It prints "ready" first, once the packet
// socket is open.
func helperMcastSend(addr string) error {
	to, err := net.ResolveUDPAddr("udp4", addr)
	if err != nil {
		return err
	}
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: kernAddr.Addr().AsSlice()})
	if err != nil {
		return err
	}
	defer c.Close()
	if err := setsockopt(c, func(fd int) error {
		return unix.SetsockoptInet4Addr(fd, unix.IPPROTO_IP, unix.IP_MULTICAST_IF, kernAddr.Addr().As4())
	}); err != nil {
		return fmt.Errorf("IP_MULTICAST_IF: %w", err)
	}
	pfd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_DGRAM, int(htons(unix.ETH_P_IP)))
	if err != nil {
		return err
	}
	defer unix.Close(pfd)
	tv := unix.NsecToTimeval((200 * time.Millisecond).Nanoseconds())
	if err := unix.SetsockoptTimeval(pfd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
		return err
	}
	group := &net.UDPAddr{IP: mcGroup.AsSlice(), Port: to.Port}
	fmt.Println("ready")
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		cmd, data, _ := strings.Cut(in.Text(), " ")
		switch cmd {
		case "group":
			_, err = c.WriteToUDP([]byte(data), group)
		case "unicast":
			_, err = c.WriteToUDP([]byte(data), to)
		case "igmp":
			err = awaitReport(pfd)
		default:
			err = fmt.Errorf("unknown command %q", cmd)
		}
		if err != nil {
			return err
		}
		fmt.Println(cmd)
	}
	return in.Err()
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

// awaitReport reads IPv4 packets off the packet socket fd until an IGMP
// message from dpstack names mcGroup, for at most helperTimeout.
func awaitReport(fd int) error {
	buf := make([]byte, 2048)
	g := mcGroup.AsSlice()
	for deadline := time.Now().Add(helperTimeout); time.Now().Before(deadline); {
		n, _, err := unix.Recvfrom(fd, buf, 0)
		if err != nil {
			continue // the receive timeout
		}
		ip, perr := header.ParseIPv4(buf[:n])
		if perr == header.IPv4OK && ip.Protocol() == header.IPProtoIGMP &&
			ip.Src() == hostAddr.Addr() && bytes.Contains(ip.Payload(), g) {
			return nil
		}
	}
	return fmt.Errorf("no IGMP report for %v", mcGroup)
}

// TestUDPMulticastKernel: a blocking dpstack socket joins a group, the
// kernel sees the IGMP report and multicasts to the group, and the socket
// receives it; after LeaveGroup a datagram to the group does not arrive
// before a unicast one sent after it. The multicast options read back
// what was set.
func TestUDPMulticastKernel(t *testing.T) {
	p := newPeer(t)
	c, err := api.ListenUDP(p.h, "udp", netip.AddrPortFrom(netip.IPv4Unspecified(), 7020))
	require.NoError(t, err)
	defer c.Close()
	k := p.start(t, "mcast-send", env(host(7020))...)
	require.Equal(t, "ready", k.line())

	grp := &net.UDPAddr{IP: mcGroup.AsSlice()}
	require.NoError(t, c.JoinGroup(nil, grp))
	fmt.Fprintln(k.stdin, "igmp")
	require.Equal(t, "igmp", k.line(), "the kernel saw the report")
	assert.ErrorIs(t, c.JoinGroup(nil, grp), syscall.EADDRINUSE)
	assert.ErrorIs(t, c.JoinGroup(&net.Interface{Index: 1}, grp), syscall.ENODEV)

	require.NoError(t, c.SetMulticastTTL(4))
	ttl, err := c.MulticastTTL()
	require.NoError(t, err)
	assert.Equal(t, 4, ttl)
	require.NoError(t, c.SetMulticastLoopback(false))
	loop, err := c.MulticastLoopback()
	require.NoError(t, err)
	assert.False(t, loop)
	require.NoError(t, c.SetMulticastInterface(hostAddr.Addr()))
	ifAddr, err := c.MulticastInterface()
	require.NoError(t, err)
	assert.Equal(t, hostAddr.Addr(), ifAddr)

	read := func() string {
		t.Helper()
		require.NoError(t, c.SetReadDeadline(time.Now().Add(helperTimeout)))
		buf := make([]byte, 64)
		n, from, err := c.ReadFromUDPAddrPort(buf)
		require.NoError(t, err)
		assert.Equal(t, kernAddr.Addr(), from.Addr())
		return string(buf[:n])
	}
	fmt.Fprintln(k.stdin, "group quote 1")
	require.Equal(t, "group", k.line())
	assert.Equal(t, "quote 1", read())

	require.NoError(t, c.LeaveGroup(nil, grp))
	fmt.Fprintln(k.stdin, "group quote 2")
	require.Equal(t, "group", k.line())
	fmt.Fprintln(k.stdin, "unicast marker")
	require.Equal(t, "unicast", k.line())
	assert.Equal(t, "marker", read(), "nothing from the group after leaving")
	k.wait()
}

// mcastRecv is a callback receiver: it passes each datagram's text on.
type mcastRecv chan string

func (r mcastRecv) Datagram(c *api.CUDPConn, data []byte, from netip.AddrPort) {
	select {
	case r <- string(data):
	default:
	}
}

func (r mcastRecv) Error(*api.CUDPConn, error) {}

// TestUDPCallbackMulticast: a callback listener on two cores joins a
// group on both (CUDPListener.JoinGroup); the kernel's datagram to the
// group reaches the handler, and closing the listener drops the
// memberships.
func TestUDPCallbackMulticast(t *testing.T) {
	p := newPeerCores(t, 2)
	r := make(mcastRecv, 4)
	ln, err := api.ListenUDPCallback(p.h, ":7021", r)
	require.NoError(t, err)
	k := p.start(t, "mcast-send", env(host(7021))...)
	require.Equal(t, "ready", k.line())

	require.NoError(t, ln.JoinGroup(nil, &net.IPAddr{IP: mcGroup.AsSlice()}))
	fmt.Fprintln(k.stdin, "igmp")
	require.Equal(t, "igmp", k.line())
	fmt.Fprintln(k.stdin, "group quote 1")
	require.Equal(t, "group", k.line())
	select {
	case got := <-r:
		assert.Equal(t, "quote 1", got)
	case <-time.After(helperTimeout):
		t.Fatal("no datagram from the group")
	}
	g := binary.BigEndian.Uint32(mcGroup.AsSlice())
	require.True(t, p.h.Multicast().Joined(g))
	require.NoError(t, ln.Close())
	for deadline := time.Now().Add(helperTimeout); p.h.Multicast().Joined(g) && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
	assert.False(t, p.h.Multicast().Joined(g), "the listener's close left the group")
	k.wait()
}

// setsockopt runs set on the descriptor of a kernel socket of the test's
// helpers (a socket option Go's net package has no call for).
func setsockopt(c *net.UDPConn, set func(fd int) error) error {
	rc, err := c.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	if err := rc.Control(func(fd uintptr) { serr = set(int(fd)) }); err != nil {
		return err
	}
	return serr
}
