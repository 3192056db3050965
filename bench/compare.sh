#!/usr/bin/env bash
# Runs tapegrad-bench and torch-bench side by side, alternating, in one run, and prints the
# markdown tables of docs/bench.md: S/M/L at 1 and 2 threads, the Fashion-MNIST CNN,
# layer_norm, and scaling in T and C. Usage: bench/compare.sh [build-dir] (default: build). Needs torch-bench (Debian's
# libtorch-dev installed before configuring); without it, prints tapegrad's figures only.
set -euo pipefail
BUILD="${1:-build}"
TG="$BUILD/bench/tapegrad-bench"
TORCH="$BUILD/bench/torch-bench"
ROUNDS="${ROUNDS:-2}"
[ -x "$TG" ] || { echo "compare.sh: $TG not built (configure with -DTG_BUILD_BENCH=ON, or run scripts/test)" >&2; exit 1; }
HAVE_TORCH=0
[ -x "$TORCH" ] && HAVE_TORCH=1

# tapegrad picks OpenBLAS's core type from cpuid itself; a preset OPENBLAS_CORETYPE would be
# respected, so it is cleared here. libtorch gets its own best setting: OpenBLAS's own CPU
# detection, except on AVX-512 CPUs it may not know (SkylakeX named explicitly), and the
# faster of Debian's pthread and OpenMP builds of OpenBLAS (both are tried).
unset OPENBLAS_CORETYPE
TORCH_CORE=""
grep -qw avx512f /proc/cpuinfo && grep -qw avx512bw /proc/cpuinfo && TORCH_CORE="SkylakeX"
OMP_LIB=/usr/lib/$(gcc -print-multiarch 2>/dev/null || echo x86_64-linux-gnu)/openblas-openmp

