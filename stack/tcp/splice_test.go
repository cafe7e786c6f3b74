package tcp_test

import (
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestSplice: host b splices what its side of one connection receives into
// its side of another (a relay's two legs on one core). The stream arrives
// whole; while the far reader does not read, the relay's receive queue
// keeps what the send buffer cannot take and the window closes on the
// sender; the steady state allocates nothing; a destination of another
// host's core is EXDEV.
func TestSplice(t *testing.T) {
	p := newPair(t)
	in, out := p.connect(80), p.connect(81) // a -> b, then b -> a
	msg := pattern(4<<20, 3)
	buf := make([]byte, 64<<10)
	var got []byte
	sent := 0
	step := func(read bool) {
		if sent < len(msg) {
			if n, err := in.cl.SendMsg(msg[sent:], 0); err == nil {
				sent += n
			}
		}
		p.Pump(1)
		if _, err := in.sv.Splice(out.sv, 1<<20); err != nil && err != syscall.EAGAIN {
			t.Fatal(err)
		}
		p.Pump(1)
		if read {
			if n, err := out.cl.RecvMsg(buf, 0); err == nil {
				got = append(got, buf[:n]...)
			}
		}
	}
	// The far reader does not read: everything stops, bounded.
	for range 2000 {
		step(false)
	}
	assert.Less(t, sent, len(msg), "the sender is stopped")
	assert.Positive(t, in.sv.Sk().ReceiveQueue.Bytes(), "what the send buffer cannot take stays received")
	assert.LessOrEqual(t, out.sv.Sk().WmemQueued, out.sv.Sk().SndBuf+4096, "the send buffer bounds the move")
	stalled := sent
	for range 100 {
		step(false)
	}
	assert.Equal(t, stalled, sent, "the window stays closed")

	for i := 0; len(got) < len(msg); i++ {
		require.Less(t, i, 200000, "the stream stalls")
		step(true)
	}
	assert.Equal(t, msg, got)
	assert.Positive(t, p.tb().Stats().SplicedSegs.Load())

	// Steady state: a segment in, spliced, out, read.
	require.NoError(t, in.cl.SetSockOpt(syscall.IPPROTO_TCP, syscall.TCP_NODELAY, 1))
	require.NoError(t, out.sv.SetSockOpt(syscall.IPPROTO_TCP, syscall.TCP_NODELAY, 1))
	small := pattern(1000, 4)
	relay := func() {
		if _, err := in.cl.SendMsg(small, 0); err != nil {
			t.Fatal(err)
		}
		p.Pump(2)
		if n, err := in.sv.Splice(out.sv, 1<<20); n != len(small) {
			t.Fatalf("spliced %d, %v", n, err)
		}
		p.Pump(2)
		if n, _ := out.cl.RecvMsg(buf, 0); n != len(small) {
			t.Fatalf("read %d", n)
		}
	}
	for range 20 {
		relay()
	}
	assert.Zero(t, testing.AllocsPerRun(100, relay), "splice path")

	_, err := in.sv.Splice(out.cl, 1<<20)
	assert.ErrorIs(t, err, syscall.EXDEV)
}
