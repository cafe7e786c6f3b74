package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/dpstack/dpstack/dpdk"
	"github.com/dpstack/dpstack/lcore"
	"github.com/dpstack/dpstack/stack"
	"github.com/dpstack/dpstack/stack/header"
	"github.com/dpstack/dpstack/stack/sock"
	"github.com/dpstack/dpstack/stack/tcp"
)

var errHelp = errors.New("help shown")

// runConfig is what "dpstack run" was asked to do.
type runConfig struct {
	vdev, pci      string
	addrs          []netip.Prefix // the first is the primary
	gateway        netip.Addr
	routes         []stack.Route
	vlan           int // 0: untagged
	cores          string
	idle           lcore.IdlePolicy
	huge           dpdk.HugeMode
	memoryMB       int
	gogc           int
	mtu            int
	noLRO          bool // --lro off
	netns          string
	peerAddr       netip.Prefix
	metrics        string
	filePrefix     string
	logLevel       slog.Level
	ealLogLevel    string
	statusInterval time.Duration
	congestion     string
	moderateRcvbuf bool
	noGRO          bool // --gro off
	rmemMax        int
	sourceRoute    bool
	services       bool
	sockperfPort   int // 0: off
	idleTimeout    time.Duration
	maxConns       int
	mbufs          int
	sockMem        int
	maxOrphans     int
	join           []netip.Addr
	kni            string // the exception path's kernel interface, or ""
	kniNetns       string
	kniPorts       string // --kni-ports as given
	kniPolicy      *stack.ExceptionPolicy
}

func parseRunFlags(args []string) (runConfig, error) {
	return parseStackFlags("dpstack run", "", true, args, nil)
}

