package udp_test

import (
	"encoding/binary"
	"net/netip"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dpstack/dpstack/stack/sock"
	"github.com/dpstack/dpstack/stack/udp"
	"github.com/dpstack/dpstack/stat"
)

var group = netip.MustParseAddr("239.18.0.7")

func groupKey() uint32 { return binary.BigEndian.Uint32(group.AsSlice()) }

// mreq sets a membership option on s.
func mreq(t testing.TB, s *udp.Sock, name int, src netip.Addr) {
	t.Helper()
	require.NoError(t, s.SetSockOptMReq(syscall.IPPROTO_IP, name, sock.MReq{Group: group, Source: src}))
}

// mcastSend sends data from a new socket of p's host A to the group's
// port 7100, with IP_MULTICAST_TTL ttl.
func (p *pair) mcastSend(t testing.TB, data string) {
	t.Helper()
	s := p.ua().NewSock()
	defer s.Close()
	_, err := s.SendTo([]byte(data), 0, netip.AddrPortFrom(group, 7100))
	require.NoError(t, err)
	p.Pump(4)
}

// TestMulticastMembership: of two sockets of B on the group's port, the
// one that joined receives the group's datagrams and the one that did not
// (IP_MULTICAST_ALL off) does not; after the leave the host leaves too; a
// datagram no socket's filter takes is counted in udp_ignored_multi. Closing a
// socket that is still a member drops the host's membership, which IGMP
// reports.
func TestMulticastMembership(t *testing.T) {
	p := newPair(t)
	member := bound(t, p.ub(), netip.IPv4Unspecified(), 7100, syscall.SO_REUSEADDR)
	other := bound(t, p.ub(), netip.IPv4Unspecified(), 7100, syscall.SO_REUSEADDR)
	require.NoError(t, other.SetSockOpt(syscall.IPPROTO_IP, sock.IP_MULTICAST_ALL, 0))
	ipB := p.B.Stacks()[0].IPv4().Stats()

	reports := ipB.IGMPOutV3Reports.Load()
	mreq(t, member, syscall.IP_ADD_MEMBERSHIP, netip.Addr{})
	p.Pump(4)
	assert.True(t, p.B.Multicast().Joined(groupKey()))
	assert.Greater(t, ipB.IGMPOutV3Reports.Load(), reports, "the join reported")

	p.mcastSend(t, "tick 1")
	require.Equal(t, 1, member.ReceiveQueue.Len())
	data, from := recv(t, member)
	assert.Equal(t, "tick 1", data)
	assert.Equal(t, addrA, from.Addr())
	assert.Zero(t, other.ReceiveQueue.Len(), "not a member, IP_MULTICAST_ALL off")

	mreq(t, member, syscall.IP_DROP_MEMBERSHIP, netip.Addr{})
	err := member.SetSockOptMReq(syscall.IPPROTO_IP, syscall.IP_DROP_MEMBERSHIP, sock.MReq{Group: group})
	assert.ErrorIs(t, err, syscall.EADDRNOTAVAIL, "left already")
	p.Pump(4)
	assert.False(t, p.B.Multicast().Joined(groupKey()))

	// With the group joined by a socket on another port, the host takes
	// its datagrams again: member, IP_MULTICAST_ALL on, receives them as
	// Linux's would; other, off, does not.
	ignored := p.ub().Stats().IgnoredMulti.Load()
	elsewhere := bound(t, p.ub(), netip.IPv4Unspecified(), 7200)
	mreq(t, elsewhere, syscall.IP_ADD_MEMBERSHIP, netip.Addr{})
	p.Pump(4)
	p.mcastSend(t, "tick 2")
	assert.Equal(t, 1, member.ReceiveQueue.Len(), "IP_MULTICAST_ALL: a group the host joined")
	assert.Zero(t, other.ReceiveQueue.Len())
	data, _ = recv(t, member)
	assert.Equal(t, "tick 2", data)

	require.NoError(t, member.SetSockOpt(syscall.IPPROTO_IP, sock.IP_MULTICAST_ALL, 0))
	drops := p.dropsB(stat.DropUDPNoMember)
	p.mcastSend(t, "tick 3")
	assert.Zero(t, member.ReceiveQueue.Len()+other.ReceiveQueue.Len())
	assert.Equal(t, ignored+1, p.ub().Stats().IgnoredMulti.Load())
	assert.Equal(t, drops+1, p.dropsB(stat.DropUDPNoMember))

	reports = ipB.IGMPOutV3Reports.Load()
	elsewhere.Close()
	p.Pump(4)
	assert.False(t, p.B.Multicast().Joined(groupKey()), "close dropped the membership")
	assert.Greater(t, ipB.IGMPOutV3Reports.Load(), reports, "the leave reported")
}

