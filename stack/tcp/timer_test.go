package tcp_test

import (
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dpstack/dpstack/stack/sock"
	"github.com/dpstack/dpstack/stack/stacktest"
)

// Keepalive (RFC 1122 §4.2.3.6): probes after TCP_KEEPIDLE of silence,
// every TCP_KEEPINTVL; an answered probe keeps the connection, TCP_KEEPCNT
// unanswered ones end it with ETIMEDOUT.
func TestKeepalive(t *testing.T) {
	rc := established(t)
	pr := rc.pr
	s := rc.s
	require.NoError(t, s.SetSockOpt(syscall.IPPROTO_TCP, syscall.TCP_KEEPIDLE, 10))
	require.NoError(t, s.SetSockOpt(syscall.IPPROTO_TCP, syscall.TCP_KEEPINTVL, 2))
	require.NoError(t, s.SetSockOpt(syscall.IPPROTO_TCP, syscall.TCP_KEEPCNT, 3))
	require.NoError(t, s.SetSockOpt(syscall.SOL_SOCKET, syscall.SO_KEEPALIVE, 1))
	una := s.Info().SndUna
	pr.advance(9 * time.Second)
	pr.expectNone()
	pr.advance(1*time.Second + 10*time.Millisecond)
	rc.expect(stacktest.Flags(fACK), stacktest.Seq(una-1), stacktest.PayloadLen(0))
	rc.send(fACK, nil) // answered
	pr.advance(2*time.Second + 10*time.Millisecond)
	pr.expectNone()
	pr.advance(8 * time.Second)
	rc.expect(stacktest.Seq(una - 1))
	for i := range 2 {
		pr.advance(2*time.Second + 10*time.Millisecond)
		rc.expect(stacktest.Seq(una-1), stacktest.PayloadLen(0))
		assert.Equal(t, sock.Established, s.State(), "probe %d", i+2)
	}
	pr.advance(2*time.Second + 10*time.Millisecond)
	rc.expect(stacktest.Flags(fRST | fACK))
	assert.Equal(t, sock.Closed, s.State())
	assert.ErrorIs(t, s.SockError(), syscall.ETIMEDOUT)
	assert.Equal(t, uint64(4), pr.tcp().Stats().KeepAliveProbes.Load())
	s.Close()
}

// Retransmission gives up after TCP_USER_TIMEOUT (RFC 5482, RFC 9293
// §3.8.3) instead of after tcp_retries2.
func TestUserTimeout(t *testing.T) {
	rc := established(t)
	pr := rc.pr
	require.NoError(t, rc.s.SetSockOpt(syscall.IPPROTO_TCP, sock.TCP_USER_TIMEOUT, 1000))
	_, err := rc.s.SendMsg([]byte("nobody listens"), 0)
	require.NoError(t, err)
	for i := 0; rc.s.State() == sock.Established; i++ {
		require.Less(t, i, 20)
		pr.advance(100 * time.Millisecond)
	}
	pr.drain()
	assert.ErrorIs(t, rc.s.SockError(), syscall.ETIMEDOUT)
	assert.Equal(t, uint64(1), pr.tcp().Stats().AbortOnTimeout.Load())
	rc.s.Close()
}

// Without a user timeout, data retransmission gives up after 15 backed-off
// timeouts (tcp_retries2).
func TestRetries2(t *testing.T) {
	rc := established(t)
	pr := rc.pr
	_, err := rc.s.SendMsg([]byte("lost"), 0)
	require.NoError(t, err)
	for i := 0; rc.s.State() == sock.Established; i++ {
		require.Less(t, i, 200)
		pr.advance(10 * time.Second)
		pr.drain()
	}
	assert.ErrorIs(t, rc.s.SockError(), syscall.ETIMEDOUT)
	assert.Equal(t, uint64(15), pr.tcp().Stats().Timeouts.Load())
	rc.s.Close()
}

// SO_LINGER with a time of 0 aborts with a RST on close (RFC 9293
// §3.10.4 ABORT).
func TestLingerZero(t *testing.T) {
	rc := established(t)
	_, err := rc.s.RecvMsg(make([]byte, 10), 0)
	require.NoError(t, err)
	require.NoError(t, rc.s.SetSockOptLinger(syscall.SOL_SOCKET, syscall.SO_LINGER, syscall.Linger{Onoff: 1}))
	snd := rc.s.Info().SndNxt
	rc.s.Close()
	rc.expect(stacktest.Flags(fRST|fACK), stacktest.Seq(snd), stacktest.Ack(rc.seq))
	assert.Equal(t, sock.Closed, rc.state())
	assert.Equal(t, uint64(1), rc.pr.tcp().Stats().AbortOnLinger.Load())
}

// Closing with unread data resets (RFC 2525 §2.17); data arriving after
// close resets too.
func TestCloseResets(t *testing.T) {
	t.Run("unread data", func(t *testing.T) {
		rc := established(t) // "hello" is unread
		rc.s.Close()
		rc.expect(stacktest.Flags(fRST | fACK))
		assert.Equal(t, sock.Closed, rc.state())
	})
	t.Run("data after close", func(t *testing.T) {
		rc := established(t)
		_, err := rc.s.RecvMsg(make([]byte, 10), 0)
		require.NoError(t, err)
		rc.s.Close()
		rc.expect(stacktest.Flags(fFIN | fACK))
		rc.send(fACK|fPSH, []byte("too late"))
		rc.expect(stacktest.Flags(fRST | fACK))
		assert.Equal(t, sock.Closed, rc.state())
		assert.Equal(t, uint64(1), rc.pr.tcp().Stats().AbortOnData.Load())
	})
}

// An orphan's FIN is retransmitted and the orphan given up after fewer
// tries (tcp_orphan_retries).
func TestOrphanRetries(t *testing.T) {
	rc := established(t)
	_, err := rc.s.RecvMsg(make([]byte, 10), 0)
	require.NoError(t, err)
	rc.s.Close()
	rc.expect(stacktest.Flags(fFIN | fACK))
	for i := 0; rc.state() != sock.Closed; i++ {
		require.Less(t, i, 100)
		rc.pr.advance(10 * time.Second)
		rc.pr.drain()
	}
	assert.Equal(t, uint64(8), rc.pr.tcp().Stats().Timeouts.Load())
}
