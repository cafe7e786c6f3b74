# dpstack: user-space TCP/IP stack in Go on DPDK.
#
#   make demo   install what is missing, build, run dpstack on net_tap and ping it
#   make test   install what is missing, build, run every test
#   make perf   the side-by-side benchmark against kernel TCP and gVisor
#
# Both need root (DPDK, TAP devices and network namespaces).

GO        ?= $(shell command -v go || echo /usr/local/go/bin/go)
BIN       := bin/dpstack
PKGS      := ./...
APT_PKGS  := libdpdk-dev pkg-config iproute2 iputils-ping arping curl procps iptables sockperf tcpdump apache2-utils ethtool
# What make perf's second, third and fourth tables run: ab, wrk,
# dpdk-testpmd (in dpdk-dev on Debian 12), ping, ip, sockperf, haproxy.
PERF_APT_PKGS := apache2-utils wrk dpdk-dev iputils-ping iproute2 coreutils sockperf haproxy curl
DEMO_NS   := dpstack
export GONOSUMDB := github.com/yerden/go-dpdk

.PHONY: all setup build test bench lint demo run clean perf perf-sockperf perf-proxy perf-ports pgo

all: build

# setup installs the system packages the build and the tests use; it does
# nothing when they are all there already.
setup:
	@missing=""; for p in $(APT_PKGS); do \
		dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
		echo "installing:$$missing"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	fi
	@command -v $(GO) >/dev/null || { echo "Go 1.26 is needed: https://go.dev/dl/"; exit 1; }

build: setup
	$(GO) build -o $(BIN) ./cmd/dpstack

# Tests run as root: DPDK ports, TAP devices and namespaces need it.
test: setup lint
	$(GO) test -count=1 -timeout 12m -p 2 $(PKGS)

bench: setup
	$(GO) test -run '^$$' -bench . -benchmem -count 1 $(PKGS)

# lint also refuses tracked files over 1 MiB (build outputs, test
# binaries), the PGO profile excepted.
lint: setup
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	@big=$$(git ls-files -z 2>/dev/null | xargs -0 -r stat -c '%s %n' 2>/dev/null | \
		awk '$$1 > 1048576 { sub(/^[0-9]+ /, ""); if ($$0 != "cmd/dpstack/default.pgo") print }'); \
	if [ -n "$$big" ]; then echo "tracked files over 1 MiB (build outputs?):"; echo "$$big"; exit 1; fi
	$(GO) vet $(PKGS)

# perf runs every scenario for every system (perf/README.md), prints the
# table and writes perf/results/perf.{txt,csv,png}; then the second table,
# clients in a network namespace against dpstack on net_tap and against
# the kernel over veth (perf/README.md "With a kernel client"), written to
# perf/results/kclient.{txt,csv}; then perf-sockperf's and perf-proxy's tables. It installs what those clients need
# (PERF_APT_PKGS) as setup does. perf/ is its own module (gVisor and
# gonum/plot stay out of this one) and is not part of test. When the
# dpstack adapters do not build yet, the first table measures the others.
perf: setup
	@$(MAKE) --no-print-directory setup APT_PKGS="$(PERF_APT_PKGS)"
	cd perf && { $(GO) build -o ../bin/perf ./cmd/perf || { \
		echo "perf: the dpstack adapters do not build; measuring the other systems"; \
		$(GO) build -tags nodpstack -o ../bin/perf ./cmd/perf; }; }
	cd perf && ../bin/perf -go $(GO) -root .. -out results
	cd perf && $(GO) build -o ../bin/kclient ./cmd/kclient
	cd perf && ../bin/kclient -go $(GO) -root .. -out results
	@$(MAKE) --no-print-directory perf-sockperf
	@$(MAKE) --no-print-directory perf-proxy

# perf-sockperf: "sockperf ping-pong" (64 B, UDP and TCP) from a namespace
# against "dpstack run --sockperf" over net_tap and against "sockperf
# server" on the kernel over veth; perf/results/sockperf.{txt,csv}.
perf-sockperf:
	@$(MAKE) --no-print-directory setup APT_PKGS="$(PERF_APT_PKGS)"
	cd perf && $(GO) build -o ../bin/kclient ./cmd/kclient
	cd perf && ../bin/kclient -sockperf -go $(GO) -root .. -out results

# perf-proxy: wrk (kept alive) and ab (a connection per request) from a
# namespace through "dpstack proxy" over net_tap, through HAProxy (mode
# tcp) and through a Go io.Copy proxy on the kernel, to the same kernel
# backend; perf/results/proxy.{txt,csv}.
perf-proxy:
	@$(MAKE) --no-print-directory setup APT_PKGS="$(PERF_APT_PKGS)"
	cd perf && $(GO) build -o ../bin/kclient ./cmd/kclient
	cd perf && ../bin/kclient -proxy -go $(GO) -root .. -out results

# perf-ports: ab kept alive, a bulk send and sockperf datagrams over net_tap,
# net_af_packet and net_af_xdp (a veth pair), in turn, three rounds
# (README "Deployment shapes").
perf-ports: build
	@$(MAKE) --no-print-directory setup APT_PKGS="$(PERF_APT_PKGS) ethtool"
	scripts/portbench.sh $(BIN) 3

# pgo refreshes the profile that the dpstack command and the perf harness
# are built with (profile-guided optimization, README "Builds"): a CPU
# profile of one run of the harness, which drives the stack's data path
# through every scenario. The binaries it profiles are themselves built
# with the current profile, the iterative workflow the Go toolchain
# documents.
pgo: setup
	cd perf && $(GO) build -o ../bin/perf ./cmd/perf
	mkdir -p bin/pgo
	cd perf && ../bin/perf -go $(GO) -root .. -out ../bin/pgo -cpuprofile ../bin/pgo/cpu.pprof
	mv bin/pgo/cpu.pprof cmd/dpstack/default.pgo

# demo runs the stack on a TAP device whose kernel side lives in namespace
# $(DEMO_NS), pings and arpings it from there, shows the metrics, then stops
# it with SIGINT as Ctrl-C would.
demo: build
	@scripts/demo.sh $(BIN) $(DEMO_NS)

# run starts the stack in the foreground; Ctrl-C stops it.
run: build
	$(BIN) run --vdev net_tap0 --addr 198.18.0.2/24 --netns $(DEMO_NS) --peer-addr 198.18.0.1/24

clean:
	rm -rf bin
