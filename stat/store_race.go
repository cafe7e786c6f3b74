//go:build race

package stat

// store writes the owner's new count atomically: the race detector would
// report store.go's plain store against a scrape's Load.
func (c *Counter) store(v uint64) { c.v.Store(v) }

// store writes the owner's new level atomically.
func (g *Gauge) store(v int64) { g.v.Store(v) }
