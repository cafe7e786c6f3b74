package faultwire

import "sync/atomic"

// Dir is one direction of a Wire.
type Dir uint8

// The two directions.
const (
	AToB Dir = iota // what port A sends, port B receives
	BToA            // what port B sends, port A receives
)

// String names the direction, "a->b" or "b->a".
func (d Dir) String() string {
	switch d {
	case AToB:
		return "a->b"
	case BToA:
		return "b->a"
	}
	return "invalid"
}

// Stats are one direction's counts. Every packet taken from the sending
// side, and every duplicate made, ends in exactly one of Forwarded,
// Dropped, RateDropped, QueueDropped or TxDropped, or is still Held
// (Close frees what is held without counting it):
//
//	Received + Duplicated == Forwarded + Dropped + RateDropped + QueueDropped + TxDropped + Held
type Stats struct {
	Received     uint64 // taken from the sending side
	Forwarded    uint64 // handed to the receiving side, duplicates included (with OffloadTSO, each piece of a cut frame)
	Dropped      uint64 // dropped at random (Faults.Drop)
	Duplicated   uint64 // extra copies made (Faults.Duplicate)
	Reordered    uint64 // held back to be overtaken (Faults.Reorder)
	Delayed      uint64 // sent through the delay line (Faults.Delay, Jitter)
	Corrupted    uint64 // one bit flipped (Faults.Corrupt)
	RateDropped  uint64 // tail-dropped by the rate limiter's full queue
	QueueDropped uint64 // dropped for a full delay line
	TxDropped    uint64 // refused by the receiving side (its ring was full)
	NoMbuf       uint64 // a duplicate or a private copy to corrupt not made: pool empty
	Held         uint64 // in the wire's queues (a gauge, not a count)
}

// counters are one direction's counts, kept in plain fields by the
// goroutine that polls and published at the end of each Poll for readers
// on other goroutines.
type counters struct {
	received, forwarded, dropped, duplicated, reordered, delayed  uint64
	corrupted, rateDropped, queueDropped, txDropped, noMbuf, held uint64

	pub  [12]atomic.Uint64
	last [12]uint64 // what pub holds, for the poller to compare with
}

func (c *counters) fields() [12]uint64 {
	return [12]uint64{c.received, c.forwarded, c.dropped, c.duplicated, c.reordered, c.delayed,
		c.corrupted, c.rateDropped, c.queueDropped, c.txDropped, c.noMbuf, c.held}
}

// publish makes the counts visible to Stats. A poll that found nothing
// changes nothing: the atomic stores are made only for counts that moved,
// so that an idle wire polling in a loop does not pay twelve locked
// stores a turn (they were 6 % of make perf's CPU time).
func (c *counters) publish() {
	for i, v := range c.fields() {
		if v != c.last[i] {
			c.last[i] = v
			c.pub[i].Store(v)
		}
	}
}

// snapshot reads the published counts.
func (c *counters) snapshot() Stats {
	var v [12]uint64
	for i := range v {
		v[i] = c.pub[i].Load()
	}
	return Stats{
		Received: v[0], Forwarded: v[1], Dropped: v[2], Duplicated: v[3], Reordered: v[4], Delayed: v[5],
		Corrupted: v[6], RateDropped: v[7], QueueDropped: v[8], TxDropped: v[9], NoMbuf: v[10], Held: v[11],
	}
}
