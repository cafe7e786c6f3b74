package ipv4

import (
	"net/netip"
	"time"

	"github.com/dpstack/dpstack/ktime"
	"github.com/dpstack/dpstack/mbuf"
	"github.com/dpstack/dpstack/stack/header"
	"github.com/dpstack/dpstack/stack/netdev"
	"github.com/dpstack/dpstack/stack/route"
	"github.com/dpstack/dpstack/stat"
)

// DefaultTTL is the Time to Live of the packets this layer originates
// itself (echo replies), and the value transports should pass to Output
// unless a socket option says otherwise: Linux's ip_default_ttl (RFC 1700
// recommends 64; RFC 1122 §3.2.1.7 asks for a configurable default).
const DefaultTTL = 64

// ProtocolHandler receives a packet for one transport protocol (Linux's
// net_protocol.handler). b's data starts at the transport header and ends
// at the IP Total Length (link padding trimmed); ip is the parsed IP
// header, a view into b's headroom that stays valid until the handler
// pushes a header onto b. A reassembled datagram is a chain of several
// segments, and ip then ends with the first (see the package doc). The
// handler owns b.
type ProtocolHandler func(b *mbuf.Buf, ip header.IPv4)

// Config is what a Layer is built from.
type Config struct {
	Dev    *netdev.Device
	Routes *route.Table
	// Clock is the core's time, read in place (the loop's turn clock).
	Clock *ktime.Time
	// Cores is how many cores share the host's ICMP error budget: each
	// core's global bucket refills Cores times slower. 0 means 1.
	Cores int
	// ICMPGlobalLimit and ICMPHostLimit bound the ICMP errors sent, for
	// the whole host and to each destination; zero means
	// DefaultICMPGlobalLimit and DefaultICMPHostLimit.
	ICMPGlobalLimit RateLimit
	ICMPHostLimit   RateLimit
	// AcceptSourceRoute lets datagrams with a Loose or Strict Source
	// Route option in (Linux's accept_source_route); by default they are
	// dropped (stat.DropIPSourceRoute).
	AcceptSourceRoute bool

	// Reassembly (reasm.go). Wheel is the core's timer wheel, for the
	// reassembly timeout, ReasmTimeout (0 means DefaultReasmTimeout). Core
	// is this core's index among Cores. With several cores, Handoff gives
	// a fragment to the core that reassembles its datagram
	// (lcore.Loop.Handoff), which runs it through its Input; it reports
	// false when that core's inbox is full. ReasmHighThresh
	// and ReasmLowThresh bound, in mbufs, what the core's reassembly
	// queues hold (Linux's ipfrag_high_thresh and ipfrag_low_thresh); zero
	// means the core's share of 1/ReasmPoolShare of the pool, and three
	// quarters of the high threshold.
	Wheel           *ktime.Wheel
	ReasmTimeout    time.Duration
	Core            int
	Handoff         func(b *mbuf.Buf, core int) bool
	ReasmHighThresh int
	ReasmLowThresh  int

	// MC is the host's multicast membership (mchost.go), shared by the
	// Layers of all its cores; the Layer of Core 0 speaks IGMP for it.
	// Nil gives the Layer a membership of its own.
	MC *MCHost
}

// Layer is one core's IPv4, ICMP and ARP layer for one device.
type Layer struct {
	dev    *netdev.Device
	rt     *route.Table
	clock  *ktime.Time
	learnt func(addr netip.Addr, mac header.MAC, confirmed bool)
	protos [256]ProtocolHandler

	// errHandlers are the transports' ICMP error handlers
	// (RegisterErrorHandler); icmpErr is the error handed to them.
	errHandlers [256]ErrorHandler
	icmpErr     ICMPError

	// ICMP error rate limits (SendError).
	globalLimit  RateLimit
	hostLimit    RateLimit
	globalBucket bucket
	hosts        hostLimiter

	// ipID is the next Identification for Output: a per-core counter.
	// Output sets DF, so the value only has to be unique enough for
	// duplicate detection (RFC 6864 §4.1: atomic datagrams).
	ipID uint16

	// IP options (options.go): whether source routes are accepted, the
	// wall clock less the turn's clock, in nanoseconds, for the Internet
	// Timestamp, and whether Input's packets come from another core,
	// which processed their options already (SetHandedIn).
	acceptSourceRoute bool
	realOffset        int64
	handedIn          bool
	// rxOpt describes the options of the datagram being delivered, and
	// optBuf is scratch for the options of an echo reply.
	rxOpt  rxOptions
	optBuf [header.IPv4MaxOptionsLen]byte

	// fl is scratch for route lookups on the data path: a Flow4 kept in
	// the Layer so that taking its address allocates nothing.
	fl route.Flow4

	reasm reasm

	// Multicast membership and IGMP (mchost.go, igmp.go).
	mc   *MCHost
	igmp igmpHost

	stats Stats
}