field() { awk -v k="$1:" '$1 == k { print $2 }'; }
median() { sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

declare -A MS RSS ALLOC
run() {  # run KEY PROGRAM ENV... -- ARGS...
    local key="$1" prog="$2"; shift 2
    local envs=()
    while [ "$1" != "--" ]; do envs+=("$1"); shift; done
    shift
    local out
    out=$(env "${envs[@]}" "$prog" "$@")
    MS[$key]+="$(echo "$out" | field ms_per_step) "
    RSS[$key]=$(echo "$out" | field peak_rss_mb)
    ALLOC[$key]=$(echo "$out" | field allocs_per_step)
}

declare -A SHAPES=([S]="65 64 64 2 4 8" [M]="65 128 128 4 4 16" [L]="256 256 256 6 8 8")
declare -A STEPS=([S]="50 5" [M]="15 3" [L]="8 2")
echo "CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs) (family $(grep -m1 'cpu family' /proc/cpuinfo | cut -d: -f2 | xargs), model $(grep -m1 '^model\s' /proc/cpuinfo | cut -d: -f2 | xargs)), $(nproc) cores"
echo "tapegrad BLAS: $("$TG" gpt --steps 1 --warmup 0 --layers 1 --context 8 | sed -n 's/^blas: //p')"
echo "libtorch: OPENBLAS_CORETYPE=${TORCH_CORE:-unset, OpenBLAS detects the CPU}; rounds: $ROUNDS, medians"
for round in $(seq "$ROUNDS"); do
    for s in S M L; do
        read -r V T C L H B <<<"${SHAPES[$s]}"
        read -r N W <<<"${STEPS[$s]}"
        for p in 1 2; do
            args=(gpt --vocab "$V" --context "$T" --d-model "$C" --layers "$L" --heads "$H" --batch "$B"
                  --steps "$N" --warmup "$W" --threads "$p")
            run "tg $s $p" "$TG" -- "${args[@]}"
            if [ $HAVE_TORCH = 1 ]; then
                run "torch-pthread $s $p" "$TORCH" OPENBLAS_CORETYPE="$TORCH_CORE" -- "${args[@]}"
                run "torch-openmp $s $p" "$TORCH" OPENBLAS_CORETYPE="$TORCH_CORE" LD_LIBRARY_PATH="$OMP_LIB" -- "${args[@]}"
            fi
        done
    done
done

med() { echo "${MS[$1]}" | tr ' ' '\n' | grep . | median; }
echo
echo "| model | threads | tapegrad ms/step | tapegrad tokens/s | tapegrad peak RSS MB | libtorch ms/step (BLAS) | libtorch tokens/s | libtorch peak RSS MB | libtorch best (any threads) / tapegrad |"
echo "|---|---|---|---|---|---|---|---|---|"
for s in S M L; do
    read -r V T C L H B <<<"${SHAPES[$s]}"
    shape="${SHAPES[$s]}"
    best_torch=""
    if [ $HAVE_TORCH = 1 ]; then
        best_torch=$(for p in 1 2; do for v in pthread openmp; do med "torch-$v $s $p"; done; done | sort -g | head -1)
    fi
    for p in 1 2; do
        tg=$(med "tg $s $p")
        tok=$(awk -v b="$B" -v t="$T" -v ms="$tg" 'BEGIN { printf "%.0f", b * t / (ms / 1e3) }')
        if [ $HAVE_TORCH = 1 ]; then
            tp=$(med "torch-pthread $s $p"); to=$(med "torch-openmp $s $p")
            if awk -v a="$to" -v b="$tp" 'BEGIN { exit !(a < b) }'; then tb=$to; tv=openmp; else tb=$tp; tv=pthread; fi
            ttok=$(awk -v b="$B" -v t="$T" -v ms="$tb" 'BEGIN { printf "%.0f", b * t / (ms / 1e3) }')
            ratio=$(awk -v a="$best_torch" -v b="$tg" 'BEGIN { printf "%.2fx", a / b }')
            k_tg="tg $s $p"; k_torch="torch-$tv $s $p"
            echo "| $s ($shape) | $p | $tg | $tok | ${RSS[$k_tg]} | $tb ($tv) | $ttok | ${RSS[$k_torch]} | $ratio |"
        else
            k_tg="tg $s $p"
            echo "| $s ($shape) | $p | $tg | $tok | ${RSS[$k_tg]} | - | - | - | - |"
        fi
    done
done

# Mixed precision: float32 against bf16 autocast (tg::Autocast, torch's CPU autocast), 2 threads,
# alternated. Where the CPU has no bf16 units, tapegrad's autocast runs float32 (the line above
# the table says so) and libtorch's runs whatever its kernels do there.
declare -A AC
for round in $(seq "$ROUNDS"); do
    for s in S L; do
        read -r V T C L H B <<<"${SHAPES[$s]}"
        read -r N W <<<"${STEPS[$s]}"
        args=(gpt --vocab "$V" --context "$T" --d-model "$C" --layers "$L" --heads "$H" --batch "$B"
              --steps "$N" --warmup "$W" --threads 2)
        for mode in off bf16; do
            AC[tg $s $mode]+="$("$TG" "${args[@]}" --autocast "$mode" | field ms_per_step) "
            if [ $HAVE_TORCH = 1 ]; then
                AC[torch $s $mode]+="$(env OPENBLAS_CORETYPE="$TORCH_CORE" LD_LIBRARY_PATH="$OMP_LIB" "$TORCH" "${args[@]}" --autocast "$mode" | field ms_per_step) "
            fi
        done
    done
done
amed() { echo "${AC[$1]}" | tr ' ' '\n' | grep . | median; }
echo
echo "tapegrad autocast here: $("$TG" gpt --steps 1 --warmup 0 --layers 1 --context 8 --autocast bf16 | sed -n 's/^autocast: //p')"
echo
echo "| model, 2 threads | tapegrad f32 ms/step | tapegrad bf16 ms/step | bf16 speed-up | libtorch f32 ms/step | libtorch bf16 ms/step | libtorch bf16 / tapegrad bf16 |"
echo "|---|---|---|---|---|---|---|"
for s in S L; do
    t32=$(amed "tg $s off"); t16=$(amed "tg $s bf16")
    up=$(awk -v a="$t32" -v b="$t16" 'BEGIN { printf "%.2fx", a / b }')
    if [ $HAVE_TORCH = 1 ]; then
        p32=$(amed "torch $s off"); p16=$(amed "torch $s bf16")
        echo "| $s (${SHAPES[$s]}) | $t32 | $t16 | $up | $p32 | $p16 | $(awk -v a="$p16" -v b="$t16" 'BEGIN { printf "%.2fx", a / b }') |"
    else
        echo "| $s (${SHAPES[$s]}) | $t32 | $t16 | $up | - | - | - |"
    fi
done

# Long sequences: attention keeps no (T, T) array in tapegrad (blocked, online softmax), so a
# step's peak memory grows linearly in T; libtorch's composed attention keeps B H T^2 values.
echo
echo "| long context, 2 threads (V=65 C=256 L=2 H=8 B=2) | T | tapegrad ms/step | tapegrad peak RSS MB | libtorch ms/step | libtorch peak RSS MB |"
echo "|---|---|---|---|---|---|"
for T in 256 512 1024; do
    args=(gpt --vocab 65 --context "$T" --d-model 256 --layers 2 --heads 8 --batch 2 --steps 5 --warmup 1 --threads 2)
    out=$("$TG" "${args[@]}")
    row="| attention | $T | $(echo "$out" | field ms_per_step) | $(echo "$out" | field peak_rss_mb)"
    if [ $HAVE_TORCH = 1 ]; then
        out=$(env OPENBLAS_CORETYPE="$TORCH_CORE" LD_LIBRARY_PATH="$OMP_LIB" "$TORCH" "${args[@]}")
        row+=" | $(echo "$out" | field ms_per_step) | $(echo "$out" | field peak_rss_mb) |"
    else
        row+=" | - | - |"
    fi
    echo "$row"
done

# The Fashion-MNIST example's CNN (batch 128), tapegrad and libtorch alternated.
declare -A CNN
for round in $(seq "$ROUNDS"); do
    for p in 1 2; do
        args=(cnn --batch 128 --steps 20 --warmup 3 --threads "$p")
        CNN[tg $p]+="$("$TG" "${args[@]}" | field images_per_s) "
        if [ $HAVE_TORCH = 1 ]; then
            CNN[torch-pthread $p]+="$(env OPENBLAS_CORETYPE="$TORCH_CORE" "$TORCH" "${args[@]}" | field images_per_s) "
            CNN[torch-openmp $p]+="$(env OPENBLAS_CORETYPE="$TORCH_CORE" LD_LIBRARY_PATH="$OMP_LIB" "$TORCH" "${args[@]}" | field images_per_s) "
        fi
    done
done
cmed() { echo "${CNN[$1]}" | tr ' ' '\n' | grep . | median; }
echo
echo "| Fashion-MNIST CNN, batch 128 | threads | tapegrad images/s | libtorch images/s (BLAS) | tapegrad / libtorch |"
echo "|---|---|---|---|---|"
for p in 1 2; do
    tg=$(cmed "tg $p")
    if [ $HAVE_TORCH = 1 ]; then
        tp=$(cmed "torch-pthread $p"); to=$(cmed "torch-openmp $p")
        if awk -v a="$to" -v b="$tp" 'BEGIN { exit !(a > b) }'; then tb=$to; tv=openmp; else tb=$tp; tv=pthread; fi
        echo "| FashionCNN (width 32) | $p | $tg | $tb ($tv) | $(awk -v a="$tg" -v b="$tb" 'BEGIN { printf "%.2fx", a / b }') |"
    else
        echo "| FashionCNN (width 32) | $p | $tg | - | - |"
    fi
done

echo
echo "| layer_norm 4096 x 768 f32, fwd+bwd | threads | ms | GB/s | stream copy GB/s |"
echo "|---|---|---|---|---|"
for p in 1 2; do
    out=$("$TG" layernorm --threads "$p")
    echo "| tapegrad | $p | $(echo "$out" | field ms_fwd_bwd) | $(echo "$out" | field gb_per_s) | $(echo "$out" | field stream_copy_gb_per_s) |"
    if [ $HAVE_TORCH = 1 ]; then
        out=$(env OPENBLAS_CORETYPE="$TORCH_CORE" "$TORCH" layernorm --threads "$p")
        echo "| libtorch | $p | $(echo "$out" | field ms_fwd_bwd) | $(echo "$out" | field gb_per_s) | $(echo "$out" | field stream_copy_gb_per_s) |"
    fi
done

# Scaling: FLOPs per step ~ 3 B T (L (24 C^2 + 2 T C) + 2 C V) (forward + backward, causal
# attention); steady GFLOP/s means time grows with the FLOP count.
echo
echo "| scaling (tapegrad, 2 threads, V=65 L=2 H=4 B=8) | T | C | ms/step | GFLOP/step | GFLOP/s |"
echo "|---|---|---|---|---|---|"
scale_row() {
    local what=$1 T=$2 C=$3 steps=$4
    local ms
    ms=$("$TG" gpt --vocab 65 --context "$T" --d-model "$C" --layers 2 --heads 4 --batch 8 --steps "$steps" --warmup 2 --threads 2 | field ms_per_step)
    awk -v w="$what" -v T="$T" -v C="$C" -v ms="$ms" 'BEGIN {
        f = 3 * 8 * T * (2 * (24 * C * C + 2 * T * C) + 2 * C * 65) / 1e9
        printf "| %s | %d | %d | %s | %.3f | %.1f |\n", w, T, C, ms, f, f / (ms / 1e3) }'
}
for T in 64 128 256 512; do scale_row "T doubles" "$T" 64 20; done
for C in 64 128 256 512; do scale_row "C doubles" 64 "$C" 20; done
