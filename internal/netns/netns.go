// Package netns places the kernel side of a TAP interface in a network
// namespace of its own, so that the kernel can be dpstack's peer without
// touching the host's interfaces or routes. It drives iproute2's ip(8).
package netns

import (
	"context"
	"crypto/rand"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"strings"

	"golang.org/x/sys/unix"
)

// NS is a network namespace this process created.
type NS struct {
	Name string
}

// Create makes namespace name, which must not exist yet, and brings its
// loopback up.
func Create(name string) (*NS, error) {
	if err := ip("netns", "add", name); err != nil {
		return nil, err
	}
	ns := &NS{Name: name}
	if err := ns.IP("link", "set", "lo", "up"); err != nil {
		ns.Delete()
		return nil, err
	}
	return ns, nil
}

// Adopt moves interface ifname from the current namespace into ns, gives
// it a MAC address of its own and addr, and brings it up: the kernel as
// the port's peer.
//
// DPDK's net_tap gives the kernel interface the same MAC as the port; two
// ends of one link with one address would take each other's frames for
// their own, so the kernel side gets a random locally administered one.
func (ns *NS) Adopt(ifname string, addr netip.Prefix) error {
	if err := ip("link", "set", ifname, "netns", ns.Name); err != nil {
		return err
	}
	var mac [6]byte
	rand.Read(mac[:])
	mac[0] = mac[0]&^0x01 | 0x02
	if err := ns.IP("link", "set", ifname, "address", net.HardwareAddr(mac[:]).String()); err != nil {
		return err
	}
	// The peer is IPv4-only: keep IPv6 autoconfiguration traffic off the
	// link so it does not show up as drops.
	_ = ns.Exec(context.Background(), "sysctl", "-q", "-w", "net.ipv6.conf."+ifname+".disable_ipv6=1")
	return ns.up(ifname, addr)
}

// MoveIn moves interface ifname from the current namespace into ns, keeping
// its MAC address, gives it addrs and brings it up: the kernel side of
// dpstack's exception path, which shares the stack's MAC and addresses.
func (ns *NS) MoveIn(ifname string, addrs ...netip.Prefix) error {
	if err := ip("link", "set", ifname, "netns", ns.Name); err != nil {
		return err
	}
	return ns.up(ifname, addrs...)
}

// up gives ifname addrs, in order, and brings it up.
func (ns *NS) up(ifname string, addrs ...netip.Prefix) error {
	for _, a := range addrs {
		if err := ns.IP("addr", "add", a.String(), "dev", ifname); err != nil {
			return err
		}
	}
	return ns.IP("link", "set", ifname, "up")
}

// Exists reports whether namespace name exists (ip netns add made it).
func Exists(name string) bool {
	_, err := os.Stat("/var/run/netns/" + name)
	return err == nil
}

// IP runs ip(8) inside the namespace.
func (ns *NS) IP(args ...string) error {
	return ip(append([]string{"-n", ns.Name}, args...)...)
}

// Command returns a command that runs inside the namespace.
func (ns *NS) Command(ctx context.Context, name string, args ...string) *exec.Cmd {
	return exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", ns.Name, name}, args...)...)
}

// Exec runs a command inside the namespace and returns its error with its
// output.
func (ns *NS) Exec(ctx context.Context, name string, args ...string) error {
	out, err := ns.Command(ctx, name, args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("netns %s: %s %s: %w: %s", ns.Name, name, strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

// Output runs a command inside the namespace and returns its output.
func (ns *NS) Output(ctx context.Context, name string, args ...string) (string, error) {
	out, err := ns.Command(ctx, name, args...).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("netns %s: %s %s: %w: %s", ns.Name, name, strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return string(out), nil
}

// Do runs fn on an OS thread moved into ns (setns(2)), and returns its
// error: the sockets fn opens belong to ns for their whole life, whichever
// thread uses them later. The thread is never moved back; it ends with
// the goroutine Do starts.
func (ns *NS) Do(fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread dies with the goroutine
		f, err := os.Open("/var/run/netns/" + ns.Name)
		if err != nil {
			errc <- err
			return
		}
		defer f.Close()
		if err := unix.Setns(int(f.Fd()), unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("netns %s: setns: %w", ns.Name, err)
			return
		}
		errc <- fn()
	}()
	return <-errc
}

// Delete removes the namespace and everything still in it.
func (ns *NS) Delete() error { return ip("netns", "del", ns.Name) }

func ip(args ...string) error {
	out, err := exec.Command("ip", args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("ip %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}
