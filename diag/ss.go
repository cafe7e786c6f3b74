package diag

import (
	"fmt"
	"io"
	"math"
	"net/netip"
	"strconv"
	"strings"
)

// SSOptions are the ss flags WriteSS understands, with ss's letters.
type SSOptions struct {
	TCP, UDP  bool // -t, -u; neither means both
	Listening bool // -l: only listening (and unconnected UDP) sockets
	All       bool // -a: every socket
	Info      bool // -i: tcp_info under each connection
	Timers    bool // -o: the timer column
	Process   bool // -p: the owning core, where ss names the process
	Filter    *Filter
}

// WriteSS prints st's sockets as `ss -tuni` prints the kernel's: the same
// header, columns and state names, and under each TCP connection with -i
// the same field names (wscale, rto, rtt, ato, mss, rcvmss, advmss, cwnd,
// ssthresh, unacked, backoff, minrtt, snd_wnd, rcv_wnd, notsent).
// Addresses are always numeric (ss -n).
func WriteSS(w io.Writer, st *State, o SSOptions) error {
	if !o.TCP && !o.UDP {
		o.TCP, o.UDP = true, true
	}
	netid := o.TCP && o.UDP
	var rows [][]string
	var info []string
	header := []string{"State", "Recv-Q", "Send-Q", "Local Address:Port", "Peer Address:Port", "Process"}
	if netid {
		header = append([]string{"Netid"}, header...)
	}
	rows = append(rows, header)
	info = append(info, "")
	for _, c := range st.Cores {
		for _, s := range c.Sockets {
			if !o.wants(s) {
				continue
			}
			var proc []string
			if o.Timers && s.Timer != "" {
				proc = append(proc, fmt.Sprintf("timer:(%s,%s,0)", s.Timer, ssDuration(s.Expires)))
			}
			if o.Process {
				proc = append(proc, "core:"+strconv.Itoa(c.Core))
			}
			row := []string{s.State, strconv.Itoa(s.RecvQ), strconv.Itoa(s.SendQ), s.Local, s.Peer, strings.Join(proc, " ")}
			if netid {
				row = append([]string{s.Netid}, row...)
			}
			rows = append(rows, row)
			line := ""
			if o.Info && s.Info != nil {
				line = "\t " + infoLine(s.Info)
			}
			info = append(info, line)
		}
	}
	widths := make([]int, len(header))
	for _, r := range rows {
		for i, cell := range r {
			widths[i] = max(widths[i], len(cell))
		}
	}
	var b strings.Builder
	for i, r := range rows {
		for j, cell := range r {
			if j == len(r)-1 {
				b.WriteString(cell)
				break
			}
			// ss right-aligns the local address, so that the
			// colons before the ports line up with the peer's.
			if header[j] == "Local Address:Port" {
				fmt.Fprintf(&b, "%*s ", widths[j], cell)
			} else {
				fmt.Fprintf(&b, "%-*s ", widths[j], cell)
			}
		}
		b.WriteString("\n")
		if info[i] != "" {
			b.WriteString(info[i] + "\n")
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// wants reports whether s is listed under o.
func (o SSOptions) wants(s Socket) bool {
	if s.Netid == "tcp" && !o.TCP || s.Netid == "udp" && !o.UDP {
		return false
	}
	listening := s.State == "LISTEN" || s.State == "UNCONN"
	switch {
	case o.All:
	case o.Listening && !listening, !o.Listening && listening:
		return false
	}
	return o.Filter.match(s)
}

// infoLine is ss -i's line for a connection, fields in ss's order.
func infoLine(in *Info) string {
	var f []string
	add := func(format string, a ...any) { f = append(f, fmt.Sprintf(format, a...)) }
	if in.Timestamps {
		add("ts")
	}
	if in.SACK {
		add("sack")
	}
	if in.CC != "" {
		add("%s", in.CC)
	}
	if in.SndWscale >= 0 {
		add("wscale:%d,%d", in.SndWscale, in.RcvWscale)
	}
	add("rto:%s", ssMs(in.RTO))
	if in.RTT > 0 {
		add("rtt:%s/%s", ssMs(in.RTT), ssMs(in.RTTVar))
	}
	if in.ATO > 0 {
		add("ato:%s", ssMs(in.ATO))
	}
	add("mss:%d", in.MSS)
	add("rcvmss:%d", in.RcvMSS)
	add("advmss:%d", in.AdvMSS)
	add("cwnd:%d", in.Cwnd)
	if in.Ssthresh < 0xffff { // as ss, which leaves out larger ones (the initial "infinite" one)
		add("ssthresh:%d", in.Ssthresh)
	}
	if in.Unacked > 0 {
		add("unacked:%d", in.Unacked)
	}
	if in.Backoff > 0 {
		add("backoff:%d", in.Backoff)
	}
	if in.MinRTT > 0 {
		add("minrtt:%s", ssMs(in.MinRTT))
	}
	add("snd_wnd:%d", in.SndWnd)
	add("rcv_wnd:%d", in.RcvWnd)
	if in.Notsent > 0 {
		add("notsent:%d", in.Notsent)
	}
	return strings.Join(f, " ")
}

// ssMs is milliseconds as ss prints rto and rtt: tcp_info's whole
// microseconds over 1000, %g.
func ssMs(v float64) string { return strconv.FormatFloat(math.Round(v*1000)/1000, 'g', 6, 64) }

// ssDuration is a timer's time left as ss -o prints it.
func ssDuration(ms float64) string {
	switch {
	case ms >= 60000:
		return fmt.Sprintf("%.0fmin", ms/60000)
	case ms >= 1000:
		return fmt.Sprintf("%.3fsec", ms/1000)
	}
	return fmt.Sprintf("%.0fms", ms)
}

// Filter is an ss filter expression: terms joined by "and", each one of
//
//	state NAME           (established, listening, time-wait, syn-recv ... as ss names them)
//	sport OP :PORT       dport OP :PORT
//	src ADDR[:PORT]      dst ADDR[:PORT]
//
// where OP is =, == or eq and may be left out, as ss allows.
type Filter struct {
	terms []term
}

type term struct {
	key  string // state, sport, dport, src, dst
	want string
}

// ParseFilter reads an ss filter from its words; no words is no filter.
func ParseFilter(words []string) (*Filter, error) {
	f := &Filter{}
	for i := 0; i < len(words); {
		key := words[i]
		i++
		if key == "and" || key == "(" || key == ")" {
			continue
		}
		switch key {
		case "state", "sport", "dport", "src", "dst":
		default:
			return nil, fmt.Errorf("ss filter: %q: want state, sport, dport, src or dst", key)
		}
		if i < len(words) && (words[i] == "=" || words[i] == "==" || words[i] == "eq") {
			i++
		}
		if i >= len(words) {
			return nil, fmt.Errorf("ss filter: %s wants a value", key)
		}
		v := words[i]
		i++
		switch key {
		case "state":
			name, ok := ssStateNames[v]
			if !ok {
				return nil, fmt.Errorf("ss filter: unknown state %q", v)
			}
			v = name
		case "sport", "dport":
			p := strings.TrimPrefix(v, ":")
			if _, err := strconv.ParseUint(p, 10, 16); err != nil {
				return nil, fmt.Errorf("ss filter: %s %q: want :PORT", key, v)
			}
			v = p
		case "src", "dst":
			if _, err := netip.ParseAddr(v); err != nil {
				if _, err := netip.ParseAddrPort(v); err != nil {
					return nil, fmt.Errorf("ss filter: %s %q: want ADDR or ADDR:PORT", key, v)
				}
			}
		}
		f.terms = append(f.terms, term{key, v})
	}
	return f, nil
}

// ssStateNames maps the state names ss's filter takes to the names it
// prints.
var ssStateNames = map[string]string{
	"established": "ESTAB", "syn-sent": "SYN-SENT", "syn-recv": "SYN-RECV",
	"fin-wait-1": "FIN-WAIT-1", "fin-wait-2": "FIN-WAIT-2", "time-wait": "TIME-WAIT",
	"close-wait": "CLOSE-WAIT", "last-ack": "LAST-ACK", "listening": "LISTEN",
	"closing": "CLOSING", "unconnected": "UNCONN",
}

// match reports whether s passes every term; a nil filter passes all.
func (f *Filter) match(s Socket) bool {
	if f == nil {
		return true
	}
	for _, t := range f.terms {
		var ok bool
		switch t.key {
		case "state":
			ok = s.State == t.want
		case "sport":
			ok = strings.HasSuffix(s.Local, ":"+t.want)
		case "dport":
			ok = strings.HasSuffix(s.Peer, ":"+t.want)
		case "src":
			ok = endpointIs(s.Local, t.want)
		case "dst":
			ok = endpointIs(s.Peer, t.want)
		}
		if !ok {
			return false
		}
	}
	return true
}

// endpointIs reports whether ep ("ADDR:PORT") is want, an address or an
// address and port.
func endpointIs(ep, want string) bool {
	if strings.Contains(want, ":") {
		return ep == want
	}
	host, _, _ := strings.Cut(ep, ":")
	return host == want
}
