package tcp

import (
	"math/rand/v2"
	"net/netip"
	"time"

	"github.com/dpstack/dpstack/ktime"
	"github.com/dpstack/dpstack/mbuf"
	"github.com/dpstack/dpstack/stack/header"
	"github.com/dpstack/dpstack/stack/ipv4"
	"github.com/dpstack/dpstack/stack/netdev"
	"github.com/dpstack/dpstack/stack/route"
	"github.com/dpstack/dpstack/stack/sock"
	"github.com/dpstack/dpstack/stat"
)

// Defaults of Config.
const (
	// DefaultTimeWait is how long a connection stays in TIME-WAIT: 2 MSL
	// (RFC 9293 §3.4.2) with Linux's TCP_TIMEWAIT_LEN of 60 s.
	DefaultTimeWait = 60 * time.Second
	// DefaultFinTimeout is how long an orphaned connection waits in
	// FIN-WAIT-2 for the peer's FIN (net.ipv4.tcp_fin_timeout).
	DefaultFinTimeout = 60 * time.Second
	// DefaultMaxTimewait bounds the TIME-WAIT sockets of one core
	// (net.ipv4.tcp_max_tw_buckets); beyond it a connection closes without
	// TIME-WAIT.
	DefaultMaxTimewait = 32768
	// DefaultMaxOrphans bounds the orphans of one core
	// (net.ipv4.tcp_max_orphans): sockets closed by the user that are
	// still finishing their connection.
	DefaultMaxOrphans = 4096
	// SoMaxConn caps a listener's backlog (net.core.somaxconn).
	SoMaxConn = 4096
	// DefaultRmemMax is how far receive-buffer autotuning may grow a
	// socket's buffer (net.ipv4.tcp_rmem[2], Linux's 6 MiB), in truesize
	// bytes: a window of half of it.
	DefaultRmemMax = 6 << 20
	// MaxRmemMax is the largest Config.RmemMax: a window of half of it
	// is what the Window field expresses with the largest shift, 14
	// (RFC 7323 §2.3).
	MaxRmemMax = 1 << 30
)

// Config sets up a core's TCP.
type Config struct {
	// IP is the core's IPv4 layer: segments go out through it.
	IP *ipv4.Layer
	// Routes is the core's routing table.
	Routes *route.Table
	// Dev is the core's device: its mbuf cache, offloads and drop counters.
	Dev *netdev.Device
	// Wheel is the core's timer wheel.
	Wheel *ktime.Wheel
	// Clock is the core's time, read in place: the stack passes its
	// loop's turn time (lcore.Loop.Clock). Without it Now is called.
	Clock *ktime.Time
	// Now is the core's clock when there is no Clock; nil means
	// ktime.Now. Tests pass a manual clock.
	Now func() ktime.Time
	// TimeWait is the TIME-WAIT duration, 2 MSL; 0 means DefaultTimeWait.
	TimeWait time.Duration
	// FinTimeout is the FIN-WAIT-2 timeout of orphaned connections; 0
	// means DefaultFinTimeout.
	FinTimeout time.Duration
	// MaxTimewait bounds the TIME-WAIT sockets; 0 means
	// DefaultMaxTimewait.
	MaxTimewait int
	// MaxOrphans bounds the orphans; 0 means DefaultMaxOrphans. A
	// connection closed beyond it, or while the sockets hold their
	// memory limit, is reset instead of finishing (tcp_check_oom).
	MaxOrphans int
	// Mem bounds what the core's sockets hold in their queues together
	// (net.ipv4.tcp_mem, in truesize bytes); the zero value: no bound.
	// The host sets it from its mbuf pool, keeping a reserve for the
	// receive path.
	Mem sock.MemLimits
	// Congestion is the congestion control of new sockets
	// (net.ipv4.tcp_congestion_control); "" means sock.DefaultCongestion.
	// It must be a registered name (sock.CongestionRegistered).
	Congestion string
	// ModerateRcvbuf turns receive-buffer autotuning on
	// (net.ipv4.tcp_moderate_rcvbuf; rcvbuf.go): a socket whose user did
	// not set SO_RCVBUF grows its buffer, and the window it offers, to
	// what its reader takes in a round trip, up to RmemMax.
	ModerateRcvbuf bool
	// RmemMax bounds autotuning's growth of each socket's receive buffer
	// (net.ipv4.tcp_rmem[2]), in truesize bytes, up to MaxRmemMax; 0
	// means DefaultRmemMax. With ModerateRcvbuf the window scale offered
	// on a SYN is chosen to express half of it.
	RmemMax int
	// GRO takes the in-order segments of one connection in an rx burst
	// (BurstStart, BurstEnd) as a group, with one ACK step and one ACK,
	// as Linux's GRO gives (gro.go).
	GRO bool

	// Flows is the host's flow directory, shared by its cores: every
	// connection this core has is recorded there as its own, and a
	// segment that finds no connection here is handed to the core the
	// directory names. nil (a host of one core) disables both.
	Flows *FlowTable
	// Core is this core's index in Flows.
	Core int
	// Handoff gives b, a segment of a connection that core owns, to that
	// core: b's data starts at its IPv4 header. On true the other core
	// owns b; on false the segment is dropped (stat.DropHandoffFull).
	// Required with Flows.
	Handoff func(b *mbuf.Buf, core int) bool
	// ReplyHere, when set, reports whether the port steers the segments
	// from remote to local to this core (RSS). An active open then picks
	// a local port for which it does (ARCHITECTURE.md §3), so that its segments
	// need no handoff. nil when the steering cannot be predicted.
	ReplyHere func(local, remote netip.AddrPort) bool
	// Unclaimed, when set, is offered each segment that no connection,
	// request, TIME-WAIT socket or listener of the host claims, before
	// the RST that would answer it (RFC 9293 §3.10.7.1); b's data starts
	// at the TCP header. On true it took b and no RST goes out: the host's
	// kernel exception path takes it (stack.ExceptionPolicy.Auto).
	Unclaimed func(b *mbuf.Buf) bool
}

