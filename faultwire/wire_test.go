package faultwire_test

import (
	"math"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dpstack/dpstack/dpdk"
	"github.com/dpstack/dpstack/dpdk/dpdktest"
	"github.com/dpstack/dpstack/faultwire"
	"github.com/dpstack/dpstack/ktime"
	"github.com/dpstack/dpstack/mbuf"
)

// TestCleanWireForwardsInOrder: with no faults, everything goes through
// both ways, unchanged and in order.
func TestCleanWireForwardsInOrder(t *testing.T) {
	r := newRig(t, faultwire.Faults{}, faultwire.Faults{}, 1)
	frames := udpFrames(1000, 100)
	var atB, atA [][]byte
	for i := 0; i < len(frames); i += 32 {
		chunk := frames[i:min(i+32, len(frames))]
		r.send(r.w.A, chunk...)
		r.send(r.w.B, chunk...)
		assert.Equal(t, 2*len(chunk), r.step(time.Microsecond), "Poll counts what it moved")
		atB = append(atB, r.recv(r.w.B)...)
		atA = append(atA, r.recv(r.w.A)...)
	}
	assert.Equal(t, frames, atB)
	assert.Equal(t, frames, atA)
	for _, dir := range []faultwire.Dir{faultwire.AToB, faultwire.BToA} {
		s := r.w.Stats(dir)
		assert.Equal(t, faultwire.Stats{Received: 1000, Forwarded: 1000}, s, dir.String())
	}
}

// lostFrames sends 10,000 frames through a wire dropping 10 % from A to B
// and returns the numbers of those that did not arrive.
func lostFrames(t *testing.T, seed int64) []uint32 {
	t.Helper()
	const n = 10000
	r := newRig(t, faultwire.Faults{Drop: 0.1}, faultwire.Faults{}, seed)
	got := seqs(r.through(udpFrames(n, 64)))
	require.True(t, slices.IsSorted(got), "drops do not reorder")
	var lost []uint32
	next := uint32(0)
	for _, s := range append(got, n) {
		for ; next < s; next++ {
			lost = append(lost, next)
		}
		next = s + 1
	}
	s := r.w.Stats(faultwire.AToB)
	assert.Equal(t, uint64(n), s.Received)
	assert.Equal(t, uint64(len(lost)), s.Dropped)
	assert.Equal(t, uint64(len(got)), s.Forwarded)
	balanced(t, s)
	return lost
}

// TestDropIsDeterministic: 10 % loss drops about 10 %, the very same frames
// again with the same seed, and others with another seed.
func TestDropIsDeterministic(t *testing.T) {
	first := lostFrames(t, 1)
	assert.InDelta(t, 1000, len(first), 150, "about 10 %% of 10,000")
	assert.Equal(t, first, lostFrames(t, 1), "same seed, same drops")
	assert.NotEqual(t, first, lostFrames(t, 2), "another seed, other drops")
}

// TestDuplicate: a duplicated frame arrives twice in a row, identical;
// nothing else changes.
func TestDuplicate(t *testing.T) {
	r := newRig(t, faultwire.Faults{Duplicate: 0.25}, faultwire.Faults{}, 3)
	frames := udpFrames(1000, 200)
	got := r.through(frames)
	s := r.w.Stats(faultwire.AToB)
	assert.InDelta(t, 250, s.Duplicated, 60)
	require.Len(t, got, 1000+int(s.Duplicated))
	i, twice := 0, 0
	for _, f := range frames {
		require.Equal(t, f, got[i])
		i++
		if i < len(got) && seqOf(got[i]) == seqOf(f) {
			require.Equal(t, f, got[i])
			twice++
			i++
		}
	}
	assert.Equal(t, int(s.Duplicated), twice)
	assert.Equal(t, uint64(len(got)), s.Forwarded)
	balanced(t, s)
}

