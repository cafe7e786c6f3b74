package dpstack

import (
	"context"
	"net"

	"github.com/dpstack/dpstack/api"
	"github.com/dpstack/dpstack/perf/harness"
)

// Blocking is dpstack's blocking API (net.Listener, net.Conn) between two
// hosts.
type Blocking struct {
	harness.ConnScenarios
	*pair
	name string
}

// NewBlocking opens the pair of hosts.
func NewBlocking(name string, o Options) (*Blocking, error) {
	p, err := newPair(o)
	if err != nil {
		return nil, err
	}
	b := &Blocking{pair: p, name: name}
	b.ConnScenarios = harness.ConnScenarios{Conns: b, Segments: p.segments}
	return b, nil
}

// Name implements harness.System.
func (b *Blocking) Name() string { return b.name }

// Listen implements harness.Conns: a port of the server host's choosing.
func (b *Blocking) Listen() (net.Listener, error) {
	return api.Listen(b.server, "tcp4", serverAddr.Addr().String()+":0")
}

// Dial implements harness.Conns.
func (b *Blocking) Dial(ctx context.Context, addr net.Addr) (net.Conn, error) {
	return api.Dial(ctx, b.client, "tcp4", addr.String())
}

// Close implements harness.System.
func (b *Blocking) Close() error { return b.close() }
