package udp_test

import (
	"net/netip"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/dpstack/dpstack/stack/header"
	"github.com/dpstack/dpstack/stack/stacktest"
)

// FuzzInput feeds any bytes as the payload of a UDP/IPv4 packet to a host
// with sockets bound, connected and not: no panic, and every mbuf comes
// back (ARCHITECTURE.md §7).
func FuzzInput(f *testing.F) {
	f.Add(datagram(1, 7200, "hello"))
	f.Add(datagram(1, 7201, "to the connected socket"))
	f.Add(datagram(1, 9, "closed port"))
	f.Add(datagram(1, 7200, "")[:7])
	zero := datagram(1, 7200, "no checksum")
	header.UDP(zero).SetChecksum(0)
	f.Add(zero)
	long := datagram(1, 7200, "length")
	header.UDP(long).SetLength(1000)
	f.Add(long)
	p := newPair(f)
	bound(f, p.ub(), netip.IPv4Unspecified(), 7200)
	conn := bound(f, p.ub(), addrB, 7201)
	require.NoError(f, conn.Connect(netip.AddrPortFrom(addrA, 1)))
	base := stacktest.InUse(p.A) + stacktest.InUse(p.B)
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > 1400 {
			return
		}
		p.inject(t, data)
		p.ub().Close() // frees what the sockets queued
		p.Pump(2)
		require.Equal(t, base, stacktest.InUse(p.A)+stacktest.InUse(p.B))
	})
}
