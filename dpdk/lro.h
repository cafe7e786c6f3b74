// Receive: every rx burst of the binding goes through dps_rx, which runs
// the LRO model of a ring pair's port (lro.c) where it is on.
#ifndef DPS_LRO_H
#define DPS_LRO_H

#include <stdint.h>
#include <rte_ethdev.h>
#include <rte_mbuf.h>

// dps_rx_lro[p] is, while port p is a ring port configured with LRO
// (RingPair.OffloadLRO), the largest frame its LRO model builds, and 0
// otherwise. Set and cleared with the port's configuration (port.go).
// A NIC that offers LRO merges in hardware: its entry stays 0.
extern uint32_t dps_rx_lro[RTE_MAX_ETHPORTS];

// dps_lro_merge is the LRO model (lro.c): it merges the in-order TCP
// segments of each flow among the n packets of pkts, in place, and
// returns how many packets are left.
uint16_t dps_lro_merge(struct rte_mbuf **pkts, uint16_t n, uint32_t max_len);

// dps_rx receives up to n packets from queue q of port into pkts and
// returns how many, merged by the port's LRO model where it has one.
static inline uint16_t dps_rx(uint16_t port, uint16_t q, struct rte_mbuf **pkts, uint16_t n)
{
	uint16_t got = rte_eth_rx_burst(port, q, pkts, n);
	uint32_t lro = dps_rx_lro[port];
	if (lro != 0 && got > 1)
		got = dps_lro_merge(pkts, got, lro);
	return got;
}

#endif
