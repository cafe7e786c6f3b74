package stack

import (
	"crypto/rand"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/dpstack/dpstack/dpdk"
	"github.com/dpstack/dpstack/lcore"
	"github.com/dpstack/dpstack/mbuf"
	"github.com/dpstack/dpstack/stack/header"
	"github.com/dpstack/dpstack/stack/ipv4"
	"github.com/dpstack/dpstack/stack/netdev"
	"github.com/dpstack/dpstack/stack/route"
	"github.com/dpstack/dpstack/stack/rss"
	"github.com/dpstack/dpstack/stack/sock"
	"github.com/dpstack/dpstack/stack/tcp"
	"github.com/dpstack/dpstack/stack/udp"
)

// Route is a static route.
type Route struct {
	Prefix  netip.Prefix
	Gateway netip.Addr
}

// String is the route as ip route writes it: "198.19.0.0/16 via 198.18.0.1".
func (r Route) String() string { return fmt.Sprintf("%v via %v", r.Prefix, r.Gateway) }

// Config sets up a Host.
type Config struct {
	// Name prefixes the host's DPDK object names; unique per process.
	Name string
	// Port is the DPDK port to run on; it must be attached and stopped.
	Port *dpdk.Port
	// Addr is the host's first address on the port, with the length of
	// its connected subnet's prefix.
	Addr netip.Prefix
	// Addrs are the host's further addresses on the port, each with its
	// connected prefix. With Addr they make the device's address list
	// (Linux's in_ifaddr list, kept by each core's route.Table): the
	// stack answers ARP, ICMP, TCP and UDP on every one, and the first
	// address on a subnet is the source of what goes out through it (the
	// connected route's preferred source); a later one on the same subnet
	// is a secondary.
	Addrs []netip.Prefix
	// Gateway, when valid, is the default route's next hop.
	Gateway netip.Addr
	// Routes are further static routes.
	Routes []Route
	// Cores is how many cores (queue pairs, stacks) run the port; 0 is 1.
	Cores int
	// Lcores are the EAL lcores the loops run on, one per core; empty runs
	// each loop on a goroutine of its own (see Start).
	Lcores []uint
	// Loops, when given, are the loops the host's cores run on, one per
	// core, made and run by the caller and shared with other hosts: one
	// core polling several ports, as DPDK's l3fwd does. The caller runs
	// them (lcore.Loop.Go, RunOnLcore) before Start and stops them after
	// Stop and before Close; Lcores and Idle do not apply. A shared loop
	// has one inbox for handoffs, so its hosts may have one core each.
	Loops []*lcore.Loop
	// Idle is the loops' idle policy.
	Idle lcore.IdlePolicy
	// PoolSize is the number of mbufs; 0 means 8191 per core.
	PoolSize int
	// SockMem is how many mbufs the host's sockets may hold in their
	// queues together (Linux's tcp_mem max), divided evenly among the
	// cores; under memory pressure from two thirds of it until they are
	// back below half. 0 takes the pool less the receive reserve
	// (RxReserve per core) and IP reassembly's share
	// (1/ipv4.ReasmPoolShare): whatever the sockets hold, and whatever
	// fragments wait, the receive path can refill its descriptors and
	// take the ACKs and RSTs that free them. Hosts that share a Pool
	// should divide it with SockMem. -1: no limit.
	SockMem int
	// MaxOrphans bounds the connections the user closed that are still
	// finishing, divided evenly among the cores (tcp_max_orphans); past
	// it, or with the sockets at their memory limit, a closed connection
	// is reset. 0: half of SockMem's mbufs (each orphan holds at least
	// its FIN), or tcp.DefaultMaxOrphans per core without a limit.
	MaxOrphans int
	// Pool, when given, is the mbuf pool the host uses, made by the caller
	// and shared with other hosts (one pool for several ports, as DPDK
	// applications usually keep one per NUMA socket); the caller closes
	// it, and checks that every mbuf came back, once every host that
	// uses it is closed. PoolSize and PoolOps do not apply. Nil: the host
	// makes a pool of its own.
	Pool *mbuf.Pool
	// PoolOps is the mempool handler (mbuf.PoolConfig.Ops); "" picks
	// mbuf.OpsLockFree when the loops run on goroutines (no Lcores) and
	// DPDK's default, with its per-lcore caches, on lcores.
	PoolOps string
	// MTU is the port's MTU; 0 means 1500.
	MTU int
	// NoLRO keeps the port's large receive offload off
	// (RTE_ETH_RX_OFFLOAD_TCP_LRO, which the host otherwise enables
	// wherever the port offers it: Linux's NETIF_F_LRO, ethtool -K lro).
	// dpstack ends every TCP connection it receives, and TCP takes a
	// merged packet whole (tcp/lro.go), so LRO only saves per-packet work;
	// Linux turns it off on a device that forwards (dev_disable_lro),
	// because a merged packet cannot go on as the segments it was made
	// of. Turn it off where frames must stay as they were sent: a host
	// whose exception path hands the kernel the TCP it does not claim, a
	// capture that must show the wire.
	NoLRO bool
	// VLAN, when not 0, puts the host on that IEEE 802.1Q VLAN (1-4094) of
	// the port: it tags what it sends and takes only frames tagged with
	// it, dropping untagged frames and other VLANs' (stat.DropVLANUntagged,
	// DropVLANOther). The port strips and inserts the tag where it offers
	// to (RTE_ETH_RX_OFFLOAD_VLAN_STRIP, RTE_ETH_TX_OFFLOAD_VLAN_INSERT);
	// elsewhere the stack does, in the headroom.
	VLAN uint16
	// Congestion is the TCP congestion control of new sockets ("cubic" or
	// "reno"); "" means sock.DefaultCongestion (CUBIC).
	Congestion string
	// TCPModerateRcvbuf turns TCP receive-buffer autotuning on
	// (net.ipv4.tcp_moderate_rcvbuf; tcp.Config.ModerateRcvbuf): each
	// connection's receive buffer, and the window it offers, grows to
	// twice what its reader takes in a round trip, up to TCPRmemMax, and
	// stops growing while the core is under memory pressure (SockMem).
	TCPModerateRcvbuf bool
	// TCPRmemMax bounds autotuning's growth of a receive buffer
	// (net.ipv4.tcp_rmem[2]), in bytes of buffer (about 2176 per
	// full-sized segment); 0 means tcp.DefaultRmemMax, 6 MiB. It may not
	// exceed tcp.MaxRmemMax.
	TCPRmemMax int
	// NoGRO turns receive offload off (ethtool -K gro off): TCP then takes
	// each segment of a burst alone, with its own ACK decision, instead of
	// taking a connection's in-order segments as a group
	// (tcp.Config.GRO).
	NoGRO bool
	// AcceptSourceRoute lets in datagrams with a source route option
	// that ends at this host (Linux's accept_source_route); by default
	// they are dropped (ipv4.Config.AcceptSourceRoute).
	AcceptSourceRoute bool
	// ReasmTimeout is how long fragments wait for the rest of their
	// datagram (Linux's ipfrag_time); 0 means ipv4.DefaultReasmTimeout.
	ReasmTimeout time.Duration
	// Exception, when set, is the kernel exception path: what the stack
	// does not consume goes to a kernel interface, and what the kernel
	// sends there goes out of Port (exception.go). Nil: none, and the
	// data path does not look for one beyond a nil check per rx burst.
	Exception *Exception
}

