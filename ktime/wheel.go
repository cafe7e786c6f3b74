package ktime

import (
	"math"
	"math/bits"
	"time"
)

// Geometry of the timer wheel: wheelLevels levels of wheelSize slots. A slot
// of level L spans wheelSize^L ticks, so the wheel as a whole covers
// wheelSpan ticks ahead of its current tick (2^24 ticks: 4.6 hours at 1 ms).
const (
	wheelBits   = 6
	wheelSize   = 1 << wheelBits
	wheelMask   = wheelSize - 1
	wheelLevels = 4
	wheelSpan   = 1 << (wheelBits * wheelLevels)
)

// DefaultTick is the granularity NewWheel uses when given a tick <= 0.
const DefaultTick = time.Millisecond

// Timer is one deadline on a Wheel. It is intrusive: an owner (a socket, a
// neighbour entry) embeds as many Timers as it needs, calls Init once with
// its callback, and then arms and disarms them with Wheel.Schedule and
// Wheel.Cancel, none of which allocates.
//
// A Timer belongs to the goroutine that runs its Wheel; it is not safe for
// concurrent use. It must not be copied once it has been scheduled.
type Timer struct {
	next, prev *Timer // links in the slot list while pending
	wheel      *Wheel // non-nil while pending
	fn         func(t *Timer, now Time)
	at         Time   // requested expiry
	tick       uint64 // expiry in wheel ticks: at rounded up to a tick
	gen        uint64 // wheel generation when linked into its slot
	slot       uint16 // level*wheelSize + index of the slot holding the timer
}

// Init sets the function run when the timer fires, with the timer and the
// time passed to the Wheel.Advance call that fires it. Call Init once,
// before the first Schedule, so that arming never allocates. A timer with
// a nil callback fires silently. Given the timer, a function that is not a
// closure finds its owner (Linux's from_timer, container_of): an owner
// with timers then costs no allocation for them.
func (t *Timer) Init(fn func(t *Timer, now Time)) {
	t.fn = fn
}

// Pending reports whether the timer is scheduled and has not yet fired or
// been cancelled. Inside its own callback a timer is no longer pending
// unless the callback re-armed it.
func (t *Timer) Pending() bool {
	return t.wheel != nil
}

// Expires returns the time the timer was last scheduled for. It is
// meaningful while the timer is Pending.
func (t *Timer) Expires() Time {
	return t.at
}

// timerList is a FIFO of timers linked through Timer.next and Timer.prev.
type timerList struct {
	head, tail *Timer
}

// Wheel is a hierarchical timing wheel (Varghese and Lauck, "Hashed and
// hierarchical timing wheels", 1987; the cascading wheel Linux used before
// 4.8) owned by one core. Schedule and Cancel are O(1); Advance fires due
// timers in tick order with a bounded number of callbacks per call.
//
// Level 0 has one slot per tick; a slot of level L spans 64^L ticks. A timer
// goes into the finest level whose range holds its distance from the current
// tick; when the current tick crosses the start of a coarser slot, that slot
// is cascaded: its timers are re-inserted into finer levels. Timers further
// away than the wheel's span (2^24 ticks) wait in the top level and are
// re-inserted each time their slot comes round, so arbitrarily long timeouts
// are exact.
//
// A timer fires in the first Advance whose now has reached its expiry
// rounded up to a whole tick: never early, and, when Advance runs at least
// once per tick with enough budget, less than one tick late. A timer
// scheduled for a time at or before the wheel's current tick fires at the
// next Advance; one re-armed that way from inside a callback waits for the
// next tick or the next Advance call, so a self-re-arming timer cannot spin
// inside one call.
//
// A Wheel is used by a single goroutine and takes no locks. It must be made
// with NewWheel.
type Wheel struct {
	tick     uint64 // nanoseconds per tick, > 0
	origin   Time   // time of tick 0
	cur      uint64 // current tick: every tick < cur has been processed
	gen      uint64 // bumped at the start of each firing batch
	n        int    // pending timers
	occupied [wheelLevels]uint64
	slots    [wheelLevels][wheelSize]timerList
}

// NewWheel returns an empty wheel with the given granularity whose current
// tick is now. A tick <= 0 selects DefaultTick.
func NewWheel(tick time.Duration, now Time) *Wheel {
	if tick <= 0 {
		tick = DefaultTick
	}
	return &Wheel{tick: uint64(tick), origin: now}
}

// Tick returns the wheel's granularity.
func (w *Wheel) Tick() time.Duration {
	return time.Duration(w.tick)
}

// Len returns the number of pending timers.
func (w *Wheel) Len() int {
	return w.n
}

// Schedule arms t to fire at at, first cancelling it if it is pending (on
// this wheel or another). It is O(1), does not allocate, and may be called
// from any timer callback, including t's own.
func (w *Wheel) Schedule(t *Timer, at Time) {
	if t.wheel != nil {
		t.wheel.unlink(t)
	}
	t.at = at
	t.tick = w.ceilTick(at)
	t.wheel = w
	w.n++
	w.insert(t)
}

// Cancel disarms t if it is pending; otherwise it does nothing. It is O(1),
// does not allocate, and may be called from any timer callback.
func (w *Wheel) Cancel(t *Timer) {
	if t.wheel != nil {
		t.wheel.unlink(t)
	}
}