// Stats are a core's TCP counters, named after Linux's SNMP MIB (Tcp:) and
// its extensions (TcpExt:) in snake_case. Drops are also counted by reason
// on the device (netdev.Device.Drops).
type Stats struct {
	ActiveOpens  stat.Counter `stat:"tcp_active_opens"`   // CLOSED -> SYN-SENT
	PassiveOpens stat.Counter `stat:"tcp_passive_opens"`  // LISTEN -> SYN-RECEIVED (a request)
	AttemptFails stat.Counter `stat:"tcp_attempt_fails"`  // SYN-SENT/SYN-RECEIVED -> CLOSED
	EstabResets  stat.Counter `stat:"tcp_estab_resets"`   // ESTABLISHED/CLOSE-WAIT -> CLOSED by a RST
	InSegs       stat.Counter `stat:"tcp_in_segs"`        // segments received
	OutSegs      stat.Counter `stat:"tcp_out_segs"`       // segments sent, retransmissions included (as Linux counts)
	RetransSegs  stat.Counter `stat:"tcp_retrans_segs"`   // segments retransmitted
	InErrs       stat.Counter `stat:"tcp_in_errs"`        // malformed segments
	OutRsts      stat.Counter `stat:"tcp_out_rsts"`       // RSTs sent
	InCsumErrors stat.Counter `stat:"tcp_in_csum_errors"` // bad checksums

	// Handoffs counts the segments this core received for a connection
	// of another core and handed over (Config.Handoff). Such a segment is
	// counted in InSegs by the core that received it, not again by the
	// owner; IPv4's counters count it on both, as both parse it.
	Handoffs stat.Counter `stat:"tcp_handoffs"`

	DelayedACKs       stat.Counter `stat:"tcp_delayed_acks"`        // ACKs sent by the delayed-ACK timer
	HPHits            stat.Counter `stat:"tcp_hp_hits"`             // data segments taken by header prediction (fastRcv)
	HPAcks            stat.Counter `stat:"tcp_hp_acks"`             // pure ACKs taken by header prediction (fastRcv)
	ListenOverflows   stat.Counter `stat:"tcp_listen_overflows"`    // handshakes or SYNs refused: accept queue full
	ListenDrops       stat.Counter `stat:"tcp_listen_drops"`        // SYNs dropped by a listener
	Timeouts          stat.Counter `stat:"tcp_timeouts"`            // retransmission timeouts
	SynRetrans        stat.Counter `stat:"tcp_syn_retrans"`         // SYN and SYN-ACK retransmissions
	ChallengeACKs     stat.Counter `stat:"tcp_challenge_acks"`      // RFC 5961 challenge ACKs sent
	OOWRateLimited    stat.Counter `stat:"tcp_ack_skipped"`         // challenge and out-of-window ACKs suppressed by the rate limit
	PAWSRejected      stat.Counter `stat:"tcp_paws_rejected"`       // segments failing PAWS (RFC 7323 §5)
	OFOQueue          stat.Counter `stat:"tcp_ofo_queue"`           // segments put on an out-of-order queue
	OFODrop           stat.Counter `stat:"tcp_ofo_drop"`            // out-of-order segments dropped for memory
	OFOPruned         stat.Counter `stat:"tcp_ofo_pruned"`          // out-of-order segments pruned to make room
	RcvCoalesce       stat.Counter `stat:"tcp_rcv_coalesce"`        // small segments copied onto the previous one
	RcvCollapsed      stat.Counter `stat:"tcp_rcv_collapsed"`       // receive queues packed into fewer buffers
	RcvBufGrown       stat.Counter `stat:"tcp_rcvbuf_grown"`        // receive buffers grown by autotuning (rcvbuf.go)
	DSACKSent         stat.Counter `stat:"tcp_dsack_sent"`          // D-SACK blocks generated (RFC 2883)
	DupACKs           stat.Counter `stat:"tcp_dup_acks"`            // duplicate ACKs received (RFC 5681 §2)
	FastRetransmits   stat.Counter `stat:"tcp_fast_retransmits"`    // segments retransmitted in fast recovery (RFC 5681 §3.2, RFC 6582)
	Recoveries        stat.Counter `stat:"tcp_recoveries"`          // fast recoveries entered on the third duplicate ACK
	PartialAcks       stat.Counter `stat:"tcp_partial_acks"`        // partial ACKs in fast recovery (RFC 6582 §3.2 step 5)
	SACKRecoveries    stat.Counter `stat:"tcp_sack_recoveries"`     // loss recoveries driven by SACK (RFC 6675 §5)
	SACKRetransmits   stat.Counter `stat:"tcp_sack_retransmits"`    // segments retransmitted in SACK recovery (RFC 6675 NextSeg)
	SACKBlocksIgnored stat.Counter `stat:"tcp_sack_blocks_ignored"` // received SACK blocks below SND.UNA, beyond SND.NXT or empty
	DSACKsReceived    stat.Counter `stat:"tcp_dsacks_received"`     // received D-SACK blocks (RFC 2883)
	LimitedTransmits  stat.Counter `stat:"tcp_limited_transmits"`   // new segments sent on the first two duplicate ACKs (RFC 3042)
	RACKLosses        stat.Counter `stat:"tcp_rack_losses"`         // segments RACK marked lost (RFC 8985 §6.2)
	RACKReoTimeouts   stat.Counter `stat:"tcp_rack_reo_timeouts"`   // RACK reordering timer expirations (RFC 8985 §6.3)
	TLPProbes         stat.Counter `stat:"tcp_tlp_probes"`          // tail loss probes sent (RFC 8985 §7.3)
	TLPRecoveries     stat.Counter `stat:"tcp_tlp_recoveries"`      // tail losses a probe repaired without an RTO (RFC 8985 §7.4)
	AbortOnData       stat.Counter `stat:"tcp_abort_on_data"`       // resets: data after close
	AbortOnClose      stat.Counter `stat:"tcp_abort_on_close"`      // resets: closed with unread data
	AbortOnLinger     stat.Counter `stat:"tcp_abort_on_linger"`     // resets: SO_LINGER 0, or the FIN-WAIT-2 timeout
	AbortOnTimeout    stat.Counter `stat:"tcp_abort_on_timeout"`    // connections given up: retransmissions, probes, user timeout
	AbortOnMemory     stat.Counter `stat:"tcp_abort_on_memory"`     // orphans reset: too many, or the sockets at their memory limit
	TimeWaitReused    stat.Counter `stat:"tcp_tw_reused"`           // TIME-WAIT sockets replaced by a new SYN
	TimeWaitOverflow  stat.Counter `stat:"tcp_tw_overflow"`         // connections closed without TIME-WAIT: table full
	WindowProbes      stat.Counter `stat:"tcp_window_probes"`       // zero-window probes sent
	KeepAliveProbes   stat.Counter `stat:"tcp_keepalive_probes"`    // keepalive probes sent
	FinWait2Timeouts  stat.Counter `stat:"tcp_fin_wait2_timeouts"`  // orphans dropped in FIN-WAIT-2
	NoMbuf            stat.Counter `stat:"tcp_no_mbuf"`             // segments not sent for want of an mbuf
	SplicedSegs       stat.Counter `stat:"tcp_spliced_segs"`        // received segments moved to another socket's send queue without a copy (Splice)
	SynQueueOverflows stat.Counter `stat:"tcp_syn_queue_overflows"` // SYNs dropped: SYN queue full
	SynCookiesSent    stat.Counter `stat:"tcp_syncookies_sent"`     // SYN-ACKs carrying a SYN cookie (RFC 4987 §3.6)
	SynCookiesRecv    stat.Counter `stat:"tcp_syncookies_recv"`     // valid SYN cookies: connections made from them
	SynCookiesFailed  stat.Counter `stat:"tcp_syncookies_failed"`   // ACKs to a listener under SYN flood whose cookie failed

	// ICMP errors and path MTU (err.go, mtu.go).
	ICMPErrors         stat.Counter `stat:"tcp_icmp_errors"`         // ICMP errors taken by a connection or request (not Fragmentation Needed)
	OutOfWindowICMPs   stat.Counter `stat:"tcp_out_of_window_icmps"` // ICMP errors quoting a sequence number outside SND.UNA..SND.NXT (RFC 5927 §4.1)
	PMTUReductions     stat.Counter `stat:"tcp_pmtu_reductions"`     // send MSS lowered by a Fragmentation Needed, in-flight data resent
	MTUProbeBlackHoles stat.Counter `stat:"tcp_mtup_black_holes"`    // send MSS lowered by black hole detection (RFC 4821)
	MTUProbes          stat.Counter `stat:"tcp_mtup_probes"`         // MTU probes sent (RFC 4821 §7.3)
	MTUProbeSuccesses  stat.Counter `stat:"tcp_mtup_success"`        // probes acknowledged: the MSS grew
	MTUProbeFailures   stat.Counter `stat:"tcp_mtup_fail"`           // probes lost: the search's upper bound fell

	// TCP segmentation offload (tso.go).
	TSOSegs   stat.Counter `stat:"tcp_tso_segs"`   // large segments handed to the port to cut
	TSOPieces stat.Counter `stat:"tcp_tso_pieces"` // the MSS-sized segments they were cut into

	// Large receive offload (lro.go).
	LROPackets stat.Counter `stat:"tcp_lro_packets"` // packets the port merged from several segments
	LROSegs    stat.Counter `stat:"tcp_lro_segs"`    // the segments they were merged from

	// Receive offload (gro.go).
	GROGroups stat.Counter `stat:"tcp_gro_groups"` // groups of two or more segments taken as one
	GROMerged stat.Counter `stat:"tcp_gro_merged"` // the segments in them

	// SRTTAtClose is the smoothed RTT of each connection when it is
	// destroyed (those that measured one): the connections' RTTs, as a
	// distribution.
	SRTTAtClose stat.Histogram `stat:"tcp_close_srtt"`
}

