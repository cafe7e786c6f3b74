package dpdk_test

import (
	"bytes"
	"net/netip"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dpstack/dpstack/dpdk"
	"github.com/dpstack/dpstack/dpdk/dpdktest"
	"github.com/dpstack/dpstack/mbuf"
	"github.com/dpstack/dpstack/stack/header"
	"github.com/dpstack/dpstack/stack/stacktest"
)

var (
	lroSrc = netip.MustParseAddr("198.18.0.1")
	lroDst = netip.MustParseAddr("198.18.0.2")
)

// lroSeg is one crafted data segment of the LRO model's tests, and how it
// goes on the wire.
type lroSeg struct {
	port    uint16 // the source port: the flow
	seq     uint32
	n       int
	flags   uint8
	wnd     uint16
	bad     bool // a checksum that does not add up
	partial bool // the checksum left to the port: the pseudo header's sum and RTE_MBUF_F_TX_TCP_CKSUM
}

// frame returns s as an mbuf of pool, its payload bytes s.seq+i.
func (s lroSeg) frame(t testing.TB, pool *mbuf.Pool) *mbuf.Buf {
	pay := make([]byte, s.n)
	for i := range pay {
		pay[i] = byte(s.seq + uint32(i))
	}
	if s.flags == 0 {
		s.flags = header.TCPFlagACK
	}
	seg := stacktest.Segment{SrcPort: s.port, DstPort: 80, Seq: s.seq, Ack: 7, Flags: s.flags, Window: s.wnd,
		Options: stacktest.OptTS(11, 12), Payload: pay, BadChecksum: s.bad}
	f := seg.Frame(header.MAC{2, 0, 0, 0, 0, 1}, header.MAC{2, 0, 0, 0, 0, 2}, lroSrc, lroDst)
	b := pool.Alloc()
	require.NotNil(t, b)
	copy(b.Put(len(f)), f)
	if s.partial {
		th := header.TCP(f[14+20:])
		sum := header.PseudoHeaderSum(lroSrc, lroDst, header.IPProtoTCP, uint16(len(th)))
		header.TCP(b.Bytes()[14+20:]).SetChecksum(^header.Fold(sum))
		b.SetOlFlags(mbuf.TxIPv4 | mbuf.TxTCPCksum)
	}
	return b
}

// flat copies packet b, every segment, into one slice.
func flat(b *mbuf.Buf) []byte {
	out := make([]byte, b.Len())
	b.ReadAt(out, 0)
	return out
}

// lroPair is a ring pair whose ports offer the LRO model, configured with
// it.
func lroPair(t testing.TB, name string, pool *mbuf.Pool) *dpdk.RingPair {
	rp, err := dpdk.NewRingPair(name, 256)
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, rp.Close()) })
	rp.OffloadLRO()
	for _, p := range []*dpdk.Port{rp.A, rp.B} {
		info, err := p.Info()
		require.NoError(t, err)
		assert.NotZero(t, info.RxOffloadCapa&dpdk.RxOffloadTCPLRO, "the pair offers LRO")
		assert.Equal(t, dpdk.MaxLROPktSize, info.MaxLROPktSize)
		got, err := p.Configure(dpdk.PortConfig{RxQueues: 1, TxQueues: 1, Pool: pool, RxOffloads: dpdk.RxOffloadTCPLRO})
		require.NoError(t, err, "the driver is not asked for the model's offload")
		assert.Equal(t, dpdk.RxOffloadTCPLRO, got.RxOffloads)
		assert.Equal(t, dpdk.MaxLROPktSize, got.MaxLROPktSize)
		require.NoError(t, p.Start())
		t.Cleanup(func() { assert.NoError(t, p.Stop()) })
	}
	return rp
}

