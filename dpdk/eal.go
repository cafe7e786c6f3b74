package dpdk

/*
#cgo pkg-config: libdpdk
#include <rte_eal.h>
#include <rte_lcore.h>
*/
import "C"

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"

	"github.com/yerden/go-dpdk/eal"
	"golang.org/x/sys/unix"

	"github.com/dpstack/dpstack/mbuf"
)

// HugeMode says whether EAL uses hugepages.
type HugeMode int

// Hugepage modes.
const (
	HugeAuto HugeMode = iota // hugepages when a hugetlbfs is mounted and pages are reserved
	HugeOn                   // hugepages, fail without them
	HugeOff                  // --no-huge: ordinary memory
)

// ParseHugeMode parses "auto", "on" or "off".
func ParseHugeMode(s string) (HugeMode, error) {
	switch s {
	case "auto", "":
		return HugeAuto, nil
	case "on":
		return HugeOn, nil
	case "off":
		return HugeOff, nil
	}
	return 0, fmt.Errorf("dpdk: hugepages %q: want auto, on or off", s)
}

// EALConfig are the options EAL starts with.
type EALConfig struct {
	// Lcores is EAL's -l core list, e.g. "0" or "0-1", each lcore's
	// thread pinned to the CPU of its number. The first is the main
	// lcore; the others run poll loops. Empty means "0". A list that
	// maps lcores to CPU sets, in the syntax of EAL's --lcores (e.g.
	// "0@(0-1)": lcore 0's thread may run on CPU 0 or 1), goes to EAL as
	// --lcores: the scheduler then places the thread among its CPUs.
	Lcores string
	// MemoryMB is EAL's -m; 0 means 256 without hugepages, EAL's choice
	// with them.
	MemoryMB int
	// Hugepages selects hugepage use.
	Hugepages HugeMode
	// FilePrefix is EAL's --file-prefix; every process needs its own.
	FilePrefix string
	// Vdevs are virtual devices (--vdev), e.g. "net_tap0,iface=dtap0".
	Vdevs []string
	// PCI are PCI devices to use (-a); with none, EAL skips the PCI bus.
	PCI []string
	// LogLevel is EAL's --log-level, e.g. "notice"; empty leaves DPDK's.
	LogLevel string
}

var (
	ealMu      sync.Mutex
	ealRunning bool
)

// ErrEALRunning is returned when EAL is started twice: DPDK allows one
// initialisation per process.
var ErrEALRunning = errors.New("dpdk: EAL already started in this process")

// Args returns the EAL command line that cfg stands for.
func (cfg EALConfig) Args() ([]string, error) {
	lcores := cfg.Lcores
	if lcores == "" {
		lcores = "0"
	}
	opt := "-l"
	if strings.ContainsAny(lcores, "@()") {
		opt = "--lcores"
	}
	args := []string{"dpstack", opt, lcores}
	huge := cfg.Hugepages
	if huge == HugeAuto {
		huge = HugeOff
		if hugepagesAvailable() {
			huge = HugeOn
		}
	}
	mem := cfg.MemoryMB
	if huge == HugeOff {
		args = append(args, "--no-huge")
		if mem == 0 {
			mem = 256
		}
	}
	if mem > 0 {
		args = append(args, "-m", strconv.Itoa(mem))
	}
	if cfg.FilePrefix != "" {
		args = append(args, "--file-prefix", cfg.FilePrefix)
	}
	for _, v := range cfg.Vdevs {
		args = append(args, "--vdev", v)
	}
	if len(cfg.PCI) == 0 {
		args = append(args, "--no-pci")
	}
	for _, p := range cfg.PCI {
		args = append(args, "-a", p)
	}
	if cfg.LogLevel != "" {
		args = append(args, "--log-level", cfg.LogLevel)
	}
	return args, nil
}

// StartEAL initialises DPDK's environment abstraction layer once for the
// process and starts its lcore threads. It checks what EAL would otherwise
// fail on obscurely (privileges, /dev/net/tun for TAP devices) and says so.
func StartEAL(cfg EALConfig) error {
	ealMu.Lock()
	defer ealMu.Unlock()
	if ealRunning {
		return ErrEALRunning
	}
	if err := checkPrerequisites(cfg); err != nil {
		return err
	}
	args, err := cfg.Args()
	if err != nil {
		return err
	}
	if _, err := eal.Init(args); err != nil {
		if cfg.FilePrefix != "" {
			// The failed init may have made its runtime directory.
			os.RemoveAll("/var/run/dpdk/" + cfg.FilePrefix)
		}
		return fmt.Errorf("dpdk: EAL init %q: %w", strings.Join(args[1:], " "), err)
	}
	ealRunning = true
	// Before any port: drivers with the timestamp offload look the field
	// up when their queues are set up.
	return mbuf.RegisterRxTimestamp()
}

