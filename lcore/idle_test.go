package lcore

import (
	"flag"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
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
		i.Idle(false)
	}
	i.Wake()
	i.Idle(false)
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

func TestIdleAdaptiveBackoff(t *testing.T) {
	i := NewIdler(IdleAdaptive, false)
	for range IdleSpinTurns {
		i.Idle(false)
	}
	assert.Zero(t, i.Sleeps(), "spins first")
	var sleeps []time.Duration
	for range 10 {
		i.Idle(false)
		sleeps = append(sleeps, i.backoff)
	}
	assert.Equal(t, uint64(10), i.Sleeps())
	us := time.Microsecond
	assert.Equal(t, []time.Duration{
		10 * us, 20 * us, 40 * us, 80 * us, 160 * us, 320 * us, 640 * us,
		time.Millisecond, time.Millisecond, time.Millisecond,
	}, sleeps)

	// Work resets the spin count and the backoff.
	i.Idle(true)
	assert.Zero(t, i.backoff)
	for range IdleSpinTurns {
		i.Idle(false)
	}
	assert.Equal(t, uint64(10), i.Sleeps(), "spins again after work")
	i.Idle(false)
	assert.Equal(t, uint64(11), i.Sleeps())
	assert.Equal(t, IdleMinSleep, i.backoff, "backoff starts over")
}

// longSleeper returns an adaptive Idler that sleeps on its first empty turn,
// for an hour.
func longSleeper() *Idler {
	i := NewIdler(IdleAdaptive, false)
	i.spin = 0
	i.minSleep = time.Hour
	i.maxSleep = time.Hour
	return i
}

func TestIdleWakeInterruptsSleep(t *testing.T) {
	i := longSleeper()
	for round := range 3 { // the timer and channel are reused
		done := make(chan struct{})
		go func() {
			i.Idle(false)
			close(done)
		}()
		for i.state.Load()&idleSleeping == 0 {
			runtime.Gosched()
		}
		i.Wake()
		select {
		case <-done:
		case <-time.After(hangGuard):
			t.Fatalf("round %d: Wake did not end the sleep", round)
		}
		assert.Equal(t, uint64(round+1), i.Sleeps())
	}
}

func TestIdleWakeBeforeSleepSkipsIt(t *testing.T) {
	i := longSleeper()
	i.Wake()
	i.Wake() // a second one is absorbed
	done := make(chan struct{})
	go func() {
		i.Idle(false) // must not sleep: work may have been posted
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(hangGuard):
		t.Fatal("Idle slept despite a pending Wake")
	}
	assert.Zero(t, i.Sleeps())
	assert.Zero(t, i.state.Load(), "the Wake was consumed")
}

func TestIdleNoAllocs(t *testing.T) {
	i := NewIdler(IdleAdaptive, false)
	i.minSleep, i.maxSleep = time.Microsecond, time.Microsecond
	allocs := testing.AllocsPerRun(50, func() {
		i.Idle(true)
		for range IdleSpinTurns + 1 {
			i.Idle(false)
		}
	})
	assert.Zero(t, allocs)
	assert.Equal(t, uint64(51), i.Sleeps())
	assert.Zero(t, testing.AllocsPerRun(100, i.Wake))
}
