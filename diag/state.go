// Package diag takes a running host's state for its operators: sockets
// per core with their queues and tcp_info (Linux's sock_diag, what `ss`
// reads), neighbours and routes (`ip neigh`, `ip route`), the counters
// (`nstat`) and each loop's load. It serves them as JSON on the management
// listener beside the metrics, with /healthz and /readyz, and the dpstack
// command's ss, neigh, route and stats subcommands print them.
//
// A snapshot runs a function on every core in turn (stack.Host.DoWithin):
// nothing is shared with the data path, and a core that does not answer
// in time is reported as such instead of holding up the request.
package diag

import (
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/dpstack/dpstack/stack"
	"github.com/dpstack/dpstack/stack/route"
	"github.com/dpstack/dpstack/stack/sock"
)

// State is what GET /state returns.
type State struct {
	Time     time.Time         `json:"time"`
	Opened   time.Time         `json:"opened"` // when the stack started: its counters count from then
	Port     Port              `json:"port"`
	Cores    []Core            `json:"cores"`
	Counters map[string]uint64 `json:"counters"` // summed over the cores, by stat name
	Mempool  Mempool           `json:"mempool"`
}

// Port is the DPDK port and the host's addresses.
type Port struct {
	Name   string   `json:"name"`
	MAC    string   `json:"mac"`
	Addr   string   `json:"addr"`           // the first address, with its prefix length
	Addrs  []string `json:"addrs"`          // every address, the first first
	VLAN   uint16   `json:"vlan,omitempty"` // the 802.1Q VLAN ID, if any
	LinkUp bool     `json:"link_up"`
	Speed  uint32   `json:"speed_mbps"`
}

// Mempool is the packet buffers' use.
type Mempool struct {
	InUse int `json:"in_use"`
	Size  int `json:"size"`
}

// Core is one core's part of the state. Error says why the rest is
// missing when the core did not answer.
type Core struct {
	Core       int         `json:"core"`
	Turns      uint64      `json:"turns"`
	BusyTurns  uint64      `json:"busy_turns"` // turns that found work: BusyTurns/Turns is the load
	Sockets    []Socket    `json:"sockets"`
	Neighbours []Neighbour `json:"neighbours"`
	Routes     []Route     `json:"routes"`
	Error      string      `json:"error,omitempty"`
}

// Socket is one socket as ss shows it. State uses ss's names (ESTAB,
// SYN-RECV, UNCONN ...).
type Socket struct {
	Netid   string  `json:"netid"` // tcp or udp
	State   string  `json:"state"`
	RecvQ   int     `json:"recv_q"`
	SendQ   int     `json:"send_q"`
	Local   string  `json:"local"`
	Peer    string  `json:"peer"`
	Timer   string  `json:"timer,omitempty"`
	Expires float64 `json:"expires_ms,omitempty"`
	Info    *Info   `json:"info,omitempty"`
}

// Info is a connection's tcp_info, with the names `ss -i` prints and
// times in milliseconds as it prints them.
type Info struct {
	CC            string  `json:"cc"`
	SndWscale     int     `json:"snd_wscale"` // -1 without window scaling
	RcvWscale     int     `json:"rcv_wscale"`
	RTO           float64 `json:"rto"`
	RTT           float64 `json:"rtt"`
	RTTVar        float64 `json:"rttvar"`
	ATO           float64 `json:"ato"`
	MSS           int     `json:"mss"`
	RcvMSS        int     `json:"rcvmss"`
	AdvMSS        int     `json:"advmss"`
	Cwnd          uint32  `json:"cwnd"`
	Ssthresh      uint32  `json:"ssthresh"`
	Unacked       int     `json:"unacked"` // segments in flight (tcpi_unacked)
	BytesInFlight int     `json:"bytes_in_flight"`
	Retransmits   int     `json:"retransmits"` // consecutive timeouts (tcpi_retransmits)
	Backoff       int     `json:"backoff"`
	MinRTT        float64 `json:"minrtt"`
	SndWnd        uint32  `json:"snd_wnd"`
	RcvWnd        uint32  `json:"rcv_wnd"`
	Notsent       int     `json:"notsent"` // bytes queued and not yet sent
	SACK          bool    `json:"sack"`
	Timestamps    bool    `json:"ts"`
	InRecovery    bool    `json:"in_recovery"`
	InLoss        bool    `json:"in_loss"`
}

// Neighbour is one neighbour entry, as ip neigh shows it (its state in
// capitals, as ip prints NUD states).
type Neighbour struct {
	Addr   string `json:"addr"`
	LLAddr string `json:"lladdr,omitempty"`
	State  string `json:"state"`
	Queued int    `json:"queued,omitempty"` // packets waiting for resolution
}

// Route is one route, as ip route shows it.
type Route struct {
	Prefix    string `json:"prefix"`
	Via       string `json:"via,omitempty"`
	Src       string `json:"src,omitempty"`
	Connected bool   `json:"connected"`
}