// fourTuple identifies a connection from this host's side: local and
// remote address (as big-endian uint32 values) and ports.
type fourTuple struct {
	laddr, raddr uint32
	lport, rport uint16
}

// Proto is one core's TCP: its tables, its secrets, its port allocator,
// its counters. It is created by the stack for each core and registered
// with IPv4 as protocol 6. Everything in it belongs to that core.
type Proto struct {
	ip    *ipv4.Layer
	rt    *route.Table
	dev   *netdev.Device
	wheel *ktime.Wheel
	clock *ktime.Time       // Config.Clock, or nil
	nowFn func() ktime.Time // Config.Now, when there is no clock

	timeWait    time.Duration
	finTimeout  time.Duration
	maxTimewait int
	maxOrphans  int
	orphans     orphanQueue // sockets the user closed, not yet destroyed

	est       map[fourTuple]*Sock         // synchronized connections and SYN-SENT
	lastEst   *Sock                       // the socket est last gave Input (lookupEst)
	reqs      map[fourTuple]*RequestSock  // the SYN queues of every listener
	tw        map[fourTuple]*TimewaitSock // TIME-WAIT
	listeners map[uint16][]*Sock          // by local port
	binds     map[uint16]*bindBucket      // every bound port
	all       map[*Sock]struct{}          // every socket not yet destroyed

	isnKey  sipKey
	tsKey   sipKey
	portKey sipKey
	rng     *rand.Rand
	perturb [portTableSize]uint16
	isnHook func(fourTuple) uint32

	cookieKey [2]sipKey // SYN cookies (syncookie.go): the 4-tuple hash, the per-period hash

	seg         segment  // the segment being processed
	train       groTrain // the group being received (gro.go)
	gro         bool     // Config.GRO
	inBurst     bool     // between BurstStart and BurstEnd, with GRO
	txh         txHeader // the header being built
	sackScratch [header.TCPMaxSACKBlocks]header.SACKBlock
	fl          route.Flow4     // scratch for route lookups
	freeFn      func(*mbuf.Buf) // p.free, made once
	truesize    int             // sock.Truesize of a fresh mbuf, once known
	pending     []*Sock         // sockets with events to deliver
	ackLater    []*Sock         // sockets whose ACK waits for the end of the turn (deferAck)
	released    []*Sock         // sockets destroyed this turn after Release: free at its end
	freeSocks   []*Sock         // zeroed sockets for NewSock (a slab cache), at most maxFreeSocks
	flushing    bool

	flows      *FlowTable                              // the host's flow directory; nil on one core
	core       int                                     // this core's index in flows
	handoff    func(b *mbuf.Buf, core int) bool        // Config.Handoff
	replyHere  func(local, remote netip.AddrPort) bool // Config.ReplyHere
	handedIn   bool                                    // Input gets segments another core handed over
	congestion string                                  // Config.Congestion
	moderate   bool                                    // Config.ModerateRcvbuf
	rmemMax    int                                     // Config.RmemMax

	mem   sock.Mem // what the sockets' queues hold, against Config.Mem
	stats Stats

	// txRoom is the most data one write-queue mbuf holds: the pool's data
	// room less the headroom the headers are pushed into.
	txRoom int

	// unclaimed is Config.Unclaimed (cold: after the fields of the
	// established path)
	unclaimed func(b *mbuf.Buf) bool
}

