package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/dpstack/dpstack/dpdk"
	"github.com/dpstack/dpstack/lcore"
	"github.com/dpstack/dpstack/stack/sock"
	"github.com/dpstack/dpstack/stack/tcp"
)

var errHelp = errors.New("help shown")

// runConfig is what "dpstack run" was asked to do.
type runConfig struct {
	vdev, pci      string
	addr           netip.Prefix
	gateway        netip.Addr
	cores          string
	idle           lcore.IdlePolicy
	huge           dpdk.HugeMode
	memoryMB       int
	mtu            int
	netns          string
	peerAddr       netip.Prefix
	metrics        string
	filePrefix     string
	logLevel       slog.Level
	ealLogLevel    string
	statusInterval time.Duration
	congestion     string
	moderateRcvbuf bool
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
	var addr, gw, idle, huge, peer, logLevel, join, sockperf string
	fs.StringVar(&c.vdev, "vdev", "", "virtual device, e.g. net_tap0 or net_tap0,iface=dtap0")
	fs.StringVar(&c.pci, "pci", "", "PCI address of a NIC bound to a DPDK driver, e.g. 0000:01:00.0")
	fs.StringVar(&addr, "addr", "", "the stack's IPv4 address and prefix, e.g. 198.18.0.2/24 (required)")
	fs.StringVar(&gw, "gateway", "", "default gateway (optional)")
	fs.StringVar(&c.congestion, "congestion", sock.DefaultCongestion, "TCP congestion control of new sockets: cubic or reno")
	fs.BoolVar(&c.moderateRcvbuf, "tcp-moderate-rcvbuf", false, "TCP receive-buffer autotuning: grow each connection's receive buffer and window to twice what its reader takes per round trip, up to --tcp-rmem-max")
	fs.IntVar(&c.rmemMax, "tcp-rmem-max", tcp.DefaultRmemMax, "bytes of buffer autotuning may grow a TCP receive buffer to (about 2176 per 1448-byte segment; the window is half of it)")
	fs.BoolVar(&c.sourceRoute, "accept-source-route", false, "accept datagrams with a source route option that ends here (default: drop them)")
	fs.StringVar(&c.cores, "cores", "0", "EAL lcore list; one poll loop and queue pair per lcore, e.g. 0 or 0-1")
	fs.StringVar(&idle, "idle", "adaptive", "idle policy of the poll loops: adaptive or busy")
	fs.StringVar(&huge, "hugepages", "auto", "hugepages: auto (use them when mounted), on or off")
	fs.IntVar(&c.memoryMB, "memory", 0, "EAL memory in MB (0: 256 without hugepages)")
	fs.IntVar(&c.mtu, "mtu", 1500, "port MTU")
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
	if extra != nil {
		extra(fs)
	}
	fs.Usage = func() {}
	if err := fs.Parse(args); err != nil {
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
	var err error
	if (c.vdev == "") == (c.pci == "") {
		return c, errors.New("give exactly one of --vdev and --pci")
	}
	if c.addr, err = netip.ParsePrefix(addr); err != nil || !c.addr.Addr().Is4() {
		return c, fmt.Errorf("--addr %q: want an IPv4 address with prefix length, e.g. 198.18.0.2/24", addr)
	}
	if gw != "" {
		if c.gateway, err = netip.ParseAddr(gw); err != nil || !c.gateway.Is4() {
			return c, fmt.Errorf("--gateway %q: want an IPv4 address", gw)
		}
		if !c.addr.Masked().Contains(c.gateway) {
			return c, fmt.Errorf("--gateway %v is not on %v", c.gateway, c.addr.Masked())
		}
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
		if c.peerAddr.Addr() == c.addr.Addr() {
			return c, errors.New("--peer-addr must differ from --addr")
		}
	} else if peer != "" {
		return c, errors.New("--peer-addr needs --netns")
	}
	if err := logLevelVar(&c.logLevel, logLevel); err != nil {
		return c, err
	}
	if c.filePrefix == "" {
		c.filePrefix = fmt.Sprintf("dpstack-%d", os.Getpid())
	}
	return c, nil
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
