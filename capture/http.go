package capture

import (
	"errors"
	"net/http"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/dpstack/dpstack/stack"
)

// Handler serves POST /capture on the management listener: the form's
// cores ("0,1"), dir (rx, tx, both), snaplen, count, duration (a Go
// duration) and filter (a program as `tcpdump -ddd` prints it) say what
// to capture, and the response streams the pcapng until the client goes,
// the count or the duration is reached.
func Handler(h *stack.Host) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := parseForm(r)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/x-pcapng")
		rc := http.NewResponseController(w)
		_, err = Run(r.Context(), h, c, w, func() { rc.Flush() })
		switch {
		case errors.Is(err, syscall.EBUSY):
			http.Error(w, err.Error(), http.StatusConflict)
		case errors.Is(err, syscall.EINVAL):
			http.Error(w, err.Error(), http.StatusBadRequest)
		}
	})
}

// parseForm reads the capture's Config from the request's form.
func parseForm(r *http.Request) (Config, error) {
	var c Config
	var err error
	if c.RX, c.TX, err = ParseDirection(r.FormValue("dir")); err != nil {
		return c, err
	}
	if v := r.FormValue("cores"); v != "" {
		for _, f := range strings.Split(v, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(f))
			if err != nil {
				return c, errors.New("capture: cores: want numbers separated by commas")
			}
			c.Cores = append(c.Cores, n)
		}
	}
	for name, dst := range map[string]*int{"snaplen": &c.Snaplen, "count": &c.Count} {
		if v := r.FormValue(name); v != "" {
			if *dst, err = strconv.Atoi(v); err != nil || *dst < 0 {
				return c, errors.New("capture: " + name + ": want a number")
			}
		}
	}
	if c.Snaplen > 0 && c.Snaplen < 14 || c.Snaplen > 65535 {
		return c, errors.New("capture: snaplen: want 14 to 65535")
	}
	if v := r.FormValue("duration"); v != "" {
		if c.Limit, err = time.ParseDuration(v); err != nil {
			return c, errors.New("capture: duration: " + err.Error())
		}
	}
	if v := r.FormValue("filter"); v != "" {
		if c.Filter, err = ParseFilter(v); err != nil {
			return c, err
		}
	}
	return c, nil
}
