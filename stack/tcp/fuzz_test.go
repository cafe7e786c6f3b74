package tcp_test

import (
	"encoding/binary"
	"testing"
	"time"

	"github.com/dpstack/dpstack/stack/sock"
	"github.com/dpstack/dpstack/stack/stacktest"
)

// fuzzStates are the states FuzzSegment puts the connection in before the
// fuzzed segments arrive: as established, after the host's close (an
// orphan in FIN-WAIT-1, then FIN-WAIT-2), after the peer's FIN
// (CLOSE-WAIT), and after both (LAST-ACK).
var fuzzStates = []func(rc *rawConn){
	func(*rawConn) {},
	func(rc *rawConn) { rc.s.Close() },
	func(rc *rawConn) {
		rc.s.Close()
		rc.pr.poll(2)
		rc.send(fACK, nil)
	},
	func(rc *rawConn) { rc.send(fACK|fFIN, nil) },
	func(rc *rawConn) {
		rc.send(fACK|fFIN, nil)
		rc.pr.poll(2)
		rc.s.Close()
	},
}

// FuzzSegment feeds segments built from fuzzed fields (flags, sequence and
// acknowledgment numbers relative to the connection's, window, options,
// data) to a connection in each of fuzzStates, with time passing between
// them: no panic, no hang, and once the host is closed every mbuf is back
// (the peer's cleanup checks the pool). Its seeds run with make test.
func FuzzSegment(f *testing.F) {
	seed := func(state byte, segs ...[]byte) {
		var in []byte
		for _, s := range segs {
			in = append(in, byte(len(s)))
			in = append(in, s...)
		}
		f.Add(state, in)
	}
	// A segment: flags, seq delta (4), ack delta (4), window (2), option
	// length, options, data.
	enc := func(fl byte, dseq, dack int32, wnd uint16, opts, data []byte) []byte {
		b := []byte{fl}
		b = binary.BigEndian.AppendUint32(b, uint32(dseq))
		b = binary.BigEndian.AppendUint32(b, uint32(dack))
		b = binary.BigEndian.AppendUint16(b, wnd)
		b = append(b, byte(len(opts)))
		b = append(b, opts...)
		return append(b, data...)
	}
	for st := range fuzzStates {
		seed(byte(st), enc(fACK|fPSH, 0, 0, 65535, nil, []byte("data")))
		seed(byte(st), enc(fRST, 0, 0, 0, nil, nil), enc(fACK, 0, 0, 0, nil, nil))
		seed(byte(st), enc(fSYN, 0, 0, 1024, []byte{2, 4, 0, 88}, nil))
		seed(byte(st), enc(fACK|fFIN, 10, 0, 0, nil, []byte("past the window")), enc(fACK, 0, 1<<30, 1, nil, nil))
		seed(byte(st), enc(fACK, -5, -1, 0, []byte{5, 10, 0, 0, 0, 0, 0, 0, 0, 9}, []byte("sack")))
		seed(byte(st), enc(fACK|fPSH|fFIN|fSYN|fRST, -1<<31, -1<<31, 0, []byte{8, 10, 1}, nil))
	}
	f.Fuzz(func(t *testing.T, state byte, in []byte) {
		if len(in) > 4096 {
			return
		}
		rc := established(t)
		fuzzStates[int(state)%len(fuzzStates)](rc)
		rc.pr.poll(2)
		for len(in) > 0 {
			n := min(int(in[0]), len(in)-1)
			s, ok := fuzzSeg(rc, in[1:1+n])
			in = in[1+n:]
			if !ok {
				continue
			}
			rc.pr.send(s)
			rc.pr.advance(50 * time.Millisecond)
		}
		rc.pr.advance(time.Second)
		if rc.state() != sock.Closed && !rc.s.Dead {
			rc.s.Close()
		}
		rc.pr.advance(time.Second)
	})
}

// fuzzSeg decodes one fuzzed segment of rc (see FuzzSegment's seeds).
func fuzzSeg(rc *rawConn, b []byte) (stacktest.Segment, bool) {
	if len(b) < 12 {
		return stacktest.Segment{}, false
	}
	s := rc.seg(b[0], nil)
	s.Seq = rc.seq + binary.BigEndian.Uint32(b[1:])
	s.Ack = rc.ack + binary.BigEndian.Uint32(b[5:])
	s.Window = binary.BigEndian.Uint16(b[9:])
	n := min(int(b[11]), len(b)-12, 40)
	s.Options = b[12 : 12+n]
	s.Payload = b[12+n:]
	return s, true
}
