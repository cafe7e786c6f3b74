package faultwire

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/bits"
	"math/rand/v2"
	"syscall"
	"time"

	"github.com/dpstack/dpstack/dpdk"
	"github.com/dpstack/dpstack/ktime"
	"github.com/dpstack/dpstack/mbuf"
)

// RingSize is the size of each ring of the wire's two ring pairs.
const RingSize = 1024

// burst is the size of the wire's rx and tx bursts; maxRxBursts bounds how
// many rx bursts a direction takes per Poll (ARCHITECTURE.md §5).
const (
	burst       = 32
	maxRxBursts = 4
)

// Where the wire keeps a packet's due time and reorder count in the mbuf
// control block while the packet sits in one of its queues.
const (
	cbTime  = 0 // ktime.Time at which the delay line or the hold lets it go
	cbCount = 8 // pass count at which the hold lets it go
)

// Kinds of random decision, each with its own stream.
const (
	streamDrop = iota
	streamDuplicate
	streamCorrupt
	streamJitter
	streamReorder
)

// Wire joins port A to port B through two ring pairs, applying each
// direction's Faults. See the package doc.
type Wire struct {
	// A and B are the users' ends. Each is attached but not configured:
	// whoever uses it configures and starts it (a stack.Host does).
	A, B *dpdk.Port

	x, y         *dpdk.Port // the wire's own ends: A's peer and B's peer
	ax, yb       *dpdk.RingPair
	nameA, nameB string

	pool  *mbuf.Pool
	cache *mbuf.Cache
	rx    []*mbuf.Buf // burst vectors in C memory (mbuf.NewBurst)
	tx    []*mbuf.Buf
	ntx   int

	dirs   [2]direction
	tso    bool // OffloadTSO: the wire does the ports' offloads
	closed bool
}

// direction is the state of one direction: its faults, random streams,
// queues and counters.
type direction struct {
	in, out *dpdk.Port
	given   Faults // as set
	f       Faults // with defaults

	rng [streamReorder + 1]*rand.PCG
	// The probabilities as thresholds on 53 random bits (as Float64).
	drop, duplicate, corrupt, reorder uint64

	rateQ  mbuf.Queue // waiting for tokens
	delayQ mbuf.Queue // in the delay line, due times non-decreasing
	holdQ  mbuf.Queue // held back to be overtaken

	// Token bucket, in bytes scaled by nsPerSec so that refilling by
	// elapsed nanoseconds times bytes per second stays integral.
	tokens, depth int64
	lastFill      ktime.Time
	filled        bool

	passed uint64 // packets sent on without a hold: the reorder clock

	st counters
}

const nsPerSec = int64(time.Second)

// New builds a wire named name (unique in the process, at most 25
// characters: it names the rings) carrying ab from A to B and ba from B to
// A, its random decisions seeded by seed. pool supplies the wire's rx
// queues and the copies it makes (duplicates, corrupted packets). The wire's
// own ports are configured and started; A and B are left to the caller.
// Its ring pairs offer no checksum offload (unlike a direct pair with
// dpdk.RingPair.OffloadTCPChecksums): the hosts finish every checksum, and
// a corrupted packet fails its receiver's.
func New(name string, pool *mbuf.Pool, ab, ba Faults, seed int64) (*Wire, error) {
	if pool == nil {
		return nil, fmt.Errorf("faultwire: %q: no mbuf pool: %w", name, syscall.EINVAL)
	}
	if err := ab.validate(); err != nil {
		return nil, fmt.Errorf("%w (a->b)", err)
	}
	if err := ba.validate(); err != nil {
		return nil, fmt.Errorf("%w (b->a)", err)
	}
	ax, err := dpdk.NewRingPair(name+"a", RingSize)
	if err != nil {
		return nil, fmt.Errorf("faultwire: %q: %w", name, err)
	}
	yb, err := dpdk.NewRingPair(name+"b", RingSize)
	if err != nil {
		ax.Close()
		return nil, fmt.Errorf("faultwire: %q: %w", name, err)
	}
	w := &Wire{
		A: ax.A, B: yb.B, x: ax.B, y: yb.A, ax: ax, yb: yb,
		nameA: ax.A.Name(), nameB: yb.B.Name(),
		pool: pool, cache: mbuf.NewCache(pool),
		rx: mbuf.NewBurst(burst), tx: mbuf.NewBurst(burst),
	}
	for _, p := range []*dpdk.Port{w.x, w.y} {
		if _, err := p.Configure(dpdk.PortConfig{RxQueues: 1, TxQueues: 1, Pool: pool}); err == nil {
			err = p.Start()
		}
		if err != nil {
			w.Close()
			return nil, fmt.Errorf("faultwire: %q: %w", name, err)
		}
	}
	w.dirs[AToB].in, w.dirs[AToB].out = w.x, w.y
	w.dirs[BToA].in, w.dirs[BToA].out = w.y, w.x
	for i := range w.dirs {
		d := &w.dirs[i]
		for k := range d.rng {
			d.rng[k] = rand.NewPCG(uint64(seed), uint64(i)<<8|uint64(k))
		}
	}
	w.dirs[AToB].setFaults(ab)
	w.dirs[BToA].setFaults(ba)
	return w, nil
}