// sendRecv sends segs in one burst from A and returns what B receives.
func sendRecv(t *testing.T, rp *dpdk.RingPair, pool *mbuf.Pool, segs []lroSeg) []*mbuf.Buf {
	out := make([]*mbuf.Buf, len(segs))
	for i, s := range segs {
		out[i] = s.frame(t, pool)
	}
	require.Equal(t, len(out), rp.A.TxBurst(0, out))
	in := make([]*mbuf.Buf, 64)
	n := rp.B.RxBurst(0, in)
	t.Cleanup(func() { mbuf.FreeBulk(in[:n]) })
	return in[:n]
}

// checkMerged checks that b is the segments of segs merged: one IPv4
// packet whose Total Length, checksums, payload, PSH and Window are the
// whole's, marked as LRO with the first segment's size.
func checkMerged(t *testing.T, b *mbuf.Buf, segs []lroSeg) {
	t.Helper()
	assert.Equal(t, len(segs), b.Segments())
	assert.Equal(t, mbuf.RxLRO|mbuf.RxIPCksumGood|mbuf.RxL4CksumGood, b.OlFlags())
	assert.Equal(t, segs[0].n, b.LROSegSize())
	f := flat(b)
	ip, e := header.ParseIPv4(f[14:])
	require.Equal(t, header.IPv4OK, e)
	assert.True(t, ip.IsChecksumValid(), "the IPv4 header checksum rewritten")
	assert.Equal(t, len(f)-14, int(ip.TotalLen()))
	p, err := stacktest.ParseSegment(ip, 0)
	require.NoError(t, err)
	if segs[0].partial {
		p, err = stacktest.ParseSegment(ip, mbuf.TxTCPCksum)
		require.NoError(t, err)
	}
	assert.True(t, p.ChecksumOK, "the TCP checksum is the merged segment's")
	var want []byte
	for _, s := range segs {
		for i := range s.n {
			want = append(want, byte(s.seq+uint32(i)))
		}
	}
	assert.True(t, bytes.Equal(want, p.Payload), "the payload in order")
	assert.Equal(t, segs[0].seq, p.Seq)
	last := segs[len(segs)-1]
	assert.Equal(t, last.flags&header.TCPFlagPSH|header.TCPFlagACK, p.Flags)
	assert.Equal(t, last.wnd, p.Window, "the last segment's window")
}

// TestLROModel: the ring pair's LRO model merges, within a burst, the
// in-order data segments of each flow, whatever lies between them, into
// one packet per flow as a NIC does: odd sizes (the checksum's byte
// lanes), the last segment shorter and with PSH, its window the newest.
// A segment with a bad checksum, one out of order, one after PSH and a
// lone segment pass alone and untouched; no mbuf is lost.
func TestLROModel(t *testing.T) {
	pool := dpdktest.Pool(t, 255)
	rp := lroPair(t, "dpdkl", pool)

	var one, two []lroSeg
	for i := range 8 {
		one = append(one, lroSeg{port: 1, seq: 1000 + uint32(i)*1001, n: 1001, wnd: 100})
	}
	one[7].n, one[7].flags, one[7].wnd = 333, header.TCPFlagACK|header.TCPFlagPSH, 90
	two = []lroSeg{{port: 2, seq: 5, n: 1448, wnd: 1}, {port: 2, seq: 5 + 1448, n: 1448, wnd: 1}}
	burst := []lroSeg{one[0], one[1], two[0], one[2], one[3], two[1], one[4], one[5], one[6], one[7],
		{port: 1, seq: one[7].seq + 333, n: 10},                           // after PSH: alone
		{port: 3, seq: 1, n: 100}, {port: 3, seq: 101, n: 100, bad: true}, // a bad checksum ends the merge
		{port: 3, seq: 201, n: 100},
		{port: 4, seq: 600, n: 100}, {port: 4, seq: 500, n: 100}, // out of order
		{port: 5, seq: 9, n: 1},
	}
	base := pool.InUse()
	in := sendRecv(t, rp, pool, burst)
	require.Len(t, in, 9)
	checkMerged(t, in[0], one)
	checkMerged(t, in[1], two)
	for i, b := range in[2:] {
		assert.Equal(t, 1, b.Segments(), "packet %d", i+2)
		assert.Zero(t, b.OlFlags()&mbuf.RxLRO, "packet %d passes untouched", i+2)
		assert.Zero(t, b.LROSegSize())
	}
	assert.Equal(t, base+len(burst), pool.InUse(), "every segment's mbuf is in a packet received, none freed")
}

