package ktime

import (
	"container/heap"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const ms = Time(time.Millisecond)

func TestTimeArithmetic(t *testing.T) {
	a := Time(1000)
	assert.Equal(t, Time(1500), a.Add(500))
	assert.Equal(t, time.Duration(-500), a.Sub(1500))
	assert.True(t, a.Before(1001))
	assert.False(t, a.Before(1000))
	assert.True(t, a.After(999))
	assert.False(t, a.After(1000))
	assert.Equal(t, Time(math.MaxInt64), a.Add(math.MaxInt64), "saturates up")
	assert.Equal(t, Time(math.MinInt64), Time(-1000).Add(math.MinInt64), "saturates down")
}

func TestNowMonotonicNoAlloc(t *testing.T) {
	prev := Now()
	for range 1000 {
		n := Now()
		require.False(t, n.Before(prev))
		prev = n
	}
	assert.Zero(t, testing.AllocsPerRun(100, func() { _ = Now() }))
}

func TestNewWheelDefaultTick(t *testing.T) {
	for _, tick := range []time.Duration{0, -time.Second} {
		assert.Equal(t, DefaultTick, NewWheel(tick, 0).Tick())
	}
	assert.Equal(t, 10*time.Microsecond, NewWheel(10*time.Microsecond, 0).Tick())
}

// firing records which timers fired and when.
type firing struct {
	ids  []int
	nows []Time
}

func (f *firing) timer(tm *Timer, id int) *Timer {
	tm.Init(func(_ *Timer, now Time) {
		f.ids = append(f.ids, id)
		f.nows = append(f.nows, now)
	})
	return tm
}

func TestWheelOrderAcrossLevels(t *testing.T) {
	// Deadlines in ms (= ticks) on every level, including beyond the span.
	deadlines := []int64{
		1, 5, 63, 64, 65, 100, 4095, 4096, 4097, 5000,
		262143, 262144, 300000, 1 << 24, 1<<24 + 1, 20000000,
	}
	tests := []struct {
		name string
		step int64 // ms between Advance calls; 0 means one single call
	}{
		{"single call", 0},
		{"every tick", 1},
		{"every 997 ticks", 997},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := NewWheel(time.Millisecond, 0)
			var f firing
			timers := make([]Timer, len(deadlines))
			perm := rand.New(rand.NewPCG(7, 7)).Perm(len(deadlines))
			for _, i := range perm {
				w.Schedule(f.timer(&timers[i], i), Time(deadlines[i])*ms)
			}
			require.Equal(t, len(deadlines), w.Len())
			end := Time(deadlines[len(deadlines)-1]) * ms
			if tc.step == 0 {
				require.Equal(t, len(deadlines), w.Advance(end, 1000))
			} else {
				for now := Time(0); now <= end+Time(tc.step)*ms; now += Time(tc.step) * ms {
					w.Advance(now, 1000)
				}
			}
			require.Equal(t, []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15}, f.ids)
			for k, id := range f.ids {
				at := Time(deadlines[id]) * ms
				assert.GreaterOrEqual(t, f.nows[k], at, "timer %d fired early", id)
				if tc.step == 1 {
					assert.Equal(t, at, f.nows[k], "timer %d fired late", id)
				}
			}
			assert.Zero(t, w.Len())
		})
	}
}

