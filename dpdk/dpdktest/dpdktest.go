// Package dpdktest starts DPDK for test binaries and gives tests mbuf pools
// whose leaks fail the test.
package dpdktest

import (
	"fmt"
	"os"
	"sync/atomic"
	"testing"

	"github.com/dpstack/dpstack/dpdk"
	"github.com/dpstack/dpstack/mbuf"
)

// Main starts EAL for the test binary of package name (its own file prefix,
// hugepages only when mounted, no PCI), runs the tests and stops EAL. Call
// it from TestMain. Without root it runs nothing and says why.
func Main(m *testing.M, name string, cfg dpdk.EALConfig) {
	if os.Geteuid() != 0 {
		fmt.Fprintf(os.Stderr, "%s: tests need root for DPDK\n", name)
		os.Exit(1)
	}
	cfg.FilePrefix = fmt.Sprintf("dpstack-test-%s-%d", name, os.Getpid())
	if cfg.LogLevel == "" {
		cfg.LogLevel = "error"
	}
	if err := dpdk.StartEAL(cfg); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	if err := dpdk.StopEAL(); err != nil {
		fmt.Fprintln(os.Stderr, err)
	}
	os.Exit(code)
}

var poolSeq atomic.Int64

// Pool returns a fresh pool of size mbufs. When the test ends it checks
// that every mbuf is back (no leak) and frees the pool.
func Pool(t testing.TB, size int) *mbuf.Pool {
	t.Helper()
	p, err := mbuf.NewPool(mbuf.PoolConfig{
		Name:   fmt.Sprintf("test%d", poolSeq.Add(1)),
		Size:   size,
		Socket: -1,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if n := p.InUse(); n != 0 {
			t.Errorf("mbuf leak: %d mbufs of pool %s still in use", n, p.Name())
			return
		}
		p.Close()
	})
	return p
}