// TestMulticastSourceFilter: source-specific joins per socket (RFC 3678
// §4.1.1). A socket that includes only A receives A's datagrams, one
// that includes another source does not; one that joined and blocks A
// does not, and does again once A is unblocked. Options of the wrong
// mode are EINVAL.
func TestMulticastSourceFilter(t *testing.T) {
	p := newPair(t)
	other := netip.MustParseAddr("198.18.0.99")
	incA := bound(t, p.ub(), netip.IPv4Unspecified(), 7100, syscall.SO_REUSEADDR)
	incOther := bound(t, p.ub(), netip.IPv4Unspecified(), 7100, syscall.SO_REUSEADDR)
	blocker := bound(t, p.ub(), netip.IPv4Unspecified(), 7100, syscall.SO_REUSEADDR)
	for _, s := range []*udp.Sock{incA, incOther, blocker} {
		require.NoError(t, s.SetSockOpt(syscall.IPPROTO_IP, sock.IP_MULTICAST_ALL, 0))
	}
	mreq(t, incA, syscall.IP_ADD_SOURCE_MEMBERSHIP, addrA)
	mreq(t, incOther, syscall.IP_ADD_SOURCE_MEMBERSHIP, other)
	mreq(t, blocker, syscall.IP_ADD_MEMBERSHIP, netip.Addr{})
	mreq(t, blocker, syscall.IP_BLOCK_SOURCE, addrA)
	err := incA.SetSockOptMReq(syscall.IPPROTO_IP, syscall.IP_BLOCK_SOURCE, sock.MReq{Group: group, Source: other})
	assert.ErrorIs(t, err, syscall.EINVAL, "block on an INCLUDE filter")
	p.Pump(4)

	p.mcastSend(t, "a")
	assert.Equal(t, 1, incA.ReceiveQueue.Len())
	assert.Zero(t, incOther.ReceiveQueue.Len())
	assert.Zero(t, blocker.ReceiveQueue.Len())

	mreq(t, blocker, syscall.IP_UNBLOCK_SOURCE, addrA)
	mreq(t, incA, syscall.IP_DROP_SOURCE_MEMBERSHIP, addrA)
	p.Pump(4)
	p.mcastSend(t, "b")
	assert.Equal(t, 1, incA.ReceiveQueue.Len(), "left with its last source")
	assert.Equal(t, 1, blocker.ReceiveQueue.Len(), "unblocked")
	assert.Zero(t, incOther.ReceiveQueue.Len())
}