func TestWheelCancel(t *testing.T) {
	t.Run("before fire", func(t *testing.T) {
		w := NewWheel(time.Millisecond, 0)
		var f firing
		var a, b, c Timer
		w.Schedule(f.timer(&a, 1), 5*ms)
		w.Schedule(f.timer(&b, 2), 5000*ms)
		w.Schedule(f.timer(&c, 3), 5*ms)
		w.Cancel(&a)
		w.Cancel(&b)
		assert.False(t, a.Pending())
		assert.False(t, b.Pending())
		assert.True(t, c.Pending())
		assert.Equal(t, 1, w.Len())
		w.Cancel(&a) // not pending: no-op
		assert.Equal(t, 1, w.Len())
		for now := Time(0); now <= 6000*ms; now += 7 * ms {
			w.Advance(now, 100)
		}
		assert.Equal(t, []int{3}, f.ids)
		assert.Zero(t, w.Len())
	})
	t.Run("from another callback in the same tick", func(t *testing.T) {
		w := NewWheel(time.Millisecond, 0)
		var a, b Timer
		fired := 0
		a.Init(func(*Timer, Time) { fired++; w.Cancel(&b) })
		b.Init(func(*Timer, Time) { fired++; w.Cancel(&a) })
		w.Schedule(&a, 3*ms)
		w.Schedule(&b, 3*ms)
		assert.Equal(t, 1, w.Advance(10*ms, 100))
		assert.Equal(t, 1, fired)
		assert.Zero(t, w.Len())
	})
	t.Run("from an earlier callback", func(t *testing.T) {
		w := NewWheel(time.Millisecond, 0)
		var f firing
		var a, c Timer
		a.Init(func(*Timer, Time) { w.Cancel(&c) })
		w.Schedule(&a, 5*ms)
		w.Schedule(f.timer(&c, 3), 6*ms)
		assert.Equal(t, 1, w.Advance(100*ms, 100))
		assert.Empty(t, f.ids)
		assert.False(t, c.Pending())
	})
	t.Run("across wheels", func(t *testing.T) {
		w1, w2 := NewWheel(time.Millisecond, 0), NewWheel(time.Millisecond, 0)
		var f firing
		var a Timer
		w1.Schedule(f.timer(&a, 1), 5*ms)
		w2.Schedule(&a, 7*ms) // moves it to w2
		assert.Zero(t, w1.Len())
		assert.Equal(t, 1, w2.Len())
		w1.Cancel(&a) // cancels on its own wheel
		assert.Zero(t, w2.Len())
		w1.Advance(Time(time.Hour), 10)
		w2.Advance(Time(time.Hour), 10)
		assert.Empty(t, f.ids)
	})
}

func TestWheelReschedule(t *testing.T) {
	w := NewWheel(time.Millisecond, 0)
	var f firing
	var a Timer
	f.timer(&a, 1)
	w.Schedule(&a, 10*ms)
	w.Schedule(&a, 5*ms) // earlier
	assert.Equal(t, 1, w.Len())
	assert.Equal(t, 5*ms, a.Expires())
	w.Advance(4*ms, 10)
	assert.Empty(t, f.nows)
	w.Advance(5*ms, 10)
	assert.Equal(t, []Time{5 * ms}, f.nows)

	w.Schedule(&a, 10*ms)
	w.Schedule(&a, 100*ms) // later, onto another level
	for now := 5 * ms; now <= 200*ms; now += ms {
		w.Advance(now, 10)
	}
	assert.Equal(t, []Time{5 * ms, 100 * ms}, f.nows)
}

func TestWheelLongTimeouts(t *testing.T) {
	const day = 24 * time.Hour
	tests := []struct {
		name    string
		timeout time.Duration
		step    time.Duration // 0: one jump to just before, then to the deadline
	}{
		{"1h every second", time.Hour, time.Second},
		{"1h jump", time.Hour, 0},
		{"2h every 10s", 2 * time.Hour, 10 * time.Second},
		{"2h plus half a tick, every 97ms", 2*time.Hour + 500*time.Microsecond, 97 * time.Millisecond},
		{"30d every minute", 30 * day, time.Minute},
		{"30d jump", 30 * day, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			origin := Time(3 * time.Second) // not a multiple of anything in particular
			w := NewWheel(time.Millisecond, origin)
			var f firing
			var a Timer
			at := origin.Add(tc.timeout)
			w.Schedule(f.timer(&a, 1), at)
			// The first tick boundary at or after at.
			due := origin + (at-origin+ms-1)/ms*ms
			if tc.step > 0 {
				for now := origin; now < due; now = now.Add(tc.step) {
					w.Advance(now, 10)
					if len(f.nows) != 0 {
						t.Fatalf("fired early at %v", now.Sub(origin))
					}
					if next, ok := w.NextExpiry(); !ok || next > due {
						t.Fatalf("NextExpiry = %v, %v; want <= %v", next, ok, due)
					}
				}
			}
			w.Advance(due-1, 10)
			require.Empty(t, f.nows, "fired before its tick")
			w.Advance(due, 10)
			require.Equal(t, []Time{due}, f.nows)
			require.GreaterOrEqual(t, due, at)
			assert.Zero(t, w.Len())
		})
	}
}

