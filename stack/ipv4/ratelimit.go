package ipv4

import (
	"time"

	"github.com/dpstack/dpstack/ktime"
)

// RateLimit is a token bucket: Burst messages at once, then one every
// Interval.
type RateLimit struct {
	Interval time.Duration
	Burst    int
}

// ICMP error rate limits, Linux's defaults: 1,000 messages a second with
// bursts of 50 for the host (icmp_msgs_per_sec, icmp_msgs_burst), and one
// a second with bursts of 6 to any one destination (icmp_ratelimit with
// inet_peer's XRLIM_BURST_FACTOR). RFC 1812 §4.3.2.8 asks for a limit,
// RFC 1122 §3.2.2 allows one.
var (
	DefaultICMPGlobalLimit = RateLimit{Interval: time.Millisecond, Burst: 50}
	DefaultICMPHostLimit   = RateLimit{Interval: time.Second, Burst: 6}
)

// bucket is one token bucket kept as time credit (Linux's xrlim_allow):
// credit grows with the time since last, up to Burst intervals, and each
// message spends one interval.
type bucket struct {
	credit time.Duration
	last   ktime.Time
}

// allow reports whether a message may go at now under r, and spends the
// credit if so. A fresh bucket (last zero) starts full.
func (b *bucket) allow(now ktime.Time, r RateLimit) bool {
	full := time.Duration(r.Burst) * r.Interval
	if b.last == 0 {
		b.credit = full
	} else {
		b.credit = min(b.credit+now.Sub(b.last), full)
	}
	b.last = now
	if b.credit < r.Interval {
		return false
	}
	b.credit -= r.Interval
	return true
}

// hostBucketBits sizes the per-destination buckets a core keeps: 2^10.
const (
	hostBucketBits = 10
	hostBuckets    = 1 << hostBucketBits
)

// hostLimiter holds one bucket per destination in a direct-mapped table
// (Linux keeps them on the inet_peer of each destination). Two
// destinations that share a slot share a bucket until one of them takes
// it over; the global limit bounds what that lets through.
type hostLimiter struct {
	addrs   [hostBuckets]uint32
	buckets [hostBuckets]bucket
}

// allow reports whether an error may go to dst (a big-endian address) at
// now under r.
func (h *hostLimiter) allow(dst uint32, now ktime.Time, r RateLimit) bool {
	i := (dst * 0x9e3779b1) >> (32 - hostBucketBits) // Fibonacci hashing
	if h.addrs[i] != dst {
		h.addrs[i] = dst
		h.buckets[i] = bucket{}
	}
	return h.buckets[i].allow(now, r)
}
