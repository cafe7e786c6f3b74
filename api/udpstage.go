package api

import (
	"errors"
	"net"
	"net/netip"
	"os"
	"sync/atomic"
	"syscall"

	"github.com/dpstack/dpstack/stack/sock"
)

// A UDPConn's Write does not wait for the core when it can help it: the
// datagram is copied into the conn's stage, a ring of dgramStageSlots
// slots with one producer (the Write, under wmu) and one consumer (the
// core), and the Write returns, as sendto(2) returns once the datagram is
// in the device's queue. The core sends what is staged in its next turn
// (sendStaged), in order, before any other call of the conn that it runs,
// and Close sends it all before the socket goes.
//
// A datagram is staged only when it holds at most dgramStageMax bytes
// and goes where the conn's last datagram sent through the core went
// without error (good): the checks a send makes against the route and
// the options (ENETUNREACH, EACCES for a broadcast without SO_BROADCAST,
// EDESTADDRREQ ...) are then known to pass, and the first datagram to a
// new destination goes through the core and waits, so that its error is
// the Write's own. An option set, or a pending error (an ICMP error, or a
// staged datagram that failed), makes the next datagram wait as well.
// What still fails on the core (the route went, the pool is empty) is
// reported as Linux reports an asynchronous error: as the socket's
// pending error (sk_err), which the conn's next call returns, be it a
// Read or a Write.
//
// Staged datagrams are charged to SO_SNDBUF (as sk_wmem_alloc charges a
// datagram until the device has sent it): while the charge would pass the
// buffer, or the ring is full, a Write waits until the core has sent what
// is staged, or its deadline passes (os.ErrDeadlineExceeded), or the conn
// is closed.
const (
	// dgramStageSlots is how many datagrams the stage holds.
	dgramStageSlots = 16
	// dgramStageMax is the largest datagram the stage takes (a slot).
	dgramStageMax = 2048
	// dgramOverhead is what a staged datagram costs SO_SNDBUF beyond
	// its bytes: the sk_buff's share of SOCK_MIN_RCVBUF, which is one 2
	// KiB packet's truesize.
	dgramOverhead = sock.SockMinRcvBuf - 2048
)

// dgramSlot is one staged datagram.
type dgramSlot struct {
	to  netip.AddrPort // the zero AddrPort: the connected peer
	n   int
	buf [dgramStageMax]byte
}

// dgramStage is a UDPConn's stage. The Write side owns the slots from
// tail on, the core those from head to tail; each publishes its index
// with an atomic store after it is done with the slot.
type dgramStage struct {
	slots *[dgramStageSlots]dgramSlot // made by the first staged Write
	head  atomic.Uint32               // next slot to send; the core's
	tail  atomic.Uint32               // next slot to fill; the Write's
	// charged is the SO_SNDBUF charge of the staged datagrams, sndbuf a
	// copy of the socket's SO_SNDBUF for the Write side to compare with.
	charged, sndbuf atomic.Int64
	// good is the destination (dgramKey) the last datagram sent through
	// the core went to without error, 0 for none: the core sets and
	// clears it, a Write compares.
	good atomic.Uint64
	// posted: a sendStaged is posted to the core and has not started.
	posted atomic.Bool
	// waiting: a Write waits on room for the core to make some.
	waiting atomic.Bool
	room    chan struct{} // buffered 1
	flushFn func()        // posted: flush, as a func value made once
}

// dgramKey packs a destination for good: an IPv4 address and port, or
// the connected peer for the zero AddrPort; 0 for a destination that is
// never staged (one sendto(2) would refuse).
func dgramKey(to netip.AddrPort) uint64 {
	if !to.IsValid() {
		return 1 << 48
	}
	a := to.Addr().Unmap()
	if !a.Is4() || to.Port() == 0 {
		return 0
	}
	b := a.As4()
	return 1<<49 | uint64(b[0])<<40 | uint64(b[1])<<32 | uint64(b[2])<<24 | uint64(b[3])<<16 | uint64(to.Port())
}