func TestWheelBudget(t *testing.T) {
	w := NewWheel(time.Millisecond, 0)
	var f firing
	timers := make([]Timer, 15)
	for i := range timers {
		at := 3 * ms
		if i >= 10 {
			at = 7 * ms
		}
		w.Schedule(f.timer(&timers[i], i), at)
	}
	assert.Zero(t, w.Advance(10*ms, 0), "budget 0 runs nothing")
	var runs []int
	for {
		n := w.Advance(10*ms, 4)
		runs = append(runs, n)
		if n == 0 {
			break
		}
	}
	assert.Equal(t, []int{4, 4, 4, 3, 0}, runs)
	// All tick-3 timers before any tick-7 timer.
	for k, id := range f.ids {
		if k < 10 {
			assert.Less(t, id, 10)
		} else {
			assert.GreaterOrEqual(t, id, 10)
		}
	}
	assert.Zero(t, w.Len())
}

func TestWheelBudgetLeftoverFiresBeforeLaterTicks(t *testing.T) {
	w := NewWheel(time.Millisecond, 0)
	var f firing
	var a, b, c Timer
	w.Schedule(f.timer(&a, 1), 2*ms)
	w.Schedule(f.timer(&b, 2), 2*ms)
	w.Schedule(f.timer(&c, 3), 50*ms)
	assert.Equal(t, 1, w.Advance(10*ms, 1))
	// Time moves on past c's deadline; the leftover from tick 2 still runs first.
	assert.Equal(t, 2, w.Advance(60*ms, 5))
	assert.Equal(t, 3, f.ids[2])
	assert.Equal(t, []Time{10 * ms, 60 * ms, 60 * ms}, f.nows)
}

func TestWheelPastAndPresent(t *testing.T) {
	origin := Time(time.Hour)
	w := NewWheel(time.Millisecond, origin)
	w.Advance(origin+5*ms+300, 10)
	var f firing
	var a, b, c, d Timer
	w.Schedule(f.timer(&a, 1), 0)              // long before the wheel existed
	w.Schedule(f.timer(&b, 2), origin+2*ms)    // before the current tick
	w.Schedule(f.timer(&c, 3), origin+5*ms)    // exactly the current tick
	w.Schedule(f.timer(&d, 4), origin+5*ms+10) // later in the current tick: next tick
	assert.Equal(t, 3, w.Advance(origin+5*ms+300, 10), "past timers fire at the next Advance, same now")
	assert.ElementsMatch(t, []int{1, 2, 3}, f.ids)
	assert.Equal(t, 1, w.Advance(origin+6*ms, 10))
	assert.Equal(t, 4, f.ids[3])
}

func TestWheelRearmInCallback(t *testing.T) {
	t.Run("periodic", func(t *testing.T) {
		w := NewWheel(time.Millisecond, 0)
		var a Timer
		var nows []Time
		a.Init(func(_ *Timer, now Time) {
			nows = append(nows, now)
			w.Schedule(&a, now+10*ms)
		})
		w.Schedule(&a, 10*ms)
		for now := Time(0); now <= 100*ms; now += ms {
			w.Advance(now, 10)
		}
		assert.Equal(t, []Time{10 * ms, 20 * ms, 30 * ms, 40 * ms, 50 * ms, 60 * ms, 70 * ms, 80 * ms, 90 * ms, 100 * ms}, nows)
		assert.True(t, a.Pending())
	})
	t.Run("into the past runs once per tick, not in a loop", func(t *testing.T) {
		w := NewWheel(time.Millisecond, 0)
		var a Timer
		fired := 0
		a.Init(func(*Timer, Time) {
			fired++
			w.Schedule(&a, 0)
		})
		w.Schedule(&a, 0)
		// Ticks 0..10 are processed: one run per tick.
		assert.Equal(t, 11, w.Advance(10*ms, 1000))
		// No new tick: one run per Advance call.
		assert.Equal(t, 1, w.Advance(10*ms, 1000))
		assert.Equal(t, 1, w.Advance(10*ms, 1000))
		assert.Equal(t, 13, fired)
	})
	t.Run("another timer into the current tick", func(t *testing.T) {
		w := NewWheel(time.Millisecond, 0)
		var a, b Timer
		var order []string
		b.Init(func(*Timer, Time) { order = append(order, "b") })
		a.Init(func(_ *Timer, now Time) {
			order = append(order, "a")
			w.Schedule(&b, now)
		})
		w.Schedule(&a, 5*ms)
		assert.Equal(t, 1, w.Advance(5*ms, 10))
		assert.Equal(t, 1, w.Advance(5*ms, 10))
		assert.Equal(t, []string{"a", "b"}, order)
	})
}

