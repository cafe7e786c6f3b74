package dpdk

/*
#include <stdlib.h>
#include <string.h>
#include <rte_ethdev.h>
#include <rte_dev.h>
#include <rte_errno.h>
#include "tx.h"

static void dps_set_tx_flat(uint16_t port, int on) { dps_tx_flat[port] = on != 0; }

struct dps_port_conf {
	uint16_t nb_rx, nb_tx;
	uint64_t rss_hf;
	uint64_t rx_offloads, tx_offloads;
	uint32_t mtu;
	uint32_t max_lro_pkt_size;
	int rx_intr;
};

static int dps_port_configure(uint16_t port, const struct dps_port_conf *pc)
{
	struct rte_eth_conf conf;
	memset(&conf, 0, sizeof(conf));
	if (pc->rss_hf != 0) {
		conf.rxmode.mq_mode = RTE_ETH_MQ_RX_RSS;
		conf.rx_adv_conf.rss_conf.rss_hf = pc->rss_hf;
	}
	conf.rxmode.offloads = pc->rx_offloads;
	conf.rxmode.mtu = pc->mtu;
	conf.rxmode.max_lro_pkt_size = pc->max_lro_pkt_size;
	conf.txmode.offloads = pc->tx_offloads;
	conf.intr_conf.rxq = pc->rx_intr != 0;
	return rte_eth_dev_configure(port, pc->nb_rx, pc->nb_tx, &conf);
}

static int dps_rxq_setup(uint16_t port, uint16_t q, uint16_t nb_desc, struct rte_mempool *mp, uint64_t offloads)
{
	struct rte_eth_dev_info info;
	int rc = rte_eth_dev_info_get(port, &info);
	if (rc != 0)
		return rc;
	struct rte_eth_rxconf rxc = info.default_rxconf;
	rxc.offloads = offloads;
	return rte_eth_rx_queue_setup(port, q, nb_desc, rte_eth_dev_socket_id(port), &rxc, mp);
}

static int dps_txq_setup(uint16_t port, uint16_t q, uint16_t nb_desc, uint64_t offloads)
{
	struct rte_eth_dev_info info;
	int rc = rte_eth_dev_info_get(port, &info);
	if (rc != 0)
		return rc;
	struct rte_eth_txconf txc = info.default_txconf;
	txc.offloads = offloads;
	return rte_eth_tx_queue_setup(port, q, nb_desc, rte_eth_dev_socket_id(port), &txc);
}

struct dps_link { uint32_t speed; int up, full_duplex, autoneg; };

static int dps_link_get(uint16_t port, struct dps_link *l)
{
	struct rte_eth_link link;
	int rc = rte_eth_link_get_nowait(port, &link);
	if (rc != 0)
		return rc;
	l->speed = link.link_speed;
	l->up = link.link_status;
	l->full_duplex = link.link_duplex;
	l->autoneg = link.link_autoneg;
	return 0;
}

static int dps_reta_query(uint16_t port, uint16_t *out, uint16_t size)
{
	struct rte_eth_rss_reta_entry64 conf[RTE_ETH_RSS_RETA_SIZE_512 / RTE_ETH_RETA_GROUP_SIZE];
	unsigned groups = (size + RTE_ETH_RETA_GROUP_SIZE - 1) / RTE_ETH_RETA_GROUP_SIZE;
	if (groups > sizeof(conf) / sizeof(conf[0]))
		return -EINVAL;
	memset(conf, 0, sizeof(conf));
	for (unsigned g = 0; g < groups; g++)
		conf[g].mask = ~0ULL;
	int rc = rte_eth_dev_rss_reta_query(port, conf, size);
	if (rc != 0)
		return rc;
	for (unsigned i = 0; i < size; i++)
		out[i] = conf[i / RTE_ETH_RETA_GROUP_SIZE].reta[i % RTE_ETH_RETA_GROUP_SIZE];
	return 0;
}

static int dps_rss_conf(uint16_t port, uint8_t *key, uint8_t key_len, uint64_t *hf)
{
	struct rte_eth_rss_conf c;
	memset(&c, 0, sizeof(c));
	c.rss_key = key;
	c.rss_key_len = key_len;
	int rc = rte_eth_dev_rss_hash_conf_get(port, &c);
	*hf = c.rss_hf;
	return rc;
}

static void dps_tx_reclaim(uint16_t port, uint16_t q)
{
	if (rte_eth_tx_done_cleanup(port, q, 0) == -ENOTSUP)
		(void)rte_eth_tx_burst(port, q, NULL, 0);
}

static int dps_probe(const char *devargs, int *err)
{
	int rc = rte_dev_probe(devargs);
	if (rc < 0)
		*err = rte_errno;
	return rc;
}
*/
import "C"

