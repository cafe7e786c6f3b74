package tcp_test

import (
	"encoding/hex"
	"net/netip"
	"sync"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dpstack/dpstack/mbuf"
	"github.com/dpstack/dpstack/stack/header"
	"github.com/dpstack/dpstack/stack/rss"
	"github.com/dpstack/dpstack/stack/stacktest"
	"github.com/dpstack/dpstack/stack/tcp"
	"github.com/dpstack/dpstack/stat"
)

func ap(a netip.Addr, port int) netip.AddrPort { return netip.AddrPortFrom(a, uint16(port)) }

// The flow directory: a 4-tuple has at most one owner; claiming it again
// from the owner is a no-op, from another core a refusal; only the owner
// releases it.
func TestFlowTableClaimRelease(t *testing.T) {
	ft := tcp.NewFlowTable(0)
	l, r := ap(addrA.Addr(), 40000), ap(addrB.Addr(), 80)
	_, ok := ft.Owner(l, r)
	assert.False(t, ok)
	require.True(t, ft.Claim(l, r, 1))
	require.True(t, ft.Claim(l, r, 1), "again by the owner")
	assert.False(t, ft.Claim(l, r, 0), "by another core")
	core, ok := ft.Owner(l, r)
	assert.True(t, ok)
	assert.Equal(t, 1, core)
	_, ok = ft.Owner(r, l)
	assert.False(t, ok, "the reverse tuple is another connection")
	ft.Release(l, r, 0)
	assert.Equal(t, 1, ft.Len(), "only the owner releases")
	ft.Release(l, r, 1)
	assert.Zero(t, ft.Len())
	_, ok = ft.Owner(l, r)
	assert.False(t, ok)
}

// Many tuples in one bucket (a table of one bucket) stay apart.
func TestFlowTableOneBucket(t *testing.T) {
	ft := tcp.NewFlowTable(1)
	r := ap(addrB.Addr(), 80)
	for i := range 200 {
		require.True(t, ft.Claim(ap(addrA.Addr(), 40000+i), r, i%3))
	}
	assert.Equal(t, 200, ft.Len())
	for i := 0; i < 200; i += 2 {
		ft.Release(ap(addrA.Addr(), 40000+i), r, i%3)
	}
	assert.Equal(t, 100, ft.Len())
	for i := range 200 {
		core, ok := ft.Owner(ap(addrA.Addr(), 40000+i), r)
		if i%2 == 0 {
			assert.False(t, ok, "%d", i)
		} else {
			assert.True(t, ok, "%d", i)
			assert.Equal(t, i%3, core, "%d", i)
		}
	}
}

// Cores that claim the same tuples at once: exactly one wins each, and
// readers meanwhile see either no owner or the winner.
func TestFlowTableConcurrent(t *testing.T) {
	const cores, tuples = 4, 2000
	ft := tcp.NewFlowTable(64) // small: many writers per bucket
	r := ap(addrB.Addr(), 80)
	won := make([][]bool, cores)
	var wg sync.WaitGroup
	stop := make(chan struct{})
	var readerErr error
	var rwg sync.WaitGroup
	rwg.Add(1)
	go func() {
		defer rwg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			for i := range tuples {
				if c, ok := ft.Owner(ap(addrA.Addr(), 30000+i), r); ok && (c < 0 || c >= cores) {
					readerErr = assert.AnError
				}
			}
		}
	}()
	for c := range cores {
		won[c] = make([]bool, tuples)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range tuples {
				won[c][i] = ft.Claim(ap(addrA.Addr(), 30000+i), r, c)
			}
		}()
	}
	wg.Wait()
	for i := range tuples {
		n := 0
		for c := range cores {
			if won[c][i] {
				n++
				owner, ok := ft.Owner(ap(addrA.Addr(), 30000+i), r)
				require.True(t, ok)
				require.Equal(t, c, owner)
			}
		}
		require.Equal(t, 1, n, "tuple %d has %d owners", i, n)
	}
	assert.Equal(t, tuples, ft.Len())
	for c := range cores {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range tuples {
				ft.Release(ap(addrA.Addr(), 30000+i), r, c)
			}
		}()
	}
	wg.Wait()
	close(stop)
	rwg.Wait()
	assert.NoError(t, readerErr)
	assert.Zero(t, ft.Len())
}

func TestFlowTableLookupNoAllocs(t *testing.T) {
	ft := tcp.NewFlowTable(0)
	l, r := ap(addrA.Addr(), 40000), ap(addrB.Addr(), 80)
	require.True(t, ft.Claim(l, r, 1))
	assert.Zero(t, testing.AllocsPerRun(100, func() { ft.Owner(l, r) }))
	assert.Zero(t, testing.AllocsPerRun(100, func() { ft.Owner(r, l) }))
}

// msKey is the key of Microsoft's RSS verification suite.
func msKey(t testing.TB) []byte {
	k, err := hex.DecodeString("6d5a56da255b0ec24167253d43a38fb0d0ca2bcbae7b30b477cb2da38030f20c6a42b73bbeac01fa")
	require.NoError(t, err)
	return k
}

