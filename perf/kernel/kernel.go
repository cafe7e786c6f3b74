// Package kernel is the Linux kernel's TCP over the loopback interface,
// through the standard net package: the baseline of every ratio.
package kernel

import (
	"context"
	"net"

	"github.com/dpstack/dpstack/perf/harness"
)

// System is kernel TCP between two sockets on 127.0.0.1.
type System struct {
	harness.ConnScenarios
	name string
}

// New returns the kernel system, its row named name.
func New(name string) *System {
	return &System{harness.ConnScenarios{Conns: conns{}}, name}
}

// Name implements harness.System.
func (s *System) Name() string { return s.name }

// Close implements harness.System.
func (*System) Close() error { return nil }

type conns struct{}

func (conns) Listen() (net.Listener, error) { return net.Listen("tcp4", "127.0.0.1:0") }

func (conns) Dial(ctx context.Context, addr net.Addr) (net.Conn, error) {
	var d net.Dialer
	return d.DialContext(ctx, "tcp4", addr.String())
}
