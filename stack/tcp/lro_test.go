package tcp_test

import (
	"bytes"
	"net/netip"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dpstack/dpstack/dpdk"
	"github.com/dpstack/dpstack/faultwire"
	"github.com/dpstack/dpstack/mbuf"
	"github.com/dpstack/dpstack/stack/stacktest"
)

// Large receive offload (lro.go), on the ring pair's model of a NIC's LRO
// (dpdk.RingPair.OffloadLRO): no port here offers LRO.

// sendBurst sends n full segments of the connection from the peer in one
// tx burst, so that the host's port receives them in one rx burst, all
// with the same timestamp as a sender's burst within a millisecond has,
// and runs the host. It returns the data.
func (rc *rawConn) sendBurst(n, size int) []byte {
	t := rc.pr.t
	t.Helper()
	base := rc.seg(fACK, nil)
	data := pattern(n*size, int(rc.seq))
	out := make([]*mbuf.Buf, n)
	for i := range out {
		s := base
		s.Seq = rc.seq + uint32(i*size)
		s.Payload = data[i*size : (i+1)*size]
		if i == n-1 {
			s.Flags |= fPSH
		}
		f := rc.pr.frame(s)
		b := rc.pr.pool.Alloc()
		require.NotNil(t, b)
		copy(b.Put(len(f)), f)
		out[i] = b
	}
	require.Equal(t, n, rc.pr.rp.A.TxBurst(0, out))
	rc.seq += uint32(n * size)
	rc.pr.poll(2)
	return data
}

// TestLROOneAck: eight full-sized segments that the port merged into one
// packet are taken as one segment and answered by exactly one ACK, at
// once, that acknowledges all of them, as Linux answers a GRO packet;
// the counters say one packet of eight segments; the data reads back
// byte-exact and every mbuf returns. Without LRO (and without GRO) the
// same burst is answered segment by segment (quickack, then every second
// one); with GRO too, the LRO packet is still answered once.
func TestLROOneAck(t *testing.T) {
	for _, tc := range []struct {
		name     string
		lro, gro bool
	}{{"lro", true, false}, {"off", false, false}, {"lro+gro", true, true}} {
		lro := tc.lro
		t.Run(tc.name, func(t *testing.T) {
			pr := newPeerWith(t, 0, lro)
			pr.tcp().SetGRO(tc.gro)
			l := listen(t, pr.h, 80, 4)
			t.Cleanup(func() { l.Close() })
			rc := pr.accept(l, 5000, 1000, synOpts(100))
			base := pr.pool.InUse()
			st := pr.tcp().Stats()
			const mss = 1448
			data := rc.sendBurst(8, mss)
			if lro {
				rc.expect(stacktest.Flags(fACK), stacktest.Ack(rc.seq), stacktest.PayloadLen(0))
				pr.expectNone()
				assert.Equal(t, uint64(1), st.LROPackets.Load())
				assert.Equal(t, uint64(8), st.LROSegs.Load())
			} else {
				n := len(pr.inbox)
				assert.GreaterOrEqual(t, n, 4, "an ACK at least every second segment")
				assert.Equal(t, rc.seq, pr.inbox[n-1].Ack)
				pr.drain()
				assert.Zero(t, st.LROPackets.Load())
			}
			got := make([]byte, len(data)+1)
			n, err := rc.s.RecvMsg(got, 0)
			require.NoError(t, err)
			assert.True(t, bytes.Equal(data, got[:n]), "byte-exact")
			pr.poll(2)
			assert.Equal(t, base, pr.pool.InUse(), "every mbuf back")
		})
	}
}

// lroRun is what a bulk transfer with or without LRO counted at the
// receiver.
type lroRun struct {
	acks, lroPackets, lroSegs, csumErrors uint64
	tsoSegs                               uint64 // at the sender
}

// lroTransfer sends size bytes from a to b over a ring pair, or a fault
// wire with faults when wire is set, with the link's LRO model on or off
// and the receiver's GRO off (LRO's effect alone), and checks that they
// arrive byte-exact. The pair checks at the end that both pools are back
// at their baseline.
func lroTransfer(t *testing.T, lro bool, wire *stacktest.WireConfig, size int) lroRun {
	wp := &pair{stacktest.NewPair(t, stacktest.PairConfig{Name: uniq("tl"), ManualClock: true,
		KnownNeighbours: true, LRO: lro, Wire: wire})}
	wp.tb().SetGRO(false)
	cl, sv := wp.connectWire(5401, "cubic")
	st := wp.tb().Stats()
	out0 := st.OutSegs.Load()
	data := pattern(size, 5)
	got := transferWire(t, wp, cl, sv, data)
	require.True(t, bytes.Equal(data, got), "byte-exact")
	return lroRun{acks: st.OutSegs.Load() - out0, lroPackets: st.LROPackets.Load(), lroSegs: st.LROSegs.Load(),
		csumErrors: st.InCsumErrors.Load(), tsoSegs: wp.ta().Stats().TSOSegs.Load()}
}