// With predictable RSS an active open takes, among the ports RFC 6056
// would try, the first whose replies the port steers to this core; the
// choice stays spread over the range. When no port qualifies, a free one
// is taken anyway (its segments are handed over).
func TestConnectPortSteered(t *testing.T) {
	pr := newPeer(t)
	p := pr.tcp()
	reta := make([]uint16, 128)
	for i := range reta {
		reta[i] = uint16(i % 4) // four cores; this one is core 2
	}
	st, err := rss.NewSteering(msKey(t), reta)
	require.NoError(t, err)
	here := func(local, remote netip.AddrPort) bool {
		return st.QueueIPv4TCP(remote.Addr(), local.Addr(), remote.Port(), local.Port()) == 2
	}
	p.SetReplyHere(here)
	local, remote := ap(addrB.Addr(), 0), ap(addrA.Addr(), 443)
	seen := map[uint16]bool{}
	for i := range 300 {
		port, ok := p.ConnectPortForTest(local, remote)
		require.True(t, ok)
		require.True(t, here(ap(addrB.Addr(), int(port)), remote), "port %d (%d) replies elsewhere", port, i)
		assert.False(t, seen[port], "port %d given twice", port)
		seen[port] = true
	}
	// Other destinations start elsewhere (RFC 6056's keyed offset).
	lo, hi := uint16(65535), uint16(0)
	for rport := 1000; rport < 1050; rport++ {
		port, ok := p.ConnectPortForTest(local, ap(addrA.Addr(), rport))
		require.True(t, ok)
		require.True(t, here(ap(addrB.Addr(), int(port)), ap(addrA.Addr(), rport)))
		lo, hi = min(lo, port), max(hi, port)
	}
	assert.Greater(t, int(hi-lo), 20000, "spread over the range")

	p.SetReplyHere(func(local, remote netip.AddrPort) bool { return false })
	port, ok := p.ConnectPortForTest(local, ap(addrA.Addr(), 444))
	assert.True(t, ok, "no port qualifies: any free one")
	assert.NotZero(t, port)
}

// On a host of several cores a connect skips the 4-tuples that another
// core has, claims its own in the directory, and gives it back when the
// connection is gone.
func TestConnectClaimsFlow(t *testing.T) {
	pr := newPeer(t)
	p := pr.tcp()
	ft := tcp.NewFlowTable(0)
	p.SetFlows(ft, 0, func(b *mbuf.Buf, core int) bool { return false })
	local, remote := pr.h.Addr().Addr(), ap(pr.addr, 9)
	// Core 1 has every ephemeral port to remote but one.
	for port := 32768; port <= 60999; port++ {
		if port != 50000 {
			require.True(t, ft.Claim(ap(local, port), remote, 1))
		}
	}
	s := p.NewSock()
	require.ErrorIs(t, s.Connect(remote), syscall.EINPROGRESS)
	assert.Equal(t, uint16(50000), s.LocalAddr().Port())
	owner, ok := ft.Owner(s.LocalAddr(), remote)
	require.True(t, ok)
	assert.Equal(t, 0, owner)
	pr.expect(stacktest.Flags(fSYN))
	e := p.NewSock()
	assert.ErrorIs(t, e.Connect(remote), syscall.EADDRNOTAVAIL, "none left")
	e.Close()
	require.NoError(t, s.SetSockOptLinger(syscall.SOL_SOCKET, syscall.SO_LINGER, syscall.Linger{Onoff: 1}))
	s.Close()
	_, ok = ft.Owner(ap(local, 50000), remote)
	assert.False(t, ok, "released")
	assert.Equal(t, 60999-32768, ft.Len(), "core 1's stay")
}

// A segment of a connection the directory gives to another core is handed
// over with its IP header pushed back, counted, and not answered here; a
// refused handoff is a counted drop. Neither allocates.
func TestInputHandsOver(t *testing.T) {
	pr := newPeer(t)
	p := pr.tcp()
	ft := tcp.NewFlowTable(0)
	var got [][]byte
	accept := true
	p.SetFlows(ft, 0, func(b *mbuf.Buf, core int) bool {
		if !accept {
			return false
		}
		if got != nil {
			f := make([]byte, b.Len())
			b.ReadAt(f, 0)
			got = append(got, f)
		}
		b.Free()
		return core == 1
	})
	local, remote := ap(pr.h.Addr().Addr(), 40000), ap(pr.addr, 80)
	require.True(t, ft.Claim(local, remote, 1))
	got = [][]byte{}
	pr.send(stacktest.Segment{SrcPort: 80, DstPort: 40000, Seq: 7, Ack: 9, Flags: fACK, Payload: []byte("abc")})
	pr.expectNone()
	require.Len(t, got, 1)
	ip, perr := header.ParseIPv4(got[0])
	require.Equal(t, header.IPv4OK, perr, "the data starts at the IPv4 header")
	assert.Equal(t, pr.addr, ip.Src())
	th, ok := header.ParseTCP(ip.Payload())
	require.True(t, ok)
	assert.Equal(t, uint16(40000), th.DstPort())
	assert.Equal(t, "abc", string(th.Payload()))
	assert.Equal(t, uint64(1), p.Stats().Handoffs.Load())
	assert.Zero(t, pr.drops(stat.DropTCPNoSocket))

	// Refused: dropped and counted, no RST.
	accept = false
	pr.send(stacktest.Segment{SrcPort: 80, DstPort: 40000, Seq: 7, Ack: 9, Flags: fACK})
	pr.expectNone()
	assert.Equal(t, uint64(1), pr.drops(stat.DropHandoffFull))
	assert.Equal(t, uint64(1), p.Stats().Handoffs.Load())

	// The handoff path allocates nothing.
	accept, got = true, nil
	frame := pr.frame(stacktest.Segment{SrcPort: 80, DstPort: 40000, Seq: 7, Ack: 9, Flags: fACK})
	one := mbuf.NewBurst(1)
	loop := pr.h.Stacks()[0].Loop()
	allocs := testing.AllocsPerRun(100, func() {
		b := pr.pool.Alloc()
		copy(b.Put(len(frame)), frame)
		one[0] = b
		pr.rp.A.TxBurst(0, one)
		loop.Poll()
	})
	assert.Zero(t, allocs)
	assert.Equal(t, uint64(102), p.Stats().Handoffs.Load())
}