// TestLROModelPartial: segments that came over a memory link with their
// checksums left to the port (RingPair.OffloadTCPChecksums) merge without
// being summed; the merged checksum field holds the pseudo header's sum
// of the merged length. A merge stops short of the configured size.
func TestLROModelPartial(t *testing.T) {
	pool := dpdktest.Pool(t, 255)
	rp := lroPair(t, "dpdkp", pool)
	var segs []lroSeg
	for i := range 50 {
		segs = append(segs, lroSeg{port: 1, seq: uint32(i) * 1448, n: 1448, partial: true})
	}
	in := sendRecv(t, rp, pool, segs)
	// 64 KiB holds 45 of them with their headers.
	require.Len(t, in, 2)
	checkMerged(t, in[0], segs[:45])
	checkMerged(t, in[1], segs[45:])
	assert.LessOrEqual(t, in[0].Len(), dpdk.MaxLROPktSize)
}

// FuzzLROModel sends bursts of segments made from the fuzzer's bytes
// (three flows, sizes, gaps, PSH, FIN, bad and partial checksums, Total
// Lengths that disagree with the frame) through the LRO model. Whatever
// it merges, every mbuf sent is received once, in a packet whose headers
// add up; no segment is reordered within its flow; a merged packet holds
// only good segments' data (a bad segment's payload differs from the one
// its sequence numbers call for), and no mbuf is lost.
func FuzzLROModel(f *testing.F) {
	f.Add([]byte{0, 200, 1, 0, 0, 200, 1, 0, 1, 10, 1, 0, 0, 100, 1, 1})
	f.Add([]byte{0, 255, 1, 2, 0, 255, 1, 4, 0, 255, 1, 8, 0, 255, 0, 0, 0, 3, 1, 16})
	pool := dpdktest.Pool(f, 255)
	rp := lroPair(f, "dpdkf", pool)
	f.Fuzz(func(t *testing.T, in []byte) {
		base := pool.InUse()
		next := [3]uint32{}
		var segs []lroSeg
		for i := 0; i+4 <= len(in) && len(segs) < 48; i += 4 {
			c := in[i : i+4]
			s := lroSeg{port: uint16(c[0] % 3), n: 1 + int(c[1])*6, wnd: uint16(c[3])}
			if c[2]%4 == 0 {
				next[s.port] += 7 // a gap
			}
			s.seq = next[s.port]
			next[s.port] += uint32(s.n)
			s.flags = header.TCPFlagACK
			if c[3]&1 != 0 {
				s.flags |= header.TCPFlagPSH
			}
			if c[3]&16 != 0 {
				s.flags |= header.TCPFlagFIN
			}
			// A partial checksum sums nothing: a segment that has one
			// cannot be bad (a memory link is trusted, by the model as by
			// the stack).
			s.partial = c[3]&4 != 0
			s.bad = c[3]&2 != 0 && !s.partial
			segs = append(segs, s)
		}
		var want [3][]uint32
		sent := make(map[[2]uint32]lroSeg)
		for _, s := range segs {
			want[s.port] = append(want[s.port], s.seq)
			sent[[2]uint32{uint32(s.port), s.seq}] = s
		}
		out := make([]*mbuf.Buf, len(segs))
		for i, s := range segs {
			out[i] = s.frame(t, pool)
			if s.bad {
				// The payload the sequence numbers do not call for.
				fr := out[i].Bytes()
				fr[len(fr)-1] ^= 0xff
			}
			if in[len(in)-1]&8 != 0 && i == len(segs)/2 {
				// A Total Length that disagrees with the frame.
				out[i].Bytes()[14+3]--
			}
		}
		if len(out) > 0 {
			require.Equal(t, len(out), rp.A.TxBurst(0, out))
		}
		got := make([]*mbuf.Buf, 64)
		n := rp.B.RxBurst(0, got)
		mbufs := 0
		var order [3][]uint32 // each flow's segments in the order received
		for _, b := range got[:n] {
			mbufs += b.Segments()
			f := flat(b)
			ip, e := header.ParseIPv4(f[14:])
			if e != header.IPv4OK {
				assert.Zero(t, b.OlFlags()&mbuf.RxLRO, "only whole packets are merged")
				continue
			}
			p, err := stacktest.ParseSegment(ip, 0)
			require.NoError(t, err)
			flow := p.SrcPort
			if b.OlFlags()&mbuf.RxLRO == 0 {
				order[flow] = append(order[flow], p.Seq)
				continue
			}
			assert.True(t, ip.IsChecksumValid())
			head, ok := sent[[2]uint32{uint32(flow), p.Seq}]
			require.True(t, ok, "a merged packet starts where a segment did")
			if head.partial {
				p, err = stacktest.ParseSegment(ip, mbuf.TxTCPCksum)
				require.NoError(t, err)
			}
			assert.True(t, p.ChecksumOK, "the merged checksum")
			assert.Zero(t, p.Flags&^(header.TCPFlagACK|header.TCPFlagPSH))
			for i, c := range p.Payload {
				require.Equal(t, byte(p.Seq+uint32(i)), c, "only good segments' data, in order")
			}
			sz := b.LROSegSize()
			for off := 0; off < len(p.Payload); off += sz {
				order[flow] = append(order[flow], p.Seq+uint32(off))
			}
		}
		assert.Equal(t, len(segs), mbufs, "every mbuf received once")
		for fl := range order {
			assert.Equal(t, want[fl], order[fl], "flow %d in order", fl)
		}
		mbuf.FreeBulk(got[:n])
		assert.Equal(t, base, pool.InUse())
	})
}