// parseStackFlags parses the flags of a command that runs the stack on a
// port (name; "dpstack run" or "dpstack proxy", whose own flags extra
// registers on the same set and usage names): the device, the address,
// the cores, memory, metrics ... services is the default of --services.
func parseStackFlags(name, usage string, services bool, args []string, extra func(fs *flag.FlagSet)) (runConfig, error) {
	var c runConfig
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	var gw, idle, huge, peer, logLevel, join, sockperf, config, gro, lro string
	var addrs, routes repeated
	fs.StringVar(&config, "config", "", `read flags from this file, one "flag value" a line (# comments); the command line's flags override it`)
	var kniARP, kniICMP bool
	fs.StringVar(&c.vdev, "vdev", "", "virtual device, e.g. net_tap0 or net_tap0,iface=dtap0")
	fs.StringVar(&c.pci, "pci", "", "PCI address of a NIC bound to a DPDK driver, e.g. 0000:01:00.0")
	fs.Var(&addrs, "addr", "an IPv4 address of the stack with its connected prefix, e.g. 198.18.0.2/24 (required; repeat for more, the first is the primary)")
	fs.StringVar(&gw, "gateway", "", "default gateway (optional)")
	fs.Var(&routes, "route", `a static route "PREFIX via GATEWAY", e.g. --route 198.19.0.0/16 via 198.18.0.1 (repeatable)`)
	fs.IntVar(&c.vlan, "vlan", 0, "IEEE 802.1Q VLAN ID (1-4094) to tag what the stack sends with and take only frames of (0: untagged)")
	fs.StringVar(&c.congestion, "congestion", sock.DefaultCongestion, "TCP congestion control of new sockets: cubic or reno")
	fs.BoolVar(&c.moderateRcvbuf, "tcp-moderate-rcvbuf", false, "TCP receive-buffer autotuning: grow each connection's receive buffer and window to twice what its reader takes per round trip, up to --tcp-rmem-max")
	fs.IntVar(&c.rmemMax, "tcp-rmem-max", tcp.DefaultRmemMax, "bytes of buffer autotuning may grow a TCP receive buffer to (about 2176 per 1448-byte segment; the window is half of it)")
	fs.StringVar(&gro, "gro", "on", "receive offload: on (TCP takes a connection's in-order segments of an rx burst as one group, with one ACK) or off")
	fs.BoolVar(&c.sourceRoute, "accept-source-route", false, "accept datagrams with a source route option that ends here (default: drop them)")
	fs.StringVar(&c.cores, "cores", "0", "EAL lcore list; one poll loop and queue pair per lcore, e.g. 0 or 0-1 (each pinned to its CPU), or 0@(0-1) (EAL's --lcores: lcore 0 on CPU 0 or 1)")
	fs.StringVar(&idle, "idle", "adaptive", "idle policy of the poll loops: adaptive or busy")
	fs.StringVar(&huge, "hugepages", "auto", "hugepages: auto (use them when mounted), on or off")
	fs.IntVar(&c.memoryMB, "memory", 0, "EAL memory in MB (0: 256 without hugepages)")
	fs.IntVar(&c.mtu, "mtu", 1500, "port MTU")
	fs.IntVar(&c.gogc, "gogc", defaultGOGC, "the Go collector's GOGC for dpstack's own heap (-1: off); GOGC in the environment takes precedence")
	fs.StringVar(&lro, "lro", "on", "large receive offload where the port offers it (TCP segments merged by the NIC, taken whole): on or off (off keeps frames as sent, e.g. for --kni)")
	fs.IntVar(&c.mbufs, "mbufs", 0, "mbufs in the pool (0: 8191 per lcore)")
	fs.IntVar(&c.sockMem, "sock-mem", 0, "mbufs the sockets may hold together (0: the pool less the receive reserve and reassembly's share)")
	fs.IntVar(&c.maxOrphans, "max-orphans", 0, "closed connections still finishing before more are reset (0: half of --sock-mem)")
	fs.StringVar(&c.netns, "netns", "", "create this network namespace and move the TAP's kernel side into it")
	fs.StringVar(&peer, "peer-addr", "", "with --netns: the kernel side's address and prefix, e.g. 198.18.0.1/24")
	fs.StringVar(&c.metrics, "metrics", "127.0.0.1:9100", "Prometheus metrics listener on loopback, or off")
	fs.StringVar(&c.filePrefix, "file-prefix", "", "EAL file prefix (default dpstack-PID)")
	fs.StringVar(&logLevel, "log-level", "info", "log level: debug, info, warn or error")
	fs.StringVar(&c.ealLogLevel, "eal-log-level", "notice", "DPDK log level")
	fs.BoolVar(&c.services, "services", services, "serve echo on port 7, discard on 9 and an HTTP hello on 8080 (--services=false: none)")
	fs.StringVar(&join, "join", "", "IPv4 multicast groups the UDP echo and the sockperf server join, e.g. 239.18.0.1,239.18.0.2")
	fs.StringVar(&sockperf, "sockperf", fmt.Sprint(defaultSockperfPort), "with the services: serve the sockperf protocol (ping-pong, under-load, throughput) on this UDP and TCP port, or off")
	fs.DurationVar(&c.idleTimeout, "idle-timeout", time.Minute, "the services close a connection that makes no progress for this long")
	fs.IntVar(&c.maxConns, "max-conns", 65536, "the services hold at most this many connections at once; more are reset")
	fs.DurationVar(&c.statusInterval, "status-interval", 10*time.Second, "how often to log a status line (0: never)")
	fs.StringVar(&c.kni, "kni", "", "kernel exception path: create this kernel interface (a TAP with the stack's MAC and address) for what the stack does not consume")
	fs.StringVar(&c.kniNetns, "kni-netns", "", "with --kni: move the kernel interface into this network namespace (created if missing)")
	fs.StringVar(&c.kniPorts, "kni-ports", "auto", "with --kni: TCP and UDP ports that go to the kernel, e.g. 22,9100-9200, or auto: every port without a dpstack socket")
	fs.BoolVar(&kniARP, "kni-arp", false, "with --kni: the kernel gets every ARP frame too (the stack a copy), so it resolves its neighbours")
	fs.BoolVar(&kniICMP, "kni-icmp", false, "with --kni: ICMP to the stack's address goes to the kernel, errors excepted")
	if extra != nil {
		extra(fs)
	}
	fs.Usage = func() {}
	if err := fs.Parse(joinRouteArgs(args)); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprintf(os.Stderr, "usage: %s --vdev DEV|--pci ADDR --addr A.B.C.D/N %s[flags]\n", name, usage)
			fs.SetOutput(os.Stderr)
			fs.PrintDefaults()
			return c, errHelp
		}
		return c, err
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("unexpected arguments: %s", strings.Join(fs.Args(), " "))
	}
	if config != "" {
		if err := applyConfigFile(fs, config); err != nil {
			return c, err
		}
	}
	var err error
	if (c.vdev == "") == (c.pci == "") {
		return c, errors.New("give exactly one of --vdev and --pci")
	}
	if c.addrs, err = parseAddrs(addrs); err != nil {
		return c, err
	}
	if gw != "" {
		if c.gateway, err = netip.ParseAddr(gw); err != nil || !c.gateway.Is4() {
			return c, fmt.Errorf("--gateway %q: want an IPv4 address", gw)
		}
		if !c.connected(c.gateway) {
			return c, fmt.Errorf("--gateway %v is not on a subnet of --addr %v", c.gateway, c.subnets())
		}
	}
	if c.routes, err = c.parseRoutes(routes); err != nil {
		return c, err
	}
	if c.join, err = parseGroups(join); err != nil {
		return c, err
	}
	if len(c.join) > 0 && !c.services {
		return c, errors.New("--join needs the services: the UDP echo and the sockperf server join the groups")
	}
	if !sock.CongestionRegistered(c.congestion) {
		return c, fmt.Errorf("--congestion %q: want cubic or reno", c.congestion)
	}
	if c.rmemMax < sock.SockMinRcvBuf || c.rmemMax > tcp.MaxRmemMax {
		return c, fmt.Errorf("--tcp-rmem-max %d: want %d..%d", c.rmemMax, sock.SockMinRcvBuf, tcp.MaxRmemMax)
	}
	switch gro {
	case "on":
	case "off":
		c.noGRO = true
	default:
		return c, fmt.Errorf("--gro %q: want on or off", gro)
	}
	if c.mbufs < 0 || c.sockMem < 0 || c.maxOrphans < 0 {
		return c, fmt.Errorf("--mbufs %d, --sock-mem %d, --max-orphans %d: want 0 (the default) or more", c.mbufs, c.sockMem, c.maxOrphans)
	}
	if c.maxConns <= 0 {
		return c, fmt.Errorf("--max-conns %d: want a positive count", c.maxConns)
	}
	if c.sockperfPort, err = parseSockperfPort(sockperf); err != nil {
		return c, err
	}
	if c.idleTimeout <= 0 {
		return c, fmt.Errorf("--idle-timeout %v: want a positive duration", c.idleTimeout)
	}
	if c.idle, err = lcore.ParseIdlePolicy(idle); err != nil {
		return c, err
	}
	if c.huge, err = dpdk.ParseHugeMode(huge); err != nil {
		return c, err
	}
	if c.vlan < 0 || c.vlan > header.VLANIDMask-1 {
		return c, fmt.Errorf("--vlan %d: want a VLAN ID 1-%d, or 0 for none", c.vlan, header.VLANIDMask-1)
	}
	switch lro {
	case "on", "off":
		c.noLRO = lro == "off"
	default:
		return c, fmt.Errorf("--lro %q: want on or off", lro)
	}
	if c.mtu < 68 || c.mtu > 9000 {
		return c, fmt.Errorf("--mtu %d: want 68..9000", c.mtu)
	}
	if c.netns != "" {
		if c.vdev == "" || !strings.HasPrefix(c.vdev, "net_tap") {
			return c, errors.New("--netns needs a net_tap --vdev")
		}
		if c.peerAddr, err = netip.ParsePrefix(peer); err != nil || !c.peerAddr.Addr().Is4() {
			return c, fmt.Errorf("--peer-addr %q: want an IPv4 address with prefix length", peer)
		}
		if slices.ContainsFunc(c.addrs, func(a netip.Prefix) bool { return a.Addr() == c.peerAddr.Addr() }) {
			return c, errors.New("--peer-addr must differ from every --addr")
		}
	} else if peer != "" {
		return c, errors.New("--peer-addr needs --netns")
	}
	if c.kniPolicy, err = parseKNI(fs, c, kniARP, kniICMP); err != nil {
		return c, err
	}
	if err := logLevelVar(&c.logLevel, logLevel); err != nil {
		return c, err
	}
	if c.filePrefix == "" {
		c.filePrefix = fmt.Sprintf("dpstack-%d", os.Getpid())
	}
	return c, nil
}

