package udp

import (
	"math/bits"
	"sync/atomic"
)

// MaxCores is the most cores a Ports directory tracks: one bit each, and
// a bit for a port held without SO_REUSEPORT.
const MaxCores = 63

// exclusive marks a port whose holder (then the only core that has it)
// has a socket on it without SO_REUSEPORT.
const exclusive = uint64(1) << MaxCores

// Ports is a host's directory of bound UDP ports: for each port, the set
// of cores that have a socket on it (ARCHITECTURE.md §3). A core that
// receives a datagram for a port it has no socket on asks here which core
// does, and hands the datagram over; binds on different cores meet here,
// so that a second core takes a port only when every socket on it, there
// and here, has SO_REUSEPORT, as one core's bindConflict asks. Reads and
// writes are single atomic operations on the port's word: no lock.
type Ports struct {
	cores [1 << 16]atomic.Uint64
}

// NewPorts returns an empty directory.
func NewPorts() *Ports { return new(Ports) }

// claim reports whether core may bind port, with reuse (SO_REUSEPORT) or
// without, as far as the other cores are concerned: when no other core
// has it, or when they do and both sides reuse it.
func (d *Ports) claim(port uint16, core int, reuse bool) bool {
	old := d.cores[port].Load()
	others := old &^ (uint64(1)<<core | exclusive)
	return others == 0 || reuse && old&exclusive == 0
}

// update records whether core holds port, and whether one of its sockets
// there lacks SO_REUSEPORT (excl), after a bind or an unbind on core. It
// refuses, changing nothing, a hold that a bind on another core made
// wrong meanwhile (claim and update are not one step): the caller then
// gives the port up.
func (d *Ports) update(port uint16, core int, held, excl bool) bool {
	w := &d.cores[port]
	bit := uint64(1) << core
	for {
		old := w.Load()
		others := old &^ (bit | exclusive)
		if held && others != 0 && (excl || old&exclusive != 0 && old&bit == 0) {
			return false
		}
		v := old &^ bit
		if held {
			v |= bit
		}
		if excl {
			v |= exclusive
		} else if others == 0 {
			v &^= exclusive
		}
		if w.CompareAndSwap(old, v) {
			return true
		}
	}
}

// taken reports whether a core other than core has port.
func (d *Ports) taken(port uint16, core int) bool {
	return d.cores[port].Load()&^(uint64(1)<<core|exclusive) != 0
}

// others is the set of cores other than core that have port, a bit per
// core.
func (d *Ports) others(port uint16, core int) uint64 {
	return d.cores[port].Load() &^ (uint64(1)<<core | exclusive)
}

// owner picks the core, other than core, that a datagram for port with
// hash h goes to: one of the cores that have the port, spread by h; -1
// when there is none.
func (d *Ports) owner(port uint16, core int, h uint32) int {
	m := d.others(port, core)
	n := bits.OnesCount64(m)
	if n == 0 {
		return -1
	}
	for k := int(h % uint32(n)); k > 0; k-- {
		m &= m - 1
	}
	return bits.TrailingZeros64(m)
}