// dgramCharge is what a datagram of n bytes costs SO_SNDBUF while staged.
func dgramCharge(n int) int64 { return int64(n + dgramOverhead) }

// stage stages b to to and reports true, or false when b is not for the
// stage (see above), for the Write to go to the core. It waits while the
// stage has no room. Only write calls it, holding wmu.
func (c *UDPConn) stage(b []byte, to netip.AddrPort) (bool, error) {
	s := &c.stg
	if key := dgramKey(to); len(b) > dgramStageMax || key == 0 || s.good.Load() != key {
		return false, nil
	}
	charge := dgramCharge(len(b))
	if err := c.stageRoom(charge); err != nil {
		return false, err
	}
	if s.slots == nil {
		s.slots = new([dgramStageSlots]dgramSlot)
	}
	tail := s.tail.Load()
	slot := &s.slots[tail%dgramStageSlots]
	slot.to, slot.n = to, copy(slot.buf[:], b)
	s.charged.Add(charge)
	s.tail.Store(tail + 1)
	if s.posted.CompareAndSwap(false, true) {
		// The datagram is staged: it must reach the core, however long
		// its work queue stays full (as release). A loop that has stopped
		// takes it when Close runs on the caller.
		for post(c.loop, s.flushFn) != nil && c.loop.Running() {
			// post slept between its tries; try again.
		}
	}
	return true, nil
}

// stageHasRoom reports whether a datagram that costs charge fits in the
// stage: a free slot, and the charge within SO_SNDBUF, or nothing staged
// (so that a datagram always goes, whatever the buffer, as
// WmemSchedule lets one packet past it).
func (c *UDPConn) stageHasRoom(charge int64) bool {
	s := &c.stg
	if s.tail.Load()-s.head.Load() >= dgramStageSlots {
		return false
	}
	ch := s.charged.Load()
	return ch == 0 || ch+charge <= s.sndbuf.Load()
}

// stageRoom waits until the stage has room for charge (stageHasRoom),
// the write deadline passes or the conn is closed.
func (c *UDPConn) stageRoom(charge int64) error {
	s := &c.stg
	for !c.stageHasRoom(charge) {
		s.waiting.Store(true)
		if c.stageHasRoom(charge) {
			break // the core sent meanwhile and may not have seen waiting
		}
		select {
		case <-s.room:
		case <-c.wd.wait():
			return os.ErrDeadlineExceeded
		case <-c.closing:
			return net.ErrClosed
		}
	}
	return nil
}

// flush is the core's turn at the stage that a staged Write posted.
func (c *UDPConn) flush() {
	c.stg.posted.Store(false)
	c.sendStaged()
}

// sendStaged sends what is staged, in order, and wakes a Write waiting
// for room. A datagram that fails becomes the socket's pending error
// (stageFailed). It runs on the core, before anything else the conn
// asks of it, so that what was staged goes first.
func (c *UDPConn) sendStaged() {
	s := &c.stg
	head, tail := s.head.Load(), s.tail.Load()
	if head == tail {
		return
	}
	for ; head != tail; head++ {
		slot := &s.slots[head%dgramStageSlots]
		if _, err := c.ops.SendTo(slot.buf[:slot.n], 0, slot.to); err != nil {
			c.stageFailed(err)
		}
		s.charged.Add(-dgramCharge(slot.n))
		s.head.Store(head + 1)
	}
	if s.waiting.Swap(false) {
		notify(c.loop, s.room)
	}
}

// stageFailed makes the error of a staged datagram the socket's pending
// error (sk_err, sk_error_report), for the conn's next call.
func (c *UDPConn) stageFailed(err error) {
	var errno syscall.Errno
	if !errors.As(err, &errno) {
		errno = syscall.EIO
	}
	c.sk.ReportError(errno)
}
