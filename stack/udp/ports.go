package udp

import (
	"math/bits"
	"sync/atomic"
)

// MaxCores is the most cores a Ports directory tracks: one bit each.
const MaxCores = 64

// Ports is a host's directory of bound UDP ports: for each port, the set
// of cores that have a socket on it (ARCHITECTURE.md §3). A core that
// receives a datagram for a port it has no socket on asks here which core
// does, and hands the datagram over; binds on different cores meet here,
// so that two cores do not both take one port unless SO_REUSEPORT asks
// for it. Reads and writes are single atomic operations on the port's
// word: no lock.
type Ports struct {
	cores [1 << 16]atomic.Uint64
}

// NewPorts returns an empty directory.
func NewPorts() *Ports { return new(Ports) }

// claim records that core has a socket on port. Without reuse it fails
// when another core has one; with reuse (SO_REUSEPORT) cores share the
// port, each with its own group.
func (d *Ports) claim(port uint16, core int, reuse bool) bool {
	w := &d.cores[port]
	bit := uint64(1) << core
	for {
		old := w.Load()
		if old&^bit != 0 && !reuse {
			return false
		}
		if w.CompareAndSwap(old, old|bit) {
			return true
		}
	}
}

// release records that core has no socket on port any more.
func (d *Ports) release(port uint16, core int) { d.cores[port].And(^(uint64(1) << core)) }

// taken reports whether a core other than core has port.
func (d *Ports) taken(port uint16, core int) bool {
	return d.cores[port].Load()&^(uint64(1)<<core) != 0
}

// owner picks the core, other than core, that a datagram for port with
// hash h goes to: one of the cores that have the port, spread by h; -1
// when there is none.
func (d *Ports) owner(port uint16, core int, h uint32) int {
	m := d.cores[port].Load() &^ (uint64(1) << core)
	n := bits.OnesCount64(m)
	if n == 0 {
		return -1
	}
	for k := int(h % uint32(n)); k > 0; k-- {
		m &= m - 1
	}
	return bits.TrailingZeros64(m)
}
