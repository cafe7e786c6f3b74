package dpdk

/*
#include <errno.h>
#include <string.h>
#include <rte_ethdev.h>

// From ethdev_driver.h, which libdpdk-dev does not install: the port's
// struct rte_eth_dev, by the name it was created with.
struct rte_eth_dev;
struct rte_eth_dev *rte_eth_dev_allocated(const char *name);

// The head of DPDK 22.11's struct rte_eth_dev_data (ethdev_driver.h) up
// to mtu, from the public types it is made of, and of struct rte_eth_dev
// up to its data pointer (six burst function pointers before it).
struct dps_eth_dev_data_head {
	char name[RTE_ETH_NAME_MAX_LEN];
	void **rx_queues;
	void **tx_queues;
	uint16_t nb_rx_queues;
	uint16_t nb_tx_queues;
	struct rte_eth_dev_sriov sriov;
	void *dev_private;
	struct rte_eth_link dev_link;
	struct rte_eth_conf dev_conf;
	uint16_t mtu;
};
struct dps_eth_dev_head {
	void *burst_fns[6];
	struct dps_eth_dev_data_head *data;
};

// dps_tap_set_mtu sets net_tap port's MTU without ethdev's check against
// the driver's largest frame. DPDK 22.11's net_tap reports a constant
// max_rx_pktlen of RTE_ETHER_MAX_VLAN_FRAME_LEN (1,522 bytes: tap_dev_info),
// not the kernel TAP's limit (64 KiB), so rte_eth_dev_configure and
// rte_eth_dev_set_mtu refuse any MTU above 1,500; and its transmit drops a
// frame longer than the MTU in dev->data->mtu plus 22 bytes, and a TSO
// segment size above it (pmd_tx_burst reads it through txq->mtu on every
// burst). Its receive is bounded only by the buffers it reads into (the
// mbuf's, or a chain of them with RTE_ETH_RX_OFFLOAD_SCATTER). So the one
// value is written where ethdev keeps it, after checking that this layout
// finds the port's name and the MTU rte_eth_dev_get_mtu reports there, and
// read back through rte_eth_dev_get_mtu; on any mismatch nothing is
// written, or the old value is put back, and -EPROTO says the layout is
// not 22.11's. The kernel side's MTU is the caller's to set.
static int dps_tap_set_mtu(uint16_t port, uint16_t mtu)
{
	char name[RTE_ETH_NAME_MAX_LEN];
	uint16_t cur, got;
	if (rte_eth_dev_get_name_by_port(port, name) != 0 || rte_eth_dev_get_mtu(port, &cur) != 0)
		return -ENODEV;
	struct dps_eth_dev_head *dev = (struct dps_eth_dev_head *)rte_eth_dev_allocated(name);
	if (dev == NULL || dev->data == NULL)
		return -ENODEV;
	struct dps_eth_dev_data_head *d = dev->data;
	if (strncmp(d->name, name, sizeof(name)) != 0 || d->mtu != cur)
		return -EPROTO;
	d->mtu = mtu;
	if (rte_eth_dev_get_mtu(port, &got) != 0 || got != mtu) {
		d->mtu = cur;
		return -EPROTO;
	}
	return 0;
}
*/
import "C"

import (
	"fmt"
	"net"

	"golang.org/x/sys/unix"
)

// DriverTap is the driver name of DPDK's TAP port.
const DriverTap = "net_tap"

// tapMTU gives net_tap port p an MTU above the 1,500 bytes its driver
// admits (dps_tap_set_mtu says why and how), and its kernel interface the
// same MTU, so that the kernel sends and takes frames of that size. It
// runs after rte_eth_dev_configure, which sets the MTU ethdev keeps, and
// before the port starts; the kernel interface is found by its index in
// the current namespace (it moves to a test's or --netns's namespace
// later, keeping its MTU).
func (p *Port) tapMTU(mtu, ifIndex int) error {
	if rc := C.dps_tap_set_mtu(C.uint16_t(p.id), C.uint16_t(mtu)); rc != 0 {
		return fmt.Errorf("dpdk: port %d (net_tap) MTU %d: %w", p.id, mtu, errnoErr(rc))
	}
	ifc, err := net.InterfaceByIndex(ifIndex)
	if err != nil {
		return fmt.Errorf("dpdk: port %d (net_tap) MTU %d: kernel interface %d: %w", p.id, mtu, ifIndex, err)
	}
	if err := setIfMTU(ifc.Name, mtu); err != nil {
		return fmt.Errorf("dpdk: port %d (net_tap) MTU %d: kernel interface %s: %w", p.id, mtu, ifc.Name, err)
	}
	return nil
}

// setIfMTU sets kernel interface name's MTU (SIOCSIFMTU).
func setIfMTU(name string, mtu int) error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	ifr, err := unix.NewIfreq(name)
	if err != nil {
		return err
	}
	ifr.SetUint32(uint32(mtu))
	return unix.IoctlIfreq(fd, unix.SIOCSIFMTU, ifr)
}
