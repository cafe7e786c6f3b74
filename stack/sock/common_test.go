package sock_test

import (
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dpstack/dpstack/stack/sock"
)

func TestStateString(t *testing.T) {
	cases := []struct {
		st   sock.State
		want string
	}{
		{sock.Closed, "CLOSED"},
		{sock.Listen, "LISTEN"},
		{sock.SynSent, "SYN-SENT"},
		{sock.SynRecv, "SYN-RECEIVED"},
		{sock.Established, "ESTABLISHED"},
		{sock.FinWait1, "FIN-WAIT-1"},
		{sock.FinWait2, "FIN-WAIT-2"},
		{sock.CloseWait, "CLOSE-WAIT"},
		{sock.Closing, "CLOSING"},
		{sock.LastAck, "LAST-ACK"},
		{sock.TimeWait, "TIME-WAIT"},
		{sock.State(42), "State(42)"},
	}
	for _, c := range cases {
		assert.Equal(t, c.want, c.st.String())
	}
	var zero sock.State
	assert.Equal(t, sock.Closed, zero, "the zero State is Closed")
}

func TestInit(t *testing.T) {
	s := sock.New()
	assert.Equal(t, uint16(sock.AFInet), s.Family)
	assert.Equal(t, sock.Closed, s.State)
	assert.Equal(t, 1, s.RefCount())
	assert.Equal(t, 131072, s.RcvBuf)
	assert.Equal(t, 16384, s.SndBuf)
	assert.Zero(t, s.RmemAlloc)
	assert.Zero(t, s.WmemQueued)
	assert.Zero(t, s.UserLocks)
	assert.Zero(t, s.Shutdown)
	assert.False(t, s.Done)
	assert.False(t, s.Dead)
	assert.Nil(t, s.Callbacks)
	assert.True(t, s.ReceiveQueue.Empty())
	assert.True(t, s.WriteQueue.Empty())
	assert.True(t, s.Backlog.Empty())
	assert.NoError(t, s.SockError())
}

func TestRefcount(t *testing.T) {
	s := sock.New()
	s.Hold()
	s.Hold()
	assert.Equal(t, 3, s.RefCount())
	assert.False(t, s.Put())
	assert.False(t, s.Put())
	assert.True(t, s.Put(), "the last reference")
	assert.Equal(t, 0, s.RefCount())
	assert.Panics(t, func() { s.Put() }, "underflow")
}

func TestShutdownHow(t *testing.T) {
	cases := []struct {
		how  int
		want uint8
		err  bool
	}{
		{0, sock.RcvShutdown, false},  // SHUT_RD
		{1, sock.SendShutdown, false}, // SHUT_WR
		{2, sock.ShutdownMask, false}, // SHUT_RDWR
		{3, 0, true},
		{-1, 0, true},
	}
	for _, c := range cases {
		got, err := sock.ShutdownHow(c.how)
		if c.err {
			require.ErrorIs(t, err, syscall.EINVAL)
			continue
		}
		require.NoError(t, err)
		assert.Equal(t, c.want, got, "how %d", c.how)
	}
	assert.Equal(t, uint8(3), sock.ShutdownMask)
}
