package sock_test

import (
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dpstack/dpstack/stack/sock"
)

// recorder counts the events it receives and checks they name the socket.
type recorder struct {
	t      *testing.T
	s      *sock.Sock
	events []string
}

func (r *recorder) DataReady(s *sock.Sock)   { r.note(s, "data") }
func (r *recorder) WriteSpace(s *sock.Sock)  { r.note(s, "write") }
func (r *recorder) StateChange(s *sock.Sock) { r.note(s, "state") }
func (r *recorder) ErrorReport(s *sock.Sock) { r.note(s, "error") }

func (r *recorder) note(s *sock.Sock, ev string) {
	assert.Same(r.t, r.s, s)
	r.events = append(r.events, ev)
}

func TestCallbacks(t *testing.T) {
	s := sock.New()
	r := &recorder{t: t, s: s}
	s.Callbacks = r
	s.DataReady()
	s.WriteSpace()
	s.StateChange()
	s.ErrorReport()
	s.ReportError(syscall.EHOSTUNREACH)
	assert.Equal(t, []string{"data", "write", "state", "error", "error"}, r.events)
	assert.Equal(t, syscall.EHOSTUNREACH, s.Err)
}

func TestCallbacksNilSafe(t *testing.T) {
	s := sock.New()
	assert.NotPanics(t, func() {
		s.DataReady()
		s.WriteSpace()
		s.StateChange()
		s.ErrorReport()
		s.ReportError(syscall.ECONNREFUSED)
	})
	assert.Equal(t, syscall.ECONNREFUSED, s.Err)
}

func TestOrphan(t *testing.T) {
	s := sock.New()
	r := &recorder{t: t, s: s}
	s.Callbacks = r
	s.Orphan()
	assert.True(t, s.Dead)
	assert.Nil(t, s.Callbacks)
	s.DataReady()
	s.StateChange()
	assert.Empty(t, r.events, "an orphan reports to no one")
}

// sk_stream_write_space wakes writers only when the free space is at least
// half what is queued (about a third of the buffer free) and the buffer is
// not full.
func TestWriteSpaceThreshold(t *testing.T) {
	cases := []struct {
		sndbuf, queued int
		fires          bool
	}{
		{16384, 0, true},
		{16384, 4096, true},
		{16384, 10922, true},  // free 5462 >= 5461
		{16384, 10923, true},  // free 5461 >= 5461: the last that fires
		{16384, 10924, false}, // free 5460 < 5462
		{16384, 16000, false},
		{16384, 16384, false}, // full
		{16384, 20000, false}, // over (one packet may overshoot)
		{4608, 3072, true},    // free 1536 >= 1536
		{4608, 3073, false},
	}
	for _, c := range cases {
		s := sock.New()
		r := &recorder{t: t, s: s}
		s.Callbacks = r
		s.SndBuf = c.sndbuf
		s.WmemQueued = c.queued
		s.NoSpace = true
		assert.Equal(t, c.fires, s.Writable(), "sndbuf %d queued %d", c.sndbuf, c.queued)
		s.WriteSpace()
		if c.fires {
			assert.Equal(t, []string{"write"}, r.events, "sndbuf %d queued %d", c.sndbuf, c.queued)
			assert.False(t, s.NoSpace)
		} else {
			assert.Empty(t, r.events, "sndbuf %d queued %d", c.sndbuf, c.queued)
			assert.True(t, s.NoSpace)
		}
	}
}

func TestWriteSpaceNoCallbacks(t *testing.T) {
	s := sock.New()
	s.NoSpace = true
	require.NotPanics(t, s.WriteSpace)
	assert.False(t, s.NoSpace)
}
