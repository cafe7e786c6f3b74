#!/usr/bin/env bash
# portbench.sh BIN [ROUNDS]: ab -k requests/s against dpstack's HTTP hello
# over net_tap, net_af_packet and net_af_xdp, in rounds that take the
# devices in turn (the machine's noise hits them alike), each with one
# connection (-c 1) and with 16 (-c 16), and the rate at which one kernel
# connection sends 1 GiB to the discard service. The kernel client runs in a
# namespace; for the veth ports dpstack runs in a second one, on its end
# of the pair. Everything is made here and removed on exit; addresses are
# in 198.18.0.0/15. And the datagrams per second dpstack receives while
# sockperf sends it 64-byte ones for 5 s (its udp_in_datagrams counter, read
# from the management listener on loopback). N is ab's requests per run
# (100000); ARGS are more flags for dpstack run (e.g. ARGS="--idle busy").
set -euo pipefail
bin=$1 rounds=${2:-3} n=${N:-100000} args=${ARGS:-}
tag=pb$$
tapns=$tag-t dns=$tag-d kns=$tag-k
vd=${tag}d vk=${tag}k
log=$(mktemp)
mgmt=127.0.0.1:$((20000 + $$ % 20000))
pid=
cleanup() {
	if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then kill -INT "$pid"; wait "$pid" || true; fi
	ip netns del "$dns" 2>/dev/null || true
	ip netns del "$kns" 2>/dev/null || true
	ip netns del "$tapns" 2>/dev/null || true
	rm -f "$log"
}
trap cleanup EXIT

# The veth pair: dpstack's end has no address; the client's end sends
# whole checksums (tx off), since nothing fills them in after a veth.
ip netns add "$dns"
ip netns add "$kns"
ip -n "$dns" link add "$vd" type veth peer name "$vk" netns "$kns"
ip netns exec "$dns" sysctl -q -w "net.ipv6.conf.$vd.disable_ipv6=1"
ip netns exec "$kns" sysctl -q -w "net.ipv6.conf.$vk.disable_ipv6=1"
ip netns exec "$kns" ethtool -K "$vk" tx off >/dev/null
ip -n "$kns" addr add 198.18.60.1/24 dev "$vk"
ip -n "$dns" link set "$vd" up
ip -n "$kns" link set "$vk" up
ip -n "$dns" link set lo up # dpstack's management listener

# start DEVICE: runs dpstack on it in the background, sets pid, client
# namespace cns and address addr, and mns, what runs a command where
# dpstack's management listener is.
start() {
	case $1 in
	tap)
		"$bin" run --vdev "net_tap0,iface=${tag}t" --addr 198.18.61.2/24 --netns "$tapns" \
			--peer-addr 198.18.61.1/24 --metrics "$mgmt" --status-interval 0 --file-prefix "$tag" $args >"$log" 2>&1 &
		cns=$tapns addr=198.18.61.2 mns= ;;
	*)
		ip netns exec "$dns" "$bin" run --vdev "net_$1,iface=$vd" --addr 198.18.60.2/24 \
			--metrics "$mgmt" --status-interval 0 --file-prefix "$tag" $args >"$log" 2>&1 &
		cns=$kns addr=198.18.60.2 mns="ip netns exec $dns" ;;
	esac
	pid=$!
	for _ in $(seq 100); do
		grep -q "dpstack up" "$log" && break
		kill -0 "$pid" 2>/dev/null || { cat "$log"; exit 1; }
		sleep 0.1
	done
	sleep 0.5
	# A first run warms the path (ARP, caches) and is not counted.
	ip netns exec "$cns" timeout 60 ab -q -k -c 16 -n 10000 "http://$addr:8080/" >/dev/null
}

stop() {
	kill -INT "$pid"
	wait "$pid" || { echo "dpstack on $1 exited with status $?"; cat "$log"; exit 1; }
	pid=
}

# rps CONC: ab's requests per second with CONC connections (bounded).
rps() {
	ip netns exec "$cns" timeout 120 ab -q -k -c "$1" -n "$n" "http://$addr:8080/" |
		awk '/^Requests per second/ {print int($4)}'
}

# discard: MB/s of 1 GiB sent to the discard service on one connection.
discard() {
	local t0 t1
	t0=$(date +%s.%N)
	ip netns exec "$cns" timeout 120 bash -c "head -c 1073741824 /dev/zero >/dev/tcp/$addr/9"
	t1=$(date +%s.%N)
	awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%d", 1073.741824 / (b - a)}'
}

# udp: datagrams per second dpstack received of 5 s of sockperf's 64-byte
# throughput test.
udp() {
	local a b
	a=$(udpIn)
	ip netns exec "$cns" timeout 20 sockperf tp -i "$addr" -p 11111 -m 64 -t 5 >/dev/null
	b=$(udpIn)
	echo $(((b - a) / 5))
}

udpIn() {
	$mns curl -sS "http://$mgmt/metrics" | awk '/^dpstack_udp_in_datagrams_total/ {n += $2} END {printf "%d", n}'
}

printf '%-10s %-6s %12s %12s %14s %12s\n' device round 'c=1 req/s' 'c=16 req/s' 'discard MB/s' 'udp64 dg/s'
for r in $(seq "$rounds"); do
	for dev in tap af_packet0 af_xdp0; do
		start "$dev"
		printf '%-10s %-6s %12s %12s %14s %12s\n' "${dev%0}" "$r" "$(rps 1)" "$(rps 16)" "$(discard)" "$(udp)"
		stop "$dev"
	done
done
