package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/dpstack/dpstack/diag"
)

// fetchTimeout bounds a request to the running stack's management
// listener.
const fetchTimeout = 10 * time.Second

// fetchState reads GET /state from the stack whose management listener
// is at addr.
func fetchState(addr string) (*diag.State, error) {
	ctx, cancel := context.WithTimeout(context.Background(), fetchTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/state", nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("no dpstack at --metrics %s: %w", addr, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return nil, fmt.Errorf("GET http://%s/state: %s: %s", addr, resp.Status, strings.TrimSpace(string(b)))
	}
	var st diag.State
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		return nil, fmt.Errorf("GET http://%s/state: %w", addr, err)
	}
	return &st, nil
}

// inspectFlags are the flags every inspecting subcommand takes.
func inspectFlags(name string) (*flag.FlagSet, *string) {
	fs := flag.NewFlagSet("dpstack "+name, flag.ContinueOnError)
	addr := fs.String("metrics", "127.0.0.1:9100", "the running stack's management listener (dpstack run --metrics)")
	return fs, addr
}

// parseInspect parses args; -h is errHelp.
func parseInspect(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return errHelp
		}
		return err
	}
	return nil
}

// ssCmd is "dpstack ss [-t] [-u] [-l] [-a] [-n] [-i] [-o] [-p] [FILTER]".
func ssCmd(args []string, w io.Writer) error {
	fs, addr := inspectFlags("ss")
	var o diag.SSOptions
	fs.BoolVar(&o.TCP, "t", false, "TCP sockets")
	fs.BoolVar(&o.UDP, "u", false, "UDP sockets")
	fs.BoolVar(&o.Listening, "l", false, "only listening sockets (and unconnected UDP ones)")
	fs.BoolVar(&o.All, "a", false, "all sockets")
	fs.BoolVar(&o.Info, "i", false, "TCP information under each connection")
	fs.BoolVar(&o.Timers, "o", false, "timers")
	fs.BoolVar(&o.Process, "p", false, "the core that owns each socket")
	fs.Bool("n", true, "numeric addresses (always)")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: dpstack ss [-t] [-u] [-l] [-a] [-n] [-i] [-o] [-p] [--metrics ADDR] [FILTER]")
		fs.PrintDefaults()
	}
	if err := parseInspect(fs, ssArgs(args)); err != nil {
		return err
	}
	f, err := diag.ParseFilter(fs.Args())
	if err != nil {
		return err
	}
	o.Filter = f
	st, err := fetchState(*addr)
	if err != nil {
		return err
	}
	return diag.WriteSS(w, st, o)
}

// ssArgs splits ss's combined short flags ("-tni") into Go's one flag
// per argument; the first word that is not a flag starts the filter.
func ssArgs(args []string) []string {
	var out []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch name := strings.TrimLeft(a, "-"); {
		case !strings.HasPrefix(a, "-"):
			return append(out, args[i:]...)
		case name == "metrics" && i+1 < len(args):
			out = append(out, a, args[i+1])
			i++
		case strings.HasPrefix(a, "-") && !strings.HasPrefix(a, "--") && strings.Trim(name, ssLetters) == "":
			for _, c := range name {
				out = append(out, "-"+string(c))
			}
		default:
			out = append(out, a)
		}
	}
	return out
}

// ssLetters are ss's one-letter flags that dpstack ss takes.
const ssLetters = "tulaniop"

// tableCmd is "dpstack neigh" and "dpstack route": one core's table.
func tableCmd(name string, write func(io.Writer, *diag.State, int) error, args []string, w io.Writer) error {
	fs, addr := inspectFlags(name)
	core := fs.Int("core", 0, "the core whose table to print (each keeps its own, in step)")
	if err := parseInspect(fs, args); err != nil {
		return err
	}
	st, err := fetchState(*addr)
	if err != nil {
		return err
	}
	return write(w, st, *core)
}

// statsCmd is "dpstack stats": the counters that moved since the last
// call, as nstat prints them, with their increase; the last values are
// kept in a history file per management address, as nstat keeps its own,
// with the start of the stack they came from: a history left by an earlier
// stack at the same address is none (nstat, likewise, drops a history
// older than the kernel's boot).
func statsCmd(args []string, w io.Writer) error {
	fs, addr := inspectFlags("stats")
	abs := fs.Bool("a", false, "absolute values, not increases since the last call")
	zeros := fs.Bool("z", false, "also the counters that are zero")
	reset := fs.Bool("r", false, "forget the history first")
	if err := parseInspect(fs, args); err != nil {
		return err
	}
	st, err := fetchState(*addr)
	if err != nil {
		return err
	}
	path := statsHistory(*addr)
	var then statsHist
	if !*reset {
		if b, err := os.ReadFile(path); err == nil {
			json.Unmarshal(b, &then) // a damaged history is no history
		}
	}
	if !then.Opened.Equal(st.Opened) {
		then.Counters = nil
	}
	out := st.Counters
	if !*abs {
		out = diag.Delta(then.Counters, st.Counters)
	}
	if b, err := json.Marshal(statsHist{st.Opened, st.Counters}); err == nil {
		if err := os.WriteFile(path, b, 0o600); err != nil {
			fmt.Fprintln(os.Stderr, "dpstack stats: history:", err)
		}
	}
	return diag.WriteStats(w, out, *zeros)
}

// statsHist is a history file's content: a stack's counters and when
// that stack started.
type statsHist struct {
	Opened   time.Time         `json:"opened"`
	Counters map[string]uint64 `json:"counters"`
}

// statsHistory is the history file of the stack at addr.
func statsHistory(addr string) string {
	name := strings.NewReplacer(":", "_", "/", "_").Replace(addr)
	return filepath.Join(os.TempDir(), fmt.Sprintf(".dpstack-stats.u%d.%s", os.Getuid(), name))
}