import (
	"fmt"
	"net"
	"strings"
	"sync"
	"syscall"
	"unsafe"

	"github.com/dpstack/dpstack/mbuf"
)

// Offload capability bits (RTE_ETH_{RX,TX}_OFFLOAD_*) that dpstack uses.
const (
	RxOffloadIPv4Cksum = uint64(C.RTE_ETH_RX_OFFLOAD_IPV4_CKSUM)
	RxOffloadUDPCksum  = uint64(C.RTE_ETH_RX_OFFLOAD_UDP_CKSUM)
	RxOffloadTCPCksum  = uint64(C.RTE_ETH_RX_OFFLOAD_TCP_CKSUM)
	RxOffloadRSSHash   = uint64(C.RTE_ETH_RX_OFFLOAD_RSS_HASH)
	RxOffloadTimestamp = uint64(C.RTE_ETH_RX_OFFLOAD_TIMESTAMP)
	RxOffloadVLANStrip = uint64(C.RTE_ETH_RX_OFFLOAD_VLAN_STRIP)
	RxOffloadScatter   = uint64(C.RTE_ETH_RX_OFFLOAD_SCATTER) // frames over several mbufs
	RxOffloadTCPLRO    = uint64(C.RTE_ETH_RX_OFFLOAD_TCP_LRO) // large receive offload: TCP segments merged (lro.go)
	TxOffloadIPv4Cksum = uint64(C.RTE_ETH_TX_OFFLOAD_IPV4_CKSUM)
	TxOffloadUDPCksum  = uint64(C.RTE_ETH_TX_OFFLOAD_UDP_CKSUM)
	TxOffloadTCPCksum  = uint64(C.RTE_ETH_TX_OFFLOAD_TCP_CKSUM)
	TxOffloadMultiSegs = uint64(C.RTE_ETH_TX_OFFLOAD_MULTI_SEGS)
	TxOffloadTCPTSO    = uint64(C.RTE_ETH_TX_OFFLOAD_TCP_TSO)
	TxOffloadVLAN      = uint64(C.RTE_ETH_TX_OFFLOAD_VLAN_INSERT)
)

// DriverAFXDP is the driver name of DPDK's AF_XDP ports
// (--vdev net_af_xdp0,iface=IF).
const DriverAFXDP = "net_af_xdp"

// RSS hash function bits (RTE_ETH_RSS_*).
const (
	RSSIPv4 = uint64(C.RTE_ETH_RSS_IP)
	RSSTCP  = uint64(C.RTE_ETH_RSS_TCP)
	RSSUDP  = uint64(C.RTE_ETH_RSS_UDP)
)

// Port is one DPDK ethernet port (the device half of struct net_device).
type Port struct {
	id   uint16
	name string // the device name when the port was found: ids are reused
}

// portOf returns the port with id, remembering its current name.
func portOf(id uint16) *Port {
	p := &Port{id: id}
	p.name = p.currentName()
	return p
}

// PortByName finds an attached port by its device name (e.g. "net_tap0" or
// a PCI address).
func PortByName(name string) (*Port, error) {
	cs := C.CString(name)
	defer C.free(unsafe.Pointer(cs))
	var id C.uint16_t
	if rc := C.rte_eth_dev_get_port_by_name(cs, &id); rc != 0 {
		return nil, fmt.Errorf("dpdk: no port named %q: %w", name, errnoErr(rc))
	}
	return portOf(uint16(id)), nil
}

