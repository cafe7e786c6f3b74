package main

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// captureCmd is "dpstack capture -w FILE [flags] [FILTER]": it asks the
// running stack for a capture (POST /capture, package capture) and writes
// the pcapng it streams to FILE, whole blocks only, until the count, the
// duration or Ctrl-C; then it says, as tcpdump does, how many packets it
// captured and how many the stack left out for want of room.
func captureCmd(args []string, stderr io.Writer) error {
	fs, addr := inspectFlags("capture")
	file := fs.String("w", "", "the pcapng file to write (- for standard output)")
	cores := fs.String("core", "", "the cores to capture on, e.g. 0 or 0,1 (default all)")
	dir := fs.String("dir", "both", "rx, tx or both")
	snaplen := fs.Int("snaplen", 0, "bytes kept of each packet (default 9018)")
	count := fs.Int("c", 0, "stop after this many packets")
	limit := fs.Duration("duration", 0, "stop after this long")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: dpstack capture -w FILE [--core N] [--dir rx|tx|both] [--snaplen N] [-c COUNT] [--duration D] [--metrics ADDR] [FILTER]")
		fs.PrintDefaults()
	}
	if err := parseInspect(fs, args); err != nil {
		return err
	}
	if *file == "" {
		return errors.New("capture: -w FILE is required")
	}
	form := url.Values{"dir": {*dir}, "cores": {*cores}}
	if *snaplen > 0 {
		form.Set("snaplen", strconv.Itoa(*snaplen))
	}
	if *count > 0 {
		form.Set("count", strconv.Itoa(*count))
	}
	if *limit > 0 {
		form.Set("duration", limit.String())
	}
	if fs.NArg() > 0 {
		prog, err := compileFilter(fs.Args())
		if err != nil {
			return err
		}
		form.Set("filter", prog)
	}

	out := os.Stdout
	if *file != "-" {
		f, err := os.Create(*file)
		if err != nil {
			return err
		}
		defer f.Close()
		out = f
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+*addr+"/capture", strings.NewReader(form.Encode()))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("no dpstack at --metrics %s: %w", *addr, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return fmt.Errorf("capture: %s: %s", resp.Status, strings.TrimSpace(string(b)))
	}
	fmt.Fprintf(stderr, "capturing on %s, %s\n", *addr, *dir)
	n, dropped, err := copyBlocks(out, resp.Body)
	if ctx.Err() != nil {
		err = nil // Ctrl-C: the file ends at the last whole block
	}
	fmt.Fprintf(stderr, "%d packets captured\n", n)
	if dropped >= 0 {
		fmt.Fprintf(stderr, "%d packets dropped by the capture (its ring was full)\n", dropped)
	}
	return err
}

// compileFilter compiles an expression in tcpdump's filter language for
// Ethernet frames, as tcpdump would, into the program capture.ParseFilter
// reads.
func compileFilter(words []string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "tcpdump", append([]string{"-ddd", "-y", "EN10MB"}, words...)...).CombinedOutput()
	if err != nil {
		if errors.Is(err, exec.ErrNotFound) {
			return "", errors.New("capture: a filter is compiled by tcpdump, which is not installed (apt-get install tcpdump)")
		}
		return "", fmt.Errorf("capture: filter %q: %s", strings.Join(words, " "), strings.TrimSpace(string(out)))
	}
	return string(out), nil
}

// pcapng block types copyBlocks looks at.
const (
	pcapngEPB = 0x00000006
	pcapngISB = 0x00000005
	optIfDrop = 5
)

// copyBlocks copies pcapng blocks from r to w whole, and returns how many
// packets (Enhanced Packet Blocks) went through and the drops the
// Interface Statistics Blocks report (-1 when there were none).
func copyBlocks(w io.Writer, r io.Reader) (packets int, dropped int64, err error) {
	br := bufio.NewReaderSize(r, 1<<16)
	bw := bufio.NewWriterSize(w, 1<<16)
	defer func() {
		if ferr := bw.Flush(); err == nil {
			err = ferr
		}
	}()
	dropped = -1
	var block []byte
	for {
		var hdr [8]byte
		if _, err := io.ReadFull(br, hdr[:]); err != nil {
			if errors.Is(err, io.EOF) {
				return packets, dropped, nil
			}
			return packets, dropped, err
		}
		typ, n := binary.LittleEndian.Uint32(hdr[:4]), binary.LittleEndian.Uint32(hdr[4:])
		if n < 12 || n%4 != 0 || n > 1<<20 {
			return packets, dropped, fmt.Errorf("capture: a block of %d bytes: not pcapng", n)
		}
		block = append(block[:0], hdr[:]...)
		block = append(block, make([]byte, n-8)...)
		if _, err := io.ReadFull(br, block[8:]); err != nil {
			return packets, dropped, err // a block cut short is left out
		}
		if _, err := bw.Write(block); err != nil {
			return packets, dropped, err
		}
		switch typ {
		case pcapngEPB:
			packets++
		case pcapngISB:
			if d, ok := isbDrops(block[8 : n-4]); ok {
				dropped = max(dropped, 0) + d
			}
		}
	}
}

// isbDrops reads isb_ifdrop from an Interface Statistics Block's body.
func isbDrops(body []byte) (int64, bool) {
	if len(body) < 12 {
		return 0, false
	}
	for opts := body[12:]; len(opts) >= 4; {
		code, l := binary.LittleEndian.Uint16(opts), int(binary.LittleEndian.Uint16(opts[2:]))
		if code == 0 || 4+l > len(opts) {
			return 0, false
		}
		if code == optIfDrop && l == 8 {
			return int64(binary.LittleEndian.Uint64(opts[4:])), true
		}
		opts = opts[4+(l+3)&^3:]
	}
	return 0, false
}