// Host runs one port on a set of cores: the pool, the port's queues and
// offloads, and one Stack with its Loop per core.
//
// With several cores, the port's queue choice (RSS on a NIC, the kernel's
// flow steering on net_tap) decides which core a packet reaches, and it
// need not be the core that owns the packet's connection. The host keeps
// a flow directory (tcp.FlowTable) of which core owns each connection; a
// core that gets a segment of another core's connection hands it to that
// core's inbox (lcore.Loop.Handoff), and the owner runs it through its own
// IPv4 input. When the port's RSS can be predicted (a Toeplitz key and a
// redirection table), active opens pick source ports whose replies land
// on the opening core, so that handoffs are the exception.
type Host struct {
	cfg      Config
	port     *dpdk.Port
	pool     *mbuf.Pool
	ownPool  bool // pool is the host's, not Config.Pool
	offloads dpdk.Configured
	sockMem  sock.MemLimits // each core's share of Config.SockMem
	orphans  int            // each core's share of Config.MaxOrphans
	mac      header.MAC
	flows    *tcp.FlowTable // nil with one core
	ports    *udp.Ports     // nil with one core
	steer    *rss.Steering  // nil when the port's RSS is not predictable
	mc       *ipv4.MCHost   // multicast membership, spoken for by core 0 (mcast.go)
	allMulti bool           // the port takes every multicast frame: it has no filter (core 0's)
	stacks   []*Stack
	// rxHeld is how many of the pool's mbufs the port's driver took
	// when its queues were set up and started (the rx rings it filled).
	rxHeld int
	// rxKept is what of rxHeld the driver keeps after the port is
	// closed (dpdk.DevInfo.KeepsRxMbufs): not the host's to find back.
	rxKept  int
	opens   atomic.Uint32 // NextCore's counter
	tx      []*lcore.TxBatch
	excTx   []*lcore.TxBatch // the cores' queues on the exception port
	running []<-chan error
	closed  bool
	mu      sync.Mutex
	opened  time.Time // when Open built the host: its counters count from then
}

