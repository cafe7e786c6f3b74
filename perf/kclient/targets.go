package kclient

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
)

// The namespaces, interfaces and addresses of the rows. The clients
// always run in the namespace named ns of their target.
const (
	// Kernel: server and client namespaces joined by a veth pair.
	kernelSrvNS, kernelCliNS   = "dpsperf-ksrv", "dpsperf-kcli"
	kernelSrvIf, kernelCliIf   = "dpsperf-kv0", "dpsperf-kv1"
	kernelSrvAddr, kernelCliIP = "198.19.2.2", "198.19.2.1/24"

	// dpstack: "dpstack run" creates the namespace and moves its TAP's
	// kernel side there.
	dpstackNS, dpstackIf = "dpsperf-dps", "dpsperf-tap0"
	dpstackAddr          = "198.19.1.2"
	dpstackPeerAddr      = "198.19.1.1" // the TAP's kernel side

	// Floor: testpmd's TAP moved into a namespace; 198.19.3.2 is only a
	// static neighbour entry pointing at the TAP.
	floorNS, floorIf     = "dpsperf-tap", "dpsperf-tap1"
	floorIP, floorAddr   = "198.19.3.1/24", "198.19.3.2"
	floorMAC, floorPort  = "02:00:00:00:00:02", "9000"
	floorMbufs, floorMem = "8192", "256"
)

// target is a running server and where its clients run.
type target struct {
	ns   string  // the clients' namespace
	cpu  string  // the CPU the clients run on (taskset -c), or "" for any
	addr string  // the server's address
	srv  *server // the server process, for its CPU time
	undo undo    // stops the server, removes the namespaces
}

// stop stops the server and removes everything that was set up for it.
func (t *target) stop() error { return t.undo.run() }

// fail undoes what was set up so far and returns err with the undo's
// errors.
func (t *target) fail(err error) (*target, error) {
	return nil, errors.Join(err, t.undo.run())
}

// startKernel creates the kernel baseline's two namespaces and veth pair
// and starts kserve in the server's namespace, on srvCPU if one is given;
// the clients run on cliCPU if one is given.
func startKernel(ctx context.Context, b *bins, srvCPU, cliCPU string) (*target, error) {
	t, err := startVeth(cliCPU)
	if err != nil {
		return nil, err
	}
	cmd := inNetns(context.Background(), kernelSrvNS, onCPU(srvCPU, b.kserve, "-addr", kernelSrvAddr)...)
	return t.serve(ctx, "kserve", cmd, filepath.Join(b.dir, "kserve.log"), "kserve up")
}

// startVeth creates the kernel baseline's two namespaces and veth pair,
// with no server yet; the clients run on cliCPU if one is given.
func startVeth(cliCPU string) (*target, error) {
	t := &target{ns: kernelCliNS, addr: kernelSrvAddr, cpu: cliCPU}
	for _, ns := range []string{kernelSrvNS, kernelCliNS} {
		if err := addNetns(ns); err != nil {
			return t.fail(err)
		}
		t.undo.add(func() error { return ip("netns", "del", ns) })
	}
	// The pair is created inside the server's namespace with its peer in
	// the client's: no interface ever appears in the host's.
	for _, args := range [][]string{
		{"-n", kernelSrvNS, "link", "add", kernelSrvIf, "type", "veth", "peer", "name", kernelCliIf, "netns", kernelCliNS},
		{"-n", kernelSrvNS, "addr", "add", kernelSrvAddr + "/24", "dev", kernelSrvIf},
		{"-n", kernelCliNS, "addr", "add", kernelCliIP, "dev", kernelCliIf},
		{"-n", kernelSrvNS, "link", "set", kernelSrvIf, "up"},
		{"-n", kernelCliNS, "link", "set", kernelCliIf, "up"},
	} {
		if err := ip(args...); err != nil {
			return t.fail(err)
		}
	}
	return t, nil
}

// startDpstack runs "dpstack run" on net_tap with the idle policy given;
// it creates its namespace itself and removes it when it stops. With a
// cpu, the clients run on that CPU only and dpstack's loop on serverCPU;
// without one, all of them go where the scheduler puts them
// (dpstackLcores).
func startDpstack(ctx context.Context, b *bins, idle, cpu string) (*target, error) {
	return startDpstackCmd(ctx, b, idle, cpu, dpstackLcores(cpu), "run")
}

