package ipv4

import (
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
	"github.com/dpstack/dpstack/stack/route"
	"github.com/dpstack/dpstack/stat"
)

func TestMain(m *testing.M) { dpdktest.Main(m, "ipv4", dpdk.EALConfig{}) }

// Addresses of the tests, all in 198.18.0.0/15.
var (
	ourPrefix = netip.MustParsePrefix("198.18.0.1/24")
	ourAddr   = ourPrefix.Addr()
	ourMAC    = header.MAC{0x02, 0, 0, 0, 0, 0x01}
	peerAddr  = netip.MustParseAddr("198.18.0.2")
	peerMAC   = header.MAC{0x02, 0, 0, 0, 0, 0x02}
	otherAddr = netip.MustParseAddr("198.18.0.3")
	otherMAC  = header.MAC{0x02, 0, 0, 0, 0, 0x03}
	subnetBC  = netip.MustParseAddr("198.18.0.255")
	allOnes   = netip.MustParseAddr("255.255.255.255")
)

// env is one Layer on one device with a fresh pool, a routing table with
// ourPrefix connected, and a manual clock.
type env struct {
	t     testing.TB
	pool  *mbuf.Pool
	cache *mbuf.Cache
	txq   *netdevtest.TxRecorder
	dev   *netdev.Device
	wheel *ktime.Wheel
	rt    *route.Table
	now   ktime.Time // the layer's clock
	l     *Layer
}

func newEnv(t testing.TB, feat netdev.Features) *env {
	t.Helper()
	pool := dpdktest.Pool(t, 1023)
	e := &env{t: t, pool: pool, cache: mbuf.NewCache(pool), txq: &netdevtest.TxRecorder{}}
	// Registered after the pool's leak check, so it runs before it.
	t.Cleanup(e.reset)
	e.dev = netdev.New(netdev.Config{Name: "test0", MAC: ourMAC, MTU: 1500, Features: feat,
		Cache: e.cache, TxQueue: e.txq})
	now := ktime.Time(time.Hour)
	e.wheel = ktime.NewWheel(time.Millisecond, now)
	e.rt = route.NewTable(e.wheel)
	e.rt.SetNow(now)
	require.NoError(t, e.rt.AddConnected(ourPrefix, e.dev))
	e.now = now
	e.l = New(Config{Dev: e.dev, Routes: e.rt, Clock: &e.now, Wheel: e.wheel})
	return e
}

// reset forgets every neighbour (dropping the packets queued on them),
// frees the frames sent and returns the cache's mbufs to the pool.
func (e *env) reset() {
	e.l.FlushFragments()
	var addrs []netip.Addr
	e.rt.Neighbours().Each(func(n *route.Neighbour) { addrs = append(addrs, n.Addr()) })
	for _, a := range addrs {
		e.rt.Neighbours().Delete(a)
	}
	for _, b := range e.txq.Frames {
		e.cache.Free(b)
	}
	e.txq.Frames = e.txq.Frames[:0]
	e.cache.Drain()
}

// mbuf returns a fresh mbuf holding data.
func (e *env) mbuf(data []byte) *mbuf.Buf {
	b := e.pool.Alloc()
	require.NotNil(e.t, b)
	p := b.Put(len(data))
	require.NotNil(e.t, p)
	copy(p, data)
	return b
}

// frame is a sent frame: a copy of its bytes and its offload flags.
type frame struct {
	data []byte
	ol   uint64
}

func (f frame) eth() header.Ethernet { return header.Ethernet(f.data) }

// takeFrames returns the frames sent so far and frees them.
func (e *env) takeFrames() []frame {
	var out []frame
	for _, b := range e.txq.Frames {
		out = append(out, frame{data: append([]byte(nil), b.Bytes()...), ol: b.OlFlags()})
		e.cache.Free(b)
	}
	e.txq.Frames = e.txq.Frames[:0]
	return out
}