// Open configures and starts the port and builds a stack per core. The
// loops do not run until Start.
func Open(cfg Config) (*Host, error) {
	if cfg.Port == nil {
		return nil, fmt.Errorf("stack: no port: %w", syscall.EINVAL)
	}
	for _, a := range cfg.allAddrs() {
		if !a.IsValid() || !a.Addr().Is4() {
			return nil, fmt.Errorf("stack: address %v is not an IPv4 prefix: %w", a, syscall.EAFNOSUPPORT)
		}
	}
	if cfg.Cores == 0 {
		cfg.Cores = 1
	}
	if len(cfg.Lcores) > 0 && len(cfg.Lcores) != cfg.Cores {
		return nil, fmt.Errorf("stack: %d cores but %d lcores: %w", cfg.Cores, len(cfg.Lcores), syscall.EINVAL)
	}
	if len(cfg.Loops) > 0 && (len(cfg.Loops) != cfg.Cores || cfg.Cores > 1 || len(cfg.Lcores) > 0) {
		return nil, fmt.Errorf("stack: %d shared loops for %d cores and %d lcores (one core, one loop, no lcores): %w",
			len(cfg.Loops), cfg.Cores, len(cfg.Lcores), syscall.EINVAL)
	}
	if cfg.PoolSize == 0 {
		cfg.PoolSize = cfg.Cores*8192 - 1 // DPDK's best sizes are 2^n - 1
	}
	if cfg.MTU == 0 {
		cfg.MTU = 1500
	}
	if cfg.VLAN > header.VLANIDMask-1 {
		return nil, fmt.Errorf("stack: VLAN %d: want 1-%d (0: none): %w", cfg.VLAN, header.VLANIDMask-1, syscall.EINVAL)
	}
	if cfg.Congestion != "" && !sock.CongestionRegistered(cfg.Congestion) {
		return nil, fmt.Errorf("stack: congestion control %q: %w", cfg.Congestion, syscall.ENOENT)
	}
	if cfg.TCPRmemMax < 0 || cfg.TCPRmemMax > tcp.MaxRmemMax {
		return nil, fmt.Errorf("stack: TCPRmemMax %d: want 0 (the default) up to %d: %w", cfg.TCPRmemMax, tcp.MaxRmemMax, syscall.EINVAL)
	}
	h := &Host{cfg: cfg, port: cfg.Port, opened: time.Now()}
	if cfg.Cores > udp.MaxCores {
		return nil, fmt.Errorf("stack: %d cores: at most %d: %w", cfg.Cores, udp.MaxCores, syscall.EINVAL)
	}
	if cfg.Cores > 1 {
		h.flows = tcp.NewFlowTable(0)
		h.ports = udp.NewPorts()
	}
	if err := h.openPool(); err != nil {
		return nil, err
	}
	if err := h.setupPort(); err != nil {
		if h.ownPool {
			h.pool.Close()
		}
		return nil, err
	}
	h.steer = h.steering()
	h.mc = h.newMCHost()
	if err := h.setupException(); err != nil {
		h.Close()
		return nil, err
	}
	if err := h.sockMemLimits(); err != nil {
		h.Close()
		return nil, err
	}
	for core := range cfg.Cores {
		if err := h.addCore(core); err != nil {
			h.Close()
			return nil, err
		}
	}
	return h, nil
}

// RxReserve is the receive reserve: the mbufs per core that the sockets'
// limit (Config.SockMem) leaves to the port, for its rx and tx descriptors
// and a margin for what passes through a turn (a burst in flight, ARP and
// ICMP replies, ACKs, RSTs).
const RxReserve = rxDesc + txDesc + 128

// The port's descriptors per queue.
const rxDesc, txDesc = 512, 512

// excDesc is the exception port's rx and tx descriptors per queue: the
// kernel's share of the traffic is the small one.
const excDesc = 256

// rxReserve is the receive reserve of each core (RxReserve), and the
// exception port's descriptors when there is one.
func (h *Host) rxReserve() int {
	if h.cfg.Exception != nil {
		return RxReserve + 2*excDesc
	}
	return RxReserve
}

// sockMemLimits sets each core's share of the sockets' memory limit, in
// the truesize bytes that sockets are charged (an mbuf's whole buffer,
// whatever its payload), and of the orphans.
func (h *Host) sockMemLimits() error {
	n := h.cfg.SockMem
	if h.cfg.MaxOrphans > 0 {
		h.orphans = max(h.cfg.MaxOrphans/h.cfg.Cores, 1)
	}
	switch {
	case n < 0:
		return nil
	case n == 0:
		// What the port's reserve, the driver's rings beyond the
		// reserve's rx descriptors, and IP reassembly leave.
		n = h.pool.Size() - h.cfg.Cores*h.rxReserve() - h.driverExtra() - h.pool.Size()/ipv4.ReasmPoolShare
		if n < h.cfg.Cores*minSockMem {
			return fmt.Errorf("stack: a pool of %d mbufs is too small for %d cores: the receive reserve takes %d each, the driver's rings %d more, reassembly %d, and the sockets need at least %d: %w",
				h.pool.Size(), h.cfg.Cores, h.rxReserve(), h.driverExtra(), h.pool.Size()/ipv4.ReasmPoolShare, minSockMem, syscall.EINVAL)
		}
	case n < h.cfg.Cores*minSockMem:
		return fmt.Errorf("stack: SockMem %d: want at least %d per core: %w", n, minSockMem, syscall.EINVAL)
	}
	b := h.pool.Alloc()
	if b == nil {
		return fmt.Errorf("stack: pool %s is empty: %w", h.pool.Name(), syscall.ENOBUFS)
	}
	per := sock.Truesize(b)
	b.Free()
	max := n / h.cfg.Cores * per
	h.sockMem = sock.MemLimits{Min: max / 2, Pressure: max / 3 * 2, Max: max}
	if h.orphans == 0 {
		h.orphans = n / h.cfg.Cores / 2
	}
	return nil
}