// Stats are the layer's counters, named as Linux's SNMP counters
// (/proc/net/snmp Ip:, Icmp:) in snake_case, plus ARP counts. Drops are
// also counted by reason on the device (netdev.Device.Drops).
type Stats struct {
	// IPv4 input (ip_rcv, ip_local_deliver).
	InReceives      stat.Counter `stat:"ip_in_receives"`       // every packet given to Input
	InHdrErrors     stat.Counter `stat:"ip_in_hdr_errors"`     // bad version, IHL, length, checksum, TTL 0, options
	InAddrErrors    stat.Counter `stat:"ip_in_addr_errors"`    // not ours, or a source that must not appear
	InUnknownProtos stat.Counter `stat:"ip_in_unknown_protos"` // no handler for the protocol
	InDelivers      stat.Counter `stat:"ip_in_delivers"`       // handed to a protocol handler

	// IPv4 options (ip_options_compile, ip_rcv_options, ip_options_echo,
	// ip_options_build).
	InBadOptions         stat.Counter `stat:"ip_in_bad_options"`         // malformed option lists (also in ip_in_hdr_errors), answered by a Parameter Problem
	InSourceRouteDrops   stat.Counter `stat:"ip_in_source_route_drops"`  // source-routed datagrams refused, or whose route goes on
	InRecordRoutes       stat.Counter `stat:"ip_in_record_routes"`       // our address written into a Record Route
	InTimestamps         stat.Counter `stat:"ip_in_timestamps"`          // our time written into a Timestamp
	InTimestampOverflows stat.Counter `stat:"ip_in_timestamp_overflows"` // full Timestamps whose overflow count we raised
	OutOptions           stat.Counter `stat:"ip_out_options"`            // datagrams sent with options: echo replies and sockets'

	// IPv4 output (ip_queue_xmit, ip_build_and_send_pkt).
	OutRequests stat.Counter `stat:"ip_out_requests"`  // packets given to Output, and echo replies
	OutDiscards stat.Counter `stat:"ip_out_discards"`  // dropped before reaching the Dst (size, headroom)
	OutNoRoutes stat.Counter `stat:"ip_out_no_routes"` // no route for an echo reply

	// Reassembly (ip_defrag) and fragmentation (ip_do_fragment), as
	// Linux's IPSTATS_MIB_REASM* and IPSTATS_MIB_FRAG*.
	ReasmReqds    stat.Counter `stat:"ip_reasm_reqds"`    // fragments received
	ReasmOKs      stat.Counter `stat:"ip_reasm_oks"`      // datagrams reassembled
	ReasmFails    stat.Counter `stat:"ip_reasm_fails"`    // datagrams discarded, and fragments refused alone
	ReasmTimeout  stat.Counter `stat:"ip_reasm_timeout"`  // datagrams that timed out (also in ip_reasm_fails)
	ReasmOverlaps stat.Counter `stat:"ip_reasm_overlaps"` // datagrams discarded for overlapping fragments (also in ip_reasm_fails)
	ReasmHandoffs stat.Counter `stat:"ip_reasm_handoffs"` // fragments handed to the core that reassembles their datagram
	ReasmMbufs    stat.Gauge   `stat:"ip_reasm_mbufs"`    // mbufs held by the reassembly queues
	FragOKs       stat.Counter `stat:"ip_frag_oks"`       // datagrams sent as fragments
	FragFails     stat.Counter `stat:"ip_frag_fails"`     // datagrams that could not be fragmented (no mbuf)
	FragCreates   stat.Counter `stat:"ip_frag_creates"`   // fragments sent

	// ICMP (icmp_rcv, icmp_reply).
	ICMPInMsgs             stat.Counter `stat:"icmp_in_msgs"`               // every ICMP message received
	ICMPInErrors           stat.Counter `stat:"icmp_in_errors"`             // truncated, or sent to a broadcast
	ICMPInCsumErrors       stat.Counter `stat:"icmp_in_csum_errors"`        // bad ICMP checksum
	ICMPInEchos            stat.Counter `stat:"icmp_in_echos"`              // echo requests
	ICMPInEchoReps         stat.Counter `stat:"icmp_in_echo_reps"`          // echo replies (no ping sockets yet)
	ICMPInDestUnreachs     stat.Counter `stat:"icmp_in_dest_unreachs"`      // destination unreachable
	ICMPInTimeExcds        stat.Counter `stat:"icmp_in_time_excds"`         // time exceeded
	ICMPInParmProbs        stat.Counter `stat:"icmp_in_parm_probs"`         // parameter problem
	ICMPInSrcQuenchs       stat.Counter `stat:"icmp_in_src_quenchs"`        // source quench (ignored, RFC 6633)
	ICMPInRedirects        stat.Counter `stat:"icmp_in_redirects"`          // redirect (ignored: dpstack does not follow them)
	ICMPInTimestamps       stat.Counter `stat:"icmp_in_timestamps"`         // timestamp requests (not answered)
	ICMPInTimestampReps    stat.Counter `stat:"icmp_in_timestamp_reps"`     // timestamp replies
	ICMPOutMsgs            stat.Counter `stat:"icmp_out_msgs"`              // every ICMP message sent
	ICMPOutErrors          stat.Counter `stat:"icmp_out_errors"`            // errors not sent for want of an mbuf
	ICMPOutEchoReplies     stat.Counter `stat:"icmp_out_echo_replies"`      // echo replies sent
	ICMPOutDestUnreachs    stat.Counter `stat:"icmp_out_dest_unreachs"`     // destination unreachable sent
	ICMPOutTimeExcds       stat.Counter `stat:"icmp_out_time_excds"`        // time exceeded sent
	ICMPOutParmProbs       stat.Counter `stat:"icmp_out_parm_probs"`        // parameter problem sent
	ICMPOutRateLimitGlobal stat.Counter `stat:"icmp_out_rate_limit_global"` // errors held back by the core's limit
	ICMPOutRateLimitHost   stat.Counter `stat:"icmp_out_rate_limit_host"`   // errors held back by a destination's limit

	// ARP (arp_process, arp_solicit, arp_send).
	ARPInRequests    stat.Counter `stat:"arp_in_requests"`    // well-formed requests received
	ARPInReplies     stat.Counter `stat:"arp_in_replies"`     // well-formed replies received
	ARPInConflicts   stat.Counter `stat:"arp_in_conflicts"`   // another host claims one of our addresses (RFC 5227 §2.4)
	ARPOutRequests   stat.Counter `stat:"arp_out_requests"`   // requests sent: solicitations and announcements
	ARPOutReplies    stat.Counter `stat:"arp_out_replies"`    // replies sent
	ARPOutGratuitous stat.Counter `stat:"arp_out_gratuitous"` // announcements sent (also in arp_out_requests)

	// Multicast (IPSTATS_MIB_INMCASTPKTS, _OUTMCASTPKTS) and IGMP
	// (igmp_rcv, igmp_heard_query, igmp_send_report, igmpv3_sendpack).
	InMcastPkts       stat.Counter `stat:"ip_in_mcast_pkts"`     // datagrams to a joined group (or all-systems) taken in
	OutMcastPkts      stat.Counter `stat:"ip_out_mcast_pkts"`    // datagrams sent to a group (IGMP's)
	IGMPInMsgs        stat.Counter `stat:"igmp_in_msgs"`         // every IGMP message received
	IGMPInErrors      stat.Counter `stat:"igmp_in_errors"`       // truncated, malformed queries, unknown types
	IGMPInCsumErrors  stat.Counter `stat:"igmp_in_csum_errors"`  // bad IGMP checksum
	IGMPInQueriesV1   stat.Counter `stat:"igmp_in_queries_v1"`   // IGMPv1 queries (8 bytes, Max Resp 0)
	IGMPInQueriesV2   stat.Counter `stat:"igmp_in_queries_v2"`   // IGMPv2 queries (8 bytes)
	IGMPInQueriesV3   stat.Counter `stat:"igmp_in_queries_v3"`   // IGMPv3 queries (12 bytes or more)
	IGMPInV1Reports   stat.Counter `stat:"igmp_in_v1_reports"`   // other hosts' IGMPv1 reports
	IGMPInV2Reports   stat.Counter `stat:"igmp_in_v2_reports"`   // other hosts' IGMPv2 reports
	IGMPInV3Reports   stat.Counter `stat:"igmp_in_v3_reports"`   // other hosts' IGMPv3 reports
	IGMPInLeaves      stat.Counter `stat:"igmp_in_leaves"`       // other hosts' Leave Group messages
	IGMPOutV2Reports  stat.Counter `stat:"igmp_out_v2_reports"`  // IGMPv2 Membership Reports sent
	IGMPOutV3Reports  stat.Counter `stat:"igmp_out_v3_reports"`  // IGMPv3 Membership Reports sent
	IGMPOutLeaves     stat.Counter `stat:"igmp_out_leaves"`      // IGMPv2 Leave Group messages sent
	IGMPOutErrors     stat.Counter `stat:"igmp_out_errors"`      // messages not sent: no mbuf, no route
	IGMPV2QuerierSeen stat.Counter `stat:"igmp_v2_querier_seen"` // switches to IGMPv2 mode on an older querier's query
	IGMPV3Resumed     stat.Counter `stat:"igmp_v3_resumed"`      // returns to IGMPv3 mode when that querier fell silent
	IGMPHandoffs      stat.Counter `stat:"igmp_handoffs"`        // messages handed to the core that speaks IGMP
}

