#!/usr/bin/env bash
# Live-cluster benchmark (issue 5): Ricart–Agrawala over real UDP sockets,
# one OS process per node, 10 nodes × 100 requests and 100 nodes × 10
# requests (every request at 0ms, hold 1us, no emulated latency), each run
# ended when the cluster falls idle. Prints messages per second and wall time
# per run and their medians. Every run is bounded (--duration 60s).
#
#   scripts/bench-live.sh            # 5 runs each, udp
#   RUNS=3 TRANSPORT=tcp scripts/bench-live.sh
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${RUNS:-5}
transport=${TRANSPORT:-udp}
distlab=${DISTLAB:-target/release/distlab}
[ -x "$distlab" ] || cargo build --release --quiet
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
for shape in 10x100 100x10; do
    n=${shape%x*}
    r=${shape#*x}
    f="$dir/ra-$shape.yaml"
    {
        echo "name: live benchmark, Ricart-Agrawala $n nodes x $r requests"
        echo "algorithm: mutex.ricart-agrawala"
        echo "nodes: $n"
        echo "network: { latency: 0ms }"
        echo "params: { hold: 1us }"
        echo "timeline:"
        for _ in $(seq 1 "$r"); do
            for i in $(seq 1 "$n"); do echo "  - { at: 0ms, node: $i, do: request }"; done
        done
    } > "$f"
    rates=()
    walls=()
    for k in $(seq 1 "$runs"); do
        start=$(date +%s%N)
        out=$("$distlab" cluster "$f" --transport "$transport" --quiet --stop-when-idle 300ms --duration 60s)
        end=$(date +%s%N)
        echo "$out" | grep -q "result: ok" || { echo "run $k of $shape failed:"; echo "$out"; exit 1; }
        line=$(echo "$out" | grep "^  live ")
        rate=$(echo "$line" | sed -E 's/.*\(([0-9]+) msg\/s\).*/\1/')
        secs=$(echo "$line" | sed -E 's/^  live +([0-9.]+)s over.*/\1/')
        msgs=$(echo "$line" | sed -E 's/.*, ([0-9]+) messages sent.*/\1/')
        wall=$(( (end - start) / 1000000 ))
        echo "$shape run $k: $msgs messages in ${secs}s of cluster time = $rate msg/s; ${wall}ms wall (start-up and merge included)"
        rates+=("$rate")
        walls+=("$wall")
    done
    med_rate=$(printf '%s\n' "${rates[@]}" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
    med_wall=$(printf '%s\n' "${walls[@]}" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
    echo "$shape median over $runs runs: $med_rate msg/s, ${med_wall}ms wall ($transport)"
done
