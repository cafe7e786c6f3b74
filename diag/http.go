package diag

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"

	"github.com/dpstack/dpstack/stack"
)

// Server serves a host's state on the management listener: GET /state
// (State as JSON), /healthz and /readyz.
type Server struct {
	host  *stack.Host
	ready atomic.Bool
	// LinkUnknown, when set, says why the port's link state cannot be
	// read (a TAP whose kernel side was moved into another namespace,
	// where the PMD cannot see its flags): health then leaves it out.
	LinkUnknown string
}

// NewServer returns a server for h, not ready until SetReady.
func NewServer(h *stack.Host) *Server { return &Server{host: h} }

// SetReady says whether the application on the host serves: /readyz
// answers 200 only after SetReady(true), and only while the host is
// healthy.
func (s *Server) SetReady(ready bool) { s.ready.Store(ready) }

// Register adds the server's paths to mux.
func (s *Server) Register(mux *http.ServeMux) {
	mux.HandleFunc("GET /state", s.state)
	mux.HandleFunc("GET /healthz", s.healthz)
	mux.HandleFunc("GET /readyz", s.readyz)
}

func (s *Server) state(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetIndent("", " ")
	enc.Encode(Snapshot(s.host))
}

// Health reports what is wrong with the host, or nil: the port's link is
// down, or a core's loop does not run work posted to it within
// coreTimeout (it is stuck, or overloaded past answering).
// With checkLink false the link is not looked at.
func Health(h *stack.Host, checkLink bool) error {
	var problems []string
	if l, err := h.Port().Link(); checkLink && err != nil {
		problems = append(problems, err.Error())
	} else if checkLink && !l.Up {
		problems = append(problems, "port "+h.Port().Name()+": link down")
	}
	for core := range h.Cores() {
		if err := h.DoWithin(coreTimeout, core, func(*stack.Stack) {}); err != nil {
			problems = append(problems, err.Error())
		}
	}
	if len(problems) > 0 {
		return fmt.Errorf("%s", strings.Join(problems, "; "))
	}
	return nil
}

func (s *Server) healthz(w http.ResponseWriter, _ *http.Request) {
	if err := Health(s.host, s.LinkUnknown == ""); err != nil {
		http.Error(w, err.Error(), http.StatusServiceUnavailable)
		return
	}
	if s.LinkUnknown != "" {
		fmt.Fprintf(w, "ok (loops turning; link not checked: %s)\n", s.LinkUnknown)
		return
	}
	fmt.Fprintln(w, "ok")
}

func (s *Server) readyz(w http.ResponseWriter, _ *http.Request) {
	if !s.ready.Load() {
		http.Error(w, "not ready: the application has not started serving", http.StatusServiceUnavailable)
		return
	}
	s.healthz(w, nil)
}
