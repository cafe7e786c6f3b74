// Package metrics exports a host's counters to Prometheus: port stats and
// extended stats, drops by reason, per-layer counters and mempool use,
// labelled by port, core and reason. Counters are kept per core on the data
// path and summed here, at scrape time, for the port-wide totals.
package metrics

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/dpstack/dpstack/stack"
	"github.com/dpstack/dpstack/stack/sock"
	"github.com/dpstack/dpstack/stack/tcp"
	"github.com/dpstack/dpstack/stat"
)

// Collector collects one host's metrics.
type Collector struct {
	host *stack.Host
	port string

	portPackets *prometheus.Desc
	portBytes   *prometheus.Desc
	portErrors  *prometheus.Desc
	xstat       *prometheus.Desc
	drops       *prometheus.Desc
	mempoolUse  *prometheus.Desc
	mempoolSize *prometheus.Desc
	idleSleeps  *prometheus.Desc
	rxIntr      *prometheus.Desc
	tcpSockets  *prometheus.Desc
	tcpOrphans  *prometheus.Desc
	tcpTW       *prometheus.Desc
	tcpReqs     *prometheus.Desc
}

// NewCollector returns a collector for h.
func NewCollector(h *stack.Host) *Collector {
	port := []string{"port"}
	return &Collector{
		host:        h,
		port:        h.Port().Name(),
		portPackets: prometheus.NewDesc("dpstack_port_packets_total", "Packets through the port, by direction.", []string{"port", "dir"}, nil),
		portBytes:   prometheus.NewDesc("dpstack_port_bytes_total", "Bytes through the port, by direction.", []string{"port", "dir"}, nil),
		portErrors:  prometheus.NewDesc("dpstack_port_errors_total", "Port-level losses and errors, by kind.", []string{"port", "kind"}, nil),
		xstat:       prometheus.NewDesc("dpstack_port_xstat", "The port's extended statistics (rte_eth_xstats).", []string{"port", "name"}, nil),
		drops:       prometheus.NewDesc("dpstack_drops_total", "Packets dropped by the stack, by core and reason.", []string{"port", "core", "reason"}, nil),
		mempoolUse:  prometheus.NewDesc("dpstack_mempool_in_use", "Mbufs out of the pool.", port, nil),
		mempoolSize: prometheus.NewDesc("dpstack_mempool_size", "Mbufs in the pool.", port, nil),
		idleSleeps:  prometheus.NewDesc("dpstack_loop_idle_sleeps_total", "Times the core's loop slept for want of work.", []string{"port", "core"}, nil),
		tcpSockets:  prometheus.NewDesc("dpstack_tcp_sockets", "TCP sockets by state (TIME-WAIT: dpstack_tcp_timewait).", []string{"port", "core", "state"}, nil),
		tcpOrphans:  prometheus.NewDesc("dpstack_tcp_orphans", "TCP sockets closed by the user and still finishing their connection.", []string{"port", "core"}, nil),
		tcpTW:       prometheus.NewDesc("dpstack_tcp_timewait", "TCP connections in TIME-WAIT.", []string{"port", "core"}, nil),
		tcpReqs:     prometheus.NewDesc("dpstack_tcp_requests", "Handshakes in the listeners' SYN queues.", []string{"port", "core"}, nil),
		rxIntr:      prometheus.NewDesc("dpstack_loop_rx_interrupts", "1 if the core's idle loop sleeps until a packet arrives, 0 if in steps (no rx interrupts, or busy polling).", []string{"port", "core"}, nil),
	}
}

// Describe sends nothing: the per-layer counters are discovered at scrape
// time, so the collector is unchecked.
func (c *Collector) Describe(chan<- *prometheus.Desc) {}

