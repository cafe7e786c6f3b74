// Package stat holds dpstack's per-core counters and the vocabulary of
// reasons for which a packet is dropped (Linux's enum skb_drop_reason).
//
// Every counter has one writer, the core that owns it, so an increment is a
// plain load and store (no locked instruction, no shared cache line); the
// metrics scrape reads it from another goroutine with an atomic load and
// sums the cores. Under the race detector the store is atomic too (see
// store).
package stat

import (
	"reflect"
	"sync/atomic"
)

// Counter is a monotonically increasing count with a single writer.
type Counter struct{ v atomic.Uint64 }

// Inc adds one. Only the owning core may call it.
func (c *Counter) Inc() { c.store(c.v.Load() + 1) }

// Add adds n. Only the owning core may call it.
func (c *Counter) Add(n uint64) { c.store(c.v.Load() + n) }

// Load reads the count; any goroutine may call it.
func (c *Counter) Load() uint64 { return c.v.Load() }

// Gauge is a level that goes up and down (things held now) with a single
// writer, stored as Counter is.
type Gauge struct{ v atomic.Int64 }

// Add adds n, which may be negative. Only the owning core may call it.
func (g *Gauge) Add(n int64) { g.store(g.v.Load() + n) }

// Set sets the level. Only the owning core may call it.
func (g *Gauge) Set(n int64) { g.store(n) }

// Load reads the level; any goroutine may call it.
func (g *Gauge) Load() int64 { return g.v.Load() }

var (
	counterType = reflect.TypeFor[Counter]()
	gaugeType   = reflect.TypeFor[Gauge]()
)

// Visit calls fn for every Counter field of the struct that s points to,
// named by the field's `stat:"name"` tag (fields without a tag are
// skipped). It is for the metrics scrape, not the data path.
func Visit(s any, fn func(name string, value uint64)) {
	visit(s, counterType, func(name string, f any) { fn(name, f.(*Counter).Load()) })
}

// VisitGauges is Visit for the Gauge fields.
func VisitGauges(s any, fn func(name string, value int64)) {
	visit(s, gaugeType, func(name string, f any) { fn(name, f.(*Gauge).Load()) })
}

// visit calls fn with the address of every tagged field of type ft.
func visit(s any, ft reflect.Type, fn func(name string, field any)) {
	v := reflect.ValueOf(s).Elem()
	t := v.Type()
	for i := range t.NumField() {
		f := t.Field(i)
		name := f.Tag.Get("stat")
		if name == "" || f.Type != ft {
			continue
		}
		fn(name, v.Field(i).Addr().Interface())
	}
}
