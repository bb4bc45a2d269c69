#!/usr/bin/env bash
# Runs `distlab cluster FILE` with every node in its own network namespace,
# so that the nodes really are separate hosts on a private link:
#
#   namespace dl<pid>-sw     a bridge br0 (no uplink: nothing leaves the machine)
#   namespace dl<pid>-<k>    eth0 = 10.77.0.<k>/24, a veth into br0, and lo
#
# Node k (k = 1, 2, … in scenario order) binds 10.77.0.<k>; multicast is sent
# by and joined on that address with TTL 1 (enough to cross the bridge, which
# goes nowhere). Everything the script creates is removed when it exits, on
# success, failure or Ctrl-C. Root only (ip netns).
#
#   sudo scripts/netns-cluster.sh scenarios/election/seed-ring.yaml
#   sudo scripts/netns-cluster.sh scenarios/mutex/ricart-agrawala-concurrent.yaml --transport tcp --quiet
#
# Extra arguments go to `distlab cluster`. DISTLAB names the binary
# (default: target/release/distlab, else target/debug/distlab).
set -euo pipefail
cd "$(dirname "$0")/.."

if [ $# -lt 1 ] || [ "$1" = "-h" ] || [ "$1" = "--help" ]; then
    sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'
    exit 2
fi
file=$1
shift
if [ "$(id -u)" != 0 ]; then
    echo "netns-cluster: needs root (ip netns add); try sudo" >&2
    exit 2
fi
if ! command -v ip >/dev/null; then
    echo "netns-cluster: needs iproute2 (the ip command)" >&2
    exit 2
fi
distlab=${DISTLAB:-}
if [ -z "$distlab" ]; then
    if [ -x target/release/distlab ]; then distlab=target/release/distlab; else distlab=target/debug/distlab; fi
fi
[ -x "$distlab" ] || { echo "netns-cluster: no distlab binary at $distlab (cargo build first, or set DISTLAB)" >&2; exit 2; }

n=$("$distlab" cluster "$file" --print-ids | wc -l)
if [ "$n" -lt 1 ] || [ "$n" -gt 250 ]; then
    echo "netns-cluster: $n nodes; the script handles 1 to 250" >&2
    exit 2
fi
tag="dl$$"
created=()
cleanup() {
    for ns in "${created[@]}"; do
        ip netns del "$ns" 2>/dev/null || true
    done
}
trap cleanup EXIT
# Until the cluster runs, a signal just ends the script (and the EXIT trap cleans up).
trap 'exit 130' INT TERM

ip netns add "$tag-sw"
created+=("$tag-sw")
ip -n "$tag-sw" link set lo up
ip -n "$tag-sw" link add br0 type bridge mcast_snooping 0
ip -n "$tag-sw" link set br0 up
for k in $(seq 1 "$n"); do
    ns="$tag-$k"
    ip netns add "$ns"
    created+=("$ns")
    ip link add eth0 netns "$ns" type veth peer name "p$k" netns "$tag-sw"
    ip -n "$ns" addr add "10.77.0.$k/24" dev eth0
    ip -n "$ns" link set lo up
    ip -n "$ns" link set eth0 up
    ip -n "$tag-sw" link set "p$k" master br0
    ip -n "$tag-sw" link set "p$k" up
done
echo "netns-cluster: $n namespaces $tag-1 .. $tag-$n on bridge $tag-sw/br0 (10.77.0.0/24)" >&2

# The cluster runs in the background so that a signal reaches this script at
# once (bash defers traps while a foreground command runs): it is passed on,
# the cluster stops and reaps its nodes, and the EXIT trap removes the namespaces.
"$distlab" cluster "$file" --wrap "ip netns exec $tag-{index}" --bind "10.77.0.{index}" --ttl 1 "$@" &
cluster=$!
trap 'kill -TERM "$cluster" 2>/dev/null' INT TERM
status=0
wait "$cluster" || status=$?
while kill -0 "$cluster" 2>/dev/null; do
    status=0
    wait "$cluster" || status=$?
done
exit "$status"
