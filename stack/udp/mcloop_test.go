package udp_test

import (
	"net/netip"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dpstack/dpstack/stack/udp"
)

// TestMulticastLoop: a datagram a socket sends to a group its own host
// joined also reaches the host's member socket (IP_MULTICAST_LOOP, on by
// default), from the sender's address and port, with a receive time,
// while the peer's member gets it over the link; with the option off
// only the peer's does. A group the host did not join loops nothing.
func TestMulticastLoop(t *testing.T) {
	p := newPair(t)
	here := bound(t, p.ua(), netip.IPv4Unspecified(), 7100, syscall.SO_REUSEADDR)
	there := bound(t, p.ub(), netip.IPv4Unspecified(), 7100)
	mreq(t, here, syscall.IP_ADD_MEMBERSHIP, netip.Addr{})
	mreq(t, there, syscall.IP_ADD_MEMBERSHIP, netip.Addr{})
	cli := bound(t, p.ua(), netip.IPv4Unspecified(), 7101)
	p.Pump(4)

	p.send(t, cli, "tick 1")
	require.Equal(t, 1, here.ReceiveQueue.Len(), "the looped copy")
	ns, hw := here.ReceiveQueue.Front().RxTime()
	data, from := recv(t, here)
	assert.Equal(t, "tick 1", data)
	assert.Equal(t, netip.AddrPortFrom(addrA, 7101), from)
	assert.Positive(t, ns, "stamped as received")
	assert.False(t, hw)
	data, _ = recv(t, there)
	assert.Equal(t, "tick 1", data, "and the datagram on the wire")

	require.NoError(t, cli.SetSockOpt(syscall.IPPROTO_IP, syscall.IP_MULTICAST_LOOP, 0))
	p.send(t, cli, "tick 2")
	assert.Zero(t, here.ReceiveQueue.Len(), "IP_MULTICAST_LOOP off")
	data, _ = recv(t, there)
	assert.Equal(t, "tick 2", data)

	require.NoError(t, cli.SetSockOpt(syscall.IPPROTO_IP, syscall.IP_MULTICAST_LOOP, 1))
	mreq(t, here, syscall.IP_DROP_MEMBERSHIP, netip.Addr{})
	p.Pump(4)
	p.send(t, cli, "tick 3")
	assert.Zero(t, here.ReceiveQueue.Len(), "the host left the group")
	data, _ = recv(t, there)
	assert.Equal(t, "tick 3", data)
}

// send sends data from s to the group's port 7100 and pumps.
func (p *pair) send(t testing.TB, s *udp.Sock, data string) {
	t.Helper()
	_, err := s.SendTo([]byte(data), 0, netip.AddrPortFrom(group, 7100))
	require.NoError(t, err)
	p.Pump(4)
}

// TestMulticastLoopNoAllocs: a datagram to a group, looped to the
// sender's host's member and sent to the peer's, allocates nothing.
func TestMulticastLoopNoAllocs(t *testing.T) {
	p := newPair(t)
	here := bound(t, p.ua(), netip.IPv4Unspecified(), 7100, syscall.SO_REUSEADDR)
	there := bound(t, p.ub(), netip.IPv4Unspecified(), 7100)
	mreq(t, here, syscall.IP_ADD_MEMBERSHIP, netip.Addr{})
	mreq(t, there, syscall.IP_ADD_MEMBERSHIP, netip.Addr{})
	cli := bound(t, p.ua(), netip.IPv4Unspecified(), 7101)
	p.Pump(4)
	assertSendNoAllocs(t, p, cli, netip.AddrPortFrom(group, 7100), here, there)
}
