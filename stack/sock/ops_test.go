package sock_test

import (
	"net/netip"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dpstack/dpstack/stack/sock"
)

func TestCheckFamily(t *testing.T) {
	cases := []struct {
		name   string
		addr   netip.AddrPort
		family uint16
		ok     bool
		unmap  netip.AddrPort
	}{
		{"IPv4", netip.MustParseAddrPort("198.18.0.1:80"), sock.AFInet, true,
			netip.MustParseAddrPort("198.18.0.1:80")},
		{"IPv4 wildcard", netip.MustParseAddrPort("0.0.0.0:0"), sock.AFInet, true,
			netip.MustParseAddrPort("0.0.0.0:0")},
		{"IPv4-mapped IPv6", netip.MustParseAddrPort("[::ffff:198.18.0.2]:8080"), sock.AFInet, true,
			netip.MustParseAddrPort("198.18.0.2:8080")},
		{"IPv6", netip.MustParseAddrPort("[2001:db8::1]:80"), sock.AFInet6, false,
			netip.MustParseAddrPort("[2001:db8::1]:80")},
		{"IPv6 wildcard", netip.MustParseAddrPort("[::]:80"), sock.AFInet6, false,
			netip.MustParseAddrPort("[::]:80")},
		{"IPv6 loopback", netip.MustParseAddrPort("[::1]:80"), sock.AFInet6, false,
			netip.MustParseAddrPort("[::1]:80")},
		{"no address", netip.AddrPort{}, 0, false, netip.AddrPort{}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			assert.Equal(t, c.family, sock.FamilyOf(c.addr))
			err := sock.CheckFamily(c.addr)
			if c.ok {
				require.NoError(t, err)
			} else {
				requireErrno(t, err, syscall.EAFNOSUPPORT)
			}
			assert.Equal(t, c.unmap, sock.Unmap(c.addr))
		})
	}
}

func TestMsgFlags(t *testing.T) {
	assert.Equal(t, 0x2, sock.MsgPeek)
	assert.Equal(t, 0x40, sock.MsgDontWait)
	assert.Equal(t, 0x100, sock.MsgWaitAll)
}