// New returns a core's TCP. The caller registers p.Input with IPv4 for
// protocol 6.
func New(cfg Config) *Proto {
	p := &Proto{
		ip:          cfg.IP,
		rt:          cfg.Routes,
		dev:         cfg.Dev,
		wheel:       cfg.Wheel,
		clock:       cfg.Clock,
		nowFn:       cfg.Now,
		timeWait:    cfg.TimeWait,
		finTimeout:  cfg.FinTimeout,
		maxTimewait: cfg.MaxTimewait,
		maxOrphans:  cfg.MaxOrphans,
		flows:       cfg.Flows,
		core:        cfg.Core,
		handoff:     cfg.Handoff,
		replyHere:   cfg.ReplyHere,
		unclaimed:   cfg.Unclaimed,
		congestion:  cfg.Congestion,
		moderate:    cfg.ModerateRcvbuf,
		rmemMax:     cfg.RmemMax,
		gro:         cfg.GRO,
		mem:         sock.Mem{Limits: cfg.Mem},
		txRoom:      cfg.Dev.Cache.Pool().DataRoom() - mbuf.DefaultHeadroom,
		est:         make(map[fourTuple]*Sock),
		reqs:        make(map[fourTuple]*RequestSock),
		tw:          make(map[fourTuple]*TimewaitSock),
		listeners:   make(map[uint16][]*Sock),
		binds:       make(map[uint16]*bindBucket),
		all:         make(map[*Sock]struct{}),
		isnKey:      newSipKey(),
		tsKey:       newSipKey(),
		portKey:     newSipKey(),
		cookieKey:   [2]sipKey{newSipKey(), newSipKey()},
		pending:     make([]*Sock, 0, 64),
		ackLater:    make([]*Sock, 0, 64),
	}
	p.freeFn = p.free
	seed := newSipKey()
	p.rng = rand.New(rand.NewPCG(seed.k0, seed.k1))
	if p.nowFn == nil {
		p.nowFn = ktime.Now
	}
	if p.timeWait <= 0 {
		p.timeWait = DefaultTimeWait
	}
	if p.finTimeout <= 0 {
		p.finTimeout = DefaultFinTimeout
	}
	if p.maxTimewait <= 0 {
		p.maxTimewait = DefaultMaxTimewait
	}
	if p.maxOrphans <= 0 {
		p.maxOrphans = DefaultMaxOrphans
	}
	if p.rmemMax <= 0 {
		p.rmemMax = DefaultRmemMax
	}
	p.rmemMax = min(p.rmemMax, MaxRmemMax)
	if p.flows != nil && p.handoff == nil {
		panic("tcp: Config.Flows without Config.Handoff")
	}
	return p
}

