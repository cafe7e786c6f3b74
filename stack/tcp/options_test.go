package tcp_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dpstack/dpstack/stack/header"
	"github.com/dpstack/dpstack/stack/stacktest"
	"github.com/dpstack/dpstack/stat"
)

// Options of the SYN (RFC 9293 §3.7.1, RFC 7323, RFC 2018): what is
// offered, what is agreed, and what follows from it.

func TestOptionNegotiation(t *testing.T) {
	cases := []struct {
		name     string
		syn      []byte
		mss      int  // our send MSS
		peerMSS  int  // as recorded
		scaling  bool // window scaling agreed
		sndShift int
		ts, sack bool
	}{
		{"all", synOpts(1), 1448, 1460, true, 7, true, true},
		{"none", nil, 536, 536, false, -1, false, false},
		{"MSS only", stacktest.OptMSS(1200), 1200, 1200, false, -1, false, false},
		{"MSS 0 means none", stacktest.OptMSS(0), 536, 536, false, -1, false, false},
		{"large MSS clamped to the route", stacktest.OptMSS(9000), 1460, 9000, false, -1, false, false},
		{"shift over 14 taken as 14", stacktest.Options(stacktest.OptMSS(1460), stacktest.OptWS(15)), 1460, 1460, true, 14, false, false},
		{"timestamps cost 12 bytes of MSS", stacktest.Options(stacktest.OptMSS(1000), stacktest.OptTS(5, 0)), 988, 1000, false, -1, true, false},
		{"SACK without timestamps", stacktest.Options(stacktest.OptMSS(1460), stacktest.OptSACKPerm()), 1460, 1460, false, -1, false, true},
		{"unknown options skipped", stacktest.Options([]byte{99, 4, 0, 0}, stacktest.OptMSS(1400), []byte{1, 1, 200, 2}), 1400, 1400, false, -1, false, false},
		{"options need no alignment", []byte{2, 4, 5, 0, 3, 3, 3, 1, 8, 10, 0, 0, 0, 9, 0, 0, 0, 0}, 1268, 1280, true, 3, true, false},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			pr := newPeer(t)
			l := listen(t, pr.h, 80, 4)
			pport := uint16(1000 + i)
			pr.send(stacktest.Segment{SrcPort: pport, DstPort: 80, Seq: 1, Flags: fSYN, Window: 1000, Options: c.syn})
			sa := pr.expect(stacktest.Flags(fSYN | fACK))
			assert.Equal(t, uint16(1460), sa.Options.MSS, "we always advertise MTU-40")
			assert.Equal(t, c.scaling, sa.Options.HasWS, "WS only when the SYN had it")
			assert.Equal(t, c.ts, sa.Options.HasTS)
			assert.Equal(t, c.sack, sa.Options.SACKPermitted)
			ack := stacktest.Segment{SrcPort: pport, DstPort: 80, Seq: 2, Ack: sa.Seq + 1, Flags: fACK, Window: 10}
			if c.ts {
				ack.Options = stacktest.OptTS(100, sa.Options.TSVal)
			}
			pr.send(ack)
			s, err := l.AcceptSock()
			require.NoError(t, err)
			in := s.Info()
			assert.Equal(t, c.mss, in.MSS)
			assert.Equal(t, c.peerMSS, in.PeerMSS)
			assert.Equal(t, c.scaling, in.WindowScaling)
			assert.Equal(t, c.sndShift, in.SndWscale)
			assert.Equal(t, c.ts, in.Timestamps)
			assert.Equal(t, c.sack, in.SACK)
			if c.scaling {
				assert.Equal(t, uint32(10)<<c.sndShift, in.SndWnd, "the peer's window is scaled")
			} else {
				assert.Equal(t, uint32(10), in.SndWnd)
			}
			// Our segments carry timestamps when agreed, and a scaled window.
			_, err = s.SendMsg([]byte("x"), 0)
			require.NoError(t, err)
			d := pr.expect(stacktest.PayloadLen(1))
			assert.Equal(t, c.ts, d.Options.HasTS)
			assert.False(t, d.Options.HasMSS || d.Options.HasWS || d.Options.SACKPermitted, "SYN options only on SYNs")
			in = s.Info()
			if c.scaling {
				assert.Equal(t, uint16(in.RcvWnd>>2), d.Window)
			} else {
				assert.Equal(t, uint16(min(in.RcvWnd, 65535)), d.Window)
			}
			s.Close()
			l.Close()
			pr.poll(4)
		})
	}
}

// The MSS follows the route's MTU, both ways (RFC 9293 §3.7.1): advertised
// as MTU-40, and sent no larger.
func TestMSSClampToMTU(t *testing.T) {
	pr := newPeerMTU(t, 1000)
	l := listen(t, pr.h, 80, 4)
	rc := pr.accept(l, 1000, 1, synOpts(1))
	assert.Equal(t, 1000-40-12, rc.s.Info().MSS)
	data := pattern(5000, 1)
	n, err := rc.s.SendMsg(data, 0)
	require.NoError(t, err)
	require.Equal(t, 5000, n)
	var got []byte
	for len(got) < 5000 {
		d := rc.expect()
		assert.LessOrEqual(t, d.IPTotalLen, 1000, "within the MTU")
		assert.LessOrEqual(t, len(d.Payload), 948)
		got = append(got, d.Payload...)
	}
	assert.Equal(t, data, got)
	rc.s.Close()
	l.Close()
}

// Malformed option lists are dropped and counted (RFC 9293 §3.1 MUST-7).
func TestMalformedOptions(t *testing.T) {
	pr := newPeer(t)
	l := listen(t, pr.h, 80, 4)
	for _, o := range [][]byte{
		{2, 0, 0, 0},              // length 0
		{2, 1, 0, 0},              // length 1
		{1, 1, 1, 8, 12, 0, 0, 0}, // runs past the header
		{1, 1, 1, 3},              // kind without room for its length
	} {
		before := pr.drops(stat.DropTCPBadOptions)
		pr.send(stacktest.Segment{SrcPort: 1000, DstPort: 80, Seq: 1, Flags: fSYN, Window: 1000, Options: o})
		pr.expectNone()
		assert.Equal(t, before+1, pr.drops(stat.DropTCPBadOptions), "%x", o)
	}
	_, reqs, _, _ := pr.tcp().Counts()
	assert.Zero(t, reqs)
	l.Close()
}

// A header without options has Data Offset 5; SACK blocks never exceed
// the room (4, or 3 beside timestamps).
func TestHeaderLengths(t *testing.T) {
	pr := newPeer(t)
	l := listen(t, pr.h, 80, 4)
	rc := pr.accept(l, 1000, 1, stacktest.OptMSS(1460))
	_, err := rc.s.SendMsg([]byte("abc"), 0)
	require.NoError(t, err)
	d := rc.expect(stacktest.PayloadLen(3))
	assert.Equal(t, header.TCPMinLen, d.HeaderLen)
	rc.s.Close()
	l.Close()
}
