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

var counterType = reflect.TypeFor[Counter]()

// Visit calls fn for every Counter field of the struct that s points to,
// named by the field's `stat:"name"` tag (fields without a tag are
// skipped). It is for the metrics scrape, not the data path.
func Visit(s any, fn func(name string, value uint64)) {
	v := reflect.ValueOf(s).Elem()
	t := v.Type()
	for i := range t.NumField() {
		f := t.Field(i)
		name := f.Tag.Get("stat")
		if name == "" || f.Type != counterType {
			continue
		}
		fn(name, v.Field(i).Addr().Interface().(*Counter).Load())
	}
}
