package kclient

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Bounds on a server's start and stop.
const (
	startTimeout = 30 * time.Second
	stopTimeout  = 10 * time.Second
)

// clockTicks is USER_HZ, the unit of the CPU times in /proc/PID/stat: 100
// on every Linux ABI.
const clockTicks = 100

// server is a server process kclient started: dpstack, kserve or testpmd.
// Its output goes to a log file; its standard input is a pipe that stays
// open until it exits (testpmd, without a terminal, exits when its input
// ends).
type server struct {
	name string
	cmd  *exec.Cmd
	log  string
	done chan struct{} // closed when it exited
	err  error         // how it exited, once done is closed
}

// startServer starts cmd in a process group of its own (a Ctrl-C reaches
// kclient, which stops it in order) and waits until its output contains
// ready.
func startServer(ctx context.Context, name string, cmd *exec.Cmd, logPath, ready string) (*server, error) {
	f, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	w := &watch{want: []byte(ready), seen: make(chan struct{})}
	cmd.Stdout = io.MultiWriter(f, w)
	cmd.Stderr = cmd.Stdout
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if _, err := cmd.StdinPipe(); err != nil { // closed by cmd.Wait
		f.Close()
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		f.Close()
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	s := &server{name: name, cmd: cmd, log: logPath, done: make(chan struct{})}
	go func() {
		s.err = cmd.Wait() // after its output was all copied
		f.Close()
		close(s.done)
	}()
	select {
	case <-w.seen:
		return s, nil
	case <-s.done:
		return nil, fmt.Errorf("%s exited before %q: %v\n%s", name, ready, s.err, s.logTail())
	case <-time.After(startTimeout):
		err = fmt.Errorf("%s: no %q after %v\n%s", name, ready, startTimeout, s.logTail())
	case <-ctx.Done():
		err = ctx.Err()
	}
	return nil, errors.Join(err, s.stop())
}

// pid is the server's process ID.
func (s *server) pid() int { return s.cmd.Process.Pid }

// cpu is the CPU time (user and system, every thread) the server has used.
func (s *server) cpu() (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", s.pid()))
	if err != nil {
		return 0, err
	}
	return parseStatCPU(string(b))
}

// parseStatCPU returns utime+stime from the text of /proc/PID/stat.
func parseStatCPU(stat string) (time.Duration, error) {
	// The command name, field 2, is in parentheses and may hold spaces;
	// fields 14 and 15 are the 12th and 13th after it.
	i := strings.LastIndexByte(stat, ')')
	f := strings.Fields(stat[i+1:])
	if i < 0 || len(f) < 13 {
		return 0, fmt.Errorf("unexpected /proc/PID/stat: %.80q", stat)
	}
	var ticks int64
	for _, s := range f[11:13] {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("/proc/PID/stat: %w", err)
		}
		ticks += n
	}
	return time.Duration(ticks) * time.Second / clockTicks, nil
}

// stop sends SIGINT to the server (by its PID) and waits for it to exit,
// killing it after stopTimeout. A server that exited on its own before
// stop fails with how it exited.
func (s *server) stop() error {
	select {
	case <-s.done:
		return fmt.Errorf("%s had exited: %v\n%s", s.name, s.err, s.logTail())
	default:
	}
	if err := s.cmd.Process.Signal(os.Interrupt); err != nil {
		return err
	}
	select {
	case <-s.done:
		return nil
	case <-time.After(stopTimeout):
	}
	s.cmd.Process.Kill()
	<-s.done
	return fmt.Errorf("%s did not stop in %v on SIGINT: killed\n%s", s.name, stopTimeout, s.logTail())
}

// logTail is the last lines of the server's output.
func (s *server) logTail() string {
	b, _ := os.ReadFile(s.log)
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	return "  " + strings.Join(lines[max(0, len(lines)-8):], "\n  ")
}

// watch is an io.Writer that closes seen once what was written to it
// contains want.
type watch struct {
	want []byte
	seen chan struct{}
	tail []byte // the end of what was written, shorter than want
	once sync.Once
}

func (w *watch) Write(p []byte) (int, error) {
	buf := append(w.tail, p...)
	if bytes.Contains(buf, w.want) {
		w.once.Do(func() { close(w.seen) })
	}
	w.tail = append(w.tail[:0], buf[max(0, len(buf)-len(w.want)+1):]...)
	return len(p), nil
}
