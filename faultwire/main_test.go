package faultwire_test

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dpstack/dpstack/dpdk"
	"github.com/dpstack/dpstack/dpdk/dpdktest"
	"github.com/dpstack/dpstack/faultwire"
	"github.com/dpstack/dpstack/ktime"
	"github.com/dpstack/dpstack/mbuf"
	"github.com/dpstack/dpstack/stack/header"
)

func TestMain(m *testing.M) { dpdktest.Main(m, "faultwire", dpdk.EALConfig{}) }

var seq atomic.Int64

func uniq(prefix string) string { return fmt.Sprintf("%s%d", prefix, seq.Add(1)) }

var (
	macA = header.MAC{0x02, 0, 0, 0, 0, 0x0a}
	macB = header.MAC{0x02, 0, 0, 0, 0, 0x0b}
	ipA  = netip.MustParseAddr("198.18.7.1")
	ipB  = netip.MustParseAddr("198.18.7.2")
)

// rig is a wire whose ends A and B the test drives with raw bursts, on a
// manual clock.
type rig struct {
	t    testing.TB
	pool *mbuf.Pool
	w    *faultwire.Wire
	vec  []*mbuf.Buf // burst vector in C memory
	now  ktime.Time
}

func newRig(t testing.TB, ab, ba faultwire.Faults, seed int64) *rig {
	t.Helper()
	pool := dpdktest.Pool(t, 4095)
	w, err := faultwire.New(uniq("fw"), pool, ab, ba, seed)
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, w.Close()) })
	for _, p := range []*dpdk.Port{w.A, w.B} {
		_, err := p.Configure(dpdk.PortConfig{RxQueues: 1, TxQueues: 1, Pool: pool})
		require.NoError(t, err)
		require.NoError(t, p.Start())
	}
	return &rig{t: t, pool: pool, w: w, vec: mbuf.NewBurst(32)}
}

// send transmits frames on port p, 32 at a time; the ring must take them.
func (r *rig) send(p *dpdk.Port, frames ...[]byte) {
	r.t.Helper()
	for len(frames) > 0 {
		n := min(len(frames), len(r.vec))
		for i, f := range frames[:n] {
			b := r.pool.Alloc()
			require.NotNil(r.t, b)
			copy(b.Put(len(f)), f)
			r.vec[i] = b
		}
		require.Equal(r.t, n, p.TxBurst(0, r.vec[:n]), "ring full")
		frames = frames[n:]
	}
}

// recv reads and frees everything waiting on port p and returns copies of
// the frames, in order.
func (r *rig) recv(p *dpdk.Port) [][]byte {
	var out [][]byte
	for range 1000 {
		n := p.RxBurst(0, r.vec)
		for _, b := range r.vec[:n] {
			f := make([]byte, b.Len())
			require.Equal(r.t, len(f), b.ReadAt(f, 0))
			out = append(out, f)
		}
		mbuf.FreeBulk(r.vec[:n])
		if n == 0 {
			return out
		}
	}
	r.t.Fatal("port never ran dry")
	return nil
}

// step advances the clock by d and polls the wire.
func (r *rig) step(d time.Duration) int {
	r.now = r.now.Add(d)
	return r.w.Poll(r.now)
}

// through sends frames from A in bursts of 32, polling the wire and
// reading B after each, and returns what B received.
func (r *rig) through(frames [][]byte) [][]byte {
	r.t.Helper()
	var got [][]byte
	for len(frames) > 0 {
		n := min(len(frames), 32)
		r.send(r.w.A, frames[:n]...)
		frames = frames[n:]
		r.step(time.Microsecond)
		got = append(got, r.recv(r.w.B)...)
	}
	return got
}

// balanced checks that every packet of a direction is accounted for.
func balanced(t testing.TB, s faultwire.Stats) {
	t.Helper()
	assert.Equal(t, s.Received+s.Duplicated,
		s.Forwarded+s.Dropped+s.RateDropped+s.QueueDropped+s.TxDropped+s.Held, "%+v", s)
}

// udpFrame is an Ethernet/IPv4/UDP frame from A to B, size bytes long
// (at least 46), whose payload starts with n; both checksums are valid.
func udpFrame(n uint32, size int) []byte {
	f := make([]byte, size)
	header.Ethernet(f).Encode(macB, macA, header.EtherTypeIPv4)
	ip := header.IPv4(f[header.EthernetLen:])
	ip.Encode(header.IPv4Fields{TotalLen: uint16(len(ip)), ID: uint16(n), TTL: 64,
		Protocol: header.IPProtoUDP, Src: ipA, Dst: ipB})
	ip.SetChecksumFull()
	u := header.UDP(ip[header.IPv4MinLen:])
	u.Encode(4000, 5000, uint16(len(u)))
	binary.BigEndian.PutUint32(u.Payload(), n)
	for i := 4; i < len(u.Payload()); i++ {
		u.Payload()[i] = byte(i)
	}
	u.SetChecksum(u.CalculateChecksum(header.PseudoHeaderSum(ipA, ipB, header.IPProtoUDP, uint16(len(u)))))
	return f
}

// seqOf is the number udpFrame put in f.
func seqOf(f []byte) uint32 {
	return binary.BigEndian.Uint32(f[header.EthernetLen+header.IPv4MinLen+header.UDPLen:])
}

func udpFrames(n, size int) [][]byte {
	fs := make([][]byte, n)
	for i := range fs {
		fs[i] = udpFrame(uint32(i), size)
	}
	return fs
}

func seqs(frames [][]byte) []uint32 {
	s := make([]uint32, len(frames))
	for i, f := range frames {
		s[i] = seqOf(f)
	}
	return s
}
