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
	NsPerPkt float64
}

// RunDispatch runs the stack's receive-path benchmarks (BenchmarkDispatch*
// in package stack of the dpstack module at root, in a process of their
// own) and returns the ns/pkt each reported.
func RunDispatch(ctx context.Context, goBin, root string) ([]DispatchResult, error) {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, goBin, "test", "-count=1", "-run", "^$",
		"-bench", "^BenchmarkDispatch", "-benchtime", "1s", "./stack")
	cmd.Dir = root
	out, err := cmd.CombinedOutput()
	if err != nil {
		return nil, fmt.Errorf("%s: %w\n%s", strings.Join(cmd.Args, " "), err, out)
	}
	return parseDispatch(out)
}

// parseDispatch reads the ns/pkt metric of every benchmark line.
func parseDispatch(out []byte) ([]DispatchResult, error) {
	var res []DispatchResult
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
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
			res = append(res, DispatchResult{name, v})
		}
	}
	if len(res) == 0 {
		return nil, fmt.Errorf("no ns/pkt in the benchmark output:\n%s", out)
	}
	return res, nil
}
