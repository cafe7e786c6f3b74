package lcore

import (
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
)

// IdlePolicy is what a poll loop does on turns that find no work.
type IdlePolicy int

const (
	// IdleAdaptive polls while there is work and for IdleSpinTurns empty
	// turns after it; then the loop sleeps until a packet arrives on one
	// of its rx queues (their interrupts: dpdk.RxInterrupt), work is
	// posted to it (Wake), or its next timer is due, and polls again
	// when it wakes: DPDK l3fwd-power's scheme. A loop whose ports give
	// no interrupt sleeps in steps instead, twice as long each time from
	// IdleMinSleep up to IdleMaxSleep, cut short by Wake. It is the
	// default: an idle loop costs no CPU, and a packet wakes it within
	// microseconds.
	IdleAdaptive IdlePolicy = iota
	// IdleBusyPoll never sleeps: the lowest latency for a core reserved
	// for dpstack (isolcpus, nohz_full), one core at 100 %. On a core
	// that other work shares (the kernel's softirq that feeds a TAP,
	// the application, the clients) it takes the time they need: do
	// not use it there (README, "Idle policies").
	IdleBusyPoll
)

// Adaptive idling parameters.
const (
	// IdleSpinTurns is how many consecutive empty turns an adaptive loop
	// polls before it sleeps.
	IdleSpinTurns = 1000
	// IdleMinSleep is the first step of a loop that has no interrupt to
	// sleep on.
	IdleMinSleep = 10 * time.Microsecond
	// IdleMaxSleep caps the steps: the most a new packet waits for a
	// loop that has no interrupt to wake it.
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
// once per turn, and Sleep when Idle says so; any goroutine may call Wake
// to cut a sleep short. It must be made with NewIdler, and closed once
// nothing can wake it any more.
type Idler struct {
	policy     IdlePolicy
	shared     bool          // the loop runs on an ordinary goroutine
	readied    bool          // the turn made a goroutine runnable, loop only
	sinceYield int           // turns since a shared loop last yielded, loop only
	spin       int           // empty turns before the first sleep
	minSleep   time.Duration // first step
	maxSleep   time.Duration // step cap
	empty      int           // consecutive empty turns, loop only
	backoff    time.Duration // last step, loop only; 0 after work
	state      atomic.Uint32 // idleSleeping | idleNotified
	sleeps     atomic.Uint64
	// w is where Sleep blocks, made by the first Watch or Sleep; nil
	// if the kernel would not make it (Sleep then steps with
	// time.Sleep). Only the loop writes it, before it first sets
	// idleSleeping, which Wake reads first.
	w     *waiter
	wfail bool // making w failed: do not try again
	// beforeYield, when set, runs before every yield: the loop sends
	// what its turn queued before it gives up the CPU.
	beforeYield func()
}

// NewIdler returns an Idler for policy p. Shared says that the loop runs
// on an ordinary goroutine, sharing Go's processors with the application's
// goroutines, rather than on a thread of its own (an EAL lcore): the
// Idler then yields the processor after turns that ready a goroutine and
// every yieldTurns turns.
func NewIdler(p IdlePolicy, shared bool) *Idler {
	return &Idler{
		policy:   p,
		shared:   shared,
		spin:     IdleSpinTurns,
		minSleep: IdleMinSleep,
		maxSleep: IdleMaxSleep,
	}
}

// Policy returns the policy the Idler carries out.
func (i *Idler) Policy() IdlePolicy {
	return i.policy
}

// Sleeps returns how many times the loop slept. Safe from any goroutine.
func (i *Idler) Sleeps() uint64 {
	return i.sleeps.Load()
}

// yieldTurns is how often a loop yields its processor when nothing else
// asks it to: every yieldTurns turns when shared, every yieldTurns empty
// turns of a loop on a thread of its own.
const yieldTurns = 32

// Idle is called by the loop once per turn with whether the turn did any
// work, and reports whether the loop should now Sleep. Work resets the
// spin count and the steps. Under IdleBusyPoll it never says to sleep;
// under IdleAdaptive it says so once IdleSpinTurns empty turns have passed
// in a row, and on every empty turn after that until work or Woke. A
// shared Idler first yields the processor, under either policy, after a
// turn that readied a goroutine (Readied) and every yieldTurns turns. One
// on a thread of its own yields on the first empty turn after work and
// every yieldTurns empty turns: Go's processor when such loops leave Go
// none, the CPU (sched_yield) otherwise. Idle does not allocate.
func (i *Idler) Idle(didWork bool) bool {
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
			i.yield()
		}
	}
	if didWork {
		i.Woke()
		return false
	}
	i.empty++
	if !i.shared {
		periodic := i.empty%yieldTurns == 0
		switch {
		case periodic && lcoresHoldEveryP():
			// A loop on a thread of its own holds a Go processor
			// (P) while it polls. When such loops hold every P,
			// the goroutines that feed them (applications of the
			// blocking API) would wait for the runtime's 10 ms
			// preemption: hand the P over (a locked goroutine's
			// yield wakes another thread, so not every turn).
			// Measured with make perf, 2 loops on 2 cores:
			// blocking round trip p50 668 µs -> 90 µs. With a P to
			// spare that only costs: on the kernel-client
			// benchmark (1 loop, 2 CPUs) it cut ab -k from 51 k to
			// 40 k req/s.
			i.yield()
		case periodic || i.empty == 1:
			// Let the threads that share the loop's CPU run: the
			// client, the softirq that feeds a TAP. Measured on the
			// kernel-client benchmark with the clients on the
			// loop's CPU: TCP ping-pong p99 265 -> 45 µs, ab
			// 22.8 k -> 35.1 k req/s. The first empty turn after
			// work yields too: a reply just sent has woken its
			// reader, which on a shared CPU would otherwise wait
			// out the loop's spin (sockperf ping-pong on one CPU,
			// p99 UDP 14.4 -> 6.6 µs, TCP 12.6 -> 7.2 µs, p50 and
			// ab/wrk unchanged).
			schedYield()
		}
	}
	return i.policy == IdleAdaptive && i.empty > i.spin
}

