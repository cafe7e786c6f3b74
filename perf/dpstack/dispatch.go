package dpstack

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

// DispatchResult is one receive-path benchmark's cost per packet.
type DispatchResult struct {
	Name     string
	Package  string // the import path go test printed for it
	NsPerPkt float64
}

// dispatchPkgs are the packages whose BenchmarkDispatch* benchmarks
// RunDispatch runs: the ICMP echo path in stack, the TCP receive path in
// stack/tcp.
var dispatchPkgs = []string{"./stack", "./stack/tcp"}

// RunDispatch runs the stack's receive-path benchmarks (BenchmarkDispatch*
// in the packages of dispatchPkgs of the dpstack module at root, one
// package at a time, each in a process of its own) and returns the ns/pkt
// each reported.
func RunDispatch(ctx context.Context, goBin, root string) ([]DispatchResult, error) {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	// -p 1: the packages' benchmarks must not run at the same time.
	args := append([]string{"test", "-count=1", "-p", "1", "-run", "^$",
		"-bench", "^BenchmarkDispatch", "-benchtime", "1s"}, dispatchPkgs...)
	cmd := exec.CommandContext(ctx, goBin, args...)
	cmd.Dir = root
	out, err := cmd.CombinedOutput()
	if err != nil {
		return nil, fmt.Errorf("%s: %w\n%s", strings.Join(cmd.Args, " "), err, out)
	}
	return parseDispatch(out)
}

// parseDispatch reads the ns/pkt metric of every benchmark line, with the
// package of the "pkg:" line before it.
func parseDispatch(out []byte) ([]DispatchResult, error) {
	var res []DispatchResult
	var pkg string
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		if p, ok := strings.CutPrefix(sc.Text(), "pkg: "); ok {
			pkg = strings.TrimSpace(p)
			continue
		}
		f := strings.Fields(sc.Text())
		if len(f) < 2 || !strings.HasPrefix(f[0], "Benchmark") {
			continue
		}
		for i := 1; i+1 < len(f); i++ {
			if f[i+1] != "ns/pkt" {
				continue
			}
			v, err := strconv.ParseFloat(f[i], 64)
			if err != nil {
				return nil, fmt.Errorf("benchmark line %q: %w", sc.Text(), err)
			}
			name := f[0]
			if j := strings.LastIndexByte(name, '-'); j > 0 {
				name = name[:j] // the GOMAXPROCS suffix
			}
			res = append(res, DispatchResult{name, pkg, v})
		}
	}
	if len(res) == 0 {
		return nil, fmt.Errorf("no ns/pkt in the benchmark output:\n%s", out)
	}
	return res, nil
}
