// Package lcore runs one poll loop per DPDK lcore. Each turn of a Loop:
//
//  1. makes its I/O in one cgo call (dpdk.Batch): transmits what the
//     previous turn queued, one burst per tx queue, returns the mbufs it
//     freed to their pool in bulk, and receives a burst (up to 32) from
//     each of its rx queues;
//  2. hands each burst to the stack, then the packets other cores handed
//     over (Handoff);
//  3. fires the timers that are due on its wheel (bounded work per turn);
//  4. runs what the loop's own code deferred (Defer), then the work that
//     applications posted to its queue;
//  5. idles by its policy when the turn found nothing to do, transmitting
//     first what the turn queued. An adaptive loop, after IdleSpinTurns
//     empty turns, arms its rx queues' interrupts (dpdk.RxInterrupt),
//     polls once more, and blocks in epoll until a packet arrives, work
//     is posted (Post wakes it through an eventfd) or its next timer is
//     due; it disarms when it wakes and polls again. A busy loop never
//     blocks.
//
// A loop and everything it drives belong to one core: nothing on this path
// takes a lock. Other goroutines reach a loop only through Post, and other
// cores through Handoff.
package lcore
