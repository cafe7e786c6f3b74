package api_test

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dpstack/dpstack/api"
)

// stampHandler echoes and records the receive time of every delivery.
type stampHandler struct {
	echoHandler
	mu       sync.Mutex
	stamps   map[*api.CConn][]time.Time
	hw       int
	outside  int     // Accept calls that saw a receive time
	rxAllocs float64 // allocations of one RxTime call, measured in the first Data
	measured bool
}

func (s *stampHandler) Accept(c *api.CConn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if t, _ := c.RxTime(); !t.IsZero() {
		s.outside++
	}
}

func (s *stampHandler) Data(c *api.CConn, data []byte) int {
	t, hw := c.RxTime()
	s.mu.Lock()
	if !s.measured {
		s.measured = true
		s.rxAllocs = testing.AllocsPerRun(10, func() { c.RxTime() })
	}
	s.stamps[c] = append(s.stamps[c], t)
	if hw {
		s.hw++
	}
	s.mu.Unlock()
	return s.echoHandler.Data(c, data)
}

// TestCallbackRxTime: every delivery of a callback conn that a kernel
// client echoes through carries its receive time, software on net_tap:
// between the wall clock read before the clients started and after they
// finished, never earlier than the conn's last delivery; none outside
// Data; reading it allocates nothing.
func TestCallbackRxTime(t *testing.T) {
	p := newPeer(t)
	hd := &stampHandler{echoHandler: echoHandler{errs: make(chan error, 64)}, stamps: map[*api.CConn][]time.Time{}}
	const port = 7150
	ln, err := api.ListenCallback(p.h, fmt.Sprintf(":%d", port), hd)
	require.NoError(t, err)
	defer func() { require.NoError(t, ln.Close()) }()

	before := time.Now()
	out := p.run(t, "echo", env(host(port), helperN, 20, helperConc, 4, helperSize, 64<<10)...)
	after := time.Now()
	require.Equal(t, "ok 20", out)

	hd.mu.Lock()
	defer hd.mu.Unlock()
	assert.Len(t, hd.stamps, 20)
	deliveries := 0
	for _, ts := range hd.stamps {
		for i, at := range ts {
			deliveries++
			require.False(t, at.IsZero(), "delivery %d has a receive time", i)
			assert.False(t, at.Before(before), "delivery %d received at %v, before the clients started at %v", i, at, before)
			assert.False(t, at.After(after), "delivery %d received at %v, after they finished at %v", i, at, after)
			if i > 0 {
				assert.False(t, at.Before(ts[i-1]), "delivery %d received before the one before it", i)
			}
		}
	}
	assert.Greater(t, deliveries, 20, "64 KiB messages come in several deliveries")
	assert.Zero(t, hd.hw, "net_tap has no hardware timestamps")
	assert.Zero(t, hd.outside, "no receive time outside Data")
	assert.Zero(t, hd.rxAllocs, "RxTime allocates nothing")
}