// Stats returns the counters.
func (p *Proto) Stats() *Stats { return &p.stats }

// Mem is the core's account of what its sockets' queues hold.
func (p *Proto) Mem() *sock.Mem { return &p.mem }

// Census is a count of a core's connections (/proc/net/sockstat,
// ss -s).
type Census struct {
	// States counts the sockets by state; TIME-WAIT is in TimeWait.
	States [sock.NumStates]int
	// Orphans are sockets the user has closed that are still finishing
	// their connection.
	Orphans int
	// TimeWait are the connections in TIME-WAIT.
	TimeWait int
	// Requests are the handshakes in the listeners' SYN queues.
	Requests int
}

// Census counts the core's connections. It walks every socket: call it on
// the core, for reports, not for the data path.
func (p *Proto) Census() Census {
	c := Census{TimeWait: len(p.tw), Requests: len(p.reqs), Orphans: p.orphans.n}
	for s := range p.all {
		c.States[s.Common.State]++
	}
	return c
}

// Orphans is how many sockets the user has closed that are still finishing
// their connection.
func (p *Proto) Orphans() int { return p.orphans.n }

// memExhausted reports whether an orphan should be reset rather than
// finish its connection (tcp_check_oom, tcp_out_of_resources): the
// sockets are at their memory limit, and a crowd of closing connections
// must not take the buffers the live ones and the receive path need.
func (p *Proto) memExhausted() bool { return !p.mem.Allows(max(p.truesize, 1)) }