// Ports lists every attached port.
func Ports() []*Port {
	var ps []*Port
	for id := C.rte_eth_find_next(0); id < C.RTE_MAX_ETHPORTS; id = C.rte_eth_find_next(id + 1) {
		ps = append(ps, portOf(uint16(id)))
	}
	return ps
}

// Probe attaches a device after EAL started (hotplug), e.g.
// "net_tap1,iface=dtap1", and returns its port. The device name is the part
// before the first comma.
func Probe(devargs string) (*Port, error) {
	cs := C.CString(devargs)
	defer C.free(unsafe.Pointer(cs))
	var errno C.int
	if rc := C.dps_probe(cs, &errno); rc < 0 {
		return nil, fmt.Errorf("dpdk: probe %q: %w", devargs, errnoErr(errno))
	}
	name, _, _ := strings.Cut(devargs, ",")
	return PortByName(name)
}

// ID is the DPDK port id.
func (p *Port) ID() uint16 { return p.id }

// Name is the device name.
func (p *Port) Name() string { return p.name }

// currentName asks DPDK for the name of the device that has the port's id.
func (p *Port) currentName() string {
	var buf [C.RTE_ETH_NAME_MAX_LEN]C.char
	if C.rte_eth_dev_get_name_by_port(C.uint16_t(p.id), &buf[0]) != 0 {
		return fmt.Sprintf("port%d", p.id)
	}
	return C.GoString(&buf[0])
}

// DevInfo is what a port can do.
type DevInfo struct {
	Driver              string
	MaxRxQueues         int
	MaxTxQueues         int
	RxOffloadCapa       uint64
	TxOffloadCapa       uint64
	FlowTypeRSSOffloads uint64
	HashKeySize         int
	RETASize            int
	MinMTU, MaxMTU      int
	MaxRxPktLen         int // the largest frame the driver takes
	MaxLROPktSize       int // the largest packet the port's LRO builds (dev_info.max_lro_pkt_size)
	IfIndex             int // the kernel interface's index, for drivers that have one (net_tap)
	// KeepsRxMbufs: the mbufs the driver takes from the pool for its
	// receive rings when the queues are set up stay allocated after the
	// port is stopped and closed. DPDK 22.11's net_af_xdp fills each
	// queue's fill ring from the pool (its zero-copy UMEM is the pool's
	// memory), and its close deletes the UMEM without putting them back
	// (xdp_umem_destroy): nothing refers to them any more, and the pool
	// counts them in use until it is freed.
	KeepsRxMbufs bool
	// PoolIsUMEM: the driver registers the pool's memory with the
	// kernel as an AF_XDP UMEM and hands the kernel each mbuf by its
	// offset there, so the pool must be laid out as the UMEM: one page
	// per mbuf (mbuf.PoolConfig.PageObjects), in one chunk. DPDK 22.11's
	// net_af_xdp registers the pool's object count times its object size
	// from the start of the first chunk; with DPDK's default layout,
	// where no object crosses a page, a 2.4 KB mbuf takes a 4 KB page
	// without hugepages and 40 % of the pool lay past that length. The
	// kernel refused those mbufs as invalid transmit descriptors (the
	// frames never left: XDP_STATISTICS tx_invalid_descs) and dropped
	// them from the fill ring (lost for good).
	PoolIsUMEM bool
}

// linkOffloads holds, by port name, the offloads that the binding
// provides itself because the port's link is memory that nothing alters
// (RingPair.OffloadTCPChecksums) or because the binding models the NIC
// (RingPair.OffloadLRO). The driver does not offer them: Info adds them
// and Configure keeps them from DPDK. Set up and torn down with the
// ports, never on the data path.
var linkOffloads struct {
	sync.Mutex
	of map[string]offloadSet
}

// offloadSet is a port's rx and tx offload bits.
type offloadSet struct{ rx, tx uint64 }

// linkOffloadsOf is the offloads of port name's link (linkOffloads).
func linkOffloadsOf(name string) offloadSet {
	linkOffloads.Lock()
	defer linkOffloads.Unlock()
	return linkOffloads.of[name]
}

