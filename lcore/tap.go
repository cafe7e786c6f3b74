package lcore

import "github.com/dpstack/dpstack/mbuf"

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

// tapped counts what the tap reported.
func (l *Loop) tapped(copied, dropped int) {
	l.stats.CapturePackets.Add(uint64(copied))
	l.stats.CaptureDrops.Add(uint64(dropped))
}

// tap shows the tap the packets queued since it last looked.
func (t *TxBatch) tap() {
	if l := t.loop; l.tap != nil && t.tapped < t.n {
		l.tapped(l.tap.Packets(t.pkts[t.tapped:t.n], l.clock.wall(l.now), true))
	}
	t.tapped = t.n
}