// parseKNI checks the --kni flags and returns the exception path's policy,
// or nil without --kni.
func parseKNI(fs *flag.FlagSet, c runConfig, arp, icmp bool) (*stack.ExceptionPolicy, error) {
	if c.kni == "" {
		set := ""
		fs.Visit(func(f *flag.Flag) {
			if strings.HasPrefix(f.Name, "kni-") {
				set = f.Name
			}
		})
		if set != "" {
			return nil, fmt.Errorf("--%s needs --kni", set)
		}
		return nil, nil
	}
	if !validIfname(c.kni) {
		return nil, fmt.Errorf("--kni %q: want an interface name of 1-15 letters, digits, '_', '.' or '-'", c.kni)
	}
	if c.vdev != "" && strings.HasPrefix(c.vdev, "net_tap") {
		if _, iface := tapIface(c.vdev); iface == c.kni {
			return nil, fmt.Errorf("--kni %q is the port's own TAP interface", c.kni)
		}
	}
	if c.kniNetns != "" && c.kniNetns == c.netns {
		return nil, errors.New("--kni-netns must differ from --netns: the port's peer and the kernel side would share one namespace")
	}
	p, err := stack.ParseExceptionPorts(c.kniPorts)
	if err != nil {
		return nil, fmt.Errorf("--kni-ports %q: want a list such as 22,9100-9200, or auto", c.kniPorts)
	}
	p.ARP, p.ICMP = arp, icmp
	return p, nil
}