// addLinkOffloads adds to port name's link offloads.
func addLinkOffloads(name string, add offloadSet) {
	linkOffloads.Lock()
	defer linkOffloads.Unlock()
	if linkOffloads.of == nil {
		linkOffloads.of = make(map[string]offloadSet)
	}
	o := linkOffloads.of[name]
	linkOffloads.of[name] = offloadSet{rx: o.rx | add.rx, tx: o.tx | add.tx}
}

// clearLinkOffloads forgets port name's link offloads.
func clearLinkOffloads(name string) {
	linkOffloads.Lock()
	defer linkOffloads.Unlock()
	delete(linkOffloads.of, name)
}

// Info returns the port's capabilities: its driver's, and the offloads its
// link provides (RingPair.OffloadTCPChecksums, OffloadLRO).
func (p *Port) Info() (DevInfo, error) {
	var di C.struct_rte_eth_dev_info
	if rc := C.rte_eth_dev_info_get(C.uint16_t(p.id), &di); rc != 0 {
		return DevInfo{}, fmt.Errorf("dpdk: port %d info: %w", p.id, errnoErr(rc))
	}
	link := linkOffloadsOf(p.name)
	maxLRO := int(di.max_lro_pkt_size)
	if link.rx&RxOffloadTCPLRO != 0 {
		maxLRO = MaxLROPktSize
	}
	return DevInfo{
		Driver:              C.GoString(di.driver_name),
		MaxRxQueues:         int(di.max_rx_queues),
		MaxTxQueues:         int(di.max_tx_queues),
		RxOffloadCapa:       uint64(di.rx_offload_capa) | link.rx,
		TxOffloadCapa:       uint64(di.tx_offload_capa) | link.tx,
		FlowTypeRSSOffloads: uint64(di.flow_type_rss_offloads),
		HashKeySize:         int(di.hash_key_size),
		RETASize:            int(di.reta_size),
		MinMTU:              int(di.min_mtu),
		MaxMTU:              int(di.max_mtu),
		MaxRxPktLen:         int(di.max_rx_pktlen),
		MaxLROPktSize:       maxLRO,
		IfIndex:             int(di.if_index),
		KeepsRxMbufs:        C.GoString(di.driver_name) == DriverAFXDP,
		PoolIsUMEM:          C.GoString(di.driver_name) == DriverAFXDP,
	}, nil
}

// etherOverhead is what ethdev adds to an MTU to check it against a
// driver's largest frame: the Ethernet header and CRC
// (RTE_ETHER_HDR_LEN + RTE_ETHER_CRC_LEN, eth_dev_get_overhead_len's
// default).
const etherOverhead = C.RTE_ETHER_HDR_LEN + C.RTE_ETHER_CRC_LEN

// vlanLen is an 802.1Q tag's length: a frame may carry two.
const vlanLen = C.RTE_VLAN_HLEN

// PortConfig says how to set a port up.
type PortConfig struct {
	RxQueues, TxQueues int
	RxDesc, TxDesc     int    // ring sizes; 0 means 1024
	MTU                int    // 0 means 1500
	RSSHashFunctions   uint64 // wanted RSS hash functions; only what the port offers is enabled
	RxOffloads         uint64 // wanted rx offloads; only what the port offers is enabled
	TxOffloads         uint64 // wanted tx offloads; only what the port offers is enabled
	// RxInterrupts asks the driver for rx queue interrupts
	// (intr_conf.rxq), which Port.RxInterrupt hands to a loop that
	// sleeps when idle. A driver that has none ignores it, or fails
	// Start: configure the port again without.
	RxInterrupts bool
	Pool         *mbuf.Pool
}

// Configured is what Configure actually enabled.
type Configured struct {
	RxOffloads, TxOffloads uint64
	RSSHashFunctions       uint64
	// MaxLROPktSize is the largest packet LRO builds, with
	// RxOffloadTCPLRO (rxmode.max_lro_pkt_size); 0 without.
	MaxLROPktSize int
}

