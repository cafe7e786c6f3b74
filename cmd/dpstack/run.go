package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/dpstack/dpstack/capture"
	"github.com/dpstack/dpstack/diag"
	"github.com/dpstack/dpstack/dpdk"
	"github.com/dpstack/dpstack/internal/netns"
	"github.com/dpstack/dpstack/metrics"
	"github.com/dpstack/dpstack/stack"
	"github.com/dpstack/dpstack/stat"
)

// application is what a command runs on the stack besides the stack
// itself: the built-in services, the proxy. Close stops it before the host
// closes; its collectors join the metrics.
type application interface {
	Close() error
	Collectors() []prometheus.Collector
}

// run starts EAL, the port and the stack, starts the application (start,
// or the built-in services when c asks for them), serves until SIGINT or
// SIGTERM, and takes everything down again in reverse order.
func run(c runConfig, log *slog.Logger, start func(h *stack.Host) (application, error)) (err error) {
	setGCPercent(c.gogc)
	ealCfg, portName, iface := c.eal()
	// Trap signals from the start, so that Ctrl-C during setup still
	// tears down what exists.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	if err := dpdk.StartEAL(ealCfg); err != nil {
		return err
	}
	defer func() {
		if e := dpdk.StopEAL(); e != nil {
			log.Warn("EAL cleanup", "err", e)
		}
	}()
	var ns *netns.NS
	if c.netns != "" {
		if ns, err = netns.Create(c.netns); err != nil {
			return err
		}
		// Deferred before the host's Close, so it runs after it: the
		// port's close removes the TAP, then the namespace goes.
		defer func() {
			if e := ns.Delete(); e != nil {
				log.Warn("remove namespace", "err", e)
			} else {
				log.Info("namespace removed", "netns", c.netns)
			}
		}()
	}
	kniNS, releaseKNI, err := c.kniNamespace(log)
	if err != nil {
		return err
	}
	defer releaseKNI() // before the host's Close, as --netns's namespace
	port, err := dpdk.PortByName(portName)
	if err != nil {
		return fmt.Errorf("port %s did not come up: %w", portName, err)
	}
	host, err := c.openHost(port)
	if err != nil {
		return err
	}
	defer func() {
		if e := host.Close(); e != nil {
			err = errors.Join(err, e)
		}
		log.Info("port closed", "port", portName)
	}()
	if ns != nil {
		if err := ns.Adopt(iface, c.peerAddr); err != nil {
			return err
		}
		log.Info("TAP kernel side moved", "iface", iface, "netns", c.netns, "peer", c.peerAddr)
	}
	if err := c.kniUp(kniNS, log); err != nil {
		return err
	}
	logUp(log, c, host, portName)

	if err := host.Start(); err != nil {
		return err
	}
	var app []prometheus.Collector
	if c.services {
		svc, err := startServices(host, c.idleTimeout, c.maxConns, c.sockperfPort, c.join, log)
		if err != nil {
			return err
		}
		// Deferred after host.Close, so it runs before it: the
		// services' sockets go back to their cores while they run.
		defer svc.Close()
		app = svc.Collectors()
	}
	if start != nil {
		a, err := start(host)
		if err != nil {
			return err
		}
		defer a.Close() // before host.Close, as the services
		app = append(app, a.Collectors()...)
	}
	if c.metrics != "off" {
		srv, err := serveMetrics(c.metrics, host, c.linkUnknown(), log, app...)
		if err != nil {
			return err
		}
		defer srv.Close()
	}
	if c.netns != "" {
		log.Info("try it", "ping", fmt.Sprintf("ip netns exec %s ping %s", c.netns, c.addrs[0].Addr()))
	}
	serve(ctx, c.statusInterval, host, log)
	return nil
}

// linkUnknown says why the port's link state cannot be read, or "": the
// TAP PMD reads its interface's flags in dpstack's own namespace, and
// --netns moved the interface out of it.
func (c runConfig) linkUnknown() string {
	if c.netns == "" || !strings.HasPrefix(c.vdev, "net_tap") {
		return ""
	}
	return "the TAP's kernel side is in namespace " + c.netns
}