// TestReorder: reordered frames are overtaken by exactly ReorderGap later
// ones; nothing is lost; a hold whose overtakers never come times out.
func TestReorder(t *testing.T) {
	const n, gap = 1000, 3
	r := newRig(t, faultwire.Faults{Reorder: 0.1, ReorderGap: gap}, faultwire.Faults{}, 5)
	frames := udpFrames(n, 64)
	// The clock stands still while the frames go through, so no hold
	// times out: every hold ends by being overtaken, or is still on.
	var got [][]byte
	for i := 0; i < n; i += 32 {
		r.send(r.w.A, frames[i:min(i+32, n)]...)
		r.w.Poll(r.now)
		got = append(got, r.recv(r.w.B)...)
	}
	s := r.w.Stats(faultwire.AToB)
	stillHeld := int(s.Held)
	assert.LessOrEqual(t, stillHeld, gap*2, "only the last few wait for overtakers")
	assert.InDelta(t, 100, s.Reordered, 40)
	r.step(faultwire.DefaultReorderTimeout)
	got = append(got, r.recv(r.w.B)...)

	order := seqs(got)
	require.Len(t, order, n, "nothing lost")
	assert.False(t, slices.IsSorted(order), "order changed")
	sorted := slices.Clone(order)
	slices.Sort(sorted)
	for i, v := range sorted {
		require.Equal(t, uint32(i), v, "every frame exactly once")
	}
	overtaken := 0
	for p, v := range order {
		later := 0 // frames sent after v that arrived before it
		for _, u := range order[:p] {
			if u > v {
				later++
			}
		}
		require.LessOrEqual(t, later, gap, "frame %d", v)
		if later == gap {
			overtaken++
		}
	}
	assert.Equal(t, int(s.Reordered)-stillHeld, overtaken)
	s = r.w.Stats(faultwire.AToB)
	assert.Equal(t, uint64(n), s.Forwarded)
	assert.Zero(t, s.Held)
	balanced(t, s)
}

// TestDelay: nothing leaves before its delay, everything leaves by delay
// plus jitter, and jitter does not reorder.
func TestDelay(t *testing.T) {
	const n, step = 200, 100 * time.Microsecond
	cases := []struct {
		name          string
		delay, jitter time.Duration
	}{
		{"fixed", 10 * time.Millisecond, 0},
		{"jitter", 10 * time.Millisecond, 5 * time.Millisecond},
		{"jitter only", 0, 3 * time.Millisecond},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t, faultwire.Faults{Delay: tc.delay, Jitter: tc.jitter}, faultwire.Faults{}, 9)
			sent := make([]ktime.Time, n)
			arrived := make([]ktime.Time, n)
			var order []uint32
			for i := 0; len(order) < n && i < 10*n; i++ {
				if i < n {
					sent[i] = r.now
					r.send(r.w.A, udpFrame(uint32(i), 64))
				}
				r.w.Poll(r.now)
				for _, f := range r.recv(r.w.B) {
					arrived[seqOf(f)] = r.now
					order = append(order, seqOf(f))
				}
				r.now = r.now.Add(step)
			}
			require.Len(t, order, n)
			assert.True(t, slices.IsSorted(order), "the delay line is FIFO")
			latencies := map[time.Duration]bool{}
			for i := range n {
				lat := arrived[i].Sub(sent[i])
				assert.GreaterOrEqual(t, lat, tc.delay, "frame %d left early", i)
				assert.Less(t, lat, tc.delay+tc.jitter+step, "frame %d left late", i)
				latencies[lat] = true
			}
			if tc.jitter == 0 {
				assert.Len(t, latencies, 1, "no jitter: one latency")
			} else {
				assert.Greater(t, len(latencies), 5, "jitter spreads latencies")
			}
			s := r.w.Stats(faultwire.AToB)
			assert.Equal(t, uint64(n), s.Delayed)
			assert.Equal(t, uint64(n), s.Forwarded)
			balanced(t, s)
		})
	}
}

// TestDelayQueueLimit: the delay line holds QueueLimit packets and drops
// what does not fit.
func TestDelayQueueLimit(t *testing.T) {
	r := newRig(t, faultwire.Faults{Delay: time.Millisecond, QueueLimit: 10}, faultwire.Faults{}, 1)
	r.send(r.w.A, udpFrames(32, 64)...)
	assert.Zero(t, r.step(0))
	s := r.w.Stats(faultwire.AToB)
	assert.Equal(t, uint64(22), s.QueueDropped)
	assert.Equal(t, uint64(10), s.Held)
	balanced(t, s)
	assert.Empty(t, r.recv(r.w.B))
	assert.Equal(t, 10, r.step(time.Millisecond))
	assert.Equal(t, []uint32{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}, seqs(r.recv(r.w.B)))
}