// TestMulticastOptions: the multicast integer options' defaults, ranges
// and what dpstack does not do, and IP_MULTICAST_IF.
func TestMulticastOptions(t *testing.T) {
	p := newPair(t)
	s := p.ua().NewSock()
	t.Cleanup(s.Close)
	get := func(name int) int {
		v, err := s.GetSockOpt(syscall.IPPROTO_IP, name)
		require.NoError(t, err)
		return v
	}
	assert.Equal(t, udp.DefaultMulticastTTL, get(syscall.IP_MULTICAST_TTL))
	assert.Equal(t, 1, get(sock.IP_MULTICAST_ALL))
	assert.Equal(t, 1, get(syscall.IP_MULTICAST_LOOP), "on by default, as in Linux")
	require.NoError(t, s.SetSockOpt(syscall.IPPROTO_IP, syscall.IP_MULTICAST_TTL, 32))
	assert.Equal(t, 32, get(syscall.IP_MULTICAST_TTL))
	require.NoError(t, s.SetSockOpt(syscall.IPPROTO_IP, syscall.IP_MULTICAST_TTL, -1))
	assert.Equal(t, udp.DefaultMulticastTTL, get(syscall.IP_MULTICAST_TTL))
	for _, v := range []int{0, 256} {
		assert.ErrorIs(t, s.SetSockOpt(syscall.IPPROTO_IP, syscall.IP_MULTICAST_TTL, v), syscall.EINVAL)
	}
	require.NoError(t, s.SetSockOpt(syscall.IPPROTO_IP, syscall.IP_MULTICAST_LOOP, 0))
	assert.Equal(t, 0, get(syscall.IP_MULTICAST_LOOP))
	require.NoError(t, s.SetSockOpt(syscall.IPPROTO_IP, syscall.IP_MULTICAST_LOOP, 7))
	assert.Equal(t, 1, get(syscall.IP_MULTICAST_LOOP), "any value but 0 turns it on")
	assert.ErrorIs(t, s.SetSockOpt(syscall.IPPROTO_IP, syscall.IP_ADD_MEMBERSHIP, 1), syscall.EINVAL, "an ip_mreq option")

	ifOpt := func(m sock.MReq) error { return s.SetSockOptMReq(syscall.IPPROTO_IP, syscall.IP_MULTICAST_IF, m) }
	require.NoError(t, ifOpt(sock.MReq{Interface: addrA}))
	m, err := s.GetSockOptMReq(syscall.IPPROTO_IP, syscall.IP_MULTICAST_IF)
	require.NoError(t, err)
	assert.Equal(t, addrA, m.Interface)
	assert.ErrorIs(t, ifOpt(sock.MReq{Interface: addrB}), syscall.EADDRNOTAVAIL)
	assert.ErrorIs(t, ifOpt(sock.MReq{Ifindex: 3}), syscall.ENODEV)
	_, err = s.GetSockOptMReq(syscall.IPPROTO_IP, syscall.IP_ADD_MEMBERSHIP)
	assert.ErrorIs(t, err, syscall.ENOPROTOOPT)
	err = s.SetSockOptMReq(syscall.IPPROTO_IP, syscall.IP_ADD_MEMBERSHIP, sock.MReq{Group: addrB})
	assert.ErrorIs(t, err, syscall.EINVAL, "not a group")
	err = s.SetSockOptMReq(syscall.IPPROTO_IP, syscall.IP_ADD_MEMBERSHIP, sock.MReq{Group: group, Interface: addrB})
	assert.ErrorIs(t, err, syscall.ENODEV, "not our interface")
}

// TestMulticastPathNoAllocs: a datagram to a group, sent with
// IP_MULTICAST_TTL and received by two member sockets (a clone each,
// through their source filters), allocates nothing.
func TestMulticastPathNoAllocs(t *testing.T) {
	p := newPair(t)
	a := bound(t, p.ub(), netip.IPv4Unspecified(), 7100, syscall.SO_REUSEADDR)
	b := bound(t, p.ub(), netip.IPv4Unspecified(), 7100, syscall.SO_REUSEADDR)
	mreq(t, a, syscall.IP_ADD_MEMBERSHIP, netip.Addr{})
	mreq(t, b, syscall.IP_ADD_SOURCE_MEMBERSHIP, addrA)
	cli := bound(t, p.ua(), netip.IPv4Unspecified(), 7101)
	require.NoError(t, cli.SetSockOpt(syscall.IPPROTO_IP, syscall.IP_MULTICAST_TTL, 8))
	p.Pump(4)
	assertSendNoAllocs(t, p, cli, netip.AddrPortFrom(group, 7100), a, b)
}

// assertSendNoAllocs has cli send 64-byte datagrams to to, each received
// by every one of members, and asserts that a round allocates nothing.
func assertSendNoAllocs(t *testing.T, p *pair, cli *udp.Sock, to netip.AddrPort, members ...*udp.Sock) {
	t.Helper()
	msg, buf := make([]byte, 64), make([]byte, 2048)
	send := func() {
		if _, err := cli.SendTo(msg, 0, to); err != nil {
			t.Fatal(err)
		}
		p.Pump(2)
		for _, s := range members {
			if n, _, err := s.RecvFrom(buf, 0); err != nil || n != len(msg) {
				t.Fatalf("member got %d, %v", n, err)
			}
		}
	}
	for range 50 {
		send()
	}
	assert.Zero(t, testing.AllocsPerRun(200, send))
}