// kniDevice is the DPDK device of the exception port (--kni): a net_tap
// whose kernel interface is the one --kni names.
const kniDevice = "net_tap_kni"

// kniNamespace finds or creates --kni-netns (nil without it), and returns
// what removes it at exit: nothing unless dpstack created it.
func (c runConfig) kniNamespace(log *slog.Logger) (*netns.NS, func(), error) {
	none := func() {}
	if c.kniNetns == "" {
		return nil, none, nil
	}
	if netns.Exists(c.kniNetns) {
		return &netns.NS{Name: c.kniNetns}, none, nil
	}
	ns, err := netns.Create(c.kniNetns)
	if err != nil {
		return nil, none, fmt.Errorf("--kni-netns: %w", err)
	}
	log.Info("namespace created", "netns", c.kniNetns)
	return ns, func() {
		if e := ns.Delete(); e != nil {
			log.Warn("remove namespace", "err", e)
		}
	}, nil
}

// kniUp brings the exception path's kernel side up in ns, when --kni-netns
// gave one: the interface moves in with every address of the stack, the
// primary first, as the stack holds them, and a default route through
// --gateway.
func (c runConfig) kniUp(ns *netns.NS, log *slog.Logger) error {
	if c.kni == "" {
		return nil
	}
	if ns != nil {
		if err := ns.MoveIn(c.kni, c.addrs...); err != nil {
			return fmt.Errorf("--kni-netns: %w", err)
		}
		if c.gateway.IsValid() {
			if err := ns.IP("route", "add", "default", "via", c.gateway.String(), "dev", c.kni); err != nil {
				return fmt.Errorf("--kni-netns: %w", err)
			}
		}
	}
	log.Info("kernel exception path", "iface", c.kni, "netns", c.kniNetns, "ports", c.kniPorts,
		"arp", c.kniPolicy.ARP, "icmp", c.kniPolicy.ICMP)
	return nil
}

// eal is the EAL configuration of c, with the port's name and, for a TAP,
// the name of its kernel interface.
func (c runConfig) eal() (cfg dpdk.EALConfig, portName, iface string) {
	cfg = dpdk.EALConfig{
		Lcores:     c.cores,
		MemoryMB:   c.memoryMB,
		Hugepages:  c.huge,
		FilePrefix: c.filePrefix,
		LogLevel:   c.ealLogLevel,
	}
	if c.kni != "" {
		cfg.Vdevs = []string{kniDevice + ",iface=" + c.kni}
	}
	if c.vdev == "" {
		cfg.PCI = []string{c.pci}
		return cfg, c.pci, ""
	}
	vdev := c.vdev
	if strings.HasPrefix(vdev, "net_tap") {
		vdev, iface = tapIface(vdev)
	}
	cfg.Vdevs = append(cfg.Vdevs, vdev)
	portName, _, _ = strings.Cut(vdev, ",")
	return cfg, portName, iface
}

// openHost opens the stack on port, one core per EAL lcore, with the
// exception port as --kni asks.
func (c runConfig) openHost(port *dpdk.Port) (*stack.Host, error) {
	lcores := dpdk.Lcores()
	var exc *stack.Exception
	if c.kni != "" {
		kni, err := dpdk.PortByName(kniDevice)
		if err != nil {
			return nil, fmt.Errorf("exception port %s (--kni %s) did not come up: %w", kniDevice, c.kni, err)
		}
		exc = &stack.Exception{Port: kni, Policy: c.kniPolicy}
	}
	return stack.Open(stack.Config{
		Name:       "dps",
		Port:       port,
		Addr:       c.addrs[0],
		Addrs:      c.addrs[1:],
		Gateway:    c.gateway,
		Routes:     c.routes,
		Cores:      len(lcores),
		Lcores:     lcores,
		Idle:       c.idle,
		PoolSize:   c.mbufs,
		SockMem:    c.sockMem,
		MaxOrphans: c.maxOrphans,
		MTU:        c.mtu,
		VLAN:       uint16(c.vlan),
		Congestion: c.congestion,

		TCPModerateRcvbuf: c.moderateRcvbuf,
		TCPRmemMax:        c.rmemMax,
		NoGRO:             c.noGRO,

		AcceptSourceRoute: c.sourceRoute,
		NoLRO:             c.noLRO,
		Exception:         exc,
	})
}