// driverExtra is what the driver holds of the pool beyond the rx
// descriptors that RxReserve counts: net_af_xdp fills a ring of 2,048
// mbufs per queue however many descriptors it is given, and takes a new
// mbuf for each one it receives before it hands the packet over. Were
// the sockets allowed that share, they could hold the mbufs the driver
// needs to receive the ACKs that would free them, and the port would stop
// receiving.
func (h *Host) driverExtra() int { return max(0, h.rxHeld-h.cfg.Cores*rxDesc) }

// minSockMem is the fewest mbufs a core's sockets may be limited to.
const minSockMem = 256

// openPool takes the caller's pool or makes the host's own, laid out as
// the port's driver needs it.
func (h *Host) openPool() error {
	umem := false
	if info, err := h.port.Info(); err == nil {
		umem = info.PoolIsUMEM
	}
	if h.cfg.Pool != nil {
		h.pool = h.cfg.Pool
		return checkUMEMLayout(h.pool, umem)
	}
	ops := h.cfg.PoolOps
	if ops == "" && (len(h.cfg.Lcores) == 0 || len(h.cfg.Loops) > 0) {
		ops = mbuf.OpsLockFree
	}
	var err error
	// DPDK's per-lcore caches may hold at most two thirds of the pool
	// (RTE_MEMPOOL_CACHE_MAX_SIZE, CALC_CACHE_FLUSHTHRESH): half, for a
	// small pool.
	cache := min(256, h.cfg.PoolSize/2)
	h.pool, err = mbuf.NewPool(mbuf.PoolConfig{Name: h.cfg.Name + "_pool", Size: h.cfg.PoolSize, CacheSize: cache, Socket: -1, Ops: ops,
		DataRoom: DataRoomFor(h.cfg.MTU), PageObjects: umem})
	h.ownPool = err == nil
	if err != nil {
		return err
	}
	return checkUMEMLayout(h.pool, umem)
}

// checkUMEMLayout refuses a pool that a driver which takes it for its
// UMEM (dpdk.DevInfo.PoolIsUMEM) would register only in part: mbufs
// outside the UMEM are lost to the kernel, silently.
func checkUMEMLayout(p *mbuf.Pool, umem bool) error {
	if !umem || p.ObjectSize() == os.Getpagesize() && p.Chunks() == 1 {
		return nil
	}
	return fmt.Errorf("stack: pool %s: the port's driver maps the pool as its AF_XDP UMEM, which needs one page per mbuf in one memory chunk "+
		"(mbuf.PoolConfig.PageObjects; give EAL more memory if the chunk did not fit): %d-byte mbufs in %d chunks: %w",
		p.Name(), p.ObjectSize(), p.Chunks(), syscall.EINVAL)
}

func (h *Host) setupPort() error {
	p := h.port
	base := h.pool.InUse()
	conf := dpdk.PortConfig{
		RxQueues:         h.cfg.Cores,
		TxQueues:         h.cfg.Cores,
		RxDesc:           rxDesc,
		TxDesc:           txDesc,
		MTU:              h.cfg.MTU,
		RSSHashFunctions: dpdk.RSSIPv4 | dpdk.RSSTCP | dpdk.RSSUDP,
		// Hardware receive timestamps where the port has them (the loop
		// stamps in software otherwise, lcore/rxtime.go).
		RxOffloads: dpdk.RxOffloadIPv4Cksum | dpdk.RxOffloadTCPCksum | dpdk.RxOffloadUDPCksum |
			dpdk.RxOffloadTimestamp,
		// Multi-segment tx for IP fragments, which chain a header mbuf
		// to clones of the payload (net_tap offers it; net_ring, which
		// does not, passes chains on as they are).
		// TSO where the port offers it (net_tap does, in software
		// with DPDK's GSO library): TCP sends one large segment per
		// burst (tcp/tso.go).
		TxOffloads: dpdk.TxOffloadIPv4Cksum | dpdk.TxOffloadTCPCksum | dpdk.TxOffloadUDPCksum |
			dpdk.TxOffloadMultiSegs | dpdk.TxOffloadTCPTSO,
		// An idle loop sleeps until its queue interrupts (lcore.Loop).
		RxInterrupts: true,
		Pool:         h.pool,
	}
	if !h.cfg.NoLRO {
		// Merged segments where the port can (Config.NoLRO).
		conf.RxOffloads |= dpdk.RxOffloadTCPLRO
	}
	if h.cfg.VLAN != 0 {
		// The tag in the mbuf, not the frame, where the port can;
		// each received frame says which it carries (Stack.vlanInput).
		conf.RxOffloads |= dpdk.RxOffloadVLANStrip
		conf.TxOffloads |= dpdk.TxOffloadVLAN
	}
	var err error
	if h.offloads, err = p.Configure(conf); err != nil {
		// Some drivers refuse rx interrupts they do not have already
		// here: without them, an idle loop sleeps in steps.
		conf.RxInterrupts = false
		if h.offloads, err = p.Configure(conf); err != nil {
			return err
		}
	}
	mac, err := p.MAC()
	if err != nil {
		return err
	}
	copy(h.mac[:], mac)
	if h.mac.IsZero() {
		// Some virtual ports (net_ring) have no address of their own:
		// give the host a random locally administered one.
		h.mac = randomMAC()
		if err := p.SetMAC(h.mac[:]); err != nil && !errors.Is(err, syscall.ENOTSUP) {
			return err
		}
	}
	if err := p.Start(); err != nil {
		// Others only when they start.
		if !conf.RxInterrupts {
			return err
		}
		conf.RxInterrupts = false
		if h.offloads, err = p.Configure(conf); err != nil {
			return err
		}
		if err := p.Start(); err != nil {
			return err
		}
	}
	h.rxHeld = h.pool.InUse() - base
	if info, err := p.Info(); err == nil && info.KeepsRxMbufs {
		h.rxKept = h.rxHeld
	}
	return nil
}