// trimOrphans resets the oldest orphans while there are more than
// Config.MaxOrphans (tcp_max_orphans). Linux resets the socket being
// closed instead; the oldest is the one whose peer is likeliest gone, and
// the newest the likeliest to finish soon by itself.
func (p *Proto) trimOrphans() {
	for p.orphans.n > p.maxOrphans {
		p.stats.AbortOnMemory.Inc()
		p.orphans.first.abort()
	}
}

// orphanQueue is a core's orphans, oldest first, linked through the
// sockets themselves.
type orphanQueue struct {
	first, last *Sock
	n           int
}

func (q *orphanQueue) push(s *Sock) {
	s.orphanPrev, s.orphanNext = q.last, nil
	if q.last != nil {
		q.last.orphanNext = s
	} else {
		q.first = s
	}
	q.last = s
	q.n++
}

func (q *orphanQueue) remove(s *Sock) {
	if s.orphanPrev != nil {
		s.orphanPrev.orphanNext = s.orphanNext
	} else {
		q.first = s.orphanNext
	}
	if s.orphanNext != nil {
		s.orphanNext.orphanPrev = s.orphanPrev
	} else {
		q.last = s.orphanPrev
	}
	s.orphanPrev, s.orphanNext = nil, nil
	q.n--
}

// SetNow replaces the clock (Config.Clock or Now) with now. It is for tests that drive a
// manual clock; call it before any socket exists.
func (p *Proto) SetNow(now func() ktime.Time) { p.clock, p.nowFn = nil, now }

// now is the core's time.
func (p *Proto) now() ktime.Time {
	if p.clock != nil {
		return *p.clock
	}
	return p.nowFn()
}

// SetTimeWait sets the TIME-WAIT duration (2 MSL) of connections that
// enter TIME-WAIT from now on; d <= 0 restores DefaultTimeWait.
func (p *Proto) SetTimeWait(d time.Duration) {
	if d <= 0 {
		d = DefaultTimeWait
	}
	p.timeWait = d
}

// NewSock returns a CLOSED socket owned by this core, holding one
// reference for the caller, who gives it up with Close.
func (p *Proto) NewSock() *Sock {
	var s *Sock
	if n := len(p.freeSocks); n > 0 {
		s = p.freeSocks[n-1]
		p.freeSocks[n-1] = nil
		p.freeSocks = p.freeSocks[:n-1]
	} else {
		s = &Sock{}
	}
	s.init(p)
	if p.congestion != "" {
		s.Options.Congestion = p.congestion
	}
	p.all[s] = struct{}{}
	p.mem.AddSocket(1)
	return s
}

