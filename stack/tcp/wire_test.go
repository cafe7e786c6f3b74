package tcp_test

import (
	"bytes"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dpstack/dpstack/dpdk"
	"github.com/dpstack/dpstack/mbuf"
	"github.com/dpstack/dpstack/stack"
)

// faultyWire moves frames between the two hosts of a pair itself,
// dropping, duplicating and reordering them from a seed (the fault
// wire of ARCHITECTURE.md §7, in the test).
type faultyWire struct {
	p                  *pair
	rng                *rand.Rand
	loss, dup, reorder float64
	burst              []*mbuf.Buf
	out                []*mbuf.Buf
	dropped, doubled   int
}

func newFaultyWire(p *pair, seed uint64) *faultyWire {
	return &faultyWire{p: p, rng: rand.New(rand.NewPCG(seed, seed)), burst: mbuf.NewBurst(32)}
}

// carry takes what one host sent (from the ring the receiving port reads)
// and puts the survivors back through the sending port, in a new order.
func (w *faultyWire) carry(rx, tx *dpdk.Port, from *stack.Host) {
	for {
		n := rx.RxBurst(0, w.burst)
		for _, b := range w.burst[:n] {
			switch r := w.rng.Float64(); {
			case r < w.loss:
				w.dropped++
				b.Free()
				continue
			case r < w.loss+w.dup:
				if c := from.Pool().Alloc(); c != nil {
					copy(c.Put(b.Len()), b.Bytes())
					w.out = append(w.out, c)
					w.doubled++
				}
			}
			w.out = append(w.out, b)
		}
		if n < len(w.burst) {
			break
		}
	}
	for i := 1; i < len(w.out); i++ {
		if w.rng.Float64() < w.reorder {
			w.out[i-1], w.out[i] = w.out[i], w.out[i-1]
		}
	}
	for len(w.out) > 0 {
		k := tx.TxBurst(0, w.out)
		w.out = w.out[k:]
		if k == 0 {
			for _, b := range w.out {
				b.Free()
			}
			w.out = w.out[:0]
		}
	}
	w.out = w.out[:0]
}

// turn runs one turn of both hosts through the wire, the clock moving on
// by step.
func (w *faultyWire) turn(step time.Duration) {
	p := w.p
	p.A.Stacks()[0].Loop().Flush()
	w.carry(p.Rings.B, p.Rings.A, p.A) // a's frames, read off the a->b ring and put back
	p.B.Stacks()[0].Loop().Poll()
	w.carry(p.Rings.A, p.Rings.B, p.B)
	p.A.Stacks()[0].Loop().Poll()
	p.Fire(step)
}

// A transfer both ways over a wire that loses, duplicates and reorders
// arrives intact, and both sides close.
func TestFaultyWire(t *testing.T) {
	for _, seed := range []uint64{1, 2, 3} {
		p := newPair(t)
		c := p.connect(80)
		w := newFaultyWire(p, seed)
		w.loss, w.dup, w.reorder = 0.05, 0.03, 0.1
		up, down := pattern(150_000, 1), pattern(150_000, 2)
		var gotUp, gotDown []byte
		buf := make([]byte, 65536)
		su, sd := 0, 0
		for i := 0; len(gotUp) < len(up) || len(gotDown) < len(down); i++ {
			require.Less(t, i, 200000, "seed %d: %d/%d up, %d/%d down", seed, len(gotUp), len(up), len(gotDown), len(down))
			if n, err := c.cl.SendMsg(up[su:], 0); err == nil {
				su += n
			}
			if n, err := c.sv.SendMsg(down[sd:], 0); err == nil {
				sd += n
			}
			w.turn(10 * time.Millisecond)
			if n, err := c.sv.RecvMsg(buf, 0); err == nil {
				gotUp = append(gotUp, buf[:n]...)
			}
			if n, err := c.cl.RecvMsg(buf, 0); err == nil {
				gotDown = append(gotDown, buf[:n]...)
			}
		}
		assert.True(t, bytes.Equal(up, gotUp), "seed %d up", seed)
		assert.True(t, bytes.Equal(down, gotDown), "seed %d down", seed)
		c.cl.Close()
		c.sv.Close()
		c.ln.Close()
		for range 2000 {
			w.turn(100 * time.Millisecond)
		}
		est, reqs, _, _ := p.ta().Counts()
		est2, reqs2, _, _ := p.tb().Counts()
		assert.Zero(t, est+reqs+est2+reqs2, "seed %d: both sides closed", seed)
		t.Logf("seed %d: %d dropped, %d duplicated, %d RTOs", seed, w.dropped, w.doubled, p.ta().Stats().Timeouts.Load()+p.tb().Stats().Timeouts.Load())
	}
}
