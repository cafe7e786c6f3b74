package ipv4

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/dpstack/dpstack/stack/header"
)

// FuzzInput feeds any bytes to Input or ARPInput: no panic, and every mbuf
// comes back (ARCHITECTURE.md §7).
func FuzzInput(f *testing.F) {
	f.Add(echoSpec(56).bytes(), false)
	f.Add(echoSpec(0).bytes()[:19], false)
	f.Add(withSpec(func(s *ipSpec) { s.dst = subnetBC })(), false)
	f.Add(withSpec(func(s *ipSpec) { s.options = []byte{7, 7, 4, 0, 0, 0, 0, 0} })(), false)
	f.Add(arpPacket(header.ARPRequest, peerMAC, peerAddr, header.MAC{}, ourAddr), true)
	f.Add(arpPacket(header.ARPReply, peerMAC, peerAddr, ourMAC, ourAddr), true)
	f.Add([]byte{}, true)
	f.Add(errorFrom(header.ICMPv4DestUnreachable, header.ICMPv4FragNeeded, 1280, quotedDatagram(ourAddr, 8)), false)
	f.Add(errorFrom(header.ICMPv4ParamProblem, 0, 0, quotedDatagram(ourAddr, 3)), false)
	e := newEnv(f, 0)
	f.Fuzz(func(t *testing.T, data []byte, arp bool) {
		if len(data) > 2000 {
			return
		}
		e.t = t
		b := e.mbuf(data)
		if arp {
			e.l.ARPInput(b)
		} else {
			e.l.Input(b)
		}
		e.reset()
		require.Zero(t, e.pool.InUse())
	})
}
