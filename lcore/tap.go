package lcore

import (
	"github.com/dpstack/dpstack/dpdk"
	"github.com/dpstack/dpstack/mbuf"
)

// Tap sees the packets the loop receives and sends, for packet capture
// (Linux's taps: the ptype_all handlers and dev_queue_xmit_nit). It runs
// on the loop, once per burst: the received ones before the input takes
// them, the sent ones as the burst that sends them is staged. It must copy
// what it keeps, and never wait.
type Tap interface {
	// Packets gives a burst, received at or sent after ns (wall clock,
	// ns since the Unix epoch), and returns how many the tap copied and
	// how many it had no room for.
	Packets(pkts []*mbuf.Buf, ns int64, outbound bool) (copied, dropped int)
}

// SetTap installs t (nil removes it). Call it on the loop (Post); with no
// tap the loop's cost is a nil check per burst.
func (l *Loop) SetTap(t Tap) { l.tap = t }

// HideFromTap keeps the queues of port that the loop polls and sends on
// out of its Tap's sight: a port that is not the stack's own link, as the
// kernel exception port (stack.Exception), whose frames the tap sees once
// already, where they cross the stack's port. Call it before the loop
// runs, after AddRx and AddTx.
func (l *Loop) HideFromTap(port *dpdk.Port) {
	for i := range l.rx {
		if l.rx[i].port == port {
			l.rx[i].hidden = true
		}
	}
	for _, t := range l.tx {
		if t.port == port {
			t.hidden = true
		}
	}
}

// tapped counts what the tap reported.
func (l *Loop) tapped(copied, dropped int) {
	l.stats.CapturePackets.Add(uint64(copied))
	l.stats.CaptureDrops.Add(uint64(dropped))
}

// tap shows the tap the packets queued since it last looked.
func (t *TxBatch) tap() {
	if l := t.loop; l.tap != nil && !t.hidden && t.tapped < t.n {
		l.tapped(l.tap.Packets(t.pkts[t.tapped:t.n], l.clock.wall(l.now), true))
	}
	t.tapped = t.n
}
