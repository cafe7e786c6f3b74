package lcore

import (
	"flag"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// hangGuard bounds waits that should end at once; it catches hangs and is
// not a timing assertion.
const hangGuard = 30 * time.Second

func TestParseIdlePolicy(t *testing.T) {
	tests := []struct {
		in   string
		want IdlePolicy
		ok   bool
	}{
		{"adaptive", IdleAdaptive, true},
		{"busy", IdleBusyPoll, true},
		{"Busy", IdleBusyPoll, true},
		{"", 0, false},
		{"poll", 0, false},
	}
	for _, tc := range tests {
		p, err := ParseIdlePolicy(tc.in)
		if !tc.ok {
			assert.Error(t, err, tc.in)
			continue
		}
		require.NoError(t, err, tc.in)
		assert.Equal(t, tc.want, p)
		back, err := ParseIdlePolicy(p.String())
		require.NoError(t, err)
		assert.Equal(t, p, back, "String round-trips")
	}
	assert.Equal(t, "IdlePolicy(7)", IdlePolicy(7).String())
	var zero IdlePolicy
	assert.Equal(t, IdleAdaptive, zero, "adaptive is the default")
}

func TestIdlePolicyFlag(t *testing.T) {
	fs := flag.NewFlagSet("x", flag.ContinueOnError)
	var p IdlePolicy
	fs.Var(&p, "idle", "idle policy")
	require.NoError(t, fs.Parse([]string{"-idle=busy"}))
	assert.Equal(t, IdleBusyPoll, p)
	fs.SetOutput(discard{})
	assert.Error(t, fs.Parse([]string{"-idle=never"}))
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

func TestIdleBusyNeverSleeps(t *testing.T) {
	i := NewIdler(IdleBusyPoll, false)
	for range 10 * IdleSpinTurns {
		require.False(t, i.Idle(false))
	}
	i.Wake()
	assert.False(t, i.Idle(false))
	assert.Zero(t, i.Sleeps())
}

// TestIdleSharedYields: a shared Idler yields its processor at the end of
// a turn that readied a goroutine, and otherwise every yieldTurns turns,
// busy or not; one on a thread of its own does not yield after busy turns.
// With one processor, a goroutine started before the turns runs only when
// the loop yields (usually at its first yield: the scheduler sometimes
// takes the yielding goroutine back first, for fairness).
func TestIdleSharedYields(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	for _, tc := range []struct {
		name    string
		policy  IdlePolicy
		shared  bool
		readied bool
		every   int // the loop yields every this many turns; 0: never
	}{
		{"readied", IdleAdaptive, true, true, 1},
		{"readied busy-poll", IdleBusyPoll, true, true, 1},
		{"periodic", IdleAdaptive, true, false, yieldTurns},
		{"periodic busy-poll", IdleBusyPoll, true, false, yieldTurns},
		{"own thread", IdleAdaptive, false, true, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			i := NewIdler(tc.policy, tc.shared)
			var ran atomic.Bool
			go ran.Store(true)
			turns := 0
			for turns < 3*yieldTurns && !ran.Load() {
				if tc.readied {
					i.Readied()
				}
				i.Idle(true)
				turns++
			}
			if tc.every > 0 {
				require.True(t, ran.Load(), "the goroutine ran")
				assert.Zero(t, turns%tc.every, "the goroutine ran at a yield, after turn %d", turns)
				if tc.readied {
					assert.Less(t, turns, yieldTurns, "before a periodic yield")
				}
			} else {
				assert.False(t, ran.Load(), "no yield after busy turns")
			}
			for !ran.Load() {
				runtime.Gosched()
			}
		})
	}
}

// TestIdleOwnThreadYieldsWhenStarving: a loop on a thread of its own
// yields every yieldTurns empty turns, under either policy, only while
// such loops hold every one of Go's processors.
func TestIdleOwnThreadYieldsWhenStarving(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(2))
	for _, policy := range []IdlePolicy{IdleAdaptive, IdleBusyPoll} {
		for _, loops := range []int32{1, 2} {
			i := NewIdler(policy, false)
			yields := 0
			i.beforeYield = func() { yields++ }
			lcoreLoops.Add(loops)
			for range 4 * yieldTurns {
				i.Idle(false)
			}
			lcoreLoops.Add(-loops)
			want := 0
			if loops == 2 {
				want = 4
			}
			assert.Equal(t, want, yields, "%v, %d loops on 2 Ps", policy, loops)
		}
	}
}

func TestIdleAdaptiveSpinsThenSleeps(t *testing.T) {
	i := NewIdler(IdleAdaptive, false)
	for range IdleSpinTurns {
		require.False(t, i.Idle(false), "spins first")
	}
	assert.True(t, i.Idle(false))
	assert.True(t, i.Idle(false), "and on every empty turn after")

	// Work resets the spin count; so does a wake.
	assert.False(t, i.Idle(true))
	for range IdleSpinTurns {
		require.False(t, i.Idle(false))
	}
	assert.True(t, i.Idle(false))
	i.Woke()
	assert.False(t, i.Idle(false))
}