// validIfname reports whether name can be a Linux interface name (at most
// IFNAMSIZ-1 bytes) that also fits in a DPDK devargs list.
func validIfname(name string) bool {
	if len(name) == 0 || len(name) > 15 || name[0] == '-' || name == "." || name == ".." {
		return false
	}
	for _, r := range name {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '.' || r == '-') {
			return false
		}
	}
	return true
}

// parseSockperfPort reads --sockperf: a port, or off (0).
func parseSockperfPort(s string) (int, error) {
	if s == "off" {
		return 0, nil
	}
	p, err := strconv.Atoi(s)
	if err != nil || p < 1 || p > 65535 {
		return 0, fmt.Errorf("--sockperf %q: want a port 1..65535 or off", s)
	}
	return p, nil
}

func logLevelVar(l *slog.Level, s string) error {
	if err := l.UnmarshalText([]byte(s)); err != nil {
		return fmt.Errorf("--log-level %q: want debug, info, warn or error", s)
	}
	return nil
}

// tapIface returns the vdev string with an explicit iface= (so that the
// kernel interface has a known name) and that name.
func tapIface(vdev string) (string, string) {
	name, params, _ := strings.Cut(vdev, ",")
	for _, kv := range strings.Split(params, ",") {
		if v, ok := strings.CutPrefix(kv, "iface="); ok {
			return vdev, v
		}
	}
	iface := "dtap" + strings.TrimLeft(strings.TrimPrefix(name, "net_tap"), "_")
	if params == "" {
		return name + ",iface=" + iface, iface
	}
	return vdev + ",iface=" + iface, iface
}

// parseGroups parses --join: IPv4 multicast addresses, comma-separated.
func parseGroups(list string) ([]netip.Addr, error) {
	if list == "" {
		return nil, nil
	}
	var groups []netip.Addr
	for _, f := range strings.Split(list, ",") {
		g, err := netip.ParseAddr(strings.TrimSpace(f))
		if err != nil || !g.Is4() || !g.IsMulticast() {
			return nil, fmt.Errorf("--join %q: want IPv4 multicast groups, e.g. 239.18.0.1,239.18.0.2", list)
		}
		groups = append(groups, g)
	}
	return groups, nil
}

// repeated is a flag that may be given more than once (--addr, --route):
// its values in order.
type repeated []string

func (r *repeated) String() string { return strings.Join(*r, ", ") }

func (r *repeated) Set(v string) error {
	*r = append(*r, v)
	return nil
}

// joinRouteArgs makes "--route PREFIX via GATEWAY", three arguments as
// ip route takes them, the one argument the flag package reads.
func joinRouteArgs(args []string) []string {
	out := make([]string, 0, len(args))
	for i := 0; i < len(args); i++ {
		out = append(out, args[i])
		if (args[i] == "--route" || args[i] == "-route") && i+3 < len(args) && args[i+2] == "via" {
			out = append(out, strings.Join(args[i+1:i+4], " "))
			i += 3
		}
	}
	return out
}

// parseAddrs reads the --addr values: IPv4 addresses with prefix lengths,
// at least one, each address once.
func parseAddrs(vals []string) ([]netip.Prefix, error) {
	if len(vals) == 0 {
		return nil, errors.New("--addr: want an IPv4 address with prefix length, e.g. 198.18.0.2/24")
	}
	var out []netip.Prefix
	for _, v := range vals {
		p, err := netip.ParsePrefix(strings.TrimSpace(v))
		if err != nil || !p.Addr().Is4() {
			return nil, fmt.Errorf("--addr %q: want an IPv4 address with prefix length, e.g. 198.18.0.2/24", v)
		}
		if slices.ContainsFunc(out, func(q netip.Prefix) bool { return q.Addr() == p.Addr() }) {
			return nil, fmt.Errorf("--addr %v: given twice", p.Addr())
		}
		out = append(out, p)
	}
	return out, nil
}

