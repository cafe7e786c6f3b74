// Kicks: how a ring port wakes the loop that sleeps on its peer's receive
// queue (intr.go). The ring PMD has no interrupts of its own; the sender
// plays the NIC's part.
#ifndef DPS_KICK_H
#define DPS_KICK_H

#include <stdint.h>
#include <unistd.h>
#include <rte_ethdev.h>

// dps_kick is one receive queue's doorbell: armed is set by the receiving
// loop before it sleeps on fd (an eventfd), and cleared by whichever of
// the loop and a sender clears it first; the sender that clears it writes
// fd.
struct dps_kick {
	uint32_t armed;
	int fd;
};

// dps_tx_kick[p] is the doorbell of the queue that port p transmits into,
// and dps_rx_kick[p] that of port p's own receive queue, or NULL: set for
// ring pairs only (one queue a port), while both ports exist.
extern struct dps_kick *dps_tx_kick[RTE_MAX_ETHPORTS];
extern struct dps_kick *dps_rx_kick[RTE_MAX_ETHPORTS];

// dps_kick_after_tx rings the doorbell behind port after a burst that sent
// sent packets, if its receiver is asleep. The fence orders the ring's
// enqueue before the load of armed, against the receiver's store of armed
// before its last dequeue (Dekker's pattern): one of the two sees the
// other, so a packet never waits for a receiver that sleeps on.
static inline void dps_kick_after_tx(uint16_t port, uint16_t sent)
{
	struct dps_kick *k = dps_tx_kick[port];
	if (k == NULL || sent == 0)
		return;
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (__atomic_load_n(&k->armed, __ATOMIC_RELAXED) == 0)
		return;
	if (__atomic_exchange_n(&k->armed, 0, __ATOMIC_ACQ_REL) != 0) {
		uint64_t one = 1;
		(void)!write(k->fd, &one, sizeof(one));
	}
}

#endif
