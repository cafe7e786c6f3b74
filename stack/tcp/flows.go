package tcp

import (
	"net/netip"
	"sync/atomic"

	"github.com/dpstack/dpstack/stack/header"
)

// DefaultFlowBuckets is the number of buckets of a host's FlowTable.
const DefaultFlowBuckets = 1 << 14

// flowEntry says which core owns a connection.
type flowEntry struct {
	tuple fourTuple
	core  int32
}

// flowBucket is one bucket's entries. A published bucket is never
// modified: a writer makes a new one and swaps it in.
type flowBucket struct {
	entries []flowEntry
}

// FlowTable is a host's flow directory: which core owns each connection
// (4-tuple) that one of its cores has in a table (SYN-SENT onwards, a
// request in a SYN queue, TIME-WAIT). A core that receives a segment it
// has no connection for asks the directory before it falls back to a
// listener or answers with a RST, and hands the segment to the owner (the
// port's queue choice, RSS or the kernel's on net_tap, need not agree with
// the core that opened the connection: ARCHITECTURE.md §3).
//
// Reads take no lock and allocate nothing: a bucket is an atomic pointer to
// an immutable slice of entries. A write (once per connection, on the
// control path: a connect, a SYN, a connection's end) copies its bucket's
// slice and swaps it in with a compare-and-swap, retrying when another core
// wrote the bucket in between, so writes take no lock either. The bucket
// count is fixed; chains stay short for as many connections as a host has
// buckets times a few.
type FlowTable struct {
	key     sipKey
	mask    uint64
	buckets []atomic.Pointer[flowBucket]
}

// NewFlowTable returns an empty directory of n buckets (rounded up to a
// power of two; 0 means DefaultFlowBuckets), keyed by a random secret so
// that peers cannot aim their connections at one bucket.
func NewFlowTable(n int) *FlowTable {
	if n <= 0 {
		n = DefaultFlowBuckets
	}
	size := 1
	for size < n {
		size <<= 1
	}
	return &FlowTable{key: newSipKey(), mask: uint64(size - 1), buckets: make([]atomic.Pointer[flowBucket], size)}
}

// bucket returns t's bucket.
func (ft *FlowTable) bucket(t fourTuple) *atomic.Pointer[flowBucket] {
	a, b := tupleWords(t)
	return &ft.buckets[ft.key.sum24(a, b)&ft.mask]
}

// owner returns the core that owns t, or -1.
func (ft *FlowTable) owner(t fourTuple) int {
	if b := ft.bucket(t).Load(); b != nil {
		for i := range b.entries {
			if b.entries[i].tuple == t {
				return int(b.entries[i].core)
			}
		}
	}
	return -1
}

// claim records core as t's owner and reports true, or reports false when
// another core owns t already.
func (ft *FlowTable) claim(t fourTuple, core int) bool {
	p := ft.bucket(t)
	for {
		old := p.Load()
		var n int
		if old != nil {
			for _, e := range old.entries {
				if e.tuple == t {
					return int(e.core) == core
				}
			}
			n = len(old.entries)
		}
		nb := &flowBucket{entries: make([]flowEntry, n, n+1)}
		if old != nil {
			copy(nb.entries, old.entries)
		}
		nb.entries = append(nb.entries, flowEntry{tuple: t, core: int32(core)})
		if p.CompareAndSwap(old, nb) {
			return true
		}
	}
}

// release forgets t if core owns it.
func (ft *FlowTable) release(t fourTuple, core int) {
	p := ft.bucket(t)
	for {
		old := p.Load()
		if old == nil {
			return
		}
		k := -1
		for i, e := range old.entries {
			if e.tuple == t && int(e.core) == core {
				k = i
				break
			}
		}
		if k < 0 {
			return
		}
		var nb *flowBucket
		if len(old.entries) > 1 {
			nb = &flowBucket{entries: make([]flowEntry, 0, len(old.entries)-1)}
			nb.entries = append(nb.entries, old.entries[:k]...)
			nb.entries = append(nb.entries, old.entries[k+1:]...)
		}
		if p.CompareAndSwap(old, nb) {
			return
		}
	}
}

// Owner reports which core owns the connection between local and remote
// (addresses and ports from this host's side), and whether one does. It is
// for tests and diagnostics.
func (ft *FlowTable) Owner(local, remote netip.AddrPort) (int, bool) {
	c := ft.owner(fourTuple{header.AddrU32(local.Addr()), header.AddrU32(remote.Addr()), local.Port(), remote.Port()})
	return c, c >= 0
}

// Len counts the connections in the directory, walking every bucket. It
// is for tests and diagnostics.
func (ft *FlowTable) Len() int {
	n := 0
	for i := range ft.buckets {
		if b := ft.buckets[i].Load(); b != nil {
			n += len(b.entries)
		}
	}
	return n
}

// flowAdd records that this core has t in one of its tables, and reports
// false when another core owns t. Without a directory (one core) it always
// succeeds.
func (p *Proto) flowAdd(t fourTuple) bool {
	if p.flows == nil {
		return true
	}
	return p.flows.claim(t, p.core)
}

// flowDel forgets t in the directory once none of this core's tables has
// it any more (a connection moving from the SYN queue to the established
// table, or from there to TIME-WAIT, keeps its entry).
func (p *Proto) flowDel(t fourTuple) {
	if p.flows == nil || p.tupleInUse(t) {
		return
	}
	p.flows.release(t, p.core)
}
