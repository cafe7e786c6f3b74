package main

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dpstack/dpstack/internal/netns"
)

// TestKNI runs dpstack with the kernel exception path (--kni, ports auto,
// ARP to both) and the kernel side in a namespace of its own holding
// dpstack's address, on one core and on two. From the peer's namespace,
// through that one address, a kernel TCP server on a port dpstack does
// not serve answers, and so does a kernel UDP echo, while dpstack's own
// HTTP hello, TCP and UDP echo and ping still answer. The counters say
// which way the packets went; SIGINT ends dpstack cleanly (every mbuf
// back) and takes the kernel interface with it.
func TestKNI(t *testing.T) {
	if _, err := os.Stat("/dev/net/tun"); err != nil {
		t.Skip("no /dev/net/tun")
	}
	for _, cores := range []string{"0", "0-1"} {
		t.Run("cores "+cores, func(t *testing.T) { testKNI(t, cores) })
	}
}

func testKNI(t *testing.T, cores string) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	kns, err := netns.Create(fmt.Sprintf("dpstest-kni-%d", os.Getpid()))
	require.NoError(t, err)
	t.Cleanup(func() { kns.Delete() })
	iface := fmt.Sprintf("dpsk%d", os.Getpid()%100000)
	r := startRun(t, ctx, "kni", "198.18.5", "--cores", cores, "--kni", iface, "--kni-netns", kns.Name, "--kni-arp")
	const addr = "198.18.5.2"

	// The kernel's services, on the address it shares with dpstack.
	var ln net.Listener
	var pc net.PacketConn
	require.NoError(t, kns.Do(func() error {
		var err error
		if ln, err = net.Listen("tcp", addr+":2222"); err != nil {
			return err
		}
		pc, err = net.ListenPacket("udp", addr+":5353")
		return err
	}))
	defer ln.Close()
	defer pc.Close()
	go serveKernelLines(ln)
	go func() {
		buf := make([]byte, 1500)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			pc.WriteTo(append([]byte("kernel "), buf[:n]...), from)
		}
	}()

	ns := r.ns
	out, err := ns.Output(ctx, "timeout", "10", "bash", "-c", `exec 3<>/dev/tcp/`+addr+`/2222; echo hello >&3; timeout 10 head -n 1 <&3`)
	require.NoError(t, err, out)
	assert.Equal(t, "kernel hello\n", out, "the kernel's TCP server through dpstack's address")
	out, err = ns.Output(ctx, "timeout", "10", "bash", "-c", `exec 3<>/dev/udp/`+addr+`/5353; echo datagram >&3; timeout 10 head -c 16 <&3`)
	require.NoError(t, err, out)
	assert.Equal(t, "kernel datagram\n", out, "the kernel's UDP echo")

	// dpstack's own services answer beside it.
	curlHello(t, ctx, ns, addr)
	out, err = ns.Output(ctx, "bash", "-c", `exec 3<>/dev/tcp/`+addr+`/7; echo dpstack >&3; timeout 10 head -n 1 <&3`)
	require.NoError(t, err, out)
	assert.Equal(t, "dpstack\n", out, "dpstack's TCP echo")
	out, err = ns.Output(ctx, "bash", "-c", `exec 3<>/dev/udp/`+addr+`/7; echo datagram >&3; timeout 10 head -c 9 <&3`)
	require.NoError(t, err, out)
	assert.Equal(t, "datagram\n", out, "dpstack's UDP echo")
	out, err = ns.Output(ctx, "ping", "-c", "2", "-i", "0.2", "-W", "2", addr)
	require.NoError(t, err, out)

	body := r.metrics(t)
	for _, name := range dashboardMetrics(t) {
		if kniMetric.MatchString(name) {
			assert.Regexp(t, `(?m)^`+name+`[{ ]`, body, "the dashboard's %s", name)
		}
	}
	// counter sums name over the cores.
	counter := func(name string) int {
		ms := regexp.MustCompile(`dpstack_`+name+`_total\{core="\d+",port="net_tap0"\} (\d+)`).FindAllStringSubmatch(body, -1)
		require.NotEmpty(t, ms, "%s in the metrics", name)
		sum := 0
		for _, m := range ms {
			v, _ := strconv.Atoi(m[1])
			sum += v
		}
		return sum
	}
	assert.Positive(t, counter("tcp_to_kernel"), "the kernel's connection went to the kernel")
	assert.Positive(t, counter("udp_to_kernel"))
	assert.Greater(t, counter("kni_to_kernel"), counter("tcp_to_kernel")+counter("udp_to_kernel"), "and ARP, which the kernel needs")
	assert.Positive(t, counter("kni_from_kernel"), "the kernel's answers left by the port")
	assert.Equal(t, 2, counter("icmp_out_echo_replies"), "dpstack answered the pings")
	assert.Regexp(t, `dpstack_drops_total\{core="0",port="net_tap0",reason="kni_tx_full"\} 0\n`, body)

	r.stop(t)
	assert.Error(t, kns.IP("link", "show", iface), "the kernel interface went with dpstack")
}

// serveKernelLines answers each line a connection sends with "kernel "
// and the line: a kernel TCP server on a port dpstack does not serve.
func serveKernelLines(ln net.Listener) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		go func() {
			defer c.Close()
			c.SetDeadline(time.Now().Add(20 * time.Second))
			s := bufio.NewScanner(c)
			for s.Scan() {
				fmt.Fprintf(c, "kernel %s\n", s.Text())
			}
		}()
	}
}
