#!/usr/bin/env bash
# Data-parallel training across a (simulated) network: two network namespaces joined by a veth
# pair whose two directions are rate-limited with tc's token bucket (tbf), one MPI rank in each,
# talking over OpenMPI's TCP transport (shared memory off). mpiexec starts the second rank
# "remotely" through a launcher agent of our own (plm_rsh_agent) that enters the other
# namespace instead of using ssh. Runs tapegrad-dist-bench (2 ranks x 1 thread) for each rate
# and model, timing gradient reduction after backward, overlapped with backward, and none; prints
#   netsim: rate=1gbit model=L mode=overlapped ms_per_step=... tokens_per_s=... reduce_ms=... wait_ms=...
# per run, then a markdown table. Everything it creates (namespaces, link, processes, files) is
# removed at the end, also on Ctrl-C or an error. Needs root.
#
# Usage: bench/dist_netsim.sh [--rate R]... [--model M|L]... [--bucket-kb K]... [--rounds N]
#                             [--mca NAME VALUE]... [build-dir]
#   --rate       a tc rate (1gbit, 10gbit, 500mbit, ...); default: 1gbit and 10gbit
#   --model      M or L (the models of docs/bench.md); default: both
#   --bucket-kb  gradient bucket sizes to sweep (default: DataParallel's default, 1024)
#   --rounds     rounds of tapegrad-dist-bench (each times every mode once; default 2)
#   --mca        an OpenMPI parameter for every run (e.g. --mca btl_tcp_progress_thread 1)
set -euo pipefail

RATES=() MODELS=() BUCKETS=() MCA=() ROUNDS=2 BUILD=build
while [ $# -gt 0 ]; do
    case "$1" in
        --rate) RATES+=("${2:?--rate needs a value}"); shift 2 ;;
        --model) MODELS+=("${2:?--model needs M or L}"); shift 2 ;;
        --bucket-kb) BUCKETS+=("${2:?--bucket-kb needs a size in KiB}"); shift 2 ;;
        --rounds) ROUNDS="${2:?--rounds needs a count}"; shift 2 ;;
        --mca) MCA+=(--mca "${2:?--mca needs a name}" "${3:?--mca needs a value}"); shift 3 ;;
        -h|--help) sed -n '2,19p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        -*) echo "dist_netsim.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
        *) BUILD="$1"; shift ;;
    esac