func TestIdleSteps(t *testing.T) {
	i := NewIdler(IdleAdaptive, false)
	var steps []time.Duration
	for range 10 {
		steps = append(steps, i.Step())
	}
	us := time.Microsecond
	assert.Equal(t, []time.Duration{
		10 * us, 20 * us, 40 * us, 80 * us, 160 * us, 320 * us, 640 * us,
		time.Millisecond, time.Millisecond, time.Millisecond,
	}, steps)
	i.Idle(true)
	assert.Equal(t, IdleMinSleep, i.Step(), "work starts the steps over")
}

// sleepIn runs Sleep(d) on a goroutine of its own, waits until it sleeps
// and returns a channel closed when it returns.
func sleepIn(t *testing.T, i *Idler, d time.Duration) <-chan struct{} {
	t.Helper()
	sleeps := i.Sleeps()
	done := make(chan struct{})
	go func() {
		i.Sleep(d)
		close(done)
	}()
	for i.Sleeps() == sleeps {
		select {
		case <-done:
			// A short sleep may have begun and ended since the
			// count was last read.
			if i.Sleeps() == sleeps {
				t.Fatal("Sleep returned without sleeping")
			}
			return done
		default:
			runtime.Gosched()
		}
	}
	return done
}

// returns fails the test if done is not closed within hangGuard.
func returns(t *testing.T, done <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-done:
	case <-time.After(hangGuard):
		t.Fatalf("%s did not end the sleep", what)
	}
}

// eachWaiter runs fn with an adaptive Idler of each kind: one that blocks
// its thread when it sleeps, one that parks its goroutine (shared).
func eachWaiter(t *testing.T, fn func(t *testing.T, i *Idler)) {
	for _, shared := range []bool{false, true} {
		name := map[bool]string{false: "thread", true: "parked"}[shared]
		t.Run(name, func(t *testing.T) {
			i := NewIdler(IdleAdaptive, shared)
			defer i.Close()
			fn(t, i)
		})
	}
}

func TestIdleWakeInterruptsSleep(t *testing.T) {
	eachWaiter(t, func(t *testing.T, i *Idler) {
		for round := range 3 { // the waiter is reused
			done := sleepIn(t, i, -1)
			i.Wake()
			returns(t, done, "Wake")
			assert.Equal(t, uint64(round+1), i.Sleeps())
		}
	})
}

func TestIdleWakeBeforeSleepSkipsIt(t *testing.T) {
	eachWaiter(t, func(t *testing.T, i *Idler) {
		i.Wake()
		i.Wake() // a second one is absorbed
		done := make(chan struct{})
		go func() {
			i.Sleep(-1) // must not sleep: work may have been posted
			close(done)
		}()
		returns(t, done, "a pending Wake")
		assert.Zero(t, i.Sleeps())
		assert.Zero(t, i.state.Load(), "the Wake was consumed")
	})
}

// TestIdleWatchedFDWakes: a sleep with no limit ends when a watched
// descriptor becomes readable, once per event (edge-triggered: nothing
// reads it).
func TestIdleWatchedFDWakes(t *testing.T) {
	eachWaiter(t, func(t *testing.T, i *Idler) {
		var p [2]int
		require.NoError(t, unix.Pipe2(p[:], unix.O_CLOEXEC|unix.O_NONBLOCK))
		defer unix.Close(p[0])
		defer unix.Close(p[1])
		require.NoError(t, i.Watch(p[0]))
		for range 2 {
			done := sleepIn(t, i, -1)
			_, err := unix.Write(p[1], []byte{1})
			require.NoError(t, err)
			returns(t, done, "the watched fd")
		}
	})
}

// TestIdleSleepTimeout: a sleep with a limit ends by itself.
func TestIdleSleepTimeout(t *testing.T) {
	eachWaiter(t, func(t *testing.T, i *Idler) {
		returns(t, sleepIn(t, i, time.Millisecond), "the timeout")
		returns(t, sleepIn(t, i, time.Millisecond), "the timeout, again")
	})
}

func TestIdleNoAllocs(t *testing.T) {
	eachWaiter(t, func(t *testing.T, i *Idler) {
		allocs := testing.AllocsPerRun(50, func() {
			i.Idle(true)
			for range IdleSpinTurns + 1 {
				i.Idle(false)
			}
			i.Sleep(time.Microsecond)
		})
		assert.Zero(t, allocs)
		assert.Equal(t, uint64(51), i.Sleeps())
		assert.Zero(t, testing.AllocsPerRun(100, i.Wake))
	})
}
