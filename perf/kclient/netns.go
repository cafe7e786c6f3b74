package kclient

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"time"
)

// ipTimeout bounds one run of the ip command.
const ipTimeout = 10 * time.Second

// ip runs the ip command with args; its output is in the error.
func ip(args ...string) error {
	ctx, cancel := context.WithTimeout(context.Background(), ipTimeout)
	defer cancel()
	if out, err := exec.CommandContext(ctx, "ip", args...).CombinedOutput(); err != nil {
		return fmt.Errorf("ip %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

// netnsExists reports whether the named network namespace exists.
func netnsExists(name string) bool {
	_, err := os.Stat("/run/netns/" + name)
	return err == nil
}

// addNetns creates a network namespace with its loopback up, refusing one
// that exists already (a run that was killed left it: remove it with
// `ip netns del NAME`).
func addNetns(name string) error {
	if netnsExists(name) {
		return fmt.Errorf("namespace %s exists already (left by an earlier run? ip netns del %s)", name, name)
	}
	if err := ip("netns", "add", name); err != nil {
		return err
	}
	if err := ip("-n", name, "link", "set", "lo", "up"); err != nil {
		return errors.Join(err, ip("netns", "del", name))
	}
	return nil
}

// inNetns is a command that runs argv in network namespace ns:
// `ip netns exec` execs it, so the process started is the program itself.
func inNetns(ctx context.Context, ns string, argv ...string) *exec.Cmd {
	return exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", ns}, argv...)...)
}

// waitPing pings addr from ns once a second until it answers or the
// timeout passes.
func waitPing(ctx context.Context, ns, addr string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		out, err := inNetns(ctx, ns, "ping", "-n", "-c1", "-W1", addr).CombinedOutput()
		if err == nil {
			return nil
		}
		if ctx.Err() != nil || time.Now().After(deadline) {
			return fmt.Errorf("%s does not answer ping from %s: %v: %s", addr, ns, err, strings.TrimSpace(string(out)))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// undo is what to run, last added first, to take down what was set up.
type undo []func() error

func (u *undo) add(fn func() error) { *u = append(*u, fn) }

// run runs every step, last added first, and joins their errors.
func (u undo) run() error {
	var errs []error
	for i := len(u) - 1; i >= 0; i-- {
		errs = append(errs, u[i]())
	}
	return errors.Join(errs...)
}