// logUp logs what came up: the port, its driver and offloads, the address.
func logUp(log *slog.Logger, c runConfig, host *stack.Host, portName string) {
	info, _ := host.Port().Info()
	link, _ := host.Port().Link()
	off := host.Offloads()
	held, kept := host.DriverRxMbufs()
	log.Info("dpstack up", "port", portName, "driver", info.Driver, "mac", host.MAC().String(),
		"link", link.String(), "addrs", c.addrs, "gateway", c.gateway, "routes", c.routes, "vlan", c.vlan, "lcores", dpdk.Lcores(), "idle", c.idle.String(),
		"rx_offloads", fmt.Sprintf("%#x", off.RxOffloads), "tx_offloads", fmt.Sprintf("%#x", off.TxOffloads),
		"lro", off.RxOffloads&dpdk.RxOffloadTCPLRO != 0, "lro_max", off.MaxLROPktSize,
		"driver_rx_mbufs", held, "driver_keeps_after_close", kept)
}

// serve waits for ctx, logging the status every interval (never if 0).
func serve(ctx context.Context, interval time.Duration, host *stack.Host, log *slog.Logger) {
	var tick <-chan time.Time
	if interval > 0 {
		t := time.NewTicker(interval)
		defer t.Stop()
		tick = t.C
	}
	for {
		select {
		case <-ctx.Done():
			log.Info("stopping")
			return
		case <-tick:
			logStatus(log, host)
		}
	}
}

// serveMetrics binds the management listener, which must be a loopback
// address: /metrics, and the state (/state, /healthz, /readyz, package
// diag) that dpstack ss, neigh, route and stats read. It is called once
// the application serves, so /readyz is ready from the start.
func serveMetrics(addr string, host *stack.Host, linkUnknown string, log *slog.Logger, app ...prometheus.Collector) (*http.Server, error) {
	h, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("--metrics %q: %w", addr, err)
	}
	if ip := net.ParseIP(h); h != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return nil, fmt.Errorf("--metrics %q: the management listener binds loopback only", addr)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("metrics listener: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", metrics.Handler(host, app...))
	st := diag.NewServer(host)
	st.LinkUnknown = linkUnknown
	st.Register(mux)
	mux.Handle("POST /capture", capture.Handler(host))
	st.SetReady(true)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(ln)
	log.Info("metrics", "url", "http://"+ln.Addr().String()+"/metrics")
	return srv, nil
}

// logStatus logs one line: traffic, drops and mbufs in use.
func logStatus(log *slog.Logger, host *stack.Host) {
	var rx, tx, drops uint64
	for _, s := range host.Stacks() {
		d := s.Device()
		rx += d.Stats.RxFrames.Load()
		tx += d.Stats.TxFrames.Load()
		for r := stat.DropReason(0); r < stat.NumDropReasons; r++ {
			drops += d.Drops.Get(r)
		}
	}
	link, _ := host.Port().Link()
	log.Info("status", "link", link.String(), "rx_frames", rx, "tx_frames", tx, "drops", drops,
		"mbufs_in_use", host.Pool().InUse(), "mbufs", host.Pool().Size())
}

// defaultGOGC is --gogc's default. dpstack's Go heap is small (sockets,
// conns and their timers: about a kilobyte and a dozen allocations per
// connection) and mostly short-lived, so at Go's own 100 a connection-
// per-request load collects several times a second, and each cycle's
// mark assists and write barriers land on the polling threads: a
// latency tail. 400 collects a fifth as often for a heap at most five
// times the live one. Measured with "kclient -proxy" (ab, a connection
// per request, through dpstack proxy): see README "Garbage collection".
const defaultGOGC = 400

// setGCPercent applies --gogc unless GOGC in the environment has set the
// collector already, as the Go runtime reads it.
func setGCPercent(gogc int) {
	if _, set := os.LookupEnv("GOGC"); !set {
		debug.SetGCPercent(gogc)
	}
}
