#pragma once
// oneDNN (Debian's libdnnl, v2 API) as a matrix engine: row-major C = alpha * op(A) @ op(B) +
// beta * C through matmul primitives, one per shape, created on first use and cached (creating
// one costs far more than a small product). Built when CMake finds oneDNN (TG_HAVE_ONEDNN);
// otherwise available() is false and the products throw.
#include <cstdint>
#include <string>

namespace tg::kernels::onednn {

/// True when tapegrad was built with oneDNN and its CPU engine could be created.
bool available();

/// float32 product (same contract as kernels::gemm).
void gemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha, const float* a, int64_t lda,
          const float* b, int64_t ldb, float beta, float* c, int64_t ldc);

/// bfloat16 inputs (raw bits), float32 accumulation and output.
void gemm_bf16(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha, const uint16_t* a,
               int64_t lda, const uint16_t* b, int64_t ldb, float beta, float* c, int64_t ldc);

/// "oneDNN 2.6.3 (f32 kernels: ...; bf16 kernels: ...)": the implementations its primitives
/// chose so far on any thread (e.g. "gemm:jit", "brg:avx512_core_amx"), or why it is
/// unavailable.
std::string description();

/// Primitives are cached per thread (a oneDNN 2.6 primitive must not run on two threads at
/// once), at most this many per thread, the least recently used dropped first.
inline constexpr int64_t kCacheCapacity = 256;

/// Primitives in the calling thread's cache (one per distinct shape, layout, dtype, alpha,
/// beta and OpenMP thread count).
int64_t cached_primitives();

}  // namespace tg::kernels::onednn