// Configure sets up the port's queues, RSS and offloads, taking from cfg
// only what the port supports, and reports what it enabled. The port must
// be stopped.
func (p *Port) Configure(cfg PortConfig) (Configured, error) {
	info, err := p.Info()
	if err != nil {
		return Configured{}, err
	}
	if cfg.RxQueues < 1 || cfg.TxQueues < 1 || cfg.RxQueues > info.MaxRxQueues || cfg.TxQueues > info.MaxTxQueues {
		return Configured{}, fmt.Errorf("dpdk: port %d: %d rx / %d tx queues, port has %d / %d: %w",
			p.id, cfg.RxQueues, cfg.TxQueues, info.MaxRxQueues, info.MaxTxQueues, syscall.EINVAL)
	}
	if cfg.Pool == nil {
		return Configured{}, fmt.Errorf("dpdk: port %d: no mbuf pool: %w", p.id, syscall.EINVAL)
	}
	got := Configured{
		RxOffloads: cfg.RxOffloads & info.RxOffloadCapa,
		TxOffloads: cfg.TxOffloads & info.TxOffloadCapa,
	}
	if cfg.RxQueues > 1 {
		got.RSSHashFunctions = cfg.RSSHashFunctions & info.FlowTypeRSSOffloads
	}
	mtu := cfg.MTU
	if mtu == 0 {
		mtu = 1500
	}
	// tapMTU is the MTU a net_tap port gets after configuring, when its
	// driver's check would refuse it (tapmtu.go); 0 when ethdev sets it.
	tapMTU := 0
	if frame := mtu + etherOverhead; frame > info.MaxRxPktLen {
		if info.Driver != DriverTap {
			// ethdev refuses it too, with a bare EINVAL; say why.
			return Configured{}, fmt.Errorf("dpdk: port %d (%s): MTU %d needs %d-byte frames, the driver takes at most %d: %w",
				p.id, info.Driver, mtu, frame, info.MaxRxPktLen, syscall.EINVAL)
		}
		tapMTU, mtu = mtu, info.MaxRxPktLen-etherOverhead
	}
	if room := cfg.Pool.DataRoom() - mbuf.DefaultHeadroom; max(mtu, tapMTU)+etherOverhead+2*vlanLen > room {
		// A frame larger than one mbuf: received as a chain
		// (RTE_ETH_RX_OFFLOAD_SCATTER), which the stack takes apart.
		if info.RxOffloadCapa&RxOffloadScatter == 0 {
			return Configured{}, fmt.Errorf("dpdk: port %d (%s): MTU %d frames do not fit the pool's %d-byte mbufs, and the driver cannot scatter them: %w",
				p.id, info.Driver, max(mtu, tapMTU), room, syscall.EINVAL)
		}
		got.RxOffloads |= RxOffloadScatter
	}
	link := linkOffloadsOf(p.name)
	driverLRO := p.configureLRO(&got, info, link, max(mtu, tapMTU)+etherOverhead, cfg.Pool.DataRoom()-mbuf.DefaultHeadroom)
	// net_af_xdp sends each packet from its own mbuf's buffer (tx.h).
	setTxFlat(p.id, info.Driver == DriverAFXDP)
	// The driver is asked only for what it offers itself.
	driverTx := got.TxOffloads &^ link.tx
	driverRx := got.RxOffloads &^ link.rx
	pc := C.struct_dps_port_conf{
		nb_rx:            C.uint16_t(cfg.RxQueues),
		nb_tx:            C.uint16_t(cfg.TxQueues),
		rss_hf:           C.uint64_t(got.RSSHashFunctions),
		rx_offloads:      C.uint64_t(driverRx),
		tx_offloads:      C.uint64_t(driverTx),
		mtu:              C.uint32_t(mtu),
		max_lro_pkt_size: C.uint32_t(driverLRO),
	}
	if cfg.RxInterrupts {
		pc.rx_intr = 1
	}
	if rc := C.dps_port_configure(C.uint16_t(p.id), &pc); rc != 0 {
		return got, fmt.Errorf("dpdk: port %d configure: %w", p.id, errnoErr(rc))
	}
	rxd, txd := descOr(cfg.RxDesc), descOr(cfg.TxDesc)
	for q := range cfg.RxQueues {
		if rc := C.dps_rxq_setup(C.uint16_t(p.id), C.uint16_t(q), rxd, (*C.struct_rte_mempool)(cfg.Pool.Ptr()), C.uint64_t(driverRx)); rc != 0 {
			return got, fmt.Errorf("dpdk: port %d rx queue %d: %w", p.id, q, errnoErr(rc))
		}
	}
	for q := range cfg.TxQueues {
		if rc := C.dps_txq_setup(C.uint16_t(p.id), C.uint16_t(q), txd, C.uint64_t(driverTx)); rc != 0 {
			return got, fmt.Errorf("dpdk: port %d tx queue %d: %w", p.id, q, errnoErr(rc))
		}
	}
	if tapMTU != 0 {
		return got, p.tapMTU(tapMTU, info.IfIndex)
	}
	return got, nil
}

