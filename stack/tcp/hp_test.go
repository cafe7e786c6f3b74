package tcp_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dpstack/dpstack/stack/stacktest"
	"github.com/dpstack/dpstack/stat"
)

// Header prediction (input.go, predicted and fastRcv): the segment an
// established connection expects next takes the fast path, counted in
// tcp_hp_hits (data) or tcp_hp_acks (pure ACKs); anything unusual takes
// the full RFC 9293 §3.10.7.4 path, and both give the same answer.
func TestHeaderPrediction(t *testing.T) {
	tests := []struct {
		name string
		// send sends one segment on an established connection and
		// checks the host's answer.
		send       func(t *testing.T, rc *rawConn)
		hits, acks uint64 // how the counters move
	}{
		{"in-order data", func(t *testing.T, rc *rawConn) {
			rc.send(fACK|fPSH, []byte("abc"))
			rc.expect(stacktest.Flags(fACK), stacktest.Ack(rc.seq))
			assert.Equal(t, 8, rc.s.Info().RecvQueue)
		}, 1, 0},
		{"in-order data without PSH", func(t *testing.T, rc *rawConn) {
			rc.send(fACK, []byte("abc"))
			rc.expect(stacktest.Flags(fACK), stacktest.Ack(rc.seq))
			assert.Equal(t, 8, rc.s.Info().RecvQueue)
		}, 1, 0},
		{"ACK of the host's data", func(t *testing.T, rc *rawConn) {
			_, err := rc.s.SendMsg([]byte("reply"), 0)
			require.NoError(t, err)
			rc.pr.poll(1)
			r := rc.expect(stacktest.Flags(fACK | fPSH))
			rc.ack = r.Seq + uint32(len(r.Payload))
			rc.send(fACK, nil)
			rc.pr.expectNone()
			assert.Zero(t, rc.s.Info().PacketsOut)
		}, 0, 1},
		{"duplicate ACK", func(t *testing.T, rc *rawConn) {
			rc.send(fACK, nil)
			rc.pr.expectNone()
		}, 0, 1},
		{"out of order", func(t *testing.T, rc *rawConn) {
			s := rc.seg(fACK|fPSH, []byte("later"))
			s.Seq += 10
			rc.pr.send(s)
			r := rc.expect(stacktest.Flags(fACK), stacktest.Ack(rc.seq))
			assert.Equal(t, 1, r.Options.NumSACK)
		}, 0, 0},
		{"old data", func(t *testing.T, rc *rawConn) {
			s := rc.seg(fACK|fPSH, []byte("hello"))
			s.Seq -= 5
			rc.pr.send(s)
			r := rc.expect(stacktest.Flags(fACK), stacktest.Ack(rc.seq))
			assert.Equal(t, 1, r.Options.NumSACK, "D-SACK")
		}, 0, 0},
		{"FIN", func(t *testing.T, rc *rawConn) {
			rc.send(fACK|fFIN, nil)
			rc.pr.advance(500 * time.Millisecond)
			rc.expect(stacktest.Flags(fACK), stacktest.Ack(rc.seq))
		}, 0, 0},
		{"window update", func(t *testing.T, rc *rawConn) {
			rc.wnd = 1000
			rc.send(fACK|fPSH, []byte("abc"))
			rc.expect(stacktest.Flags(fACK), stacktest.Ack(rc.seq))
			assert.Equal(t, 8, rc.s.Info().RecvQueue)
		}, 0, 0},
		{"old TSval", func(t *testing.T, rc *rawConn) {
			s := rc.seg(fACK|fPSH, []byte("stale"))
			s.Options = stacktest.OptTS(rc.tsVal-50, rc.tsEcr)
			rc.pr.send(s)
			rc.expect(stacktest.Flags(fACK), stacktest.Ack(rc.seq))
			assert.Equal(t, uint64(1), rc.pr.drops(stat.DropTCPPAWS))
		}, 0, 0},
		{"no timestamp", func(t *testing.T, rc *rawConn) {
			s := rc.seg(fACK|fPSH, []byte("abc"))
			s.Options = nil
			rc.pr.send(s)
			rc.seq += 3
			rc.expect(stacktest.Flags(fACK), stacktest.Ack(rc.seq))
		}, 0, 0},
		{"SACK block", func(t *testing.T, rc *rawConn) {
			s := rc.seg(fACK|fPSH, []byte("abc"))
			s.Options = stacktest.Options(stacktest.OptTS(rc.tsVal, rc.tsEcr), []byte{1, 1, 5, 10, 0, 0, 0, 1, 0, 0, 0, 2})
			rc.pr.send(s)
			rc.seq += 3
			rc.expect(stacktest.Flags(fACK), stacktest.Ack(rc.seq))
		}, 0, 0},
		{"ACK of unsent data", func(t *testing.T, rc *rawConn) {
			s := rc.seg(fACK|fPSH, []byte("abc"))
			s.Ack += 1000
			rc.pr.send(s)
			rc.expect(stacktest.Flags(fACK), stacktest.Ack(rc.seq))
			assert.Equal(t, uint64(1), rc.pr.drops(stat.DropTCPAckUnsent))
		}, 0, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rc := established(t)
			st := rc.pr.tcp().Stats()
			hits, acks := st.HPHits.Load(), st.HPAcks.Load()
			tc.send(t, rc)
			assert.Equal(t, tc.hits, st.HPHits.Load()-hits, "tcp_hp_hits")
			assert.Equal(t, tc.acks, st.HPAcks.Load()-acks, "tcp_hp_acks")
			rc.s.Close()
		})
	}
}
