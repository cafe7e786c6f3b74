//go:build !race

package stat

import "unsafe"

// store writes the owner's new count with a plain store. sync/atomic's
// Store is an XCHG on amd64, a locked instruction with a full barrier, and
// the data path increments several counters per packet. An aligned 64-bit
// store is single-copy atomic on every architecture DPDK runs on (amd64,
// arm64, ppc64le), and the Go memory model gives a word-sized read that
// races with a write one of the values written, never a torn one: a
// scrape's atomic Load sees the old count or the new. Nothing else is
// ordered by the counters. Builds with -race use store_race.go instead,
// so that the detector keeps checking everything else.
func (c *Counter) store(v uint64) { *(*uint64)(unsafe.Pointer(&c.v)) = v }

// store writes the owner's new level, as Counter's store does.
func (g *Gauge) store(v int64) { *(*int64)(unsafe.Pointer(&g.v)) = v }