// TestLROBulk: bulk transfers with LRO on and off, over a clean ring pair
// and over a fault wire that drops, reorders and corrupts (the model
// merges only segments it verified, and only in order), with and without
// TSO at the sender: byte-exact either way; with LRO the counters moved,
// each packet merged at least two segments, and the receiver sent fewer
// than half the ACKs for the same bytes.
func TestLROBulk(t *testing.T) {
	const size = 8 << 20
	faults := faultwire.Faults{Drop: 0.005, Reorder: 0.01, Corrupt: 0.002}
	for _, tc := range []struct {
		name string
		wire *stacktest.WireConfig
	}{
		{"rings", nil},
		{"faults", &stacktest.WireConfig{AB: faults, BA: faultwire.Faults{Drop: 0.005}, Seed: 15}},
		// The sender's TSO cut by the wire, the pieces merged again by
		// the receiver's LRO.
		{"tso", &stacktest.WireConfig{AB: faults, BA: faultwire.Faults{Drop: 0.005}, Seed: 16, TSO: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			on := lroTransfer(t, true, tc.wire, size)
			off := lroTransfer(t, false, tc.wire, size)
			t.Logf("ACKs for %d bytes: %d with LRO (%d packets of %d segments), %d without",
				size, on.acks, on.lroPackets, on.lroSegs, off.acks)
			require.Positive(t, on.lroPackets, "the port merged")
			assert.GreaterOrEqual(t, on.lroSegs, 2*on.lroPackets, "at least two segments a packet")
			assert.Zero(t, off.lroPackets+off.lroSegs)
			assert.Less(t, 2*on.acks, off.acks, "fewer than half the ACKs for the same bytes with LRO")
			if tc.wire != nil && tc.wire.TSO {
				assert.Positive(t, on.tsoSegs, "large segments sent")
			}
			if tc.wire != nil {
				// Corrupted frames reached TCP alone, and were dropped
				// there: the model merged none of them.
				assert.Positive(t, on.csumErrors, "corrupted segments dropped with LRO")
				assert.Positive(t, off.csumErrors, "and without")
			}
		})
	}
}

// BenchmarkBulkLRO is BenchmarkBulk with neither receive offload, with
// the receiver's GRO, with the ring pair's LRO model, and with both; with
// full checksums (sum: the receiver, or with LRO the model as a NIC
// would, verifies every byte) and with checksums left to the memory link
// (partial: nobody sums). acks/MiB is what the receiver sent.
func BenchmarkBulkLRO(b *testing.B) {
	for _, csum := range []string{"sum", "partial"} {
		for _, mode := range []struct {
			name     string
			lro, gro bool
		}{{"off", false, false}, {"gro", false, true}, {"lro", true, false}, {"lro+gro", true, true}} {
			b.Run(csum+"/"+mode.name, func(b *testing.B) {
				p := &pair{stacktest.NewPair(b, stacktest.PairConfig{Name: uniq("bl"), ManualClock: true,
					KnownNeighbours: true, LRO: mode.lro, CsumOffload: csum == "partial"})}
				p.tb().SetGRO(mode.gro)
				st := p.tb().Stats()
				out0 := st.OutSegs.Load()
				benchBulk(b, p)
				b.ReportMetric(float64(st.OutSegs.Load()-out0)/(float64(b.N)/16), "acks/MiB")
			})
		}
	}
}

// TestNoLRO: a host asks for the port's LRO, at its largest, unless
// told not to (stack.Config.NoLRO).
func TestNoLRO(t *testing.T) {
	rp, err := dpdk.NewRingPair(uniq("tlo"), 64)
	require.NoError(t, err)
	rp.OffloadLRO()
	t.Cleanup(func() { assert.NoError(t, rp.Close()) })
	for i, off := range []bool{true, false} {
		port := []*dpdk.Port{rp.A, rp.B}[i]
		h := stacktest.OpenHost(t, stacktest.HostConfig{Name: uniq("tlo"), Port: port,
			Addr: []netip.Prefix{addrA, addrB}[i], NoLRO: off})
		got := h.Offloads()
		if off {
			assert.Zero(t, got.RxOffloads&dpdk.RxOffloadTCPLRO, "LRO off")
			assert.Zero(t, got.MaxLROPktSize)
		} else {
			assert.NotZero(t, got.RxOffloads&dpdk.RxOffloadTCPLRO, "LRO where the port offers it")
			assert.Equal(t, dpdk.MaxLROPktSize, got.MaxLROPktSize)
		}
		require.NoError(t, h.Close())
	}
}