// Advance moves the wheel's clock to now and runs the callbacks of due
// timers in tick order (timers due in the same tick run in any order),
// passing now to each. It runs at most budget callbacks and returns how many
// ran; if due timers remain, the next call runs them before anything later
// (ARCHITECTURE.md §5: bounded work per turn). A budget <= 0 runs nothing. A now
// earlier than a previous call's is treated as that earlier now.
//
// Callbacks may Schedule and Cancel any timer, but must not call Advance.
func (w *Wheel) Advance(now Time, budget int) int {
	target := w.floorTick(now)
	ran := 0
	for ran < budget {
		// One batch: the timers in the current slot when it starts. Timers
		// put there by the batch's own callbacks are stamped with a later
		// generation and wait for the next batch.
		g := w.gen
		w.gen++
		l := &w.slots[0][w.cur&wheelMask]
		for ran < budget {
			t := l.head
			if t == nil || t.gen > g {
				break
			}
			w.unlink(t)
			if t.fn != nil {
				t.fn(t, now)
			}
			ran++
		}
		if ran >= budget || w.cur >= target {
			break
		}
		old := w.cur
		leftovers := l.head != nil
		next := target
		if leftovers {
			// Timers re-armed into the past by this batch: run them with
			// the next tick.
			next = old + 1
		} else if n := w.nextTick(); n < next {
			next = n
		}
		w.cur = next
		for lvl := 1; lvl < wheelLevels; lvl++ {
			shift := uint(lvl * wheelBits)
			if next&(1<<shift-1) != 0 {
				break
			}
			w.cascade(lvl, (next>>shift)&wheelMask)
		}
		if leftovers {
			w.cascade(0, old&wheelMask)
		}
	}
	return ran
}

// NextExpiry returns a time at which Advance next has work to do, and false
// if no timer is pending. It is never later than the earliest pending
// expiry (rounded up to a tick) and may be earlier when the earliest timer
// still sits in a coarse level: the returned time is then when that level's
// slot cascades. A result at or before the wheel's last now means timers are
// already due. A poll loop may sleep until this time.
func (w *Wheel) NextExpiry() (Time, bool) {
	if w.n == 0 {
		return 0, false
	}
	if w.slots[0][w.cur&wheelMask].head != nil {
		return w.tickTime(w.cur), true
	}
	return w.tickTime(w.nextTick()), true
}

// insert links t (with t.tick set) into the slot that holds its distance
// from the current tick, stamped with the current generation.
func (w *Wheel) insert(t *Timer) {
	e := t.tick
	lvl := 0
	if e <= w.cur {
		e = w.cur // due: the current slot
	} else {
		d := e - w.cur
		if d >= wheelSpan {
			// Beyond the wheel: park in the top level at the furthest
			// reachable slot; it is re-inserted when that slot cascades.
			d = wheelSpan - 1
			e = w.cur + d
		}
		lvl = (bits.Len64(d) - 1) / wheelBits
	}
	idx := (e >> uint(lvl*wheelBits)) & wheelMask
	l := &w.slots[lvl][idx]
	t.slot = uint16(lvl*wheelSize) + uint16(idx)
	t.gen = w.gen
	t.next = nil
	t.prev = l.tail
	if l.tail != nil {
		l.tail.next = t
	} else {
		l.head = t
	}
	l.tail = t
	w.occupied[lvl] |= 1 << idx
}

// unlink removes a pending t from its slot and marks it not pending.
func (w *Wheel) unlink(t *Timer) {
	lvl, idx := t.slot/wheelSize, t.slot%wheelSize
	l := &w.slots[lvl][idx]
	if t.prev != nil {
		t.prev.next = t.next
	} else {
		l.head = t.next
	}
	if t.next != nil {
		t.next.prev = t.prev
	} else {
		l.tail = t.prev
	}
	if l.head == nil {
		w.occupied[lvl] &^= 1 << idx
	}
	t.next, t.prev, t.wheel = nil, nil, nil
	w.n--
}

// cascade empties one slot and re-inserts its timers relative to the
// current tick.
func (w *Wheel) cascade(lvl int, idx uint64) {
	l := &w.slots[lvl][idx]
	t := l.head
	l.head, l.tail = nil, nil
	w.occupied[lvl] &^= 1 << idx
	for t != nil {
		next := t.next
		w.insert(t)
		t = next
	}
}

// nextTick returns the first tick after the current one at which some level
// has work: a non-empty level-0 slot comes due or a non-empty coarser slot
// cascades. It returns math.MaxUint64 when nothing is pending outside the
// current slot. The current level-0 slot is ignored.
func (w *Wheel) nextTick() uint64 {
	best := uint64(math.MaxUint64)
	for lvl := range wheelLevels {
		bm := w.occupied[lvl]
		shift := uint(lvl * wheelBits)
		start := w.cur>>shift + 1 // first block of this level after the current tick
		if lvl == 0 {
			bm &^= 1 << (w.cur & wheelMask)
		}
		if bm == 0 {
			continue
		}
		k := uint64(bits.TrailingZeros64(bits.RotateLeft64(bm, -int(start&wheelMask))))
		if t := (start + k) << shift; t < best {
			best = t
		}
	}
	return best
}

// ceilTick returns at as a tick, rounded up.
func (w *Wheel) ceilTick(at Time) uint64 {
	if at <= w.origin {
		return 0
	}
	d := uint64(at) - uint64(w.origin)
	q := d / w.tick
	if d%w.tick != 0 {
		q++
	}
	return q
}

// floorTick returns now as a tick, rounded down.
func (w *Wheel) floorTick(now Time) uint64 {
	if now <= w.origin {
		return 0
	}
	return (uint64(now) - uint64(w.origin)) / w.tick
}

// tickTime returns the time at which tick k starts, saturating at the
// largest Time.
func (w *Wheel) tickTime(k uint64) Time {
	hi, lo := bits.Mul64(k, w.tick)
	if hi != 0 || lo > math.MaxInt64 {
		return math.MaxInt64
	}
	return w.origin.Add(time.Duration(lo))
}
