package lcore

import (
	"math/bits"
	"time"

	"github.com/dpstack/dpstack/dpdk"
	"github.com/dpstack/dpstack/ktime"
	"github.com/dpstack/dpstack/mbuf"
)

// Receive times (Linux's __net_timestamp, and skb_hwtstamps for ports that
// timestamp in hardware). Every packet of an rx burst gets the time the
// burst was received, stamped into its mbuf (mbuf.Buf.SetRxTime) by the
// input as it takes the packet (StampRx): the turn's time (the counter
// read as the burst returned, ARCHITECTURE.md §4) as wall-clock time, or,
// on a port with the timestamp offload, the port's own timestamp
// converted from its device clock. Stamping as the input takes each
// packet, rather than in a pass over the burst before it, touches the
// mbuf while its lines are in the cache for the input anyway: mbufs of a
// pool sit 4 KiB apart, in one set of the L1 cache, so a separate pass
// costs a miss per packet (4-5 ns in stack's BenchmarkDispatch).

// StampRx gives b, a packet of the rx burst being input, its receive time.
// The input function given to AddRx calls it for each packet it takes,
// first; it is a store, and a conversion on a port that timestamps in
// hardware.
func (l *Loop) StampRx(b *mbuf.Buf) {
	if l.rxHW == nil {
		b.SetRxTime(l.rxAt, false)
		return
	}
	l.rxHW.stamp(b, l.rxAt)
}

// stamp gives b the port's timestamp, converted, where the driver wrote
// one, or sw.
func (h *hwClock) stamp(b *mbuf.Buf, sw int64) {
	if ts, ok := b.DeviceTimestamp(); ok && h.ready() {
		b.SetRxTime(h.wall(ts), true)
	} else {
		b.SetRxTime(sw, false)
	}
}

// rxWall is the receive time of the turn's bursts: the turn's time as
// wall-clock time. Within a loop it does not go back by less than an
// anchor span (what a slewing NTP moves the wall clock by between two
// anchors), so that the packets of one core keep their order; a step of
// the wall clock goes through.
func (l *Loop) rxWall() int64 {
	w := l.clock.wall(l.now)
	if w < l.lastRx && l.lastRx-w < int64(anchorSpan) {
		w = l.lastRx
	}
	l.lastRx = w
	return w
}

// How a device clock is calibrated: at start from two readings calStart
// apart, then every calEvery, measuring its rate over the span since the
// previous reading.
const (
	calStart = 10 * time.Millisecond
	calEvery = time.Second
)

// devClock converts the device clock of a port that timestamps in
// hardware to wall-clock time, as DPDK's rte_eth_read_clock suggests: a
// reading of the device clock paired with the wall clock gives a common
// reference, and two readings its rate. The conversion is linear from the
// latest reading, with the rate measured since the one before, so a
// timestamp a little before or after the reading converts within the
// rate's error times the distance.
type devClock struct {
	// the latest reading: the device clock and the wall clock (ns since
	// the Unix epoch) at the same moment
	dev0  uint64
	wall0 int64
	// the reading before, which the rate is measured from
	devPrev  uint64
	wallPrev int64
	readings int
	mult     uint64 // wall nanoseconds per device tick, 32.32 fixed point
}

// sample takes a reading: device clock dev at wall-clock time wall.
func (c *devClock) sample(dev uint64, wall int64) {
	c.devPrev, c.wallPrev = c.dev0, c.wall0
	c.dev0, c.wall0 = dev, wall
	c.readings++
	if c.readings < 2 || dev == c.devPrev || wall <= c.wallPrev {
		return
	}
	ns := uint64(wall - c.wallPrev)
	ticks := dev - c.devPrev
	if ns>>32 >= ticks {
		return // more than 2^32 ns a tick: no device clock is that slow
	}
	c.mult, _ = bits.Div64(ns>>32, ns<<32, ticks)
}

// ready reports whether the clock has a rate to convert with.
func (c *devClock) ready() bool { return c.mult != 0 }

// wall is device clock reading ts as wall-clock time. ts may lie before or
// after the latest reading (the device clock wraps as uint64 does).
func (c *devClock) wall(ts uint64) int64 {
	d := ts - c.dev0
	neg := int64(d) < 0
	if neg {
		d = -d
	}
	hi, lo := bits.Mul64(d, c.mult)
	ns := int64(hi<<32 | lo>>32)
	if neg {
		return c.wall0 - ns
	}
	return c.wall0 + ns
}

// hwClock is the device clock of a port that timestamps in hardware, and
// when it is due to be read again.
type hwClock struct {
	port *dpdk.Port
	devClock
	next ktime.Time
}

// calibrate reads the port's clock if a reading is due, pairing it with the
// wall-clock time of the counter halfway through the read (turnClock.wallAt).
// A failed read leaves the last rate in use.
func (h *hwClock) calibrate(c *turnClock, now ktime.Time) {
	if now < h.next {
		return
	}
	h.next = now.Add(calEvery)
	dev, tsc, err := h.port.ReadClock()
	if err != nil {
		return
	}
	if w, ok := c.wallAt(tsc); ok {
		h.sample(dev, w)
	}
}

// newHWClock returns the clock of port if it timestamps received packets
// in hardware, with its first rate measured over calStart, or nil. These
// first readings pair with the wall clock read after the device's, late by
// a cgo return; the readings every calEvery pair with the counter.
func newHWClock(port *dpdk.Port) *hwClock {
	if !port.RxTimestamps() {
		return nil
	}
	h := &hwClock{port: port}
	for i := range 2 {
		if i > 0 {
			time.Sleep(calStart)
		}
		dev, _, err := port.ReadClock()
		if err != nil {
			return nil
		}
		_, wall := ktime.NowWall()
		h.sample(dev, wall)
	}
	return h
}

// deliverySample is how many deliveries ObserveDelivery counts one of:
// reading the clock for each would cost a delivery about 20 ns.
const deliverySample = 16

// ObserveDelivery counts, in Stats.DeliveryDelay, the time since rxNs
// (ns since the Unix epoch, a receive time from mbuf.Buf.RxTime) for one
// call in deliverySample; the API calls it as it hands received data to
// the application. 0 (no receive time) is not counted.
func (l *Loop) ObserveDelivery(rxNs int64) {
	l.deliveries++
	if rxNs == 0 || l.deliveries%deliverySample != 0 {
		return
	}
	l.stats.DeliveryDelay.Observe(time.Duration(time.Now().UnixNano() - rxNs))
}
