package lcore

import (
	"fmt"
	"runtime"
	"strings"
	"sync/atomic"
	"time"
)

// IdlePolicy is what a poll loop does on turns that find no work.
type IdlePolicy int

const (
	// IdleAdaptive spins for IdleSpinTurns empty turns, then sleeps with
	// exponential backoff from IdleMinSleep to IdleMaxSleep, so an idle
	// core costs little CPU. It is the default.
	IdleAdaptive IdlePolicy = iota
	// IdleBusyPoll never sleeps: the lowest latency, one core at 100 %.
	IdleBusyPoll
)

// Adaptive idling parameters.
const (
	// IdleSpinTurns is how many consecutive empty turns an adaptive loop
	// spins before its first sleep.
	IdleSpinTurns = 1000
	// IdleMinSleep is the first sleep after the spin.
	IdleMinSleep = 10 * time.Microsecond
	// IdleMaxSleep caps the backoff: the most a new packet waits for a
	// sleeping loop that nobody wakes.
	IdleMaxSleep = time.Millisecond
)

// ParseIdlePolicy parses "adaptive" or "busy" (case-insensitive).
func ParseIdlePolicy(s string) (IdlePolicy, error) {
	switch {
	case strings.EqualFold(s, "adaptive"):
		return IdleAdaptive, nil
	case strings.EqualFold(s, "busy"):
		return IdleBusyPoll, nil
	}
	return 0, fmt.Errorf("lcore: unknown idle policy %q (want adaptive or busy)", s)
}

// String returns the name ParseIdlePolicy accepts.
func (p IdlePolicy) String() string {
	switch p {
	case IdleAdaptive:
		return "adaptive"
	case IdleBusyPoll:
		return "busy"
	}
	return fmt.Sprintf("IdlePolicy(%d)", int(p))
}

// Set parses s into p, so that an IdlePolicy can be a flag.Value.
func (p *IdlePolicy) Set(s string) error {
	v, err := ParseIdlePolicy(s)
	if err != nil {
		return err
	}
	*p = v
	return nil
}

// Idler state bits.
const (
	idleSleeping = 1 << iota // the loop is in, or about to enter, a sleep
	idleNotified             // Wake was called since the loop last looked
)

// Idler carries out an IdlePolicy for one poll loop. The loop calls Idle
// once per turn; any goroutine may call Wake to cut a sleep short. It must
// be made with NewIdler.
type Idler struct {
	policy     IdlePolicy
	shared     bool          // the loop runs on an ordinary goroutine
	readied    bool          // the turn made a goroutine runnable, loop only
	sinceYield int           // turns since a shared loop last yielded, loop only
	spin       int           // empty turns before the first sleep
	minSleep   time.Duration // first sleep
	maxSleep   time.Duration // backoff cap
	empty      int           // consecutive empty turns, loop only
	backoff    time.Duration // last sleep, loop only; 0 after work
	state      atomic.Uint32 // idleSleeping | idleNotified
	sleeps     atomic.Uint64
	wake       chan struct{} // 1-buffered: Wake's signal to a sleeping loop
	timer      *time.Timer   // reused for every sleep
	// beforePause, when set, runs before every yield (false) and
	// sleep (true): the loop sends what its turn queued before it
	// gives up the CPU.
	beforePause func(sleep bool)
}

// NewIdler returns an Idler for policy p. Shared says that the loop runs
// on an ordinary goroutine, sharing Go's processors with the application's
// goroutines, rather than on a thread of its own (an EAL lcore): the
// Idler then yields the processor after turns that ready a goroutine and
// every yieldTurns turns.
func NewIdler(p IdlePolicy, shared bool) *Idler {
	t := time.NewTimer(time.Hour)
	t.Stop()
	return &Idler{
		policy:   p,
		shared:   shared,
		spin:     IdleSpinTurns,
		minSleep: IdleMinSleep,
		maxSleep: IdleMaxSleep,
		wake:     make(chan struct{}, 1),
		timer:    t,
	}
}

// Policy returns the policy the Idler carries out.
func (i *Idler) Policy() IdlePolicy {
	return i.policy
}

// Sleeps returns how many times Idle has slept. Safe from any goroutine.
func (i *Idler) Sleeps() uint64 {
	return i.sleeps.Load()
}

// yieldTurns is how often a loop yields its processor when nothing else
// asks it to: every yieldTurns turns when shared, every yieldTurns empty
// turns of an adaptive loop on a thread of its own.
const yieldTurns = 32

