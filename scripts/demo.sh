#!/usr/bin/env bash
# Runs dpstack on net_tap with the kernel side in a namespace, shows the
# kernel's ping and arping answered, then stops dpstack with SIGINT.
set -euo pipefail
bin=$1 ns=$2
log=$(mktemp)
"$bin" run --vdev net_tap0 --addr 198.18.0.2/24 --netns "$ns" --peer-addr 198.18.0.1/24 --status-interval 0 >"$log" 2>&1 &
pid=$!
stop() {
	if kill -0 "$pid" 2>/dev/null; then kill -INT "$pid"; fi
	wait "$pid"; rc=$?
	echo "--- dpstack log ---"; cat "$log"; rm -f "$log"
	echo "dpstack exited with status $rc"
	return $rc
}
trap 'stop || true' EXIT
for _ in $(seq 100); do
	grep -q "dpstack up" "$log" && ip netns exec "$ns" true 2>/dev/null && break
	kill -0 "$pid" 2>/dev/null || { trap - EXIT; stop; exit 1; }
	sleep 0.1
done
sleep 0.5
echo "--- ping from namespace $ns ---"
ip netns exec "$ns" ping -c 3 -i 0.2 -W 2 198.18.0.2
ip netns exec "$ns" ping -c 2 -i 0.2 -W 2 -s 1472 198.18.0.2
echo "--- a 4,000-byte ping: fragments reassembled, the reply fragmented ---"
ip netns exec "$ns" ping -c 2 -i 0.2 -W 2 -s 4000 198.18.0.2
echo "--- arping from namespace $ns ---"
iface=$(ip -n "$ns" -o link show | awk -F': ' '$2 != "lo" {print $2; exit}')
ip netns exec "$ns" arping -c 2 -i "$iface" 198.18.0.2 || true
echo "--- curl http://198.18.0.2:8080/ from namespace $ns (the callback HTTP hello over dpstack TCP) ---"
ip netns exec "$ns" curl -s -m 5 http://198.18.0.2:8080/
echo "--- kernel neighbour entry ---"
ip -n "$ns" neigh show 198.18.0.2
echo "--- metrics (dpstack counters) ---"
curl -s http://127.0.0.1:9100/metrics | grep -E '^dpstack_(icmp_in_echos|icmp_out_echo|ip_reasm_oks|ip_frag_creates|arp_in_req|arp_out_rep|tcp_.*(active|passive|in_segs|out_segs)|port_packets|mempool|loop_(rx_interrupts|idle_sleeps))' | head -20
trap - EXIT
stop