func descOr(n int) C.uint16_t {
	if n <= 0 {
		return 1024
	}
	return C.uint16_t(n)
}

// Start starts the port.
func (p *Port) Start() error {
	if rc := C.rte_eth_dev_start(C.uint16_t(p.id)); rc != 0 {
		return fmt.Errorf("dpdk: port %d start: %w", p.id, errnoErr(rc))
	}
	return nil
}

// TxReclaim asks tx queue q's driver to free the mbufs of packets it has
// sent (rte_eth_tx_done_cleanup); a driver without that call is given an
// empty burst, in which those that reclaim as they send do it (net_af_xdp
// pulls its completion ring in every burst). The port must be started:
// a stopped port's bursts do nothing.
func (p *Port) TxReclaim(q uint16) {
	C.dps_tx_reclaim(C.uint16_t(p.id), C.uint16_t(q))
}

// Stop stops the port.
func (p *Port) Stop() error {
	if rc := C.rte_eth_dev_stop(C.uint16_t(p.id)); rc != 0 {
		return fmt.Errorf("dpdk: port %d stop: %w", p.id, errnoErr(rc))
	}
	return nil
}

// Close releases the port and detaches its device. The port must be
// stopped.
func (p *Port) Close() error {
	if C.rte_eth_dev_is_valid_port(C.uint16_t(p.id)) == 0 || p.currentName() != p.name {
		return nil // closed already (and the id perhaps reused)
	}
	name := p.name
	if rc := C.rte_eth_dev_close(C.uint16_t(p.id)); rc != 0 {
		return fmt.Errorf("dpdk: port %d close: %w", p.id, errnoErr(rc))
	}
	setTxFlat(p.id, false)
	setRxLRO(p.id, 0)
	if strings.HasPrefix(name, "net_") {
		bus, dev := C.CString("vdev"), C.CString(name)
		defer C.free(unsafe.Pointer(bus))
		defer C.free(unsafe.Pointer(dev))
		C.rte_eal_hotplug_remove(bus, dev)
	}
	return nil
}

// MAC is the port's ethernet address.
func (p *Port) MAC() (net.HardwareAddr, error) {
	var a C.struct_rte_ether_addr
	if rc := C.rte_eth_macaddr_get(C.uint16_t(p.id), &a); rc != 0 {
		return nil, fmt.Errorf("dpdk: port %d MAC: %w", p.id, errnoErr(rc))
	}
	return net.HardwareAddr(C.GoBytes(unsafe.Pointer(&a.addr_bytes[0]), 6)), nil
}

// SetMAC changes the port's ethernet address.
func (p *Port) SetMAC(mac net.HardwareAddr) error {
	var a C.struct_rte_ether_addr
	if len(mac) != len(a.addr_bytes) {
		return fmt.Errorf("dpdk: port %d MAC %v: %w", p.id, mac, syscall.EINVAL)
	}
	for i, v := range mac {
		a.addr_bytes[i] = C.uint8_t(v)
	}
	if rc := C.rte_eth_dev_default_mac_addr_set(C.uint16_t(p.id), &a); rc != 0 {
		return fmt.Errorf("dpdk: port %d set MAC %v: %w", p.id, mac, errnoErr(rc))
	}
	return nil
}

