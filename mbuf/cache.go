package mbuf

// cacheBurst is how many mbufs a Cache takes from or gives back to the
// pool at a time.
const cacheBurst = 32

// Cache is one core's front end to a Pool: it allocates and frees in
// bursts, so that the data path makes one cgo call per burst rather than
// per packet. It is owned by one core and not safe for concurrent use.
type Cache struct {
	pool  *Pool
	spare []*Buf // both vectors in C memory: see NewBurst
	nfree int
	dead  []*Buf
	ndead int
}

// NewCache returns a cache in front of p.
func NewCache(p *Pool) *Cache {
	return &Cache{pool: p, spare: NewBurst(cacheBurst), dead: NewBurst(cacheBurst)}
}

// Pool is the pool behind the cache.
func (c *Cache) Pool() *Pool { return c.pool }

// Get returns a fresh mbuf (default headroom, no data), or nil when the
// pool is exhausted.
func (c *Cache) Get() *Buf {
	if c.nfree == 0 {
		if !c.pool.AllocBulk(c.spare) {
			// Not a whole burst left: give back the frees held
			// here, then take what there is one by one.
			c.Flush()
			return c.pool.Alloc()
		}
		c.nfree = cacheBurst
	}
	c.nfree--
	b := c.spare[c.nfree]
	return b
}

// Free releases b. A plain mbuf of the cache's own pool (one segment, not
// a clone, nothing else referencing it) goes straight back among the spare
// ones, reset as allocation would leave it, when there is room: the next
// Get hands it out again, warm in the CPU's cache, and no cgo call is made
// either way. A one-segment clone of the cache's pool is detached in Go
// first, and the original it shared comes here in turn when that was the
// last reference to it. Anything else reaches the pool with the next burst
// of frees or at Flush.
func (c *Cache) Free(b *Buf) {
	if c.nfree < cacheBurst {
		switch {
		case b.recyclable(c.pool.mp):
			c.recycle(b)
			return
		case b.detachable(c.pool.mp):
			orig := b.detach(c.pool.room)
			c.recycle(b)
			if orig != nil {
				c.Free(orig)
			}
			return
		}
	}
	c.dead[c.ndead] = b
	c.ndead++
	if c.ndead == cacheBurst {
		c.Flush()
	}
}

// recycle puts recyclable b back among the spare mbufs; there must be room.
func (c *Cache) recycle(b *Buf) {
	b.reset()
	c.spare[c.nfree] = b
	c.nfree++
}

// Flush returns the pending frees to the pool.
func (c *Cache) Flush() {
	FreeBulk(c.dead[:c.ndead])
	c.ndead = 0
}

// Release hands the caller the frees held back, for it to make in a bulk
// free of its own (dpdk.Batch), and forgets them. The vector is the
// cache's: its packets must be freed before the cache is used again.
func (c *Cache) Release() []*Buf {
	n := c.ndead
	c.ndead = 0
	return c.dead[:n]
}

// Drain returns everything the cache holds to the pool, spare mbufs
// included, so that the pool's in-use count is exact.
func (c *Cache) Drain() {
	c.Flush()
	FreeBulk(c.spare[:c.nfree])
	c.nfree = 0
}