// New returns the layer that cfg describes. It registers ICMP as protocol
// 1 and itself as the neighbour table's solicitor, so that resolving a
// neighbour sends ARP requests from this layer.
func New(cfg Config) *Layer {
	l := &Layer{dev: cfg.Dev, rt: cfg.Routes, clock: cfg.Clock,
		globalLimit: cfg.ICMPGlobalLimit, hostLimit: cfg.ICMPHostLimit,
		acceptSourceRoute: cfg.AcceptSourceRoute,
		realOffset:        time.Now().UnixNano() - int64(ktime.Now())}
	if l.globalLimit == (RateLimit{}) {
		l.globalLimit = DefaultICMPGlobalLimit
	}
	if l.hostLimit == (RateLimit{}) {
		l.hostLimit = DefaultICMPHostLimit
	}
	l.globalLimit.Interval *= time.Duration(max(cfg.Cores, 1))
	l.protos[header.IPProtoICMP] = l.icmpInput
	l.reasm.init(l, cfg)
	l.mcInit(cfg)
	l.rt.Neighbours().SetSolicit(l.solicit)
	return l
}

// RegisterProtocol sets the handler for IP protocol proto (inet_add_protocol),
// replacing any previous one; a nil h removes it. Packets for a protocol
// without a handler are dropped (stat.DropIPUnknownProtocol). ICMP (1) is
// registered by New.
func (l *Layer) RegisterProtocol(proto uint8, h func(b *mbuf.Buf, ip header.IPv4)) {
	l.protos[proto] = h
}

// OnLearn sets fn to be told of every neighbour update that ARP makes on
// this core, after it is made. A host with several cores uses it to keep
// the other cores' neighbour tables in step (an ARP reply reaches one core
// only, whichever queue the link put it on).
func (l *Layer) OnLearn(fn func(addr netip.Addr, mac header.MAC, confirmed bool)) {
	l.learnt = fn
}

// learn updates the neighbour table and tells the OnLearn hook.
func (l *Layer) learn(addr netip.Addr, mac header.MAC, confirmed bool) {
	l.rt.Neighbours().Update(l.dev, addr, mac, confirmed)
	if l.learnt != nil {
		l.learnt(addr, mac, confirmed)
	}
}

// Stats returns the layer's counters.
func (l *Layer) Stats() *Stats { return &l.stats }
