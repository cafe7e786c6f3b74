package dpstack

import (
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dpstack/dpstack/faultwire"
	"github.com/dpstack/dpstack/ktime"
	"github.com/dpstack/dpstack/lcore"
	"github.com/dpstack/dpstack/mbuf"
	"github.com/dpstack/dpstack/stack"
	"github.com/dpstack/dpstack/stack/stacktest"
)

// Options set up a pair of hosts.
type Options struct {
	// Idle is the poll loops' idle policy (and the fault wire's).
	Idle lcore.IdlePolicy
	// Loss, when above 0, puts a fault wire between the hosts that drops
	// this share of the packets in each direction.
	Loss float64
	// Seed seeds the fault wire.
	Seed uint64
	// LoopEach gives each host a loop of its own, instead of one loop
	// polling both hosts' ports.
	LoopEach bool
	// MTU, when not 0, is both ports' MTU: 9000 is the large-segment
	// mode, jumbo frames in mbufs that hold one whole, as Linux loopback
	// carries segments far larger than Ethernet's (its MTU is 64 KiB).
	MTU int
	// ModerateRcvbuf turns TCP receive-buffer autotuning on in both hosts
	// (stack.Config.TCPModerateRcvbuf).
	ModerateRcvbuf bool
	// NoGRO turns receive offload off in both hosts (stack.Config.NoGRO).
	NoGRO bool
}

var (
	serverAddr = netip.MustParsePrefix("198.18.0.1/24")
	clientAddr = netip.MustParsePrefix("198.18.0.2/24")
)

// settle is how long a pair keeps running after the scenarios so that
// what is in flight arrives before the hosts close.
const settle = 100 * time.Millisecond

var pairSeq atomic.Int64

// pair is a server host and a client host, both on one core (one loop
// polls both ports, as the kernel's loopback runs both ends of a
// connection on the CPU that sends) or, with Options.LoopEach, on a core
// each, joined by a stacktest.Link: a ring pair that offers TCP checksum
// offload, or a fault wire, which offers none.
type pair struct {
	server, client *stack.Host
	loop           *lcore.Loop // the shared loop, or nil
	pool           *mbuf.Pool  // both hosts' mbufs

	link     *stacktest.Link // a direct ring pair or a lossy fault wire
	wirePool *mbuf.Pool      // the wire's copies, or nil
	wireStop atomic.Bool
	wireDone sync.WaitGroup
}

// newPair opens both hosts, starts their loops and, for a lossy pair, the
// goroutine that polls the wire.
func newPair(o Options) (p *pair, err error) {
	if err := StartEAL(); err != nil {
		return nil, err
	}
	name := fmt.Sprintf("perf%d", pairSeq.Add(1))
	p = &pair{}
	defer func() {
		if err != nil {
			err = errors.Join(err, p.close())
		}
	}()
	if o.Loss > 0 {
		p.wirePool, err = mbuf.NewPool(mbuf.PoolConfig{Name: name + "w_pool", Size: 4095, CacheSize: 256, Socket: -1, Ops: mbuf.OpsLockFree})
		if err != nil {
			return p, err
		}
		f := faultwire.Faults{Drop: o.Loss}
		p.link, err = stacktest.NewWire(name+"w", p.wirePool, f, f, int64(o.Seed))
	} else {
		// Two hosts joined directly, as a veth pair joins two namespaces:
		// TCP checksums are left to the link.
		p.link, err = stacktest.NewRings(name, true)
	}
	if err != nil {
		return p, err
	}
	portS, portC := p.link.Ports()
	// One pool for both hosts, as a DPDK application keeps one for its
	// ports: each host's cache then recycles the mbufs the other sent.
	p.pool, err = mbuf.NewPool(mbuf.PoolConfig{Name: name + "_pool", Size: poolSize(o.MTU), CacheSize: 256, Socket: -1, Ops: mbuf.OpsLockFree,
		DataRoom: stack.DataRoomFor(o.MTU)})
	if err != nil {
		return p, err
	}
	var loops []*lcore.Loop
	if !o.LoopEach {
		p.loop = lcore.NewLoop(lcore.Config{Idle: o.Idle, Shared: true})
		loops = []*lcore.Loop{p.loop}
	}
	p.server, err = stack.Open(stack.Config{Name: name + "s", Port: portS, Addr: serverAddr, Idle: o.Idle, Loops: loops, Pool: p.pool, MTU: o.MTU,
		TCPModerateRcvbuf: o.ModerateRcvbuf, NoGRO: o.NoGRO})
	if err != nil {
		return p, fmt.Errorf("server host: %w", err)
	}
	p.client, err = stack.Open(stack.Config{Name: name + "c", Port: portC, Addr: clientAddr, Idle: o.Idle, Loops: loops, Pool: p.pool, MTU: o.MTU,
		TCPModerateRcvbuf: o.ModerateRcvbuf, NoGRO: o.NoGRO})
	if err != nil {
		return p, fmt.Errorf("client host: %w", err)
	}
	if p.link.Wire != nil {
		p.wireDone.Go(func() { p.pollWire(o.Idle) })
	}
	if p.loop != nil {
		p.loop.Go()
	}
	if err := p.server.Start(); err != nil {
		return p, err
	}
	if err := p.client.Start(); err != nil {
		return p, err
	}
	return p, nil
}

// pollWire runs the fault wire on a goroutine of its own until close,
// idling as the hosts' loops do.
func (p *pair) pollWire(idle lcore.IdlePolicy) {
	idler := lcore.NewIdler(idle, true)
	defer idler.Close()
	for !p.wireStop.Load() {
		if idler.Idle(p.link.Wire.Poll(ktime.Now()) > 0) {
			// The wire holds packets back (its delay line), so it
			// sleeps in steps rather than until its ports ring.
			idler.Sleep(idler.Step())
		}
	}
}

// close lets what is in flight arrive, then closes the hosts (which checks
// that every mbuf came back) and the link.
func (p *pair) close() error {
	time.Sleep(settle)
	var errs []error
	for _, h := range []*stack.Host{p.server, p.client} {
		if h != nil {
			errs = append(errs, h.Stop())
		}
	}
	if p.loop != nil && p.loop.Running() {
		p.loop.Stop()
		p.loop.Close()
	}
	if p.link != nil && p.link.Wire != nil {
		p.wireStop.Store(true)
		p.wireDone.Wait()
	}
	for _, h := range []*stack.Host{p.server, p.client} {
		if h != nil {
			errs = append(errs, h.Close())
		}
	}
	if p.link != nil {
		errs = append(errs, p.link.Close())
	}
	for _, pool := range []*mbuf.Pool{p.pool, p.wirePool} {
		if pool == nil {
			continue
		}
		if n := pool.InUse(); n != 0 {
			errs = append(errs, fmt.Errorf("pool %s: %d mbufs still in use", pool.Name(), n))
		} else {
			pool.Close()
		}
	}
	return errors.Join(errs...)
}

// poolSize is the pair's pool in mbufs: 16383, or half as many of a
// jumbo data room, which fit the perf EAL's memory (each then holds
// six times the data).
func poolSize(mtu int) int {
	if mtu > 1500 {
		return 8191
	}
	return 16383
}
