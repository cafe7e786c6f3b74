package route

import (
	"encoding/binary"
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/dpstack/dpstack/dpdk"
	"github.com/dpstack/dpstack/dpdk/dpdktest"
	"github.com/dpstack/dpstack/ktime"
	"github.com/dpstack/dpstack/mbuf"
	"github.com/dpstack/dpstack/stack/header"
	"github.com/dpstack/dpstack/stack/netdev"
	"github.com/dpstack/dpstack/stack/netdev/netdevtest"
)

func TestMain(m *testing.M) { dpdktest.Main(m, "route", dpdk.EALConfig{}) }

// Addresses of the tests, all in 198.18.0.0/15.
var (
	ourAddr  = netip.MustParsePrefix("198.18.0.1/24")
	ourMAC   = header.MAC{0x02, 0, 0, 0, 0, 0x01}
	peerAddr = netip.MustParseAddr("198.18.0.7")
	peerMAC  = header.MAC{0x02, 0, 0, 0, 0, 0x07}
	gwAddr   = netip.MustParseAddr("198.18.0.254")
)

type solicitation struct {
	target netip.Addr
	dst    header.MAC
}

// env is a table on one device with a manual clock.
type env struct {
	t         *testing.T
	cache     *mbuf.Cache
	txq       *netdevtest.TxRecorder
	dev       *netdev.Device
	wheel     *ktime.Wheel
	now       ktime.Time
	tbl       *Table
	solicits  []solicitation
	looped    []*mbuf.Buf
	nextIdent uint16
}

// newEnv builds a table with ourAddr connected on one device.
func newEnv(t *testing.T, cfg Config) *env {
	pool := dpdktest.Pool(t, 1023)
	e := &env{t: t, cache: mbuf.NewCache(pool), txq: &netdevtest.TxRecorder{}}
	// Registered after the pool's leak check, so it runs before it.
	t.Cleanup(func() {
		e.tbl.Neighbours().Each(func(n *Neighbour) { n.purgeQueue(0) })
		e.takeFrames()
		for _, b := range e.looped {
			e.cache.Free(b)
		}
		e.cache.Drain()
	})
	e.dev = netdev.New(netdev.Config{Name: "test0", MAC: ourMAC, MTU: 1500, Cache: e.cache, TxQueue: e.txq})
	e.now = ktime.Time(time.Hour)
	e.wheel = ktime.NewWheel(time.Millisecond, e.now)
	e.tbl = NewTableConfig(e.wheel, cfg)
	e.tbl.SetNow(e.now)
	e.tbl.Neighbours().SetSolicit(func(dev *netdev.Device, target netip.Addr, dst header.MAC) {
		require.Same(t, e.dev, dev)
		e.solicits = append(e.solicits, solicitation{target, dst})
	})
	e.tbl.SetLoopback(func(b *mbuf.Buf) { e.looped = append(e.looped, b) })
	require.NoError(t, e.tbl.AddConnected(ourAddr, e.dev))
	return e
}

// advance moves the clock by d and fires due timers.
func (e *env) advance(d time.Duration) {
	target := e.now.Add(d)
	// Stop at every expiry on the way, as a poll loop turning every tick
	// would, so that timers re-armed by callbacks count from their due time.
	for range 1 << 20 {
		next, ok := e.wheel.NextExpiry()
		if !ok || next > target {
			break
		}
		e.now = max(e.now, next)
		e.tbl.SetNow(e.now)
		e.wheel.Advance(e.now, 1024)
	}
	e.now = target
	e.tbl.SetNow(e.now)
	for e.wheel.Advance(e.now, 1024) == 1024 {
	}
}

// packet returns a 28-byte IPv4 packet to dst whose Identification is a
// sequence number (returned too).
func (e *env) packet(dst netip.Addr) (*mbuf.Buf, uint16) {
	b := e.cache.Get()
	require.NotNil(e.t, b)
	p := b.Put(28)
	require.NotNil(e.t, p)
	clear(p)
	p[0] = 0x45
	binary.BigEndian.PutUint16(p[2:], 28)
	e.nextIdent++
	binary.BigEndian.PutUint16(p[4:], e.nextIdent)
	p[8] = 64
	p[9] = header.IPProtoUDP
	src := ourAddr.Addr().As4()
	d := dst.As4()
	copy(p[12:16], src[:])
	copy(p[16:20], d[:])
	return b, e.nextIdent
}

// sent is what the device sent: Ethernet destination and IPv4
// Identification of each frame.
type sent struct {
	dst   header.MAC
	ident uint16
}

// takeFrames returns the frames sent so far, checked and freed.
func (e *env) takeFrames() []sent {
	var out []sent
	for _, b := range e.txq.Frames {
		eth, ok := header.ParseEthernet(b.Bytes())
		require.True(e.t, ok)
		require.Equal(e.t, ourMAC, eth.Src())
		require.Equal(e.t, header.EtherTypeIPv4, eth.EtherType())
		p := eth.Payload()
		require.Len(e.t, p, 28)
		out = append(out, sent{dst: eth.Dst(), ident: binary.BigEndian.Uint16(p[4:])})
		e.cache.Free(b)
	}
	e.txq.Frames = e.txq.Frames[:0]
	return out
}

// takeSolicits returns the solicitations made so far.
func (e *env) takeSolicits() []solicitation {
	s := e.solicits
	e.solicits = nil
	return s
}

// lookup is Lookup of dst from any source, which must succeed.
func (e *env) lookup(dst netip.Addr) *Dst {
	d, err := e.tbl.Lookup(&Flow4{Dst: dst})
	require.NoError(e.t, err)
	return d
}

// send outputs a packet to dst along its route and returns its ident.
func (e *env) send(dst netip.Addr) uint16 {
	b, id := e.packet(dst)
	e.lookup(dst).Output(b)
	return id
}