func TestWheelNextExpiry(t *testing.T) {
	w := NewWheel(time.Millisecond, 0)
	_, ok := w.NextExpiry()
	assert.False(t, ok)
	var a, b Timer
	w.Schedule(&a, 5*ms+1)
	next, ok := w.NextExpiry()
	assert.True(t, ok)
	assert.Equal(t, 6*ms, next)
	w.Cancel(&a)
	w.Schedule(&b, Time(10*time.Second))
	next, ok = w.NextExpiry()
	assert.True(t, ok)
	assert.Positive(t, next)
	assert.LessOrEqual(t, next, Time(10*time.Second))
	w.Schedule(&a, 0)
	next, _ = w.NextExpiry()
	assert.Equal(t, Time(0), next, "a due timer is reported as due")
}

// refEntry is one armed timer in the reference model, lazily deleted: it is
// stale when the timer was re-armed or disarmed since.
type refEntry struct {
	eff uint64
	id  int
	seq uint64
}

type refHeap []refEntry

func (h refHeap) Len() int           { return len(h) }
func (h refHeap) Less(i, j int) bool { return h[i].eff < h[j].eff }
func (h refHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *refHeap) Push(x any)        { *h = append(*h, x.(refEntry)) }
func (h *refHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	*h = old[:len(old)-1]
	return e
}

// wheelModel drives a Wheel against a naive reference: a heap of deadlines
// in ticks.
type wheelModel struct {
	t       *testing.T
	rng     *rand.Rand
	w       *Wheel
	tick    Time
	origin  Time
	now     Time // now of the last Advance
	fine    bool // Advance is called at least once per tick: check lateness
	timers  []Timer
	armed   []bool
	at      []Time
	sched   []Time   // now when last scheduled
	eff     []uint64 // first tick at which it must fire
	seq     []uint64
	ref     refHeap
	lastEff uint64
	fires   int
	inCB    bool // callbacks schedule and cancel other timers
}

func newWheelModel(t *testing.T, n int, fine bool, seed uint64) *wheelModel {
	m := &wheelModel{
		t:      t,
		rng:    rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)),
		tick:   ms,
		origin: Time(123456789),
		fine:   fine,
		timers: make([]Timer, n),
		armed:  make([]bool, n),
		at:     make([]Time, n),
		sched:  make([]Time, n),
		eff:    make([]uint64, n),
		seq:    make([]uint64, n),
	}
	m.now = m.origin
	m.w = NewWheel(time.Duration(m.tick), m.origin)
	for i := range m.timers {
		m.timers[i].Init(func(_ *Timer, now Time) { m.fire(i, now) })
	}
	return m
}

func (m *wheelModel) ceil(at Time) uint64 {
	if at <= m.origin {
		return 0
	}
	return uint64((at - m.origin + m.tick - 1) / m.tick)
}

func (m *wheelModel) floor(now Time) uint64 {
	if now <= m.origin {
		return 0
	}
	return uint64((now - m.origin) / m.tick)
}

