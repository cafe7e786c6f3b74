package stack_test

import (
	"net/netip"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dpstack/dpstack/stack/header"
	"github.com/dpstack/dpstack/stack/route"
	"github.com/dpstack/dpstack/stack/sock"
)

// TestUDPMulticastOutput: a datagram to a group leaves for the group's
// Ethernet address with IP_MULTICAST_TTL (1 unless set, RFC 1112 §6.1),
// not IP_TTL, which unicast datagrams keep, from the address
// IP_MULTICAST_IF names.
func TestUDPMulticastOutput(t *testing.T) {
	lh := newLoopHost(t, 1)
	s, err := lh.udpSock(0, 7304, false)
	require.NoError(t, err)
	require.NoError(t, s.SetSockOpt(syscall.IPPROTO_IP, syscall.IP_TTL, 5))
	require.NoError(t, s.SetSockOptMReq(syscall.IPPROTO_IP, syscall.IP_MULTICAST_IF, sock.MReq{Interface: addrA.Addr()}))
	group := netip.MustParseAddr("239.18.0.5")
	sent := func(to netip.Addr) (header.Ethernet, header.IPv4) {
		t.Helper()
		_, err := s.SendTo([]byte("tick"), 0, netip.AddrPortFrom(to, 9000))
		require.NoError(t, err)
		lh.h.Stacks()[0].Loop().Flush()
		f := lh.frames(0)
		require.Len(t, f, 1)
		ip, perr := header.ParseIPv4(f[0][header.EthernetLen:])
		require.Equal(t, header.IPv4OK, perr)
		return header.Ethernet(f[0]), ip
	}
	eth, ip := sent(group)
	assert.Equal(t, route.MulticastMAC(header.AddrU32(group)), eth.Dst())
	assert.Equal(t, uint8(1), ip.TTL(), "IP_MULTICAST_TTL's default")
	assert.Equal(t, addrA.Addr(), ip.Src())
	require.NoError(t, s.SetSockOpt(syscall.IPPROTO_IP, syscall.IP_MULTICAST_TTL, 9))
	_, ip = sent(group)
	assert.Equal(t, uint8(9), ip.TTL())
	_, ip = sent(addrB.Addr())
	assert.Equal(t, uint8(5), ip.TTL(), "unicast keeps IP_TTL")
}