// StateOf reports the state of the connection between local and remote
// on this core, looking through the established table, the SYN queues and
// TIME-WAIT, and whether there is one. It is for tests and diagnostics.
func (p *Proto) StateOf(local, remote netip.AddrPort) (sock.State, bool) {
	t := fourTuple{header.AddrU32(local.Addr()), header.AddrU32(remote.Addr()), local.Port(), remote.Port()}
	if s := p.est[t]; s != nil {
		return s.Common.State, true
	}
	if p.reqs[t] != nil {
		return sock.SynRecv, true
	}
	if p.tw[t] != nil {
		return sock.TimeWait, true
	}
	return sock.Closed, false
}

// Counts reports how many connections the tables hold: established table
// entries (SYN-SENT to LAST-ACK), SYN queue entries, TIME-WAIT sockets and
// listeners. It is for tests and diagnostics.
func (p *Proto) Counts() (established, requests, timewait, listeners int) {
	for _, l := range p.listeners {
		listeners += len(l)
	}
	return len(p.est), len(p.reqs), len(p.tw), listeners
}

// Close tears every connection down without sending anything: it cancels
// every timer and frees every packet that sockets, requests and TIME-WAIT
// sockets hold, so that the pool's in-use count can be checked. The host
// calls it at shutdown, with the loop stopped. Sockets the API layer still
// holds are left closed and empty.
func (p *Proto) Close() {
	for s := range p.all {
		s.teardown()
	}
	for _, r := range p.reqs {
		p.wheel.Cancel(&r.timer)
	}
	for _, tw := range p.tw {
		p.wheel.Cancel(&tw.timer)
	}
	if p.flows != nil {
		for t := range p.est {
			p.flows.release(t, p.core)
		}
		for t := range p.reqs {
			p.flows.release(t, p.core)
		}
		for t := range p.tw {
			p.flows.release(t, p.core)
		}
	}
	clear(p.est)
	p.lastEst = nil
	p.train.s = nil
	clear(p.reqs)
	clear(p.tw)
	clear(p.listeners)
	clear(p.binds)
	clear(p.all)
	p.pending = p.pending[:0]
	clear(p.ackLater)
	p.ackLater = p.ackLater[:0]
	clear(p.released)
	p.released = p.released[:0]
	clear(p.freeSocks)
	p.freeSocks = p.freeSocks[:0]
}

// free releases b without counting a drop.
func (p *Proto) free(b *mbuf.Buf) { p.dev.Free(b) }

// drop counts a drop of b for reason r and frees it.
func (p *Proto) drop(b *mbuf.Buf, r stat.DropReason) { p.dev.Drop(b, r) }

// Input receives one segment from IPv4 (tcp_v4_rcv): b's data starts at
// the TCP header, ip is its IP header. It checks the header, the checksum,
// the flags and the options once, finds the connection, and hands the
// segment on: to a socket, a request, a TIME-WAIT socket, another core
// that owns the connection (the host's flow directory, before any
// listener: every core has a replica of each listener), a listener, or
// the CLOSED state's reset. Input owns b; every path frees it, keeps it or
// hands it over, and drops are counted by reason.
func (p *Proto) Input(b *mbuf.Buf, ip header.IPv4) {
	if !p.handedIn {
		p.stats.InSegs.Inc()
	}
	g := &p.seg
	if !p.parse(g, b, ip) {
		return
	}
	p.countLRO(g)
	s := p.lookupEst(g.tuple)
	if p.train.s != nil {
		if s == p.train.s && p.groJoin(g, ip) {
			return // events wait for the group's end
		}
		p.groFlush()
	}
	if s != nil {
		s.sendDeferredAck() // the previous segment's, before this one moves RCV.NXT
		if p.inBurst && p.groStart(s, g, ip) {
			return
		}
		s.doRcv(g)
	} else if r := p.reqs[g.tuple]; r != nil {
		p.requestRcv(r, g)
	} else if tw := p.tw[g.tuple]; tw != nil {
		p.timewaitRcv(tw, g)
	} else if p.flows != nil && p.handOff(g, ip) {
		// Another core's connection: that core has the segment now.
	} else if !p.rt.IsLocal(g.dst) {
		// A broadcast destination (IPv4 delivers those too): "A TCP
		// implementation MUST silently discard an incoming SYN segment
		// that is addressed to a broadcast or multicast address" (RFC
		// 1122 §4.2.3.10), and no RST answers one either.
		p.drop(g.b, stat.DropTCPNotUnicast)
	} else if l := p.lookupListener(g.tuple); l != nil {
		l.listenRcv(g, 0, false)
	} else if p.unclaimed == nil || !p.unclaimed(g.b) {
		p.closedRcv(g)
	}
	p.seg.b = nil
	p.flushEvents()
}

