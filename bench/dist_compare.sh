#!/usr/bin/env bash
# Data-parallel figures for README ("Training on several machines"): for the S, M and L GPTs of
# docs/bench.md, one process with 2 threads against 2 processes (mpiexec) with 1 thread each,
# the same global batch. The 2-process runs time three ways of reducing the gradients in turn
# (after backward, overlapped with backward, none); on L they are also run with malloc's
# defaults, to show what dist::SessionOptions::keep_freed_memory gains. Invocations alternate
# over ROUNDS rounds (default 3) and every figure is the median over rounds, so all
# configurations see the same machine. Usage: bench/dist_compare.sh [build-dir] (default: build).
set -euo pipefail
BUILD="${1:-build}"
BENCH="$BUILD/bench/tapegrad-dist-bench"
ROUNDS="${ROUNDS:-3}"
[ -x "$BENCH" ] || { echo "dist_compare.sh: $BENCH not built (configure with -DTG_BUILD_BENCH=ON; needs MPI: libopenmpi-dev)" >&2; exit 1; }
command -v mpiexec >/dev/null || { echo "dist_compare.sh: mpiexec not found (openmpi-bin)" >&2; exit 1; }

export OMPI_MCA_btl_vader_single_copy_mechanism=none
if [ "$(id -u)" = 0 ]; then export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1; fi

field() { awk -v k="$1:" '$1 == k { print $2 }'; }
median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

declare -A FIG
collect() {  # collect PREFIX OUTPUT: appends every "<mode>_<figure>: value" line to FIG[PREFIX <mode>_<figure>]
    local prefix="$1" out="$2" key
    while read -r key val _; do
        key="${key%:}"
        case "$key" in *_ms_per_step|*_tokens_per_s|*_comm_ms|*_wait_ms|*_comm_share) FIG["$prefix $key"]+="$val " ;; esac
    done <<<"$out"
}
fig() { echo "${FIG[$1]:-}" | median; }

declare -A SHAPES=([S]="65 64 64 2 4 16" [M]="65 128 128 4 4 16" [L]="256 256 256 6 8 8")
declare -A STEPS=([S]="40 5" [M]="10 3" [L]="5 2")
echo "CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) cores; MPI: $(mpiexec --version | head -1)"
echo "rounds: $ROUNDS (medians over rounds of per-run medians)"
for round in $(seq "$ROUNDS"); do
    for s in S M L; do
        read -r V T C L H B <<<"${SHAPES[$s]}"
        read -r N W <<<"${STEPS[$s]}"
        args=(--vocab "$V" --context "$T" --d-model "$C" --layers "$L" --heads "$H" --batch "$B"
              --steps "$N" --warmup "$W" --rounds 2)
        collect "$s 1x2" "$(OMP_NUM_THREADS=2 "$BENCH" --threads 2 "${args[@]}")"
        collect "$s 2x1" "$(OMP_NUM_THREADS=1 mpiexec -n 2 --bind-to core "$BENCH" --threads 1 "${args[@]}")"
        if [ "$s" = L ]; then
            collect "$s 2x1-malloc" "$(OMP_NUM_THREADS=1 mpiexec -n 2 --bind-to core "$BENCH" --threads 1 "${args[@]}" \
                --modes after,overlap --malloc-defaults)"
        fi
    done
    echo "round $round done" >&2
done

echo
echo "| model | layout | reduction | ms/step | tokens/s | vs 1 x 2 | in reduction (ms) | of which waiting (ms) | share of step |"
echo "|---|---|---|---|---|---|---|---|---|"
for s in S M L; do
    base=$(fig "$s 1x2 single_ms_per_step")
    printf "| %s | 1 process x 2 threads | - | %.1f | %.0f | 1.00 | - | - | - |\n" "$s" "$base" "$(fig "$s 1x2 single_tokens_per_s")"
    for m in after overlap none; do
        ms=$(fig "$s 2x1 ${m}_ms_per_step")
        label=$([ $m = after ] && echo "after backward" || ([ $m = overlap ] && echo "overlapped" || echo "none (floor)"))
        printf "| %s | 2 processes x 1 thread | %s | %.1f | %.0f | %.2f | %.2f | %.2f | %.1f%% |\n" "$s" "$label" "$ms" \
            "$(fig "$s 2x1 ${m}_tokens_per_s")" "$(echo "$base / $ms" | bc -l)" "$(fig "$s 2x1 ${m}_comm_ms")" \
            "$(fig "$s 2x1 ${m}_wait_ms")" \
            "$(echo "100 * $(fig "$s 2x1 ${m}_comm_share")" | bc -l)"
    done
done
echo
echo "L with malloc's defaults (keep_freed_memory off):"
for m in after overlap; do
    printf "  %s: %.1f ms/step, %.2f ms in reduction (kept: %.1f ms/step, %.2f ms)\n" "$m" \
        "$(fig "L 2x1-malloc ${m}_ms_per_step")" "$(fig "L 2x1-malloc ${m}_comm_ms")" \
        "$(fig "L 2x1 ${m}_ms_per_step")" "$(fig "L 2x1 ${m}_comm_ms")"
done