// Collect reads every counter.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	if s, err := c.host.Port().Stats(); err == nil {
		counter(c.portPackets, s.RxPackets, c.port, "rx")
		counter(c.portPackets, s.TxPackets, c.port, "tx")
		counter(c.portBytes, s.RxBytes, c.port, "rx")
		counter(c.portBytes, s.TxBytes, c.port, "tx")
		counter(c.portErrors, s.RxMissed, c.port, "rx_missed")
		counter(c.portErrors, s.RxErrors, c.port, "rx_errors")
		counter(c.portErrors, s.TxErrors, c.port, "tx_errors")
		counter(c.portErrors, s.RxNoMbuf, c.port, "rx_nombuf")
	}
	if xs, err := c.host.Port().XStats(); err == nil {
		for _, x := range xs {
			ch <- prometheus.MustNewConstMetric(c.xstat, prometheus.UntypedValue, float64(x.Value), c.port, x.Name)
		}
	}
	pool := c.host.Pool()
	ch <- prometheus.MustNewConstMetric(c.mempoolUse, prometheus.GaugeValue, float64(pool.InUse()), c.port)
	ch <- prometheus.MustNewConstMetric(c.mempoolSize, prometheus.GaugeValue, float64(pool.Size()), c.port)

	for _, s := range c.host.Stacks() {
		core := strconv.Itoa(s.Core())
		dev := s.Device()
		for r := stat.DropReason(0); r < stat.NumDropReasons; r++ {
			counter(c.drops, dev.Drops.Get(r), c.port, core, r.String())
		}
		counter(c.idleSleeps, s.Loop().IdleSleeps(), c.port, core)
		intr := 0.0
		if s.Loop().Interruptible() {
			intr = 1
		}
		ch <- prometheus.MustNewConstMetric(c.rxIntr, prometheus.GaugeValue, intr, c.port, core)
		visit := func(name string, v uint64) {
			d := prometheus.NewDesc("dpstack_"+name+"_total", "Per-core counter "+name+".", []string{"port", "core"}, nil)
			counter(d, v, c.port, core)
		}
		s.VisitCounters(visit)
		c.census(ch, s, core)
		s.VisitHistograms(func(name string, h *stat.Histogram) {
			ch <- histogram(name, h, c.port, core)
		})
		s.VisitGauges(func(name string, v int64) {
			d := prometheus.NewDesc("dpstack_"+name, "Per-core level "+name+".", []string{"port", "core"}, nil)
			ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, float64(v), c.port, core)
		})
	}
}

// histogram is a per-core stat.Histogram as a Prometheus histogram in
// seconds, named dpstack_NAME_seconds.
func histogram(name string, h *stat.Histogram, port, core string) prometheus.Metric {
	d := prometheus.NewDesc("dpstack_"+name+"_seconds", "Per-core histogram "+name+".", []string{"port", "core"}, nil)
	counts, sum := h.Load()
	buckets := make(map[float64]uint64, stat.HistogramBuckets-1)
	var total uint64
	for i, n := range counts {
		total += n
		if i < stat.HistogramBuckets-1 {
			buckets[stat.HistogramBound(i).Seconds()] = total
		}
	}
	return prometheus.MustNewConstHistogram(d, total, sum.Seconds(), buckets, port, core)
}

// census sends the core's connection counts, taken on the core.
func (c *Collector) census(ch chan<- prometheus.Metric, s *stack.Stack, core string) {
	var n tcp.Census
	if err := c.host.Do(s.Core(), func(s *stack.Stack) { n = s.TCP().Census() }); err != nil {
		return // the core is too busy to be counted this time
	}
	gauge := func(d *prometheus.Desc, v int, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, float64(v), labels...)
	}
	for st := range sock.NumStates {
		if st != sock.TimeWait {
			gauge(c.tcpSockets, n.States[st], c.port, core, strings.ToLower(st.String()))
		}
	}
	gauge(c.tcpOrphans, n.Orphans, c.port, core)
	gauge(c.tcpTW, n.TimeWait, c.port, core)
	gauge(c.tcpReqs, n.Requests, c.port, core)
}

// Handler serves the host's metrics, with Go runtime metrics and the
// application's own collectors beside them.
func Handler(h *stack.Host, app ...prometheus.Collector) http.Handler {
	reg := prometheus.NewRegistry()
	reg.MustRegister(NewCollector(h), prometheus.NewGoCollector(), prometheus.NewProcessCollector(prometheus.ProcessCollectorOpts{}))
	reg.MustRegister(app...)
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError})
}