// coreTimeout bounds the wait for each core's part.
const coreTimeout = time.Second

// Snapshot takes h's state, one core after another.
func Snapshot(h *stack.Host) *State {
	st := &State{Time: time.Now(), Opened: h.Opened(), Counters: map[string]uint64{}}
	st.Port = Port{Name: h.Port().Name(), MAC: h.MAC().String(), Addr: h.Addr().String(), VLAN: h.VLAN()}
	for _, a := range h.Addrs() {
		st.Port.Addrs = append(st.Port.Addrs, a.String())
	}
	if l, err := h.Port().Link(); err == nil {
		st.Port.LinkUp, st.Port.Speed = l.Up, l.SpeedMbps
	}
	st.Mempool = Mempool{InUse: h.Pool().InUse(), Size: h.Pool().Size()}
	for _, s := range h.Stacks() {
		s.VisitCounters(func(name string, v uint64) { st.Counters[name] += v })
		c := Core{Core: s.Core()}
		c.Turns, c.BusyTurns = s.Loop().Stats().Turns.Load(), s.Loop().Stats().BusyTurns.Load()
		var part Core
		if err := h.DoWithin(coreTimeout, s.Core(), func(s *stack.Stack) { part = takeCore(s) }); err != nil {
			c.Error = err.Error()
		} else {
			c.Sockets, c.Neighbours, c.Routes = part.Sockets, part.Neighbours, part.Routes
		}
		st.Cores = append(st.Cores, c)
	}
	return st
}

// takeCore copies the core's sockets, neighbours and routes; it runs on
// the core.
func takeCore(s *stack.Stack) Core {
	var c Core
	add := func(d *sock.Diag) { c.Sockets = append(c.Sockets, socketOf(d)) }
	s.TCP().Dump(add)
	s.UDP().Dump(add)
	s.Routes().Neighbours().Each(func(n *route.Neighbour) {
		e := Neighbour{Addr: n.Addr().String(), State: strings.ToUpper(n.State().String()), Queued: n.Queued()}
		if n.State().Valid() {
			e.LLAddr = n.MAC().String()
		}
		c.Neighbours = append(c.Neighbours, e)
	})
	for _, r := range s.Routes().Routes() {
		e := Route{Prefix: r.Prefix.String(), Connected: r.Connected}
		if r.Gateway.IsValid() {
			e.Via = r.Gateway.String()
		}
		if r.Src.IsValid() {
			e.Src = r.Src.String()
		}
		c.Routes = append(c.Routes, e)
	}
	return c
}

// ssStates are ss's names of the TCP states (sstate_name in iproute2's
// misc/ss.c); a UDP socket that is not connected is UNCONN.
var ssStates = [sock.NumStates]string{
	sock.Closed:      "UNCONN",
	sock.Listen:      "LISTEN",
	sock.SynSent:     "SYN-SENT",
	sock.SynRecv:     "SYN-RECV",
	sock.Established: "ESTAB",
	sock.FinWait1:    "FIN-WAIT-1",
	sock.FinWait2:    "FIN-WAIT-2",
	sock.CloseWait:   "CLOSE-WAIT",
	sock.Closing:     "CLOSING",
	sock.LastAck:     "LAST-ACK",
	sock.TimeWait:    "TIME-WAIT",
}

func socketOf(d *sock.Diag) Socket {
	s := Socket{Netid: d.Proto, State: ssStates[d.State], RecvQ: d.RecvQ, SendQ: d.SendQ,
		Local: endpoint(d.Local), Peer: endpoint(d.Remote), Timer: d.Timer, Expires: ms(d.Expires)}
	if in := d.Info; in != nil {
		s.Info = &Info{CC: in.Congestion, SndWscale: in.SndWscale, RcvWscale: in.RcvWscale,
			RTO: ms(in.RTO), RTT: ms(in.SRTT), RTTVar: ms(in.RTTVar), ATO: ms(in.ATO),
			MSS: in.MSS, RcvMSS: in.RcvMSS, AdvMSS: in.AdvMSS, Cwnd: in.Cwnd, Ssthresh: in.Ssthresh,
			Unacked: in.PacketsOut, BytesInFlight: in.BytesInFlight, Retransmits: in.Retransmits,
			Backoff: in.Backoff, MinRTT: ms(in.MinRTT), SndWnd: in.SndWnd, RcvWnd: in.RcvWnd,
			Notsent: in.Unsent, SACK: in.SACK, Timestamps: in.Timestamps,
			InRecovery: in.InRecovery, InLoss: in.InLoss}
	}
	return s
}

// endpoint is an address and port as ss prints them: "*" for the
// wildcard address and for port 0.
func endpoint(a netip.AddrPort) string {
	host, port := "*", "*"
	if a.Addr().IsValid() && !a.Addr().IsUnspecified() {
		host = a.Addr().String()
	}
	if a.Port() != 0 {
		port = strconv.Itoa(int(a.Port()))
	}
	return host + ":" + port
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
