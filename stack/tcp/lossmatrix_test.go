package tcp_test

import (
	"bytes"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dpstack/dpstack/faultwire"
	"github.com/dpstack/dpstack/stack/tcp"
	"github.com/dpstack/dpstack/stat"
)

// matrixStats are the sender's and receiver's counters a loss-matrix
// case checks.
type matrixStats struct {
	rack                      rackStats
	fast, sackRetrans, dsacks uint64
	csumDrops, sentSegs       uint64
	abDup, abReordered        uint64
	corrupted                 uint64
}

// The loss matrix (issue 4, "Tests"): 16 MiB from one stack to another
// through the fault wire, with a fixed seed per case, in simulated time
// (1 ms each way, a 100 µs tick). Each case arrives byte for byte, and
// the counters show the path taken:
//
//   - 1 % loss: SACK recovery, driven by RACK, repairs nearly every
//     loss; hardly any RTO;
//   - 5 % loss: the same, with more of it;
//   - 10 % loss: recovery still mostly SACK's; RTOs may come, and the
//     transfer completes;
//   - reordering: RACK's reordering window tolerates it: few spurious
//     retransmissions for the segments held back;
//   - duplication: the receiver's D-SACKs arrive; no recovery, no
//     retransmission;
//   - corruption: every corrupted frame is dropped by a checksum and
//     counted, and retransmitted; the data is still exact.
func TestLossMatrix(t *testing.T) {
	const size = 16 << 20
	for _, tc := range []struct {
		name   string
		port   uint16
		ab, ba faultwire.Faults
		check  func(t *testing.T, m matrixStats)
	}{
		{"loss 1%", 5101, faultwire.Faults{Drop: 0.01}, faultwire.Faults{Drop: 0.01},
			func(t *testing.T, m matrixStats) {
				assert.Positive(t, m.rack.recoveries, "SACK recovery")
				assert.Positive(t, m.rack.losses, "RACK marked the losses")
				assert.LessOrEqual(t, m.rack.timeouts, uint64(5), "RTOs are rare")
				assert.Greater(t, m.sackRetrans, 4*m.rack.timeouts, "SACK retransmissions dominate")
			}},
		{"loss 5%", 5102, faultwire.Faults{Drop: 0.05}, faultwire.Faults{Drop: 0.05},
			func(t *testing.T, m matrixStats) {
				assert.Positive(t, m.rack.recoveries)
				assert.Positive(t, m.rack.losses)
				assert.Greater(t, m.rack.recoveries, 2*m.rack.timeouts, "SACK recoveries rather than RTOs")
				assert.Greater(t, m.sackRetrans, m.rack.retrans/2, "most retransmissions are SACK's")
			}},
		{"loss 10%", 5103, faultwire.Faults{Drop: 0.10}, faultwire.Faults{Drop: 0.10},
			func(t *testing.T, m matrixStats) {
				assert.Positive(t, m.rack.recoveries)
				assert.Positive(t, m.rack.losses)
				assert.Greater(t, m.sackRetrans, m.rack.retrans/2, "most retransmissions are SACK's")
			}},
		{"reordering", 5104, faultwire.Faults{Reorder: 0.02}, faultwire.Faults{},
			func(t *testing.T, m matrixStats) {
				require.Positive(t, m.abReordered)
				assert.Zero(t, m.rack.timeouts, "no RTO")
				assert.LessOrEqual(t, m.rack.retrans, m.abReordered/10, "reordering tolerated: few spurious retransmissions")
			}},
		{"duplication", 5105, faultwire.Faults{Duplicate: 0.02}, faultwire.Faults{Duplicate: 0.02},
			func(t *testing.T, m matrixStats) {
				require.Positive(t, m.abDup)
				assert.Positive(t, m.dsacks, "D-SACKs received")
				assert.Zero(t, m.rack.recoveries, "no recovery")
				assert.Zero(t, m.rack.retrans, "no retransmission")
				assert.Zero(t, m.rack.timeouts)
			}},
		{"corruption", 5106, faultwire.Faults{Corrupt: 0.01}, faultwire.Faults{Corrupt: 0.01},
			func(t *testing.T, m matrixStats) {
				require.Positive(t, m.corrupted)
				assert.Equal(t, m.corrupted, m.csumDrops, "every corrupted frame dropped by a checksum")
				assert.Positive(t, m.rack.retrans, "the dropped segments were sent again")
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.ab.Delay, tc.ba.Delay = time.Millisecond, time.Millisecond
			wp := newWirePair(t, tc.ab, tc.ba)
			cl, sv := wp.connectWire(tc.port, "cubic")
			require.True(t, cl.Info().SACK)
			pa := wp.ta()
			before := rackStatsOf(pa)
			stA := pa.Stats()
			fast0, sr0, ds0 := stA.FastRetransmits.Load(), stA.SACKRetransmits.Load(), stA.DSACKsReceived.Load()
			da, db := wp.A.Stacks()[0].Device(), wp.B.Stacks()[0].Device()
			csum := func() uint64 {
				return da.Drops.Get(stat.DropIPBadChecksum) + da.Drops.Get(stat.DropTCPBadChecksum) +
					db.Drops.Get(stat.DropIPBadChecksum) + db.Drops.Get(stat.DropTCPBadChecksum)
			}
			csum0, out0 := csum(), stA.OutSegs.Load()

			data := pattern(size, int(tc.port))
			got := transferWire(t, wp, cl, sv, data)
			require.True(t, bytes.Equal(data, got), "byte-exact")
			for i := 0; cl.Info().PacketsOut > 0; i++ {
				require.Less(t, i, 100000, "never all acknowledged")
				wp.step(100 * time.Microsecond)
			}

			ab, ba := wp.Wire.Stats(faultwire.AToB), wp.Wire.Stats(faultwire.BToA)
			m := matrixStats{
				rack:        rackStatsOf(pa).sub(before),
				fast:        stA.FastRetransmits.Load() - fast0,
				sackRetrans: stA.SACKRetransmits.Load() - sr0,
				dsacks:      stA.DSACKsReceived.Load() - ds0,
				csumDrops:   csum() - csum0,
				sentSegs:    stA.OutSegs.Load() - out0,
				abDup:       ab.Duplicated,
				abReordered: ab.Reordered,
				corrupted:   ab.Corrupted + ba.Corrupted,
			}
			t.Logf("%s: segs %d; wire a->b dropped %d dup %d reordered %d corrupted %d; "+
				"SACK recoveries %d, RACK losses %d, reo timeouts %d, TLP probes %d, TLP recoveries %d, "+
				"RTOs %d, retransmissions %d (SACK %d, fast %d), D-SACKs %d, checksum drops %d",
				tc.name, m.sentSegs, ab.Dropped, ab.Duplicated, ab.Reordered, m.corrupted,
				m.rack.recoveries, m.rack.losses, m.rack.reoTimeouts, m.rack.probes, m.rack.tlpRecoveries,
				m.rack.timeouts, m.rack.retrans, m.sackRetrans, m.fast, m.dsacks, m.csumDrops)
			tc.check(t, m)
		})
	}
}

// transferWire sends data from cl to sv over the wire pair, a 100 µs tick
// at a time, and returns what sv received.
func transferWire(t *testing.T, wp *pair, cl, sv *tcp.Sock, data []byte) []byte {
	t.Helper()
	got := make([]byte, 0, len(data))
	buf := make([]byte, 1<<16)
	sent := 0
	for i := 0; len(got) < len(data); i++ {
		require.Less(t, i, 20_000_000, "%d of %d bytes", len(got), len(data))
		if sent < len(data) {
			if n, err := cl.SendMsg(data[sent:], 0); err == nil {
				sent += n
			}
		}
		wp.step(100 * time.Microsecond)
		for {
			k, err := sv.RecvMsg(buf, 0)
			if err != nil {
				break
			}
			got = append(got, buf[:k]...)
		}
	}
	return got
}
