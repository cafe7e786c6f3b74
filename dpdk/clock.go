package dpdk

/*
// rte_eth_read_clock and rte_eth_dev_conf_get are experimental in DPDK 22.11.
#define ALLOW_EXPERIMENTAL_API
#include <rte_cycles.h>
#include <rte_ethdev.h>

// dps_read_clock reads the port's device clock (rte_eth_read_clock) between
// two readings of the time stamp counter, so that the caller can pair it
// with the counter's time at the middle.
static int dps_read_clock(uint16_t port, uint64_t *clk, uint64_t *tsc0, uint64_t *tsc1)
{
	*tsc0 = rte_rdtsc_precise();
	int rc = rte_eth_read_clock(port, clk);
	*tsc1 = rte_rdtsc_precise();
	return rc;
}

static int dps_rx_offloads(uint16_t port, uint64_t *offloads)
{
	struct rte_eth_conf conf;
	int rc = rte_eth_dev_conf_get(port, &conf);
	*offloads = conf.rxmode.offloads;
	return rc;
}
*/
import "C"

import "fmt"

// RxTimestamps reports whether the port was configured to timestamp
// received packets in hardware (RxOffloadTimestamp): its drivers then
// write their device clock into each mbuf's timestamp field.
func (p *Port) RxTimestamps() bool {
	var off C.uint64_t
	if C.dps_rx_offloads(C.uint16_t(p.id), &off) != 0 {
		return false
	}
	return uint64(off)&RxOffloadTimestamp != 0
}

// ReadClock reads the port's device clock, the clock of its hardware
// timestamps (rte_eth_read_clock), and the time stamp counter (TSCHz)
// halfway through that read, so that the two pair up within half the
// read's duration.
func (p *Port) ReadClock() (clock, tsc uint64, err error) {
	var clk, t0, t1 C.uint64_t
	if rc := C.dps_read_clock(C.uint16_t(p.id), &clk, &t0, &t1); rc != 0 {
		return 0, 0, fmt.Errorf("dpdk: port %d: read clock: %w", p.id, errnoErr(-rc))
	}
	return uint64(clk), uint64(t0 + (t1-t0)/2), nil
}
