// Package capture records what a running host receives and sends, as
// pcapng that tcpdump and tshark read (dpstack capture). Each captured
// core gets a tap (lcore.Tap) that copies the packets a classic BPF filter
// accepts into a ring of its own; a session drains the rings into the
// pcapng stream. The data path never waits for the capture: when a ring is
// full the packet is left out and counted, and the counts close the file
// as its Interface Statistics Blocks. With no capture the loops pay a nil
// check per burst.
package capture

import (
	"context"
	"fmt"
	"io"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/dpstack/dpstack/stack"
)

// Config is what to capture.
type Config struct {
	Cores   []int         // the cores to capture on; none: all
	RX, TX  bool          // the directions; neither: both
	Snaplen int           // bytes kept of each packet; 0: DefaultSnaplen
	Filter  *Filter       // nil: every packet
	Count   int           // stop after this many packets; 0: no limit
	Limit   time.Duration // stop after this long; 0: no limit
}

// DefaultSnaplen keeps whole frames up to a 9000-byte MTU.
const DefaultSnaplen = 9018

// poll is how long the session sleeps when the rings are empty.
const poll = time.Millisecond

// busy is held by the running session: a loop has one tap.
var busy sync.Mutex

// Run captures on h as c says into w, as pcapng, until ctx ends or the
// count or time limit is reached, and returns the packets written. flush,
// if not nil, is called after each round that wrote packets (an HTTP
// response's Flush). A second session while one runs fails with EBUSY.
func Run(ctx context.Context, h *stack.Host, c Config, w io.Writer, flush func()) (int, error) {
	if !busy.TryLock() {
		return 0, fmt.Errorf("capture: a capture is running already: %w", syscall.EBUSY)
	}
	defer busy.Unlock()
	if c.Snaplen <= 0 {
		c.Snaplen = DefaultSnaplen
	}
	if !c.RX && !c.TX {
		c.RX, c.TX = true, true
	}
	if len(c.Cores) == 0 {
		for core := range h.Cores() {
			c.Cores = append(c.Cores, core)
		}
	}
	for _, core := range c.Cores {
		if core < 0 || core >= h.Cores() {
			return 0, fmt.Errorf("capture: no core %d (the host has %d): %w", core, h.Cores(), syscall.EINVAL)
		}
	}
	if c.Limit > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.Limit)
		defer cancel()
	}

	pw := &writer{w: w}
	if err := pw.section(fmt.Sprintf("dpstack capture on %s, cores %v", h.Port().Name(), c.Cores)); err != nil {
		return 0, err
	}
	rings := make([]*ring, len(c.Cores))
	for i, core := range c.Cores {
		rings[i] = newRing(c.Snaplen, c.Filter, c.RX, c.TX)
		if err := pw.iface(fmt.Sprintf("%s core %d", h.Port().Name(), core), c.Snaplen); err != nil {
			return 0, err
		}
	}
	// The loops count what the taps copy and drop; a session's share is
	// what they counted meanwhile (one session runs at a time).
	base := make([][2]uint64, len(c.Cores))
	counts := func(core int) [2]uint64 {
		st := h.Stacks()[core].Loop().Stats()
		return [2]uint64{st.CapturePackets.Load(), st.CaptureDrops.Load()}
	}
	for i, core := range c.Cores {
		base[i] = counts(core)
	}
	// The taps go in, and come out whatever happens, on their cores.
	for i, core := range c.Cores {
		r := rings[i]
		if err := h.Do(core, func(s *stack.Stack) { s.Loop().SetTap(r) }); err != nil {
			return 0, err
		}
	}
	untap := func() {
		for _, core := range c.Cores {
			h.Do(core, func(s *stack.Stack) { s.Loop().SetTap(nil) })
		}
	}

	written := 0
	drain := func() error {
		for i, r := range rings {
			if c.Count > 0 && written >= c.Count {
				return nil
			}
			_, err := r.take(func(s *slot, data []byte) error {
				if c.Count > 0 && written >= c.Count {
					return nil
				}
				written++
				return pw.packet(uint32(i), s.ns, data, s.wire, s.outbound)
			})
			if err != nil {
				return err
			}
		}
		return nil
	}
	var err error
	for err == nil && ctx.Err() == nil && (c.Count == 0 || written < c.Count) {
		before := written
		err = drain()
		if written == before {
			time.Sleep(poll)
		} else if flush != nil {
			flush()
		}
	}
	untap()
	if err == nil {
		err = drain() // what the taps copied before they came out
	}
	now := time.Now().UnixNano()
	for i, core := range c.Cores {
		if err != nil {
			break
		}
		n := counts(core)
		err = pw.stats(uint32(i), now, n[0]-base[i][0], n[1]-base[i][1])
	}
	if flush != nil {
		flush()
	}
	return written, err
}

// ParseDirection reads --dir: rx, tx or both.
func ParseDirection(s string) (rx, tx bool, err error) {
	switch strings.ToLower(s) {
	case "rx", "in":
		return true, false, nil
	case "tx", "out":
		return false, true, nil
	case "both", "":
		return true, true, nil
	}
	return false, false, fmt.Errorf("capture: direction %q: want rx, tx or both", s)
}