// setupException configures and starts the exception port, if any: a
// queue pair per core on the host's pool, the host's MTU and the host's
// MAC, which a net_tap gives its kernel interface too (rte_eth_dev_default_mac_addr_set
// sets both), so that the kernel takes the frames sent to the host.
func (h *Host) setupException() error {
	x := h.cfg.Exception
	if x == nil {
		return nil
	}
	if x.Port == nil || x.Policy == nil {
		return fmt.Errorf("stack: exception path without a port or a policy: %w", syscall.EINVAL)
	}
	conf := dpdk.PortConfig{
		RxQueues:     h.cfg.Cores,
		TxQueues:     h.cfg.Cores,
		RxDesc:       excDesc,
		TxDesc:       excDesc,
		MTU:          h.cfg.MTU,
		RxInterrupts: true,
		Pool:         h.pool,
	}
	if _, err := x.Port.Configure(conf); err != nil {
		conf.RxInterrupts = false
		if _, err = x.Port.Configure(conf); err != nil {
			return fmt.Errorf("stack: exception port %s: %w", x.Port.Name(), err)
		}
	}
	if err := x.Port.SetMAC(h.mac[:]); err != nil && !errors.Is(err, syscall.ENOTSUP) {
		return fmt.Errorf("stack: exception port %s: %w", x.Port.Name(), err)
	}
	if err := x.Port.Start(); err != nil {
		return fmt.Errorf("stack: exception port %s: %w", x.Port.Name(), err)
	}
	return nil
}

// steering reads the port's RSS configuration once and returns the
// prediction of its queue choice for TCP/IPv4, or nil when there is none
// to make: one core, no TCP hashing, no redirection table or key (net_ring,
// net_tap: the kernel picks a TAP queue by its own flow steering, whatever
// the port reports). NICs hash with Toeplitz unless configured otherwise;
// DPDK 22.11 has no way to ask, so Toeplitz is assumed. A wrong guess
// costs handoffs, not correctness.
func (h *Host) steering() *rss.Steering {
	if h.cfg.Cores < 2 || h.offloads.RSSHashFunctions&dpdk.RSSTCP == 0 {
		return nil
	}
	info, err := h.port.Info()
	if err != nil || info.Driver == dpdk.DriverTap {
		return nil
	}
	c, err := h.port.RSS()
	if err != nil || len(c.RETA) == 0 || c.HashFunctions&dpdk.RSSTCP == 0 {
		return nil
	}
	st, err := rss.NewSteering(c.Key, c.RETA)
	if err != nil {
		return nil
	}
	return st
}

// handoff gives b, an IPv4 packet of a connection that core owns, to that
// core's inbox (tcp.Config.Handoff).
func (h *Host) handoff(b *mbuf.Buf, core int) bool {
	return h.stacks[core].loop.Handoff(b)
}