// startDpstackCmd is startDpstack for any dpstack subcommand that takes
// run's device flags, its loop on lcores (--cores): sub, then those
// flags, then args.
func startDpstackCmd(ctx context.Context, b *bins, idle, cpu, lcores, sub string, args ...string) (*target, error) {
	if b.dpstackErr != nil {
		return nil, b.dpstackErr
	}
	t := &target{ns: dpstackNS, addr: dpstackAddr, cpu: cpu}
	if netnsExists(dpstackNS) {
		return nil, fmt.Errorf("namespace %s exists already (left by an earlier run? ip netns del %s)", dpstackNS, dpstackNS)
	}
	metrics, err := freeLoopbackPort()
	if err != nil {
		return nil, err
	}
	prefix := fmt.Sprintf("dpsperf-%d-%s", os.Getpid(), idle)
	t.undo.add(func() error { return os.RemoveAll("/var/run/dpdk/" + prefix) })
	// Only when dpstack did not remove it itself (it failed or was killed).
	t.undo.add(func() error {
		if netnsExists(dpstackNS) {
			return ip("netns", "del", dpstackNS)
		}
		return nil
	})
	cmd := exec.Command(b.dpstack, append([]string{sub, "--vdev", "net_tap0,iface=" + dpstackIf,
		"--addr", dpstackAddr + "/24", "--netns", dpstackNS, "--peer-addr", dpstackPeerAddr + "/24",
		"--metrics", metrics, "--file-prefix", prefix, "--status-interval", "0",
		"--idle", idle, "--cores", lcores}, args...)...)
	return t.serve(ctx, "dpstack", cmd, filepath.Join(b.dir, "dpstack-"+sub+"-"+idle+".log"), "dpstack up")
}

// dpstackLcores is dpstack's --cores for a target whose clients run on
// cpu: its one lcore pinned to serverCPU as the kernel's server is, or,
// when the clients are left to the scheduler, free to run on every CPU
// (EAL's lcore@(cpu set) syntax) as the kernel's server is then: the
// scheduler may put it beside its client, as it may the kernel's pair.
func dpstackLcores(cpu string) string {
	if cpu != "" {
		return serverCPU
	}
	return fmt.Sprintf("0@(0-%d)", runtime.NumCPU()-1)
}

// serve starts the target's server (startServer's arguments) and waits
// until it answers ping from the clients' namespace.
func (t *target) serve(ctx context.Context, name string, cmd *exec.Cmd, logPath, ready string) (*target, error) {
	if err := t.run(ctx, name, cmd, logPath, ready); err != nil {
		return t.fail(err)
	}
	if err := waitPing(ctx, t.ns, t.addr, startTimeout); err != nil {
		return t.fail(err)
	}
	return t, nil
}

// run starts the target's server (startServer's arguments), whose stop
// joins the target's undo.
func (t *target) run(ctx context.Context, name string, cmd *exec.Cmd, logPath, ready string) error {
	srv, err := startServer(ctx, name, cmd, logPath, ready)
	if err != nil {
		return err
	}
	t.srv = srv
	t.undo.add(srv.stop)
	return nil
}

// startFloor runs dpdk-testpmd on a TAP of its own in 5tswap mode (each
// frame goes back with its MAC and IP addresses and its TCP/UDP ports
// swapped), moves the TAP's kernel side into a namespace and points a
// static neighbour entry at it: a connected UDP socket there gets its
// datagrams back.
func startFloor(ctx context.Context, b *bins) (*target, error) {
	t := &target{ns: floorNS, addr: floorAddr}
	if err := addNetns(floorNS); err != nil {
		return nil, err
	}
	t.undo.add(func() error { return ip("netns", "del", floorNS) })
	prefix := fmt.Sprintf("dpsperf-%d-testpmd", os.Getpid())
	t.undo.add(func() error { return os.RemoveAll("/var/run/dpdk/" + prefix) })
	// Two lcores: testpmd forwards on lcores other than its main one.
	// stdbuf: its stdout is a pipe, and the line that says it forwards
	// would otherwise wait in a full buffer.
	cmd := exec.Command("stdbuf", "-oL", "dpdk-testpmd", "-l", "0-1", "--no-huge", "-m", floorMem, "--no-pci",
		"--file-prefix", prefix, "--vdev", "net_tap0,iface="+floorIf, "--",
		"--forward-mode=5tswap", "--auto-start", "--disable-link-check", "--total-num-mbufs="+floorMbufs)
	if err := t.run(ctx, "testpmd", cmd, filepath.Join(b.dir, "testpmd.log"), "Press enter to exit"); err != nil {
		return t.fail(err)
	}
	for _, args := range [][]string{
		{"link", "set", floorIf, "netns", floorNS},
		{"-n", floorNS, "addr", "add", floorIP, "dev", floorIf},
		{"-n", floorNS, "link", "set", floorIf, "up"},
		{"-n", floorNS, "neigh", "add", floorAddr, "lladdr", floorMAC, "dev", floorIf, "nud", "permanent"},
	} {
		if err := ip(args...); err != nil {
			return t.fail(err)
		}
	}
	return t, nil
}

// freeLoopbackPort returns an address on 127.0.0.1 with a port that was
// free a moment ago, for dpstack's metrics listener.
func freeLoopbackPort() (string, error) {
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return "127.0.0.1:" + strconv.Itoa(ln.Addr().(*net.TCPAddr).Port), nil
}

// onCPU is the command line that runs name with args on cpu (taskset -c
// execs it: the process is still the program), or as it is for "".
func onCPU(cpu, name string, args ...string) []string {
	if cpu == "" {
		return append([]string{name}, args...)
	}
	return append([]string{"taskset", "-c", cpu, name}, args...)
}