// TestRateLimit: over simulated time the wire never delivers more than the
// bucket plus the rate allows, keeps up with the rate while offered twice
// as much (tail-dropping the excess), and drops nothing below the rate.
func TestRateLimit(t *testing.T) {
	const (
		rate  = 1_000_000 // bytes per second
		size  = 1000      // bytes per frame
		depth = 1514      // the default bucket: one full frame
		step  = 100 * time.Microsecond
		limit = 50
	)
	r := newRig(t, faultwire.Faults{RateBps: rate, QueueLimit: limit}, faultwire.Faults{}, 1)
	var delivered int64
	var next uint32
	var got []uint32
	run := func(d time.Duration, every int) {
		for i := range int(d / step) {
			if i%every == 0 {
				r.send(r.w.A, udpFrame(next, size))
				next++
			}
			r.w.Poll(r.now)
			for _, f := range r.recv(r.w.B) {
				delivered += int64(len(f))
				got = append(got, seqOf(f))
			}
			allowed := depth + rate*int64(r.now)/int64(time.Second)
			require.LessOrEqual(t, delivered, allowed, "at %v", time.Duration(r.now))
			r.now = r.now.Add(step)
		}
	}
	// Offered 2 MB/s for one second: the wire delivers 1 MB/s.
	run(time.Second, 5)
	last := time.Duration(r.now - ktime.Time(step))
	assert.InDelta(t, rate*last.Seconds(), float64(delivered), 2*size)
	s := r.w.Stats(faultwire.AToB)
	assert.InDelta(t, limit, s.Held, 1, "the queue stays full")
	assert.Equal(t, uint64(next)-s.Forwarded-s.Held, s.RateDropped)
	balanced(t, s)

	// Offered 0.5 MB/s for one second, then quiet: nothing more dropped.
	run(time.Second, 20)
	run(200*time.Millisecond, math.MaxInt)
	s2 := r.w.Stats(faultwire.AToB)
	assert.Equal(t, s.RateDropped, s2.RateDropped)
	assert.Zero(t, s2.Held)
	assert.True(t, slices.IsSorted(got))
	assert.Equal(t, uint64(len(got)), s2.Forwarded)
	balanced(t, s2)
}

// TestDirectionsAreIndependent: each direction has its own faults and its
// own random streams.
func TestDirectionsAreIndependent(t *testing.T) {
	r := newRig(t, faultwire.Faults{Drop: 1}, faultwire.Faults{Delay: time.Millisecond}, 1)
	frames := udpFrames(32, 64)
	r.send(r.w.A, frames...)
	r.send(r.w.B, frames...)
	r.step(0)
	assert.Empty(t, r.recv(r.w.B))
	assert.Empty(t, r.recv(r.w.A), "b->a is delayed")
	r.step(time.Millisecond)
	assert.Empty(t, r.recv(r.w.B), "a->b drops everything")
	assert.Equal(t, frames, r.recv(r.w.A))
	assert.Equal(t, faultwire.Stats{Received: 32, Dropped: 32}, r.w.Stats(faultwire.AToB))
	assert.Equal(t, faultwire.Stats{Received: 32, Forwarded: 32, Delayed: 32}, r.w.Stats(faultwire.BToA))

	// The same settings both ways still drop different frames.
	half := faultwire.Faults{Drop: 0.5}
	r = newRig(t, half, half, 1)
	frames = udpFrames(256, 64)
	var atA, atB [][]byte
	for i := 0; i < len(frames); i += 32 {
		r.send(r.w.A, frames[i:i+32]...)
		r.send(r.w.B, frames[i:i+32]...)
		r.step(time.Microsecond)
		atA = append(atA, r.recv(r.w.A)...)
		atB = append(atB, r.recv(r.w.B)...)
	}
	assert.NotEqual(t, seqs(atA), seqs(atB))
}

// TestSetFaults: settings change between phases; a queue a fault no
// longer needs empties in order as its packets come due.
func TestSetFaults(t *testing.T) {
	r := newRig(t, faultwire.Faults{}, faultwire.Faults{}, 1)
	frames := udpFrames(96, 64)
	assert.Len(t, r.through(frames[:32]), 32)

	drop := faultwire.Faults{Drop: 1}
	require.NoError(t, r.w.SetFaults(faultwire.AToB, drop))
	assert.Equal(t, drop, r.w.Faults(faultwire.AToB))
	assert.Empty(t, r.through(frames[32:64]))

	require.NoError(t, r.w.SetFaults(faultwire.AToB, faultwire.Faults{Delay: 10 * time.Millisecond}))
	r.send(r.w.A, frames[64:80]...)
	r.step(0)
	require.NoError(t, r.w.SetFaults(faultwire.AToB, faultwire.Faults{}))
	r.send(r.w.A, frames[80:96]...)
	r.step(0)
	assert.Empty(t, r.recv(r.w.B), "undelayed frames wait behind delayed ones")
	r.step(10 * time.Millisecond)
	assert.Equal(t, frames[64:96], r.recv(r.w.B))
	s := r.w.Stats(faultwire.AToB)
	assert.Equal(t, uint64(16), s.Delayed)
	balanced(t, s)
}

