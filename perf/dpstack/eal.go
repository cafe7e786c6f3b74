// Package dpstack is dpstack talking to itself: two stack.Hosts in this
// process joined by a DPDK ring pair (or by two ring pairs through a fault
// wire), measured with the blocking API (api.Listen, api.Dial) and with the
// callback API (api.ListenCallback, api.DialCallback).
package dpstack

import (
	"fmt"
	"os"
	"sync"

	"github.com/dpstack/dpstack/dpdk"
)

var eal struct {
	once sync.Once
	err  error
}

// StartEAL starts DPDK's EAL once for the process: hugepages when mounted,
// --no-huge otherwise, a file prefix of its own, errors only in the log.
// It needs root.
func StartEAL() error {
	eal.once.Do(func() {
		if os.Geteuid() != 0 {
			eal.err = fmt.Errorf("dpstack: DPDK needs root")
			return
		}
		eal.err = dpdk.StartEAL(dpdk.EALConfig{
			FilePrefix: fmt.Sprintf("dpstack-perf-%d", os.Getpid()),
			LogLevel:   "error",
			MemoryMB:   512,
		})
	})
	return eal.err
}

// StopEAL releases EAL if StartEAL started it.
func StopEAL() error {
	if eal.err != nil {
		return nil
	}
	return dpdk.StopEAL()
}