func (m *wheelModel) fire(i int, now Time) {
	t := m.t
	require.True(t, m.armed[i], "timer %d fired but is not armed", i)
	require.GreaterOrEqual(t, m.floor(now), m.eff[i], "timer %d fired before its tick", i)
	require.GreaterOrEqual(t, now, m.at[i], "timer %d fired before its deadline", i)
	require.GreaterOrEqual(t, m.eff[i], m.lastEff, "timer %d fired out of tick order", i)
	if m.fine {
		require.Less(t, now, max(m.at[i], m.sched[i])+2*m.tick, "timer %d fired more than a tick late", i)
	}
	m.lastEff = m.eff[i]
	m.armed[i] = false
	m.fires++
	if m.inCB {
		switch r := m.rng.IntN(10); {
		case r == 0:
			j := m.rng.IntN(len(m.timers))
			// Strictly after this Advance's tick, so the model's deadline
			// is exact.
			m.schedule(j, now+m.tick+Time(m.rng.Int64N(int64(1<<20)*int64(m.tick))))
		case r == 1:
			m.cancel(m.rng.IntN(len(m.timers)))
		}
	}
}

func (m *wheelModel) schedule(i int, at Time) {
	m.w.Schedule(&m.timers[i], at)
	m.armed[i] = true
	m.at[i] = at
	m.sched[i] = m.now
	m.eff[i] = max(m.ceil(at), m.floor(m.now))
	m.seq[i]++
	heap.Push(&m.ref, refEntry{eff: m.eff[i], id: i, seq: m.seq[i]})
}

func (m *wheelModel) cancel(i int) {
	m.w.Cancel(&m.timers[i])
	m.armed[i] = false
	m.seq[i]++
}

// advance runs Advance until it has nothing left for now, then checks that
// nothing due was missed.
func (m *wheelModel) advance(now Time, budget int) {
	t := m.t
	m.now = now
	m.lastEff = 0
	for m.w.Advance(now, budget) == budget {
	}
	cur := m.floor(now)
	for m.ref.Len() > 0 && m.ref[0].eff <= cur {
		e := heap.Pop(&m.ref).(refEntry)
		require.False(t, e.seq == m.seq[e.id] && m.armed[e.id],
			"timer %d due at tick %d not fired by tick %d", e.id, e.eff, cur)
	}
	armed := 0
	for _, a := range m.armed {
		if a {
			armed++
		}
	}
	require.Equal(t, armed, m.w.Len())
}

// randomOps schedules, re-schedules and cancels random timers; delay draws
// a deadline offset from now (negative means in the past).
func (m *wheelModel) randomOps(delay func() Time) {
	for range m.rng.IntN(4) {
		i := m.rng.IntN(len(m.timers))
		if m.rng.IntN(4) == 0 {
			m.cancel(i)
		} else {
			m.schedule(i, m.now+delay())
		}
	}
}

func (m *wheelModel) drain(step Time) {
	for k := 0; m.w.Len() > 0; k++ {
		require.Less(m.t, k, 10_000_000, "wheel does not drain")
		m.advance(m.now+step, 1<<30)
	}
	for i, a := range m.armed {
		require.False(m.t, a, "timer %d never fired", i)
	}
}

func TestWheelRandomFineSteps(t *testing.T) {
	m := newWheelModel(t, 4000, true, 1)
	delay := func() Time {
		switch r := m.rng.IntN(20); {
		case r < 1:
			return -Time(m.rng.Int64N(int64(time.Second)))
		case r < 11:
			return Time(m.rng.Int64N(int64(100 * time.Millisecond)))
		case r < 17:
			return Time(m.rng.Int64N(int64(5 * time.Second)))
		default:
			return Time(m.rng.Int64N(int64(20 * time.Second)))
		}
	}
	for range 30000 {
		m.randomOps(delay)
		// At most one tick between Advance calls.
		m.advance(m.now+Time(m.rng.Int64N(int64(m.tick)+1)), 1<<30)
	}
	m.drain(m.tick / 3)
	t.Logf("%d timers fired", m.fires)
	assert.Greater(t, m.fires, 10000)
}