// features maps the offloads the port accepted to the stack's features.
func (h *Host) features() netdev.Features {
	var f netdev.Features
	on := func(have uint64, bit uint64, feat netdev.Features) {
		if have&bit != 0 {
			f |= feat
		}
	}
	on(h.offloads.RxOffloads, dpdk.RxOffloadIPv4Cksum, netdev.RxIPv4Cksum)
	on(h.offloads.RxOffloads, dpdk.RxOffloadTCPCksum, netdev.RxL4Cksum)
	on(h.offloads.TxOffloads, dpdk.TxOffloadIPv4Cksum, netdev.TxIPv4Cksum)
	on(h.offloads.TxOffloads, dpdk.TxOffloadTCPCksum, netdev.TxTCPCksum)
	on(h.offloads.TxOffloads, dpdk.TxOffloadUDPCksum, netdev.TxUDPCksum)
	on(h.offloads.TxOffloads, dpdk.TxOffloadVLAN, netdev.TxVLANInsert)
	if h.offloads.TxOffloads&(dpdk.TxOffloadTCPTSO|dpdk.TxOffloadMultiSegs|dpdk.TxOffloadTCPCksum|dpdk.TxOffloadIPv4Cksum) ==
		dpdk.TxOffloadTCPTSO|dpdk.TxOffloadMultiSegs|dpdk.TxOffloadTCPCksum|dpdk.TxOffloadIPv4Cksum {
		// A TSO packet is a chain (header mbuf and the data's clones),
		// and DPDK's segmentation asks for both checksums offloaded.
		f |= netdev.TxTSO
	}
	return f
}

func (h *Host) addCore(core int) error {
	q := uint16(core)
	var loop *lcore.Loop
	if h.shared() {
		loop = h.cfg.Loops[core]
	} else {
		loop = lcore.NewLoop(lcore.Config{Idle: h.cfg.Idle, Shared: len(h.cfg.Lcores) == 0})
	}
	cache := mbuf.NewCache(h.pool)
	loop.AddCache(cache)
	tx := loop.AddTx(h.port, q)
	h.tx = append(h.tx, tx)
	dev := netdev.New(netdev.Config{
		Name:     h.port.Name(),
		PortID:   h.port.ID(),
		Queue:    q,
		MAC:      h.mac,
		MTU:      h.cfg.MTU,
		TSOMTU:   h.tsoMTU(),
		VLAN:     h.cfg.VLAN,
		Features: h.features(),
		Cache:    cache,
		TxQueue:  tx,
	})
	rt := route.NewTable(loop.Wheel())
	rt.SetClock(loop.Now)
	for _, a := range h.Addrs() {
		if err := rt.AddConnected(a, dev); err != nil {
			return fmt.Errorf("stack: address %v: %w", a, err)
		}
	}
	for _, r := range h.cfg.Routes {
		if err := rt.AddRoute(r.Prefix, r.Gateway); err != nil {
			return fmt.Errorf("stack: route %v via %v: %w", r.Prefix, r.Gateway, err)
		}
	}
	if h.cfg.Gateway.IsValid() {
		if err := rt.SetDefaultGateway(h.cfg.Gateway); err != nil {
			return fmt.Errorf("stack: default gateway %v: %w", h.cfg.Gateway, err)
		}
	}
	var s *Stack // for the exception path's hooks, which run once it exists
	var exc *exception
	tc := tcp.Config{Congestion: h.cfg.Congestion, Mem: h.sockMem, MaxOrphans: h.orphans,
		ModerateRcvbuf: h.cfg.TCPModerateRcvbuf, RmemMax: h.cfg.TCPRmemMax, GRO: !h.cfg.NoGRO}
	uc := udp.Config{Ports: h.ports}
	if x := h.cfg.Exception; x != nil {
		exc = &exception{policy: x.Policy, tx: loop.AddTx(x.Port, q)}
		h.excTx = append(h.excTx, exc.tx)
		if x.Policy.Auto {
			tc.Unclaimed = func(b *mbuf.Buf) bool { return s.unclaimed(b, header.IPProtoTCP) }
			uc.Unclaimed = func(b *mbuf.Buf) bool { return s.unclaimed(b, header.IPProtoUDP) }
		}
	}
	if h.flows != nil {
		tc.Flows, tc.Handoff = h.flows, h.handoff
	}
	if st := h.steer; st != nil {
		tc.ReplyHere = func(local, remote netip.AddrPort) bool {
			// The reply comes from remote to local.
			return st.QueueIPv4TCP(remote.Addr(), local.Addr(), remote.Port(), local.Port()) == q
		}
	}
	ic := ipv4.Config{AcceptSourceRoute: h.cfg.AcceptSourceRoute, ReasmTimeout: h.cfg.ReasmTimeout, MC: h.mc}
	s = newStack(core, h.cfg.Cores, loop, dev, rt, ic, tc, uc)
	if h.flows != nil {
		loop.SetInbox(s.handedIn)
	}
	s.ip.OnLearn(func(addr netip.Addr, mac header.MAC, confirmed bool) { h.shareNeighbour(core, addr, mac, confirmed) })
	rt.OnPMTU(func(dst netip.Addr, mtu int) { h.sharePMTU(core, dst, mtu) })
	loop.AddRx(h.port, q, s.Input)
	if exc != nil {
		// Polled in the same turn as the port, after it; what the
		// capture tap sees of it, it sees where it crosses the port.
		s.exc = exc
		loop.AddRx(h.cfg.Exception.Port, q, s.fromKernel)
		loop.HideFromTap(h.cfg.Exception.Port)
	}
	h.stacks = append(h.stacks, s)
	return nil
}