// StopEAL stops the lcore threads and releases EAL's resources. Ports and
// pools must be closed first. EAL cannot start again in this process.
func StopEAL() error {
	ealMu.Lock()
	defer ealMu.Unlock()
	if !ealRunning {
		return nil
	}
	eal.StopLcores()
	ealRunning = false
	runDir := C.GoString(C.rte_eal_get_runtime_dir())
	if rc := C.rte_eal_cleanup(); rc != 0 {
		return fmt.Errorf("dpdk: EAL cleanup: %w", errnoErr(-rc))
	}
	// EAL leaves its runtime directory (/var/run/dpdk/<file-prefix>)
	// behind; it is this process's own, so remove it.
	if runDir != "" && strings.Contains(runDir, "/dpdk/") {
		os.RemoveAll(runDir)
	}
	return nil
}

// MainLcore is the lcore that runs EAL's main thread.
func MainLcore() uint { return uint(C.rte_get_main_lcore()) }

// WorkerLcores are the lcores other than the main one.
func WorkerLcores() []uint { return eal.LcoresWorker() }

// RunOnLcore runs fn on lcore id's EAL thread and returns a channel that
// receives fn's panic as an error, or nil, when fn returns.
func RunOnLcore(id uint, fn func()) <-chan error {
	return eal.ExecOnLcoreAsync(id, make(chan error, 1), func(*eal.LcoreCtx) { fn() })
}

// LcoreID is the lcore of the calling thread, or false on a thread EAL does
// not know.
func LcoreID() (uint, bool) {
	id := uint(C.rte_lcore_id())
	return id, id != uint(C.LCORE_ID_ANY)
}

func checkPrerequisites(cfg EALConfig) error {
	if os.Geteuid() != 0 {
		return errors.New("dpdk: EAL needs root (to map device memory and create TAP interfaces); run as root")
	}
	for _, v := range cfg.Vdevs {
		if strings.HasPrefix(v, "net_tap") {
			if err := checkTun(); err != nil {
				return err
			}
		}
	}
	if cfg.Hugepages == HugeOn && !hugepagesAvailable() {
		return errors.New("dpdk: hugepages requested but none are reserved and mounted (see /proc/meminfo HugePages_Total); use --hugepages off")
	}
	return checkPrefixFree(cfg.FilePrefix)
}

// checkPrefixFree fails when another primary DPDK process holds the
// runtime directory of prefix: EAL would fail on its config file's lock,
// and go-dpdk's Init, finding no rte_errno, would go on and crash.
func checkPrefixFree(prefix string) error {
	if prefix == "" {
		return nil
	}
	f, err := os.OpenFile("/var/run/dpdk/"+prefix+"/config", os.O_RDWR, 0)
	if err != nil {
		return nil // no directory yet, or nobody's: EAL makes its own
	}
	defer f.Close()
	lk := unix.Flock_t{Type: unix.F_WRLCK, Whence: 0}
	if err := unix.FcntlFlock(f.Fd(), unix.F_GETLK, &lk); err == nil && lk.Type != unix.F_UNLCK {
		return fmt.Errorf("dpdk: file prefix %q is in use by process %d (another DPDK primary process); give this one its own --file-prefix", prefix, lk.Pid)
	}
	return nil
}

func checkTun() error {
	f, err := os.OpenFile("/dev/net/tun", os.O_RDWR, 0)
	if err != nil {
		return fmt.Errorf("dpdk: net_tap needs /dev/net/tun: %w", err)
	}
	return f.Close()
}

// hugepagesAvailable reports whether a hugetlbfs is mounted and the kernel
// has hugepages reserved.
func hugepagesAvailable() bool {
	mounts, err := os.ReadFile("/proc/mounts")
	if err != nil || !strings.Contains(string(mounts), " hugetlbfs ") {
		return false
	}
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		return false
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if rest, ok := strings.CutPrefix(s.Text(), "HugePages_Free:"); ok {
			n, _ := strconv.Atoi(strings.TrimSpace(rest))
			return n > 0
		}
	}
	return false
}

// Lcores are every lcore EAL runs, the main one first.
func Lcores() []uint {
	return append([]uint{MainLcore()}, WorkerLcores()...)
}