// parseRoutes reads the --route values, "PREFIX via GATEWAY" each, whose
// gateways must be on a subnet of the addresses (as the kernel's ip route
// add wants a gateway it can reach).
func (c *runConfig) parseRoutes(vals []string) ([]stack.Route, error) {
	var out []stack.Route
	for _, v := range vals {
		f := strings.Fields(v)
		if len(f) != 3 || f[1] != "via" {
			return nil, fmt.Errorf("--route %q: want PREFIX via GATEWAY, e.g. 198.19.0.0/16 via 198.18.0.1", v)
		}
		p, err := netip.ParsePrefix(f[0])
		if err != nil || !p.Addr().Is4() {
			return nil, fmt.Errorf("--route %q: %q is not an IPv4 prefix", v, f[0])
		}
		if p != p.Masked() {
			return nil, fmt.Errorf("--route %q: %v has host bits set (the prefix is %v)", v, p, p.Masked())
		}
		gw, err := netip.ParseAddr(f[2])
		if err != nil || !gw.Is4() {
			return nil, fmt.Errorf("--route %q: gateway %q is not an IPv4 address", v, f[2])
		}
		if !c.connected(gw) {
			return nil, fmt.Errorf("--route %q: gateway %v is not on a subnet of --addr %v", v, gw, c.subnets())
		}
		if slices.ContainsFunc(out, func(r stack.Route) bool { return r.Prefix == p }) {
			return nil, fmt.Errorf("--route %q: a route to %v is given twice", v, p)
		}
		out = append(out, stack.Route{Prefix: p, Gateway: gw})
	}
	return out, nil
}

// connected reports whether a is on the subnet of one of the addresses.
func (c *runConfig) connected(a netip.Addr) bool {
	return slices.ContainsFunc(c.addrs, func(p netip.Prefix) bool { return p.Masked().Contains(a) })
}

// subnets lists the addresses' subnets, for messages.
func (c *runConfig) subnets() string {
	var s []string
	for _, p := range c.addrs {
		s = append(s, p.Masked().String())
	}
	return strings.Join(s, ", ")
}

// applyConfigFile sets the flags of fs from the config file at path,
// except those the command line set: a flag given there overrides the
// file, and a repeatable one (--addr, --route) replaces all of the file's
// lines for it.
//
// The file holds one flag a line: its name (the leading dashes may be
// left out), blanks, and its value, the rest of the line (double quotes
// around it are taken off); a bool flag alone means true. A repeatable
// flag takes one line per value. Blank lines and those that start with #
// are ignored, and so is the rest of a line from a # after a blank:
//
//	# dpstack.conf
//	vdev  net_tap0,iface=dtap0
//	addr  198.18.0.2/24
//	addr  198.19.0.2/24      # a second subnet
//	route 198.19.128.0/17 via 198.19.0.1
//	vlan  100
//	services false
func applyConfigFile(fs *flag.FlagSet, path string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("--config: %w", err)
	}
	fromArgs := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { fromArgs[f.Name] = true })
	for i, line := range strings.Split(string(data), "\n") {
		where := fmt.Sprintf("--config %s:%d", path, i+1)
		line = strings.TrimSpace(stripComment(line))
		if line == "" {
			continue
		}
		name, value := line, ""
		if i := strings.IndexAny(line, " \t"); i >= 0 {
			name, value = line[:i], line[i+1:]
		}
		name = strings.TrimLeft(name, "-")
		value = strings.TrimSpace(value)
		f := fs.Lookup(name)
		if f == nil || name == "config" {
			return fmt.Errorf("%s: unknown flag %q", where, name)
		}
		if fromArgs[name] {
			continue
		}
		if len(value) >= 2 && value[0] == '"' {
			if value, err = strconv.Unquote(value); err != nil {
				return fmt.Errorf("%s: %s: bad quoting: %v", where, name, err)
			}
		}
		if value == "" {
			if b, ok := f.Value.(interface{ IsBoolFlag() bool }); !ok || !b.IsBoolFlag() {
				return fmt.Errorf("%s: %s needs a value", where, name)
			}
			value = "true"
		}
		if err := fs.Set(name, value); err != nil {
			return fmt.Errorf("%s: %s %q: %v", where, name, value, err)
		}
	}
	return nil
}

// stripComment cuts line at the first # that starts it or follows a blank.
func stripComment(line string) string {
	for i := range len(line) {
		if line[i] == '#' && (i == 0 || line[i-1] == ' ' || line[i-1] == '\t') {
			return line[:i]
		}
	}
	return line
}
