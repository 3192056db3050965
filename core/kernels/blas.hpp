#pragma once
// Row-major GEMM through CBLAS: C = alpha * op(A) @ op(B) + beta * C, with op a transpose
// when the flag is set (so no transposed copy is ever made).
#include <cstdint>
#include <string>

#include "core/threads.hpp"

namespace tg::kernels {

void gemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha,
          const float* a, int64_t lda, const float* b, int64_t ldb, float beta, float* c,
          int64_t ldc);
void gemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, double alpha,
          const double* a, int64_t lda, const double* b, int64_t ldb, double beta, double* c,
          int64_t ldc);

/// What the CPU can run, from cpuid and the OS's saved vector state (xgetbv).
struct CpuFeatures {
    bool avx2_fma = false, avx512 = false, amd = false;
    bool avx512_bf16 = false, amx_bf16 = false;  // bf16 dot products; AMX bf16 tiles
};

/// A ceiling on what tapegrad assumes the CPU runs, so that one machine can take the routes a
/// smaller CPU of this kind takes (an AVX-512 machine those of an AVX2-only one, say): set by
/// TG_MAX_CPU_ISA=avx2|avx512|avx512_bf16 (unset or "all": no ceiling), it lowers what
/// cpu_features() reports and, the same way, the instructions oneDNN may dispatch to. The SIMD
/// width of tapegrad's own loops is fixed when it is compiled (TG_MARCH).
enum class CpuIsaCap { none, avx2, avx512, avx512_bf16 };
/// f without the features above cap (a pure function, for tests).
CpuFeatures cap_cpu_features(CpuFeatures f, CpuIsaCap cap);
/// This process's ceiling, read once from TG_MAX_CPU_ISA (a warning, and no ceiling, for a
/// value it does not know).
CpuIsaCap cpu_isa_cap();
/// "avx2", "avx512", "avx512_bf16", or "" for none.
const char* cpu_isa_cap_name(CpuIsaCap cap);

/// This CPU's features (cpuid), under the TG_MAX_CPU_ISA ceiling.
CpuFeatures cpu_features();

/// The engine of float32 products: oneDNN or the CBLAS. float64 always runs through the CBLAS.
enum class GemmEngine { cblas, onednn };
/// The rule (a pure function, so tests can check it for any CPU): a forced setting wins; oneDNN
/// only when available; automatically, oneDNN for products of 2^18 multiply-adds and more on
/// AVX-512 CPUs, the CBLAS otherwise (the measurements are in blas.cpp).
GemmEngine choose_gemm_engine(const CpuFeatures& cpu, int64_t m, int64_t n, int64_t k, bool onednn_available,
                              MatmulEngine setting);
/// The current setting (TG_MATMUL_ENGINE=auto|cblas|onednn at start-up, or set_matmul_engine).
MatmulEngine gemm_engine_setting();
void set_gemm_engine_setting(MatmulEngine setting);

/// The OpenBLAS core type to load for this CPU: SkylakeX with AVX-512 (F/CD/BW/DQ/VL), Zen
/// (AMD) or Haswell (others) with AVX2 + FMA, else OpenBLAS's own detection (core empty). A
/// core type the user set stands unless it needs instructions the CPU lacks.
struct CoreChoice {
    std::string core, description;
};
CoreChoice choose_openblas_core(const CpuFeatures& cpu, const std::string& user_setting);

/// Sets the BLAS library's own thread count (OpenBLAS or BLIS; ignored by others).
void blas_set_num_threads(int n);
/// Raises OpenBLAS's process-wide thread count to n if it is below (never lowers it: its OpenMP
/// build follows omp_get_max_threads() down by itself, but not back up from one).
void blas_raise_threads(int n);
/// s in ASCII lower case: the environment variables' values are read case-blind.
std::string ascii_lower(std::string s);

/// Which CBLAS was loaded and, for OpenBLAS, its core type and how it was chosen.
std::string blas_description();

}  // namespace tg::kernels
