package tcp_test

import (
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dpstack/dpstack/stack/stacktest"
	"github.com/dpstack/dpstack/stat"
)

// A peer that fills the window with segments too large to coalesce and
// small for their buffers (1 KiB in 2 KiB mbufs) overruns the buffer's
// true size before the window it was offered closes (the right edge
// never moves left, RFC 9293 §3.8.6.2.2): the receive queue is
// packed into full mbufs (tcp_collapse), nothing sent in the window is
// dropped, and the data reads back whole and in order.
func TestReceiveCollapse(t *testing.T) {
	pr := newPeer(t)
	l := listen(t, pr.h, 80, 4)
	require.NoError(t, l.SetSockOpt(syscall.SOL_SOCKET, syscall.SO_RCVBUF, 8192))
	rc := pr.accept(l, 5001, 1000, stacktest.OptMSS(1460)) // no scaling: windows in bytes
	s := rc.s
	var want []byte
	for i, wnd := 0, 8192; wnd >= 1024; i++ {
		require.Less(t, i, 100, "the window never closes")
		data := pattern(1024, i)
		rc.send(fACK, data)
		want = append(want, data...)
		a := rc.expectSoon(stacktest.Flags(fACK))
		require.Equal(t, rc.seq, a.Ack, "in-window data is taken")
		wnd = int(a.Window)
	}
	assert.Positive(t, pr.tcp().Stats().RcvCollapsed.Load())
	assert.Zero(t, pr.drops(stat.DropTCPRcvMem))
	got := make([]byte, len(want)+1)
	n, err := s.RecvMsg(got, 0)
	require.NoError(t, err)
	assert.Equal(t, want, got[:n])
	s.Close()
	l.Close()
}

// With the buffer full of out-of-order data, the segment that fills the
// hole still gets in: the highest out-of-order segments are pruned for it
// (tcp_prune_ofo_queue), and what stays in order reads back whole.
func TestPruneOutOfOrder(t *testing.T) {
	pr := newPeer(t)
	l := listen(t, pr.h, 80, 4)
	require.NoError(t, l.SetSockOpt(syscall.SOL_SOCKET, syscall.SO_RCVBUF, 8192))
	rc := pr.accept(l, 5002, 1000, stacktest.OptMSS(1460))
	s := rc.s
	const size = 1000
	hole := rc.seq
	rc.seq += size
	// Out-of-order segments beyond the hole, until the buffer refuses
	// them: each is SACKed while it is taken.
	var sent [][]byte
	for i := 1; i < 64; i++ {
		data := pattern(size, i)
		rc.send(fACK, data)
		sent = append(sent, data)
		if pr.drops(stat.DropTCPOFOMem) > 0 {
			break
		}
		rc.expect(stacktest.Flags(fACK), stacktest.Ack(hole))
	}
	require.Positive(t, pr.drops(stat.DropTCPOFOMem), "the buffer never filled with out-of-order data")
	pr.drain()

	// The hole: taken, at the cost of the highest out-of-order segments.
	end := rc.seq
	rc.seq = hole
	first := pattern(size, 0)
	rc.send(fACK, first)
	rc.seq = end
	a := rc.expectSoon(stacktest.Flags(fACK))
	assert.Positive(t, pr.tcp().Stats().OFOPruned.Load())
	assert.Greater(t, a.Ack, hole+size, "the hole and what follows it in order are acknowledged")
	got := make([]byte, 64*size)
	n, err := s.RecvMsg(got, 0)
	require.NoError(t, err)
	want := first
	for _, d := range sent {
		want = append(want, d...)
	}
	require.Equal(t, int(a.Ack-hole), n)
	assert.Equal(t, want[:n], got[:n])
	s.Close()
	l.Close()
}
