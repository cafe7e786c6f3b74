// Package lcore runs one poll loop per DPDK lcore. Each turn of a Loop:
//
//  1. receives a burst (up to 32) from each of its rx queues and hands it to
//     the stack, then the packets other cores handed over (Handoff);
//  2. fires the timers that are due on its wheel (bounded work per turn);
//  3. runs the work that applications posted to its queue;
//  4. transmits everything queued this turn, one burst per tx queue, and
//     returns freed mbufs to their pool in bursts;
//  5. idles by its policy when the turn found nothing to do.
//
// A loop and everything it drives belong to one core: nothing on this path
// takes a lock. Other goroutines reach a loop only through Post, and other
// cores through Handoff.
package lcore
