// Transmit: every tx burst of the binding goes through dps_tx.
#ifndef DPS_TX_H
#define DPS_TX_H

#include <stdint.h>
#include <rte_ethdev.h>
#include <rte_mbuf.h>
#include "kick.h"

// dps_tx_flat[p] is set while port p's driver sends a packet from the
// buffer of the very mbuf it is given and from nowhere else: net_af_xdp,
// whose zero-copy UMEM is the mempool itself, hands the kernel that mbuf's
// offset in the UMEM and the packet's length, so the data of a clone
// (an indirect mbuf, whose bytes live in another mbuf's buffer) or of a
// chain's later segments would go out as whatever its own buffer holds.
// Set and cleared with the port's configuration (port.go).
extern uint8_t dps_tx_flat[RTE_MAX_ETHPORTS];

// dps_flatten replaces each packet of pkts that is a clone or a chain by
// a copy in one direct mbuf of the same pool, and frees the original (a
// clone's data stays with its other holders, a retransmit queue). It
// returns how many packets, from the first, are ready: when the pool has
// no mbuf for a copy, the packets from that one on stay as they were,
// the caller's to send later, as a full tx queue leaves them.
static inline uint16_t dps_flatten(struct rte_mbuf **pkts, uint16_t n)
{
	for (uint16_t i = 0; i < n; i++) {
		struct rte_mbuf *m = pkts[i];
		if (RTE_MBUF_DIRECT(m) && m->nb_segs == 1)
			continue;
		struct rte_mbuf *c = rte_pktmbuf_copy(m, m->pool, 0, UINT32_MAX);
		if (c == NULL)
			return i;
		rte_pktmbuf_free(m);
		pkts[i] = c;
	}
	return n;
}

// dps_tx sends up to n packets to queue q of port and returns how many the
// port took; the rest are still the caller's.
static inline uint16_t dps_tx(uint16_t port, uint16_t q, struct rte_mbuf **pkts, uint16_t n)
{
	if (dps_tx_flat[port])
		n = dps_flatten(pkts, n);
	if (n == 0)
		return 0;
	uint16_t sent = rte_eth_tx_burst(port, q, pkts, n);
	dps_kick_after_tx(port, sent);
	return sent;
}

#endif