// Idle is called by the loop once per turn with whether the turn did any
// work. Work resets the spin count and the backoff. Under IdleBusyPoll it
// returns at once. Under IdleAdaptive an empty turn returns at once until
// IdleSpinTurns of them have passed in a row; after that each empty turn
// sleeps, twice as long as the one before, from IdleMinSleep up to
// IdleMaxSleep, or until Wake. A Wake since the loop last slept makes the
// next sleep return at once, so work posted just before the loop goes to
// sleep is not left waiting. A shared Idler first yields the processor,
// under either policy, after a turn that readied a goroutine (Readied) and
// every yieldTurns turns. Idle does not allocate.
func (i *Idler) Idle(didWork bool) {
	if i.shared {
		i.sinceYield++
		if i.readied || i.sinceYield == yieldTurns {
			// The loop shares Go's processors (Ps) with the
			// goroutines it serves. A goroutine that the turn made
			// runnable (a blocking Read that got its data) is queued
			// on this P: yield at once so that it runs now, on this
			// P, rather than when another P steals it. Otherwise
			// keep the P, and the loop its caches, but let others
			// run every yieldTurns turns. Measured with make perf
			// on 2 quiet cores, blocking round trip p50: yield after
			// every turn 15.8 µs, after a turn that readied a
			// goroutine 8.0 µs (GOMAXPROCS 1, for scale: 9.2 µs).
			i.readied = false
			i.sinceYield = 0
			i.pause(false)
			runtime.Gosched()
		}
	}
	if didWork {
		i.empty = 0
		i.backoff = 0
		return
	}
	if i.policy == IdleBusyPoll {
		return
	}
	if i.empty < i.spin {
		i.empty++
		// A spinning loop on a thread of its own holds a Go processor
		// (P). Where there are fewer spare cores than loops, the
		// goroutines that feed it (applications of the blocking API)
		// would otherwise wait for the runtime's 10 ms preemption:
		// yield every yieldTurns empty turns (a locked goroutine's
		// yield hands its P to another thread, so not every turn).
		// Measured with make perf on 2 cores: blocking round trip p50
		// 668 µs -> 90 µs, callback 6.6 µs -> 5.8 µs.
		if !i.shared && i.empty%yieldTurns == 0 {
			i.pause(false)
			runtime.Gosched()
		}
		return
	}
	d := i.minSleep
	if i.backoff > 0 {
		d = 2 * i.backoff
	}
	d = min(d, i.maxSleep)
	i.backoff = d
	i.pause(true)
	i.sleep(d)
}

// pause runs the loop's beforePause hook.
func (i *Idler) pause(sleep bool) {
	if i.beforePause != nil {
		i.beforePause(sleep)
	}
}

// sleep blocks for d or until Wake.
func (i *Idler) sleep(d time.Duration) {
	// Discard a signal left over from a Wake that raced with the end of
	// the previous sleep.
	select {
	case <-i.wake:
	default:
	}
	// From here on a Wake sees idleSleeping and signals the channel. A Wake
	// that came before consumes no sleep at all.
	if i.state.Swap(idleSleeping)&idleNotified != 0 {
		i.state.Store(0)
		return
	}
	i.sleeps.Add(1)
	// Go 1.23+ timers: Reset and Stop leave no stale value in C.
	i.timer.Reset(d)
	select {
	case <-i.wake:
		i.timer.Stop()
	case <-i.timer.C:
	}
	i.state.Store(0)
}

// yieldNow reports, for a shared Idler, whether the turn so far readied a
// goroutine, and counts the yield the loop then makes.
func (i *Idler) yieldNow() bool {
	if !i.shared || !i.readied {
		return false
	}
	i.readied = false
	i.sinceYield = 0
	return true
}

// Readied tells a shared Idler that the current turn made a goroutine
// runnable, so that the loop yields its processor (yieldNow, Idle) and the
// goroutine runs at once. Only the loop calls it.
func (i *Idler) Readied() { i.readied = true }

// Wake makes a sleeping Idle return at once, or the loop's next sleep be
// skipped if it is not sleeping. Call it after handing the loop work. It is
// safe from any goroutine, never blocks, and when a Wake is already pending
// costs one atomic load.
func (i *Idler) Wake() {
	s := i.state.Load()
	for s&idleNotified == 0 {
		if i.state.CompareAndSwap(s, s|idleNotified) {
			if s&idleSleeping != 0 {
				select {
				case i.wake <- struct{}{}:
				default:
				}
			}
			return
		}
		s = i.state.Load()
	}
}