// shareNeighbour hands what one core's ARP learnt to the other cores, each
// applying it on its own loop: every core keeps a replica of the neighbour
// table (control-plane traffic, rare, so a posted closure is fine).
func (h *Host) shareNeighbour(from int, addr netip.Addr, mac header.MAC, confirmed bool) {
	for _, s := range h.stacks {
		if s.core == from {
			continue
		}
		s.loop.Post(func() {
			nt := s.routes.Neighbours()
			// Refresh entries the core has; create one only for a
			// confirmation, which answers a resolution in progress
			// somewhere on the host.
			if confirmed || nt.Lookup(addr) != nil {
				nt.Update(s.dev, addr, mac, confirmed)
			}
		})
	}
}

// sharePMTU gives a path MTU that one core learnt to the other cores,
// each applying Linux's rules to it on its own loop (route.Table.LearnPMTU):
// the ICMP error that reports it reaches one core, and every core sends to
// that destination.
func (h *Host) sharePMTU(from int, dst netip.Addr, mtu int) {
	for _, s := range h.stacks {
		if s.core != from {
			s.loop.Post(func() { s.routes.LearnPMTU(dst, mtu) })
		}
	}
}

// Opened returns when Open built the host: its counters count from then,
// and no other host opened at the same instant, so it also tells one run
// of a stack from the next.
func (h *Host) Opened() time.Time { return h.opened }

// shared reports whether the host's loops are the caller's (Config.Loops).
func (h *Host) shared() bool { return len(h.cfg.Loops) > 0 }

// Start runs every core's loop (shared loops must be running already) and
// announces the address with a gratuitous ARP.
func (h *Host) Start() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.running != nil {
		return errors.New("stack: host already started")
	}
	h.running = []<-chan error{}
	for i, s := range h.stacks {
		if h.shared() {
			if !s.loop.Running() {
				h.running = nil
				return fmt.Errorf("stack: core %d: shared loop not running: %w", i, syscall.EINVAL)
			}
			continue
		}
		if len(h.cfg.Lcores) > 0 {
			h.running = append(h.running, s.loop.RunOnLcore(h.cfg.Lcores[i]))
			continue
		}
		// Without lcores the loop is a plain goroutine, not locked to a
		// thread: when it wakes an application goroutine (a blocking
		// Read), the runtime can run that goroutine on the loop's own P
		// at the loop's next yield, where a locked loop would need an
		// OS thread switch for each. Nothing of the loop's is tied to a
		// thread: Go's threads are not EAL lcores, so DPDK gives them no
		// per-lcore mempool cache (the one thread that has an lcore id,
		// the EAL's main thread, runs one goroutine at a time), and the
		// port's queues and the stack are used by this goroutine alone.
		// Measured with make perf on 2 cores: blocking round trip p50
		// 101 µs -> 35 µs, conn/s 4463 -> 8681.
		done := make(chan error, 1)
		go func() {
			s.loop.Run()
			done <- nil
		}()
		h.running = append(h.running, done)
	}
	h.stacks[0].loop.Post(h.stacks[0].ip.SendGratuitousARP)
	return nil
}

// Do runs fn on the core's loop and waits for it; while the loop does not
// run (before Start, after Stop) it runs fn on the calling goroutine.
func (h *Host) Do(core int, fn func(s *Stack)) error { return h.DoWithin(0, core, fn) }

// DoWithin is Do with a bound d on the wait (none when d is 0): when the
// core has not run fn within d (its loop is stuck, or too busy), it
// returns an error that matches syscall.ETIMEDOUT, and fn still runs when
// the loop gets to it, so it must then write nothing the caller reads.
func (h *Host) DoWithin(d time.Duration, core int, fn func(s *Stack)) error {
	s := h.stacks[core]
	h.mu.Lock()
	running := h.running != nil || s.loop.Running() // a shared loop may run before Start
	h.mu.Unlock()
	if !running {
		fn(s)
		s.loop.Flush()
		return nil
	}
	done := make(chan struct{})
	if !s.loop.Post(func() { fn(s); close(done) }) {
		return fmt.Errorf("stack: core %d work queue full: %w", core, syscall.EAGAIN)
	}
	if d == 0 {
		<-done
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-done:
		return nil
	case <-t.C:
		return fmt.Errorf("stack: core %d did not answer within %v: %w", core, d, syscall.ETIMEDOUT)
	}
}

// Stop stops the loops; the port keeps its queues.
func (h *Host) Stop() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.running == nil {
		return nil
	}
	var errs []error
	for i, s := range h.stacks {
		if h.shared() {
			continue // the caller's to stop
		}
		s.loop.Stop()
		if err := <-h.running[i]; err != nil {
			errs = append(errs, fmt.Errorf("stack: core %d: %w", i, err))
		}
	}
	h.running = nil
	return errors.Join(errs...)
}

