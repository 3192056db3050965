#pragma once
// Row-major GEMM through CBLAS: C = alpha * op(A) @ op(B) + beta * C, with op a transpose
// when the flag is set (so no transposed copy is ever made).
#include <cstdint>
#include <string>

namespace tg::kernels {

void gemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha,
          const float* a, int64_t lda, const float* b, int64_t ldb, float beta, float* c,
          int64_t ldc);
void gemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, double alpha,
          const double* a, int64_t lda, const double* b, int64_t ldb, double beta, double* c,
          int64_t ldc);

/// Sets the BLAS library's own thread count (OpenBLAS or BLIS; ignored by others).
void blas_set_num_threads(int n);
/// Which CBLAS was loaded and, for OpenBLAS, its core type and how it was chosen.
std::string blas_description();

}  // namespace tg::kernels