// SetFaults changes what direction dir does from the next packet on.
// Packets already in the wire's queues keep their due times; a queue that
// a fault no longer needs empties as its packets come due. The random
// streams go on where they were.
func (w *Wire) SetFaults(dir Dir, f Faults) error {
	if dir > BToA {
		return fmt.Errorf("faultwire: direction %d: %w", dir, syscall.EINVAL)
	}
	if err := f.validate(); err != nil {
		return err
	}
	w.dirs[dir].setFaults(f)
	return nil
}

// Faults returns what direction dir does, as last set.
func (w *Wire) Faults(dir Dir) Faults {
	if dir > BToA {
		return Faults{}
	}
	return w.dirs[dir].given
}

// Stats returns direction dir's counts as of the end of the last Poll (or
// Close). It may be called from any goroutine.
func (w *Wire) Stats(dir Dir) Stats {
	if dir > BToA {
		return Stats{}
	}
	return w.dirs[dir].st.snapshot()
}

func (d *direction) setFaults(f Faults) {
	wasLimited := d.f.RateBps > 0
	d.given = f
	d.f = f.withDefaults()
	d.depth = d.f.RateBurst * nsPerSec
	d.drop, d.duplicate = threshold(d.f.Drop), threshold(d.f.Duplicate)
	d.corrupt, d.reorder = threshold(d.f.Corrupt), threshold(d.f.Reorder)
	if !wasLimited {
		d.filled = false // a new limiter starts with a full bucket
	} else if d.tokens > d.depth {
		d.tokens = d.depth
	}
}

// Poll moves what arrived on each side to the other, applying each
// direction's faults, lets out what the delay line, the reorder hold and
// the rate limiter have due at now, and returns how many packets it handed
// on. now must not go backwards (if it does, no time passes). Each
// direction takes at most 4 bursts of 32 packets per call. After Close it
// does nothing.
func (w *Wire) Poll(now ktime.Time) int {
	if w.closed {
		return 0
	}
	n := w.poll(&w.dirs[AToB], now) + w.poll(&w.dirs[BToA], now)
	w.cache.Flush()
	return n
}

func (w *Wire) poll(d *direction, now ktime.Time) int {
	before := d.st.forwarded
	for range maxRxBursts {
		n := d.in.RxBurst(0, w.rx)
		d.st.received += uint64(n)
		for _, b := range w.rx[:n] {
			if w.tso {
				w.offload(d, b, now)
			} else {
				w.ingress(d, b, now)
			}
		}
		if n < len(w.rx) {
			break
		}
	}
	w.runRate(d, now)
	w.runDelay(d, now)
	w.runHold(d, now)
	w.flush(d)
	d.st.held = uint64(d.rateQ.Len() + d.delayQ.Len() + d.holdQ.Len())
	d.st.publish()
	return int(d.st.forwarded - before)
}

// threshold turns probability p into a threshold on 53 random bits.
func threshold(p float64) uint64 { return uint64(p * (1 << 53)) }