// TestConfigureLRO: what Configure asks of a NIC's driver that offers
// LRO: its largest packet up to 64 KiB, with scatter receive when the
// pool's mbufs are smaller, or the frame size when it states none; and no
// LRO when it cannot scatter, when its largest is below the frame size
// (ethdev would refuse it), or when the host did not ask.
func TestConfigureLRO(t *testing.T) {
	const frame, room = 1518, 2048
	scatter := dpdk.RxOffloadScatter | dpdk.RxOffloadTCPLRO
	for _, tc := range []struct {
		name      string
		ask, capa uint64
		max       int
		want      int
		wantRx    uint64
	}{
		{"mlx5", dpdk.RxOffloadTCPLRO, scatter, 65280, 65280, scatter},
		{"capped", dpdk.RxOffloadTCPLRO, scatter, 1 << 20, dpdk.MaxLROPktSize, scatter},
		{"no size", dpdk.RxOffloadTCPLRO, scatter, 0, frame, dpdk.RxOffloadTCPLRO},
		{"no scatter", dpdk.RxOffloadTCPLRO, dpdk.RxOffloadTCPLRO, 65280, 0, 0},
		{"below the frame", dpdk.RxOffloadTCPLRO, scatter, 1500, 0, 0},
		{"not asked", 0, scatter, 65280, 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := dpdk.Configured{RxOffloads: tc.ask & tc.capa}
			info := dpdk.DevInfo{RxOffloadCapa: tc.capa, MaxLROPktSize: tc.max}
			assert.Equal(t, tc.want, dpdk.ConfigureLRO(&got, info, frame, room), "max_lro_pkt_size asked")
			assert.Equal(t, tc.want, got.MaxLROPktSize)
			assert.Equal(t, tc.wantRx, got.RxOffloads)
		})
	}
}
