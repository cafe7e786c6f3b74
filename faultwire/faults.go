package faultwire

import (
	"fmt"
	"math"
	"syscall"
	"time"
)

// Defaults that a zero field of Faults stands for.
const (
	// DefaultReorderGap is how many later packets overtake a reordered one.
	DefaultReorderGap = 1
	// DefaultReorderTimeout is how long a reordered packet waits for
	// overtakers before it goes out anyway.
	DefaultReorderTimeout = time.Millisecond
	// DefaultQueueLimit bounds each queue of a direction (the rate
	// limiter's, the delay line's, the reorder hold), as netem's limit.
	DefaultQueueLimit = 1000
	// minRateBurst is the smallest default bucket: one full frame at an
	// MTU of 1500 (Ethernet header included, no FCS).
	minRateBurst = 1514
)

// Limits that keep the token bucket's arithmetic exact in int64.
const (
	maxRateBps    = 1 << 40 // about 1 TB/s
	maxRateBurst  = 1 << 31 // bytes
	maxQueueLimit = 1 << 20 // packets
)

// Faults are what one direction of a Wire does to the packets it carries.
// The zero value is a clean wire: everything forwarded, in order, at once.
//
// A packet taken from the sending side goes through these stages in order:
// drop, duplicate, corrupt (the original and its duplicate each on its
// own), the rate limiter (a bottleneck with its queue), the delay line
// (propagation), the reorder hold, and out to the receiving side. Each
// random decision draws from its own PCG stream per direction,
// seeded from the Wire's seed, so that the same seed and the same input give
// the same faults, and turning one fault on does not change the decisions
// of another.
type Faults struct {
	// Drop is the probability (0..1) that a packet is dropped.
	Drop float64
	// Duplicate is the probability (0..1) that a packet is sent twice: the
	// second is a copy in its own mbuf, right behind the first.
	Duplicate float64
	// Reorder is the probability (0..1) that a packet is held back and
	// sent after the next ReorderGap packets. A hold that waits longer than
	// ReorderTimeout (the traffic stopped) ends and the packet goes out:
	// reordering never turns into loss. With Reorder 1 nothing overtakes and
	// every packet is delayed by ReorderTimeout instead.
	Reorder float64
	// Corrupt is the probability (0..1) that one bit of an IPv4 packet is
	// flipped where the receiver's IPv4, ICMP, TCP or UDP checksum catches
	// it (see the package doc). Other frames are never corrupted.
	Corrupt float64
	// ReorderGap is how many later packets overtake a reordered one; 0
	// means DefaultReorderGap.
	ReorderGap int
	// ReorderTimeout bounds how long a reordered packet waits for its
	// overtakers; 0 means DefaultReorderTimeout.
	ReorderTimeout time.Duration
	// Delay is added to every packet's trip.
	Delay time.Duration
	// Jitter adds a uniform random 0..Jitter to Delay. The delay line is
	// FIFO: a packet never leaves before the one ahead of it, so jitter does
	// not reorder (Reorder does).
	Jitter time.Duration
	// RateBps limits the direction to this many bytes per second of frames
	// (Ethernet header and payload; no preamble or FCS), as a token bucket
	// against the time given to Poll; 0 is unlimited. Packets wait for
	// tokens in a queue of QueueLimit packets and are tail-dropped when it
	// is full.
	RateBps int64
	// RateBurst is the bucket's depth in bytes; 0 means one millisecond at
	// RateBps, and at least one 1514-byte frame. A packet larger than the
	// depth goes when the bucket is full.
	RateBurst int64
	// QueueLimit bounds each of the direction's queues (rate limiter,
	// delay line, reorder hold) in packets; 0 means DefaultQueueLimit.
	QueueLimit int
}

// validate checks that every field is in range.
func (f Faults) validate() error {
	for _, p := range []struct {
		name string
		v    float64
	}{{"Drop", f.Drop}, {"Duplicate", f.Duplicate}, {"Reorder", f.Reorder}, {"Corrupt", f.Corrupt}} {
		if math.IsNaN(p.v) || p.v < 0 || p.v > 1 {
			return fmt.Errorf("faultwire: %s probability %v not in 0..1: %w", p.name, p.v, syscall.EINVAL)
		}
	}
	switch {
	case f.ReorderGap < 0:
		return fmt.Errorf("faultwire: ReorderGap %d < 0: %w", f.ReorderGap, syscall.EINVAL)
	case f.ReorderTimeout < 0, f.Delay < 0, f.Jitter < 0:
		return fmt.Errorf("faultwire: negative duration (reorder timeout %v, delay %v, jitter %v): %w",
			f.ReorderTimeout, f.Delay, f.Jitter, syscall.EINVAL)
	case f.RateBps < 0 || f.RateBps > maxRateBps:
		return fmt.Errorf("faultwire: RateBps %d not in 0..%d: %w", f.RateBps, int64(maxRateBps), syscall.EINVAL)
	case f.RateBurst < 0 || f.RateBurst > maxRateBurst:
		return fmt.Errorf("faultwire: RateBurst %d not in 0..%d: %w", f.RateBurst, int64(maxRateBurst), syscall.EINVAL)
	case f.QueueLimit < 0 || f.QueueLimit > maxQueueLimit:
		return fmt.Errorf("faultwire: QueueLimit %d not in 0..%d: %w", f.QueueLimit, maxQueueLimit, syscall.EINVAL)
	}
	return nil
}

// withDefaults fills the zero fields that stand for a default.
func (f Faults) withDefaults() Faults {
	if f.ReorderGap == 0 {
		f.ReorderGap = DefaultReorderGap
	}
	if f.ReorderTimeout == 0 {
		f.ReorderTimeout = DefaultReorderTimeout
	}
	if f.QueueLimit == 0 {
		f.QueueLimit = DefaultQueueLimit
	}
	if f.RateBurst == 0 {
		f.RateBurst = max(f.RateBps/1000, minRateBurst)
	}
	return f
}

// delayed reports whether the delay line is on.
func (f *Faults) delayed() bool { return f.Delay > 0 || f.Jitter > 0 }