// hit draws from r and reports whether an event happens whose probability
// is th/2^53: a draw of 53 bits below th, as rand.Float64() < p. It draws
// nothing when th is 0.
func hit(r *rand.PCG, th uint64) bool { return th > 0 && r.Uint64()>>11 < th }

// below draws a uniform number in [0, n) from r (Lemire's multiply-shift;
// the bias, n/2^64, is negligible).
func below(r *rand.PCG, n uint64) uint64 {
	hi, _ := bits.Mul64(r.Uint64(), n)
	return hi
}

// ingress takes one packet from the sending side: drop, duplicate,
// corrupt, then on to the rate limiter.
func (w *Wire) ingress(d *direction, b *mbuf.Buf, now ktime.Time) {
	if hit(d.rng[streamDrop], d.drop) {
		d.st.dropped++
		w.cache.Free(b)
		return
	}
	var dup *mbuf.Buf
	if hit(d.rng[streamDuplicate], d.duplicate) {
		if dup = w.copyPacket(b); dup == nil {
			d.st.noMbuf++
		} else {
			d.st.duplicated++
		}
	}
	if hit(d.rng[streamCorrupt], d.corrupt) {
		b = w.corrupt(d, b)
	}
	w.admit(d, b, now)
	if dup != nil {
		if hit(d.rng[streamCorrupt], d.corrupt) {
			dup = w.corrupt(d, dup)
		}
		w.admit(d, dup, now)
	}
}

// admit is the rate limiter's entry: straight on when it is off and has
// nothing queued, else to the back of its queue, tail-dropping when full.
func (w *Wire) admit(d *direction, b *mbuf.Buf, now ktime.Time) {
	if d.f.RateBps == 0 && d.rateQ.Empty() {
		w.propagate(d, b, now)
		return
	}
	if d.rateQ.Len() >= d.f.QueueLimit {
		d.st.rateDropped++
		w.cache.Free(b)
		return
	}
	d.rateQ.PushBack(b)
}

// runRate refills the token bucket up to now and sends on the packets at
// the head of the rate queue that the tokens pay for. A packet goes when
// the bucket holds its length in bytes, or is full (a packet larger than
// the bucket).
func (w *Wire) runRate(d *direction, now ktime.Time) {
	if d.f.RateBps == 0 {
		// Off (or turned off): what waited goes on.
		for b := d.rateQ.PopFront(); b != nil; b = d.rateQ.PopFront() {
			w.propagate(d, b, now)
		}
		return
	}
	d.refill(now)
	for b := d.rateQ.Front(); b != nil; b = d.rateQ.Front() {
		cost := int64(b.Len()) * nsPerSec
		if d.tokens < cost && d.tokens < d.depth {
			return
		}
		d.tokens -= cost
		d.rateQ.PopFront()
		w.propagate(d, b, now)
	}
}

// refill adds the tokens earned since the last refill, up to the depth.
func (d *direction) refill(now ktime.Time) {
	if !d.filled {
		d.filled, d.lastFill, d.tokens = true, now, d.depth
		return
	}
	elapsed := int64(now - d.lastFill)
	if elapsed <= 0 {
		return
	}
	d.lastFill = now
	room := d.depth - d.tokens
	if room <= 0 {
		return
	}
	// elapsed*rate could overflow; compare first.
	if elapsed > room/d.f.RateBps {
		d.tokens = d.depth
		return
	}
	d.tokens = min(d.tokens+elapsed*d.f.RateBps, d.depth)
}

// propagate is the delay line's entry: straight on when it is off and
// empty, else to the back with a due time no earlier than the packet
// ahead's (FIFO: jitter does not reorder).
func (w *Wire) propagate(d *direction, b *mbuf.Buf, now ktime.Time) {
	on := d.f.delayed()
	if !on && d.delayQ.Empty() {
		w.arrive(d, b, now)
		return
	}
	if d.delayQ.Len() >= d.f.QueueLimit {
		d.st.queueDropped++
		w.cache.Free(b)
		return
	}
	due := now
	if on {
		due = now.Add(d.f.Delay)
		if d.f.Jitter > 0 {
			due = due.Add(time.Duration(below(d.rng[streamJitter], uint64(d.f.Jitter)+1)))
		}
		d.st.delayed++
	}
	if back := d.delayQ.Back(); back != nil {
		due = max(due, dueTime(back))
	}
	setDueTime(b, due)
	d.delayQ.PushBack(b)
}

