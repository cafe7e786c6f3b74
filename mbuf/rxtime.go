package mbuf

/*
#include <rte_errno.h>
#include <rte_mbuf_dyn.h>
*/
import "C"

import (
	"fmt"
	"syscall"
)

// rxStamp is where a received mbuf keeps its receive time: the offset of
// DPDK's timestamp dynamic field (RTE_MBUF_DYNFIELD_TIMESTAMP_NAME) and the
// ol_flags bit that says a driver wrote it (RTE_MBUF_DYNFLAG_RX_TIMESTAMP).
// Both are set once, by RegisterRxTimestamp, before any port exists, and
// only read after. off is 0 until then: no dynamic field starts at 0.
var rxStamp struct {
	off  uintptr
	flag uint64
}

// RegisterRxTimestamp registers the mbuf's timestamp field and its rx
// flag (rte_mbuf_dyn_rx_timestamp_register), for drivers that timestamp in
// hardware to fill and for the poll loop to stamp in software. Call it once
// after EAL starts and before any port is configured: drivers look the
// field up when they set their queues up. Registering again is harmless.
func RegisterRxTimestamp() error {
	var off C.int
	var flag C.uint64_t
	if rc := C.rte_mbuf_dyn_rx_timestamp_register(&off, &flag); rc != 0 {
		return fmt.Errorf("mbuf: register the rx timestamp field: %w", syscall.Errno(C.rte_errno))
	}
	rxStamp.off, rxStamp.flag = uintptr(off), uint64(flag)
	return nil
}

// RxTimestampFlag is the ol_flags bit a driver sets when it wrote a
// hardware timestamp (in its device clock) into the field, 0 before
// RegisterRxTimestamp.
func RxTimestampFlag() uint64 { return rxStamp.flag }

func (b *Buf) stampField() *int64 { return (*int64)(b.at(rxStamp.off)) }

// DeviceTimestamp is the raw value a driver with the timestamp offload
// wrote into b, in its device's clock (RTE_ETH_RX_OFFLOAD_TIMESTAMP), and
// whether it wrote one. The poll loop converts it in place (SetRxTime); it
// is meaningful only between the rx burst and that.
func (b *Buf) DeviceTimestamp() (uint64, bool) {
	if rxStamp.off == 0 || uint64(b.ol_flags)&rxStamp.flag == 0 {
		return 0, false
	}
	return uint64(*b.stampField()), true
}

// SetRxTime records that b was received at ns nanoseconds since the Unix
// epoch (skb->tstamp, with skb_hwtstamps when hw): measured by the port's
// clock when hw is true, read by the poll loop when its rx burst returned
// otherwise. The poll loop's StampRx calls it for every packet received;
// a packet built by the stack from received ones (a copy, a coalesced
// segment) carries on the time of the latest of them.
func (b *Buf) SetRxTime(ns int64, hw bool) {
	if rxStamp.off == 0 {
		return
	}
	*b.stampField() = ns
	if hw {
		b.ol_flags |= C.uint64_t(rxStamp.flag)
	} else {
		b.ol_flags &^= C.uint64_t(rxStamp.flag)
	}
}

// RxTime is when b was received, in nanoseconds since the Unix epoch, and
// whether the port's hardware took that time (see SetRxTime). It is
// meaningful for packets that came from an rx burst of a poll loop (and
// what the stack built from them), and valid as long as b is: clones share
// it, the data path never overwrites it. It is 0 in a process whose EAL
// dpdk.StartEAL did not start (the field is not registered).
func (b *Buf) RxTime() (ns int64, hw bool) {
	if rxStamp.off == 0 {
		return 0, false
	}
	return *b.stampField(), uint64(b.ol_flags)&rxStamp.flag != 0
}

// CopyRxTime gives b the receive time of src, as a copy of a received
// packet keeps it (__copy_skb_header copies tstamp).
func (b *Buf) CopyRxTime(src *Buf) {
	ns, hw := src.RxTime()
	b.SetRxTime(ns, hw)
}

// LaterRxTime gives b the receive time of src if src was received later:
// b now holds data of both, and it was all there at the later time.
func (b *Buf) LaterRxTime(src *Buf) {
	if ns, hw := src.RxTime(); ns > b.rxNs() {
		b.SetRxTime(ns, hw)
	}
}

func (b *Buf) rxNs() int64 {
	ns, _ := b.RxTime()
	return ns
}