func TestWheelRandomJumps(t *testing.T) {
	for _, inCB := range []bool{false, true} {
		m := newWheelModel(t, 3000, false, 2)
		m.inCB = inCB
		ticks := func(n int64) Time { return Time(m.rng.Int64N(n)) * m.tick }
		delay := func() Time {
			switch r := m.rng.IntN(20); {
			case r < 1:
				return -ticks(1 << 20)
			case r < 9:
				return ticks(64) + Time(m.rng.Int64N(int64(m.tick)))
			case r < 15:
				return ticks(1 << 18)
			case r < 19:
				return ticks(1 << 26) // beyond the wheel's span
			default:
				return ticks(1 << 30)
			}
		}
		for range 20000 {
			m.randomOps(delay)
			var step Time
			switch r := m.rng.IntN(10); {
			case r < 7:
				step = ticks(10)
			case r < 9:
				step = ticks(1 << 14)
			default:
				step = ticks(1 << 27)
			}
			m.advance(m.now+step+Time(m.rng.Int64N(int64(m.tick))), 1+m.rng.IntN(8))
		}
		m.drain(Time(1<<27) * m.tick)
		t.Logf("inCB=%v: %d timers fired", inCB, m.fires)
		assert.Greater(t, m.fires, 10000)
	}
}

func TestWheelNoAllocs(t *testing.T) {
	w := NewWheel(time.Millisecond, 0)
	timers := make([]Timer, 256)
	for i := range timers {
		timers[i].Init(func(_ *Timer, now Time) {
			if i%4 == 0 {
				w.Schedule(&timers[i], now+Time(i)*ms) // re-arm
			}
		})
	}
	now := Time(0)
	allocs := testing.AllocsPerRun(200, func() {
		for i := range timers {
			w.Schedule(&timers[i], now+Time(i*i)*ms)
		}
		for i := 0; i < len(timers); i += 3 {
			w.Cancel(&timers[i])
		}
		now += 50 * ms
		w.Advance(now, 1<<20)
		_, _ = w.NextExpiry()
	})
	assert.Zero(t, allocs)
}

func TestWheelExpiryOrderWithinOneAdvance(t *testing.T) {
	// Many timers over many ticks, one Advance: firing order is sorted by
	// tick.
	w := NewWheel(time.Millisecond, 0)
	rng := rand.New(rand.NewPCG(3, 3))
	const n = 5000
	timers := make([]Timer, n)
	ticks := make([]int64, n)
	var got []int64
	for i := range timers {
		ticks[i] = rng.Int64N(1 << 22)
		timers[i].Init(func(*Timer, Time) { got = append(got, ticks[i]) })
		w.Schedule(&timers[i], Time(ticks[i])*ms)
	}
	require.Equal(t, n, w.Advance(Time(1<<22)*ms, n))
	assert.True(t, slices.IsSorted(got))
}

func BenchmarkWheelScheduleCancel(b *testing.B) {
	w := NewWheel(time.Millisecond, 0)
	timers := make([]Timer, 1024)
	for i := range timers {
		timers[i].Init(func(*Timer, Time) {})
		// A background of pending timers on every level.
		if i%2 == 0 {
			w.Schedule(&timers[i], Time(i*i*i)*ms)
		}
	}
	var t Timer
	t.Init(func(*Timer, Time) {})
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		w.Schedule(&t, Time(i&0xffff)*ms)
		w.Cancel(&t)
	}
}

func BenchmarkWheelAdvance(b *testing.B) {
	// 10,000 periodic timers with periods of 1 ms to 10 s; each iteration
	// advances the clock by one tick.
	w := NewWheel(time.Millisecond, 0)
	const n = 10000
	timers := make([]Timer, n)
	for i := range timers {
		period := Time(1+i) * ms
		timers[i].Init(func(_ *Timer, now Time) { w.Schedule(&timers[i], now+period) })
		w.Schedule(&timers[i], period)
	}
	b.ReportAllocs()
	b.ResetTimer()
	fired := 0
	for i := range b.N {
		fired += w.Advance(Time(i+1)*ms, 1<<20)
	}
	b.ReportMetric(float64(fired)/float64(b.N), "fires/op")
}