// schedYield gives the CPU to another thread that is ready to run on it,
// if any: sched_yield(2), without telling Go's scheduler (the loop keeps
// its P).
func schedYield() { syscall.RawSyscall(syscall.SYS_SCHED_YIELD, 0, 0, 0) }

// lcoreLoops counts the loops running on threads of their own (not
// shared), each holding one of Go's processors.
var lcoreLoops atomic.Int32

// lcoresHoldEveryP reports whether the loops on threads of their own hold
// every one of Go's processors, leaving none for other goroutines.
func lcoresHoldEveryP() bool {
	return int(lcoreLoops.Load()) >= runtime.GOMAXPROCS(0)
}

// Woke tells the Idler that the loop found work or was woken: it spins
// again before its next sleep, and steps start over.
func (i *Idler) Woke() {
	i.empty = 0
	i.backoff = 0
}

// yield runs the loop's beforeYield hook and gives up the processor.
func (i *Idler) yield() {
	if i.beforeYield != nil {
		i.beforeYield()
	}
	runtime.Gosched()
}

// Step returns how long a loop that has no interrupt to wait for sleeps
// this time: IdleMinSleep after work, then twice the last step, up to
// IdleMaxSleep.
func (i *Idler) Step() time.Duration {
	d := i.minSleep
	if i.backoff > 0 {
		d = 2 * i.backoff
	}
	i.backoff = min(d, i.maxSleep)
	return i.backoff
}

// Watch makes a readable (edge-triggered) fd end the loop's sleeps: an
// rx queue's interrupt (dpdk.RxInterrupt.FD). Only the loop calls it.
func (i *Idler) Watch(fd int) error {
	w := i.waiter()
	if w == nil {
		return errors.New("lcore: no epoll set to sleep in")
	}
	return w.add(fd)
}

// waiter returns the Idler's waiter, making it on first use; nil when
// the kernel would not.
func (i *Idler) waiter() *waiter {
	if i.w == nil && !i.wfail {
		w, err := newWaiter(i.shared)
		i.w, i.wfail = w, err != nil
	}
	return i.w
}

// Sleep blocks the loop for d (d < 0: no limit), until a watched fd
// becomes readable, or until Wake. A Wake since the loop last slept makes
// it return at once, so work posted just before the loop goes to sleep is
// not left waiting. Only the loop calls it.
func (i *Idler) Sleep(d time.Duration) {
	w := i.waiter()
	if w != nil {
		w.limit(d)
	}
	// From here on a Wake sees idleSleeping and wakes the waiter. A
	// Wake that came before consumes no sleep at all.
	if i.state.Swap(idleSleeping)&idleNotified != 0 {
		i.state.Store(0)
		return
	}
	i.sleeps.Add(1)
	if w != nil {
		w.wait(d)
	} else {
		if d < 0 || d > i.maxSleep {
			d = i.maxSleep
		}
		time.Sleep(d)
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

// Wake makes a sleeping loop return from Sleep at once, or its next Sleep
// return at once if it is not sleeping. Call it after handing the loop
// work. It is safe from any goroutine and never blocks; it makes a system
// call only when the loop sleeps, and when a Wake is already pending costs
// one atomic load.
func (i *Idler) Wake() {
	s := i.state.Load()
	for s&idleNotified == 0 {
		if i.state.CompareAndSwap(s, s|idleNotified) {
			if s&idleSleeping != 0 && i.w != nil {
				i.w.wake()
			}
			return
		}
		s = i.state.Load()
	}
}

// Close releases what Sleep blocks in. Call it once the loop has stopped
// and nothing can Wake it any more.
func (i *Idler) Close() {
	if i.w != nil {
		i.w.close()
		i.w = nil
	}
}
