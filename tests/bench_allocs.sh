#!/usr/bin/env bash
# tapegrad-bench gpt takes no buffer from the system in steady state, on whatever route the
# environment forces (TG_MATMUL_ENGINE, TG_MAX_CPU_ISA, TG_AUTOCAST_EMULATE; see
# tests/CMakeLists.txt). One exception is oneDNN's own: its float32 gemm:jit kernel, which it
# picks on CPUs without AVX-512, allocates a packing buffer inside every call that tapegrad
# cannot reach; there every buffer counted must be one of those, none of tapegrad's.
# Usage: bench_allocs.sh TAPEGRAD_BENCH [ARGS...]
set -euo pipefail
out=$(TG_BUFFER_CACHE_MB=1024 "$@")
echo "$out"
field() { echo "$out" | awk -v k="$1:" '$1 == k { print $2 }'; }
all=$(field allocs_per_step)
inside=$(field allocs_per_step_inside_onednn)
[ -n "$all" ] && [ -n "$inside" ] || { echo "bench_allocs: no allocation figures" >&2; exit 1; }
if [ "$all" = "0.0" ]; then
    echo "bench_allocs: no buffer allocated per step"
    exit 0
fi
if echo "$out" | grep -q "^blas: .*f32 kernels: [^;]*gemm:jit" && [ "$all" = "$inside" ]; then
    echo "bench_allocs: $all buffers per step, every one inside oneDNN's gemm:jit kernel (its packing buffers)"
    exit 0
fi
echo "bench_allocs: $all buffers per step ($inside of them inside oneDNN): tapegrad allocates in steady state" >&2
exit 1
