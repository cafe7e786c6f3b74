package kclient

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// bins are the programs Run builds: paths, and why dpstack did not build
// when it did not (its rows then fail with that, the others go on).
type bins struct {
	dir                       string // a temporary directory, also for the servers' logs
	dpstack, kserve, pingpong string
	kproxy                    string
	dpstackErr                error
}

// build builds cmd/dpstack from c.Root (with its PGO profile, as `make
// build` does) and cmd/kserve, cmd/pingpong and cmd/kproxy from the perf
// module, into a temporary directory (bins.dir) that the caller removes.
func build(ctx context.Context, c Config) (*bins, error) {
	dir, err := os.MkdirTemp("", "dpsperf-")
	if err != nil {
		return nil, err
	}
	b := &bins{
		dir:      dir,
		dpstack:  filepath.Join(dir, "dpstack"),
		kserve:   filepath.Join(dir, "kserve"),
		pingpong: filepath.Join(dir, "pingpong"),
		kproxy:   filepath.Join(dir, "kproxy"),
	}
	goBuild := func(from string, args ...string) error {
		cmd := exec.CommandContext(ctx, c.Go, append([]string{"build"}, args...)...)
		cmd.Dir = from
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("go build %s: %w\n%s", strings.Join(args, " "), err, out)
		}
		return nil
	}
	if err := goBuild(filepath.Join(c.Root, "perf"), "-o", dir+"/", "./cmd/kserve", "./cmd/pingpong", "./cmd/kproxy"); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	b.dpstackErr = goBuild(c.Root, "-o", b.dpstack, "./cmd/dpstack")
	return b, nil
}