// TestBadFaults: out-of-range settings are refused, by New and SetFaults.
func TestBadFaults(t *testing.T) {
	bad := []faultwire.Faults{
		{Drop: -0.1}, {Drop: 1.5}, {Duplicate: math.NaN()}, {Reorder: 2}, {Corrupt: -1},
		{ReorderGap: -1}, {ReorderTimeout: -1}, {Delay: -time.Millisecond}, {Jitter: -1},
		{RateBps: -1}, {RateBps: 1 << 50}, {RateBurst: -1}, {QueueLimit: -1},
	}
	pool := dpdktest.Pool(t, 63)
	r := newRig(t, faultwire.Faults{}, faultwire.Faults{}, 1)
	for _, f := range bad {
		_, err := faultwire.New(uniq("fwbad"), pool, f, faultwire.Faults{}, 1)
		assert.ErrorIs(t, err, syscall.EINVAL, "%+v", f)
		_, err = faultwire.New(uniq("fwbad"), pool, faultwire.Faults{}, f, 1)
		assert.ErrorIs(t, err, syscall.EINVAL, "%+v", f)
		assert.ErrorIs(t, r.w.SetFaults(faultwire.BToA, f), syscall.EINVAL, "%+v", f)
	}
	_, err := faultwire.New(uniq("fwbad"), nil, faultwire.Faults{}, faultwire.Faults{}, 1)
	assert.ErrorIs(t, err, syscall.EINVAL)
	assert.ErrorIs(t, r.w.SetFaults(faultwire.Dir(2), faultwire.Faults{}), syscall.EINVAL)
	assert.Equal(t, faultwire.Stats{}, r.w.Stats(faultwire.Dir(2)))
	assert.Equal(t, faultwire.Faults{}, r.w.Faults(faultwire.BToA), "refused settings change nothing")
}

// TestRingFull: what the receiving side's ring cannot take is dropped and
// counted.
func TestRingFull(t *testing.T) {
	const n = 1100
	r := newRig(t, faultwire.Faults{}, faultwire.Faults{}, 1)
	frames := udpFrames(n, 64)
	for i := 0; i < n; i += 32 {
		r.send(r.w.A, frames[i:min(i+32, n)]...)
		r.step(0)
	}
	s := r.w.Stats(faultwire.AToB)
	assert.Equal(t, uint64(faultwire.RingSize-1), s.Forwarded, "a ring of 1024 holds 1023")
	assert.Equal(t, uint64(n-faultwire.RingSize+1), s.TxDropped)
	balanced(t, s)
	assert.Equal(t, frames[:faultwire.RingSize-1], r.recv(r.w.B))
}

// TestCloseFreesEverything: Close frees what the wire's queues hold and
// what waits in its rings, whether the users closed A and B first or not;
// the pool is back at its baseline.
func TestCloseFreesEverything(t *testing.T) {
	for _, usersClosed := range []bool{false, true} {
		name := map[bool]string{false: "ports open", true: "ports closed"}[usersClosed]
		t.Run(name, func(t *testing.T) {
			pool := dpdktest.Pool(t, 4095)
			base := pool.InUse()
			w, err := faultwire.New(uniq("fwc"), pool,
				faultwire.Faults{Delay: time.Second, Reorder: 0.5, Duplicate: 0.5},
				faultwire.Faults{RateBps: 1000, Corrupt: 0.5}, 1)
			require.NoError(t, err)
			r := &rig{t: t, pool: pool, w: w, vec: mbuf.NewBurst(32)}
			for _, p := range []*dpdk.Port{w.A, w.B} {
				_, err := p.Configure(dpdk.PortConfig{RxQueues: 1, TxQueues: 1, Pool: pool})
				require.NoError(t, err)
				require.NoError(t, p.Start())
			}
			frames := udpFrames(64, 100)
			r.send(w.A, frames...)
			r.send(w.B, frames...)
			r.step(time.Millisecond) // into the wire's queues
			r.send(w.A, frames...)   // left in the rings
			r.send(w.B, frames...)
			r.step(time.Second) // some reach the rings towards A and B
			r.send(w.A, frames...)
			require.NotZero(t, w.Stats(faultwire.AToB).Held+w.Stats(faultwire.BToA).Held)
			if usersClosed {
				for _, p := range []*dpdk.Port{w.A, w.B} {
					require.NoError(t, p.Stop())
					require.NoError(t, p.Close())
				}
			}
			require.NotEqual(t, base, pool.InUse())
			require.NoError(t, w.Close())
			assert.Equal(t, base, pool.InUse(), "every mbuf back")
			assert.Zero(t, w.Stats(faultwire.AToB).Held)
			assert.NoError(t, w.Close(), "a second Close does nothing")
			assert.Zero(t, w.Poll(r.now.Add(time.Hour)), "Poll after Close does nothing")
		})
	}
}
