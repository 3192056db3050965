#!/usr/bin/env bash
# Step times of the benchmark GPTs with 1 and 2 threads, on a quiet machine and with another
# process keeping one core busy (a shell loop), for each tapegrad thread policy and OpenMP wait
# policy given; runs alternate, and each figure is the median of ROUNDS runs' ms_per_step. A
# CPU-bound neighbour is what a shared machine, a second job or a data loader brings; this shows
# what it costs.
# Usage: bench/contention.sh [BUILD_DIR]
#   (ROUNDS=3, MODELS="S M L", POLICIES="fixed adaptive", WAITS="default passive")
# POLICIES are TG_THREAD_POLICY's values (adaptive, the default, caps the team at the cores other
# processes leave free; fixed keeps the threads asked for). WAITS: "default" leaves
# OMP_WAIT_POLICY as the environment has it (unset: libgomp spins 300,000 times before it
# sleeps); "passive" and "active" set it. The adaptive policy looks at the machine every 100 ms,
# so each run first takes untimed steps for about half a second.
set -euo pipefail
build="${1:-build}"
bench="$build/bench/tapegrad-bench"
[ -x "$bench" ] || { echo "contention: no $bench (configure with -DTG_BUILD_BENCH=ON)" >&2; exit 1; }
ROUNDS="${ROUNDS:-3}"
MODELS="${MODELS:-S M L}"
POLICIES="${POLICIES:-fixed adaptive}"
WAITS="${WAITS:-default passive}"
declare -A SHAPE=([S]="--vocab 65 --context 64 --d-model 64 --layers 2 --heads 4 --batch 8 --steps 50 --warmup 100"
                  [M]="--vocab 65 --context 128 --d-model 128 --layers 4 --heads 4 --batch 16 --steps 15 --warmup 6"
                  [L]="--vocab 256 --context 256 --d-model 256 --layers 6 --heads 8 --batch 8 --steps 6 --warmup 2")
burner=""
stop_burner() {
    if [ -n "$burner" ]; then kill "$burner" 2> /dev/null || true; wait "$burner" 2> /dev/null || true; fi
    burner=""
}
trap stop_burner EXIT
trap 'exit 130' INT TERM
median() { sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
declare -A MS
for load in quiet busy; do
    if [ "$load" = busy ]; then
        # A separate process, so that it shares none of this shell's traps.
        bash -c 'while :; do :; done' &
        burner=$!
        sleep 0.5
    fi
    for round in $(seq "$ROUNDS"); do
        for model in $MODELS; do
            for policy in $POLICIES; do
                for wait in $WAITS; do
                    for threads in 1 2; do
                        env=(TG_THREAD_POLICY="$policy")
                        if [ "$wait" = default ]; then env=(-u OMP_WAIT_POLICY "${env[@]}"); else env+=(OMP_WAIT_POLICY="$wait"); fi
                        # shellcheck disable=SC2086
                        ms=$(env "${env[@]}" "$bench" gpt ${SHAPE[$model]} --threads "$threads" | awk '$1 == "ms_per_step:" { print $2 }')
                        MS[$load,$model,$policy,$wait,$threads]+="$ms "
                    done
                done
            done
        done
    done
    stop_burner
done
echo "| model | thread policy | wait policy | quiet, 1 thread | quiet, 2 threads | busy core, 1 thread | busy core, 2 threads | busy: 2 threads / 1 |"
echo "|---|---|---|---|---|---|---|---|"
for model in $MODELS; do
    for policy in $POLICIES; do
        for wait in $WAITS; do
            row=()
            for load in quiet busy; do
                for threads in 1 2; do row+=("$(echo ${MS[$load,$model,$policy,$wait,$threads]} | tr ' ' '\n' | median)"); done
            done
            ratio=$(awk -v a="${row[3]}" -v b="${row[2]}" 'BEGIN { printf "%.2f", a / b }')
            echo "| $model | $policy | $wait | ${row[0]} | ${row[1]} | ${row[2]} | ${row[3]} | $ratio |"
        done
    done
done
echo "(ms per step, medians of $ROUNDS alternating runs; $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) CPUs)"