// takeFrame returns the one frame sent since the last take.
func (e *env) takeFrame() frame {
	e.t.Helper()
	f := e.takeFrames()
	require.Len(e.t, f, 1)
	return f[0]
}

// totalDrops is the number of drops counted for every reason.
func (e *env) totalDrops() uint64 {
	var n uint64
	for r := stat.DropReason(0); r < stat.NumDropReasons; r++ {
		n += e.dev.Drops.Get(r)
	}
	return n
}

// requireNoLeak checks that every mbuf is back in the pool.
func (e *env) requireNoLeak() {
	e.t.Helper()
	e.cache.Drain()
	require.Zero(e.t, e.pool.InUse(), "mbufs in use")
}

// learnPeer makes the neighbour table learn peerMAC from an ARP request
// for our address, and discards the reply.
func (e *env) learnPeer() {
	e.t.Helper()
	e.l.ARPInput(e.mbuf(arpPacket(header.ARPRequest, peerMAC, peerAddr, header.MAC{}, ourAddr)))
	e.takeFrame()
	n := e.rt.Neighbours().Lookup(peerAddr)
	require.NotNil(e.t, n)
	require.Equal(e.t, peerMAC, n.MAC())
}

// ipSpec describes an IPv4 packet to craft.
type ipSpec struct {
	src, dst netip.Addr
	proto    uint8
	ttl      uint8
	tos      uint8
	flags    uint8
	fragOff  uint16
	id       uint16 // 0 means 0x1234
	options  []byte // a multiple of 4 bytes
	payload  []byte
	padding  int // link-layer padding after Total Length
}

// bytes builds the packet with a correct header checksum.
func (s ipSpec) bytes() []byte {
	hl := header.IPv4MinLen + len(s.options)
	tl := hl + len(s.payload)
	b := make([]byte, tl+s.padding)
	ip := header.IPv4(b)
	id := s.id
	if id == 0 {
		id = 0x1234
	}
	ip.Encode(header.IPv4Fields{TOS: s.tos, TotalLen: uint16(tl), ID: id, Flags: s.flags,
		FragOff: s.fragOff, TTL: s.ttl, Protocol: s.proto, Src: s.src, Dst: s.dst})
	ip.SetHeaderLen(hl)
	copy(b[header.IPv4MinLen:], s.options)
	copy(b[hl:], s.payload)
	for i := tl; i < len(b); i++ {
		b[i] = 0xee
	}
	ip.SetChecksumFull()
	return b
}

// echoData returns n bytes of recognisable echo data.
func echoData(n int) []byte {
	d := make([]byte, n)
	for i := range d {
		d[i] = byte(i*7 + 3)
	}
	return d
}

// icmpMsg builds an ICMP message with a correct checksum.
func icmpMsg(typ, code uint8, id, seq uint16, data []byte) []byte {
	b := make([]byte, header.ICMPv4MinLen+len(data))
	m := header.ICMPv4(b)
	m.SetType(typ)
	m.SetCode(code)
	m.SetIdent(id)
	m.SetSeq(seq)
	copy(m.Payload(), data)
	m.SetChecksumFull()
	return b
}

// echoSpec is an echo request from the peer to us.
func echoSpec(n int) ipSpec {
	return ipSpec{src: peerAddr, dst: ourAddr, proto: header.IPProtoICMP, ttl: 64,
		payload: icmpMsg(header.ICMPv4Echo, 0, 0x4242, 7, echoData(n))}
}

// arpPacket builds an ARP packet padded to a minimum Ethernet frame.
func arpPacket(op uint16, sha header.MAC, spa netip.Addr, tha header.MAC, tpa netip.Addr) []byte {
	b := make([]byte, arpFrameLen)
	header.ARP(b).Encode(op, sha, spa, tha, tpa)
	return b
}

// testProto is an IP protocol number for experiments (RFC 3692).
const testProto = 253