// Close stops the loops and the port, frees every mbuf the host holds,
// closes the port (and the exception port) and frees the pool.
func (h *Host) Close() error {
	if h.closed {
		return nil
	}
	for i, s := range h.stacks {
		if h.shared() && s.loop.Running() {
			return fmt.Errorf("stack: close with core %d's shared loop still running: %w", i, syscall.EBUSY)
		}
	}
	h.closed = true
	errs := []error{h.Stop()}
	// What the queues sent and the driver still holds comes back before
	// the port stops, after which its bursts do nothing.
	for q := range h.stacks {
		h.port.TxReclaim(uint16(q))
	}
	if err := h.port.Stop(); err != nil {
		errs = append(errs, err)
	}
	if x := h.cfg.Exception; x != nil && x.Port != nil {
		if err := x.Port.Stop(); err != nil {
			errs = append(errs, err)
		}
	}
	for _, s := range h.stacks {
		s.loop.DrainInbox() // handed over after the owner's last turn
		if !h.shared() {
			s.loop.Close()
		}
	}
	for _, s := range h.stacks {
		// Every TCP socket, request and TIME-WAIT socket lets go of its
		// packets (nothing is sent: the port is stopped).
		s.tcp.Close()
		s.udp.Close()
		s.flushNeighbours()
		s.ip.FlushFragments()
	}
	for _, t := range h.excTx {
		t.Drain()
	}
	for i, t := range h.tx {
		t.Drain()
		h.stacks[i].dev.Cache.Drain()
	}
	errs = append(errs, h.port.Close())
	if x := h.cfg.Exception; x != nil && x.Port != nil {
		errs = append(errs, x.Port.Close())
	}
	if !h.ownPool {
		return errors.Join(errs...) // the caller's pool: the caller checks it
	}
	if n := h.pool.InUse() - h.rxKept; n != 0 {
		kept := ""
		if h.rxKept > 0 {
			kept = fmt.Sprintf(" besides the %d the driver keeps", h.rxKept)
		}
		errs = append(errs, fmt.Errorf("stack: %d mbufs still in use at close%s", n, kept))
	} else {
		h.pool.Close()
	}
	return errors.Join(errs...)
}

// Cores is how many cores the host runs on.
func (h *Host) Cores() int { return len(h.stacks) }

// Loop is the poll loop of the core.
func (h *Host) Loop(core int) *lcore.Loop { return h.stacks[core].loop }

// OnCore is Do for callers that need no Stack: it runs fn on the core and
// waits for it.
func (h *Host) OnCore(core int, fn func()) error {
	return h.Do(core, func(*Stack) { fn() })
}

// Socket creates a socket on the core (Stack.Socket). It runs on the core.
func (h *Host) Socket(core, family, typ, protocol int) (sock.ProtoOps, error) {
	return h.stacks[core].Socket(family, typ, protocol)
}

// Stacks are the per-core stacks.
func (h *Host) Stacks() []*Stack { return h.stacks }

// Port is the host's port.
func (h *Host) Port() *dpdk.Port { return h.port }

// Pool is the host's mbuf pool.
func (h *Host) Pool() *mbuf.Pool { return h.pool }

// MAC is the port's address.
func (h *Host) MAC() header.MAC { return h.mac }

// Addr is the host's first address and its subnet.
func (h *Host) Addr() netip.Prefix { return h.cfg.Addr }

// VLAN is the host's 802.1Q VLAN ID, 0 for none (Config.VLAN).
func (h *Host) VLAN() uint16 { return h.cfg.VLAN }

// Addrs are all the host's addresses with their subnets, the first one
// first (Config.Addr, then Config.Addrs).
func (h *Host) Addrs() []netip.Prefix { return h.cfg.allAddrs() }

// allAddrs is Addr, then Addrs.
func (c *Config) allAddrs() []netip.Prefix { return append([]netip.Prefix{c.Addr}, c.Addrs...) }

// NextCore returns the core for the next connection the host opens:
// round-robin over the cores, so that active opens spread over them as
// passive ones do. Any core can open a connection: its replies come back
// to it by RSS or by handoff. It is safe from any goroutine.
func (h *Host) NextCore() int {
	return int((h.opens.Add(1) - 1) % uint32(len(h.stacks)))
}

// Flows is the host's flow directory: which core owns each connection. It
// is nil on a host of one core.
func (h *Host) Flows() *tcp.FlowTable { return h.flows }

// Steering is the prediction of the port's RSS queue choice that active
// opens use, or nil when the port's choice is not predictable (one core,
// net_tap, net_ring).
func (h *Host) Steering() *rss.Steering { return h.steer }

// DriverRxMbufs is how many mbufs of the pool the port's driver took for
// its receive rings when the host set it up, and how many of them it
// keeps after the port is closed (dpdk.DevInfo.KeepsRxMbufs).
func (h *Host) DriverRxMbufs() (held, kept int) { return h.rxHeld, h.rxKept }

// Offloads are what the port accepted of the offloads the host asked for.
func (h *Host) Offloads() dpdk.Configured { return h.offloads }

// randomMAC returns a random unicast, locally administered address.
func randomMAC() header.MAC {
	var m header.MAC
	rand.Read(m[:])
	m[0] = m[0]&^0x01 | 0x02
	return m
}
