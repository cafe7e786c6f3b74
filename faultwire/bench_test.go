package faultwire_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dpstack/dpstack/faultwire"
	"github.com/dpstack/dpstack/mbuf"
)

// cycler keeps 32 frames going round: sent on A, through the wire, read on
// B and sent again; frames the wire dropped are replaced from the pool and
// extra ones (duplicates) freed.
type cycler struct {
	r         *rig
	cache     *mbuf.Cache
	tmpl      []byte
	out       []*mbuf.Buf // C memory: frames to send next
	nout      int
	in        []*mbuf.Buf // C memory
	forwarded int
}

const cycleBurst = 32

func newCycler(t testing.TB, f faultwire.Faults) *cycler {
	r := newRig(t, f, faultwire.Faults{}, 1)
	c := &cycler{r: r, cache: mbuf.NewCache(r.pool), tmpl: udpFrame(1, 128),
		out: mbuf.NewBurst(cycleBurst), in: mbuf.NewBurst(cycleBurst)}
	t.Cleanup(func() {
		for _, b := range c.out[:c.nout] {
			c.cache.Free(b)
		}
		c.nout = 0
		c.cache.Drain()
	})
	return c
}

// cycle sends a burst, advances the clock by 10 µs, polls the wire and
// collects what came through.
func (c *cycler) cycle() {
	for c.nout < cycleBurst {
		b := c.cache.Get()
		if b == nil {
			break
		}
		copy(b.Put(len(c.tmpl)), c.tmpl)
		c.out[c.nout] = b
		c.nout++
	}
	sent := c.r.w.A.TxBurst(0, c.out[:c.nout])
	c.nout = copy(c.out, c.out[sent:c.nout])
	c.r.now = c.r.now.Add(10 * time.Microsecond)
	c.forwarded += c.r.w.Poll(c.r.now)
	for range 4 {
		n := c.r.w.B.RxBurst(0, c.in)
		for _, b := range c.in[:n] {
			if c.nout < cycleBurst {
				c.out[c.nout] = b
				c.nout++
			} else {
				c.cache.Free(b)
			}
		}
		if n < cycleBurst {
			break
		}
	}
	c.cache.Flush()
}

// faulty is every fault at once, mildly.
var faulty = faultwire.Faults{
	Drop: 0.01, Duplicate: 0.01, Reorder: 0.01, Corrupt: 0.01,
	Delay: 20 * time.Microsecond, Jitter: 10 * time.Microsecond, RateBps: 10_000_000_000,
}

// TestPollAllocatesNothing: the per-packet path, every fault on, allocates
// nothing on the Go heap.
func TestPollAllocatesNothing(t *testing.T) {
	for _, f := range []faultwire.Faults{{}, faulty, {Duplicate: 0.5, Corrupt: 0.5, Reorder: 0.5}} {
		c := newCycler(t, f)
		for range 100 {
			c.cycle()
		}
		assert.Zero(t, testing.AllocsPerRun(1000, c.cycle), "%+v", f)
		s := c.r.w.Stats(faultwire.AToB)
		require.NotZero(t, s.Forwarded)
		balanced(t, s)
	}
}

// BenchmarkWireForward: one op is a burst of 32 frames of 128 bytes sent
// into A, one Poll and the frames read from B; ns/pkt is per frame the
// wire forwarded.
func BenchmarkWireForward(b *testing.B) {
	for _, bc := range []struct {
		name string
		f    faultwire.Faults
	}{{"clean", faultwire.Faults{}}, {"faulty", faulty}} {
		b.Run(bc.name, func(b *testing.B) {
			c := newCycler(b, bc.f)
			for range 100 {
				c.cycle()
			}
			c.forwarded = 0
			b.ReportAllocs()
			for b.Loop() {
				c.cycle()
			}
			if c.forwarded > 0 {
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(c.forwarded), "ns/pkt")
			}
		})
	}
}
