package dpstack

import (
	"fmt"
	"os"
	"testing"
)

// TestMain stops EAL after the benchmarks, so that it removes its runtime
// directory (/var/run/dpdk/<file prefix>).
func TestMain(m *testing.M) {
	code := m.Run()
	if err := StopEAL(); err != nil {
		fmt.Fprintln(os.Stderr, "stopping EAL:", err)
		code = 1
	}
	os.Exit(code)
}