// MTU is the port's MTU.
func (p *Port) MTU() (int, error) {
	var m C.uint16_t
	if rc := C.rte_eth_dev_get_mtu(C.uint16_t(p.id), &m); rc != 0 {
		return 0, fmt.Errorf("dpdk: port %d MTU: %w", p.id, errnoErr(rc))
	}
	return int(m), nil
}

// SetMTU changes the port's MTU.
func (p *Port) SetMTU(mtu int) error {
	if rc := C.rte_eth_dev_set_mtu(C.uint16_t(p.id), C.uint16_t(mtu)); rc != 0 {
		return fmt.Errorf("dpdk: port %d MTU %d: %w", p.id, mtu, errnoErr(rc))
	}
	return nil
}

// Promiscuous turns promiscuous mode on or off.
func (p *Port) Promiscuous(on bool) error {
	var rc C.int
	if on {
		rc = C.rte_eth_promiscuous_enable(C.uint16_t(p.id))
	} else {
		rc = C.rte_eth_promiscuous_disable(C.uint16_t(p.id))
	}
	if rc != 0 && -rc != C.ENOTSUP {
		return fmt.Errorf("dpdk: port %d promiscuous: %w", p.id, errnoErr(rc))
	}
	return nil
}

// Link is a port's link state.
type Link struct {
	Up         bool
	SpeedMbps  uint32
	FullDuplex bool
	Autoneg    bool
}

func (l Link) String() string {
	if !l.Up {
		return "down"
	}
	duplex := "half-duplex"
	if l.FullDuplex {
		duplex = "full-duplex"
	}
	return fmt.Sprintf("up %d Mbps %s", l.SpeedMbps, duplex)
}

// Link reads the link state without waiting.
func (p *Port) Link() (Link, error) {
	var l C.struct_dps_link
	if rc := C.dps_link_get(C.uint16_t(p.id), &l); rc != 0 {
		return Link{}, fmt.Errorf("dpdk: port %d link: %w", p.id, errnoErr(rc))
	}
	return Link{Up: l.up != 0, SpeedMbps: uint32(l.speed), FullDuplex: l.full_duplex != 0, Autoneg: l.autoneg != 0}, nil
}

// RSSConf is a port's RSS configuration.
type RSSConf struct {
	Key           []byte
	HashFunctions uint64
	RETA          []uint16 // redirection table: entry i is the queue for hash%len
}

// RSS reads the RSS key, hash functions and redirection table.
func (p *Port) RSS() (RSSConf, error) {
	info, err := p.Info()
	if err != nil {
		return RSSConf{}, err
	}
	if info.HashKeySize == 0 && info.RETASize == 0 {
		return RSSConf{}, fmt.Errorf("dpdk: port %d (%s) has no RSS: %w", p.id, info.Driver, syscall.ENOTSUP)
	}
	var c RSSConf
	key := make([]byte, max(info.HashKeySize, 1))
	var hf C.uint64_t
	if rc := C.dps_rss_conf(C.uint16_t(p.id), (*C.uint8_t)(&key[0]), C.uint8_t(info.HashKeySize), &hf); rc != 0 {
		return c, fmt.Errorf("dpdk: port %d RSS conf: %w", p.id, errnoErr(rc))
	}
	c.Key, c.HashFunctions = key[:info.HashKeySize], uint64(hf)
	if info.RETASize > 0 {
		c.RETA = make([]uint16, info.RETASize)
		if rc := C.dps_reta_query(C.uint16_t(p.id), (*C.uint16_t)(&c.RETA[0]), C.uint16_t(info.RETASize)); rc != 0 {
			return c, fmt.Errorf("dpdk: port %d RETA: %w", p.id, errnoErr(rc))
		}
	}
	return c, nil
}

// setTxFlat says whether port id's tx bursts must hand the driver each
// packet in one direct mbuf (dps_tx_flat, tx.h).
func setTxFlat(id uint16, on bool) {
	var v C.int
	if on {
		v = 1
	}
	C.dps_set_tx_flat(C.uint16_t(id), v)
}