// runDelay lets out of the delay line what is due at now.
func (w *Wire) runDelay(d *direction, now ktime.Time) {
	for b := d.delayQ.Front(); b != nil && dueTime(b) <= now; b = d.delayQ.Front() {
		d.delayQ.PopFront()
		w.arrive(d, b, now)
	}
}

// arrive is the reorder hold: a packet is held until ReorderGap later
// packets have gone ahead of it (or ReorderTimeout passed), else sent, after
// which the held packets it was the last overtaker of follow it.
func (w *Wire) arrive(d *direction, b *mbuf.Buf, now ktime.Time) {
	if hit(d.rng[streamReorder], d.reorder) && d.holdQ.Len() < d.f.QueueLimit {
		setDueTime(b, now.Add(d.f.ReorderTimeout))
		binary.NativeEndian.PutUint64(b.CB()[cbCount:], d.passed+uint64(d.f.ReorderGap))
		d.holdQ.PushBack(b)
		d.st.reordered++
		return
	}
	w.emit(d, b)
	d.passed++
	for h := d.holdQ.Front(); h != nil && binary.NativeEndian.Uint64(h.CB()[cbCount:]) <= d.passed; h = d.holdQ.Front() {
		d.holdQ.PopFront()
		w.emit(d, h)
	}
}

// runHold lets go the held packets whose overtakers did not come in time.
func (w *Wire) runHold(d *direction, now ktime.Time) {
	for b := d.holdQ.Front(); b != nil && dueTime(b) <= now; b = d.holdQ.Front() {
		d.holdQ.PopFront()
		w.emit(d, b)
	}
}

// emit queues b for the receiving side, sending a burst when it is full.
func (w *Wire) emit(d *direction, b *mbuf.Buf) {
	w.tx[w.ntx] = b
	w.ntx++
	if w.ntx == len(w.tx) {
		w.flush(d)
	}
}

// flush sends what emit queued; what the ring refuses is dropped.
func (w *Wire) flush(d *direction) {
	if w.ntx == 0 {
		return
	}
	n := d.out.TxBurst(0, w.tx[:w.ntx])
	d.st.forwarded += uint64(n)
	for _, b := range w.tx[n:w.ntx] {
		d.st.txDropped++
		w.cache.Free(b)
	}
	w.ntx = 0
}

func dueTime(b *mbuf.Buf) ktime.Time {
	return ktime.Time(binary.NativeEndian.Uint64(b.CB()[cbTime:]))
}

func setDueTime(b *mbuf.Buf, t ktime.Time) {
	binary.NativeEndian.PutUint64(b.CB()[cbTime:], uint64(t))
}

// Close frees every packet the wire holds, stops and closes its ports and
// frees its rings, with what is still in them. Close the users of A and B
// (e.g. their stack.Hosts) first, after letting what is in flight arrive;
// a port they have not closed, Close stops and closes itself (DPDK will
// not close a started port), so that nothing leaks either way. Calling
// Close again does nothing.
func (w *Wire) Close() error {
	if w.closed {
		return nil
	}
	w.closed = true
	for i := range w.dirs {
		d := &w.dirs[i]
		d.rateQ.Purge(w.cache)
		d.delayQ.Purge(w.cache)
		d.holdQ.Purge(w.cache)
		d.st.held = 0
		d.st.publish()
	}
	w.cache.Drain()
	// A port closed by its user may already carry another device's id:
	// stop it only while the name still leads to it.
	for _, u := range []struct {
		p    *dpdk.Port
		name string
	}{{w.A, w.nameA}, {w.B, w.nameB}} {
		if p, err := dpdk.PortByName(u.name); err == nil && p.ID() == u.p.ID() {
			_ = u.p.Stop() // an error shows again in the ring pair's Close
		}
	}
	return errors.Join(w.x.Stop(), w.y.Stop(), w.ax.Close(), w.yb.Close())
}