// lookupEst finds the socket of t in the established table. The socket
// found last is remembered and checked first: the segments of one rx
// burst mostly belong to a few flows, often to one, and comparing a tuple
// costs less than hashing it. A remembered socket counts only while it is
// still in the table under t (hashed; Sock.hash forgets it when another
// socket takes a tuple).
func (p *Proto) lookupEst(t fourTuple) *Sock {
	if s := p.lastEst; s != nil && s.hashed && s.tuple == t {
		return s
	}
	s := p.est[t]
	if s != nil {
		p.lastEst = s
	}
	return s
}

// handOff gives the segment to the core that owns its connection, when
// the flow directory names another core, and reports whether it did. The
// IP header, still in the headroom, is pushed back, so that the owner runs
// the packet through its own IPv4 input and nothing else has to travel
// with it. A segment that was handed over already is not handed on again
// (the directory changed meanwhile: this core answers it as its own). A
// full inbox on the owner drops the segment (stat.DropHandoffFull); the
// peer retransmits.
func (p *Proto) handOff(g *segment, ip header.IPv4) bool {
	b := g.b
	if !p.handTo(b, ip.HeaderLen(), g.tuple) {
		return false
	}
	g.b = nil
	return true
}

// handTo gives b, whose IP header of hdrLen bytes was pulled, to the core
// that owns the flow t when the directory names another core (a segment,
// or an ICMP error about the flow), and reports whether b left this core's hands: handed over,
// or dropped on the way.
func (p *Proto) handTo(b *mbuf.Buf, hdrLen int, t fourTuple) bool {
	if p.handedIn {
		return false
	}
	core := p.flows.owner(t)
	if core < 0 || core == p.core {
		return false
	}
	if b.Push(hdrLen) == nil {
		p.drop(b, stat.DropNoHeadroom) // cannot happen: IPv4 pulled it
		return true
	}
	if !p.handoff(b, core) {
		p.drop(b, stat.DropHandoffFull)
		return true
	}
	p.stats.Handoffs.Inc()
	return true
}

// SetHandedIn tells p whether the segments Input gets from now on were
// handed over by another core (the host sets it around its inbox): those
// are not counted in InSegs again, nor handed on.
func (p *Proto) SetHandedIn(on bool) { p.handedIn = on }

// wake records events for s, delivered by flushEvents once the processing
// that caused them is complete.
func (p *Proto) wake(s *Sock, ev uint8) {
	if s.Dead || s.Callbacks == nil {
		return
	}
	if s.events == 0 {
		p.pending = append(p.pending, s)
	}
	s.events |= ev
}

// maxEventRounds bounds the deliveries of one flush.
const maxEventRounds = 4096

// flushEvents delivers the pending events of every socket, through its
// callbacks. A callback may cause more events (a handler that sends or
// reads); they are delivered in the same flush, which is bounded.
func (p *Proto) flushEvents() {
	if p.flushing {
		return
	}
	p.flushing = true
	for i := 0; i < len(p.pending) && i < maxEventRounds; i++ {
		p.pending[i].deliverEvents()
	}
	for i, s := range p.pending {
		s.events = 0 // beyond the bound: dropped
		p.pending[i] = nil
	}
	p.pending = p.pending[:0]
	p.flushing = false
}

// maxFreeSocks bounds the free list of each core's Proto: 256 sockets,
// about 384 KiB, more than a turn's closed connections need to come back
// as the next turn's new ones.
const maxFreeSocks = 256

// TurnDone runs where the core's loop stages the turn's output
// (lcore.Loop.BeforeOutput), with no TCP processing under way: it sends
// the ACKs deferAck held back that no segment carried, and puts the
// sockets released for good and destroyed this turn on the free list,
// zeroed, for NewSock to reuse (Linux's tcp_sock slab cache; a turn is
// the grace period, after which nothing on the core refers to them).
func (p *Proto) TurnDone() {
	p.sendDeferredAcks()
	for i, s := range p.released {
		if len(p.freeSocks) < maxFreeSocks {
			s.killTimers() // nothing should be armed or queued; if so, undone
			s.purgeAll()
			*s = Sock{}
			p.freeSocks = append(p.freeSocks, s)
		}
		p.released[i] = nil
	}
	p.released = p.released[:0]
}
