package udp

import (
	"math/rand/v2"

	"github.com/dpstack/dpstack/mbuf"
	"github.com/dpstack/dpstack/stack/ipv4"
	"github.com/dpstack/dpstack/stack/netdev"
	"github.com/dpstack/dpstack/stack/route"
	"github.com/dpstack/dpstack/stack/sock"
	"github.com/dpstack/dpstack/stat"
)

// Config is what a Proto is built from.
type Config struct {
	IP     *ipv4.Layer
	Routes *route.Table
	Dev    *netdev.Device
	// Mem is the core's socket memory account, shared with TCP
	// (sk_prot->memory_allocated); nil: no limit.
	Mem *sock.Mem
	// Ports, Core and Handoff are set on a host of several cores: the
	// host-wide directory of bound ports, this core's index, and how a
	// datagram goes to another core's inbox (lcore.Loop.Handoff), which
	// reports false when that inbox is full.
	Ports   *Ports
	Core    int
	Handoff func(b *mbuf.Buf, core int) bool
	// Stamp gives a packet the core's receive time, as the loop stamps
	// what it receives (lcore.Loop.StampRx): the host's looped copies of
	// its multicast datagrams (mcLoopback); nil leaves them unstamped.
	Stamp func(b *mbuf.Buf)
	// Unclaimed, when set, is offered each datagram for a port that no
	// socket of the host has, before the port unreachable that would
	// answer it (RFC 1122 §4.1.3.1); b's data starts at the UDP header.
	// On true it took b and nothing answers: the host's kernel exception
	// path takes it (stack.ExceptionPolicy.Auto).
	Unclaimed func(b *mbuf.Buf) bool
}

// Stats are UDP's counters, named as Linux's /proc/net/snmp Udp: in
// snake_case. Drops are also counted by reason on the device.
type Stats struct {
	InDatagrams  stat.Counter `stat:"udp_in_datagrams"`   // datagrams queued on a socket
	NoPorts      stat.Counter `stat:"udp_no_ports"`       // datagrams for a port nobody has
	InErrors     stat.Counter `stat:"udp_in_errors"`      // bad length or checksum, or no room on the socket
	OutDatagrams stat.Counter `stat:"udp_out_datagrams"`  // datagrams sent
	RcvbufErrors stat.Counter `stat:"udp_rcvbuf_errors"`  // datagrams dropped: receive buffer full (also in udp_in_errors)
	SndbufErrors stat.Counter `stat:"udp_sndbuf_errors"`  // datagrams not sent for want of an mbuf
	InCsumErrors stat.Counter `stat:"udp_in_csum_errors"` // bad checksums (also in udp_in_errors)
	Handoffs     stat.Counter `stat:"udp_handoffs"`       // datagrams handed to the core that has their port
	ICMPErrors   stat.Counter `stat:"udp_icmp_errors"`    // ICMP errors reported to a connected socket
	IgnoredMulti stat.Counter `stat:"udp_ignored_multi"`  // multicast datagrams no socket's filter takes
}

// Proto is one core's UDP.
type Proto struct {
	ip      *ipv4.Layer
	rt      *route.Table
	dev     *netdev.Device
	mem     *sock.Mem
	ports   *Ports
	core    int
	handoff func(b *mbuf.Buf, core int) bool
	stamp   func(b *mbuf.Buf)
	// unclaimed is Config.Unclaimed
	unclaimed func(b *mbuf.Buf) bool

	// binds are the bound sockets by local port (udp_table's hslot).
	binds map[uint16]*bucket
	rng   *rand.Rand
	// seed keys the hash that picks a member of a SO_REUSEPORT group.
	seed uint32
	// handedIn: the datagrams Input sees came from another core, which
	// found no socket for them either (SetHandedIn).
	handedIn bool
	// fl is scratch for route lookups: a Flow4 kept here so that taking
	// its address allocates nothing.
	fl route.Flow4

	stats Stats
}

// New returns the core's UDP.
func New(cfg Config) *Proto {
	return &Proto{ip: cfg.IP, rt: cfg.Routes, dev: cfg.Dev, mem: cfg.Mem,
		ports: cfg.Ports, core: cfg.Core, handoff: cfg.Handoff, stamp: cfg.Stamp, unclaimed: cfg.Unclaimed,
		binds: make(map[uint16]*bucket),
		rng:   rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64())),
		seed:  rand.Uint32()}
}

// Stats returns the counters.
func (p *Proto) Stats() *Stats { return &p.stats }

// SetHandedIn says whether the datagrams Input is given next were handed
// over by another core: one of those that finds no socket here is
// answered with a port unreachable rather than handed on again.
func (p *Proto) SetHandedIn(on bool) { p.handedIn = on }

// NewSock returns a fresh socket of the core (udp_init_sock): unbound,
// with the default buffer sizes and the core's memory account.
func (p *Proto) NewSock() *Sock {
	s := &Sock{proto: p}
	s.Sock.Init()
	s.Mem = p.mem
	p.mem.AddSocket(1)
	return s
}

// Close frees what every socket of the core holds (at host shutdown).
func (p *Proto) Close() {
	for _, b := range p.binds {
		for _, s := range b.socks {
			s.PurgeQueues(p.dev.Free)
		}
	}
}

func (p *Proto) drop(b *mbuf.Buf, r stat.DropReason) { p.dev.Drop(b, r) }