done
[ ${#RATES[@]} -gt 0 ] || RATES=(1gbit 10gbit)
[ ${#MODELS[@]} -gt 0 ] || MODELS=(M L)
[ ${#BUCKETS[@]} -gt 0 ] || BUCKETS=(1024)
for m in "${MODELS[@]}"; do
    case "$m" in M|L) ;; *) echo "dist_netsim.sh: --model $m: expected M or L" >&2; exit 2 ;; esac
done
for r in "${RATES[@]}"; do
    [[ "$r" =~ ^[0-9]+(\.[0-9]+)?(kbit|mbit|gbit)$ ]] || { echo "dist_netsim.sh: --rate $r: expected e.g. 100mbit, 1gbit, 10gbit" >&2; exit 2; }
done
[[ "$ROUNDS" =~ ^[1-9][0-9]*$ ]] || { echo "dist_netsim.sh: --rounds $ROUNDS: expected a positive count" >&2; exit 2; }

BENCH="$(cd "$BUILD" 2>/dev/null && pwd)/bench/tapegrad-dist-bench"
[ -x "$BENCH" ] || { echo "dist_netsim.sh: $BUILD/bench/tapegrad-dist-bench not built (configure with -DTG_BUILD_BENCH=ON; needs MPI: libopenmpi-dev)" >&2; exit 1; }
[ "$(id -u)" = 0 ] || { echo "dist_netsim.sh: needs root (network namespaces, tc)" >&2; exit 1; }
command -v mpiexec >/dev/null || { echo "dist_netsim.sh: mpiexec not found (openmpi-bin)" >&2; exit 1; }
if ! command -v ip >/dev/null || ! command -v tc >/dev/null; then
    apt-get update -qq && apt-get install -y -qq iproute2 >/dev/null
fi

# Names unique to this run, so that two runs (or a stale one) never collide.
TAG="tg$$"
NS_A="${TAG}a" NS_B="${TAG}b" DEV_A="${TAG}va" DEV_B="${TAG}vb"
ADDR_A=10.213.0.1 ADDR_B=10.213.0.2 NET=10.213.0.0/24
WORK="$(mktemp -d)"

cleanup() {
    set +e
    for ns in "$NS_A" "$NS_B"; do
        if ip netns list | grep -qw "$ns"; then
            pids=$(ip netns pids "$ns")
            [ -n "$pids" ] && kill -9 $pids 2>/dev/null
            ip netns del "$ns"
        fi
    done
    ip link del "$DEV_A" 2>/dev/null  # only if a failure left it outside the namespaces
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Two hosts: namespaces joined by a veth pair, addresses on one /24, the loopbacks up.
ip netns add "$NS_A"
ip netns add "$NS_B"
ip link add "$DEV_A" type veth peer name "$DEV_B"
ip link set "$DEV_A" netns "$NS_A"
ip link set "$DEV_B" netns "$NS_B"
ip -n "$NS_A" addr add "$ADDR_A/24" dev "$DEV_A"
ip -n "$NS_B" addr add "$ADDR_B/24" dev "$DEV_B"
for ns in "$NS_A" "$NS_B"; do ip -n "$ns" link set lo up; done
ip -n "$NS_A" link set "$DEV_A" up
ip -n "$NS_B" link set "$DEV_B" up

# The link's rate, both directions: a token bucket whose burst holds 4 ms at that rate (the
# kernel refills it at least every 4 ms at HZ 250), at least 64 KiB.
set_rate() {
    local rate="$1" bits burst
    bits=$(awk -v r="$rate" 'BEGIN { n = r + 0; u = substr(r, length(n "") + 1);
        m = (u == "kbit") ? 1e3 : (u == "mbit") ? 1e6 : 1e9; printf "%.0f", n * m }')
    burst=$(awk -v b="$bits" 'BEGIN { v = b / 8 * 0.004; if (v < 65536) v = 65536; printf "%.0f", v }')
    ip netns exec "$NS_A" tc qdisc replace dev "$DEV_A" root tbf rate "$rate" burst "$burst" latency 100ms
    ip netns exec "$NS_B" tc qdisc replace dev "$DEV_B" root tbf rate "$rate" burst "$burst" latency 100ms
}

# mpiexec runs in namespace A; the rank on "host" B is started by this agent, which OpenMPI
# calls as it would call ssh (agent HOST COMMAND...). Each host also gets its own hostname
# (a UTS namespace), so that OpenMPI sees two nodes.
cat > "$WORK/agent.sh" <<EOF
#!/bin/sh
host="\$1"; shift
case "\$host" in
    $ADDR_B) exec ip netns exec $NS_B unshare --uts sh -c "hostname ${TAG}-b && \$*" ;;
    *) echo "dist_netsim agent: unknown host \$host" >&2; exit 1 ;;
esac
EOF
chmod +x "$WORK/agent.sh"

mpi_run() {  # mpi_run ARGS...: tapegrad-dist-bench, one rank per namespace, over TCP
    ip netns exec "$NS_A" unshare --uts sh -c "hostname ${TAG}-a && exec \"\$0\" \"\$@\"" \
        env OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 \
        mpiexec -n 2 --host "$ADDR_A:1,$ADDR_B:1" \
        --mca plm_rsh_agent "$WORK/agent.sh" \
        --mca btl tcp,self --mca btl_tcp_if_include "$NET" --mca oob_tcp_if_include "$NET" ${MCA[@]+"${MCA[@]}"} \
        -x OMP_NUM_THREADS=1 -x OMPI_ALLOW_RUN_AS_ROOT=1 -x OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 \
        "$BENCH" --threads 1 "$@"
}

declare -A SHAPES=([M]="65 128 128 4 4 16" [L]="256 256 256 6 8 8")
declare -A STEPS=([M]="8 2" [L]="4 1")
field() { awk -v k="$1:" '$1 == k { print $2 }'; }

echo "CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) cores; MPI: $(mpiexec --version | head -1)"
echo "link: veth between namespaces $NS_A and $NS_B, tc tbf in both directions; OpenMPI btl tcp (no shared memory)${MCA[*]:+; ${MCA[*]}}"
ROWS="$WORK/rows"
: > "$ROWS"
for rate in "${RATES[@]}"; do
    set_rate "$rate"
    for model in "${MODELS[@]}"; do
        read -r V T C L H B <<<"${SHAPES[$model]}"
        read -r N W <<<"${STEPS[$model]}"
        for kb in "${BUCKETS[@]}"; do
            # In the background, so that a signal to this script is handled at once (bash runs
            # traps only between commands, and `wait` is one it interrupts).
            mpi_run --vocab "$V" --context "$T" --d-model "$C" --layers "$L" --heads "$H" --batch "$B" \
                --steps "$N" --warmup "$W" --rounds "$ROUNDS" --bucket-kb "$kb" --modes after,overlap,none \
                > "$WORK/run.log" 2>&1 &
            wait $! || { cat "$WORK/run.log" >&2; echo "dist_netsim.sh: the run at rate $rate, model $model failed" >&2; exit 1; }
            out=$(cat "$WORK/run.log")
            for mode in after overlap none; do
                name=$mode; [ "$mode" = overlap ] && name=overlapped
                line="netsim: rate=$rate model=$model mode=$name ms_per_step=$(echo "$out" | field "${mode}_ms_per_step")"
                line+=" tokens_per_s=$(echo "$out" | field "${mode}_tokens_per_s") reduce_ms=$(echo "$out" | field "${mode}_comm_ms")"
                line+=" wait_ms=$(echo "$out" | field "${mode}_wait_ms")"
                [ ${#BUCKETS[@]} -gt 1 ] && line+=" bucket_kb=$kb"
                echo "$line"
                echo "$line" >> "$ROWS"
            done
        done
    done
done

# The table: one row per rate, model (and bucket size), the three modes side by side.
echo
echo "| rate | model | bucket KiB | after: ms/step | overlapped: ms/step | none: ms/step | overlapped vs after | after: reduce / wait ms | overlapped: reduce / wait ms |"
echo "|---|---|---|---|---|---|---|---|---|"
awk '{
    for (i = 2; i <= NF; i++) { split($i, kv, "="); f[kv[1]] = kv[2] }
    key = f["rate"] " " f["model"] " " (f["bucket_kb"] == "" ? "'"${BUCKETS[0]}"'" : f["bucket_kb"])
    if (!(key in seen)) { seen[key] = 1; order[++n] = key }
    ms[key, f["mode"]] = f["ms_per_step"]; red[key, f["mode"]] = f["reduce_ms"]; wt[key, f["mode"]] = f["wait_ms"]
    delete f
} END {
    for (i = 1; i <= n; i++) {
        k = order[i]; split(k, p, " ")
        printf "| %s | %s | %s | %s | %s | %s | %.2fx | %s / %s | %s / %s |\n", p[1], p[2], p[3],
            ms[k, "after"], ms[k, "overlapped"], ms[k, "none"], ms[k, "after"] / ms[k, "overlapped"],
            red[k, "after"], wt[k, "after"], red[k, "overlapped"], wt[k, "overlapped"]
    }
}' "$ROWS"
