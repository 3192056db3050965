#pragma once
// Internal (not installed): what the products (matmul, linear) ask of autocast.
#include <cstdint>
#include <type_traits>

#include "core/kernels/mixed.hpp"
#include "core/tensor.hpp"

namespace tg::detail {

/// How a product of (m x k) by (k x n) with operands of dtype `dtype` runs now on this thread:
/// float32 (or float64) unless the operands are f32, an Autocast guard is on and this machine
/// has a bf16 route for the shape.
kernels::Bf16Route product_route(Dtype dtype, int64_t m, int64_t n, int64_t k);

/// x (float32) as bf16 (bits in a bf16 tensor of x's shape). While autocast is on, copies of
/// leaves that require grad (weights) are kept and handed out again until the weight changes
/// (its version) or the outermost Autocast ends; other tensors are cast on every call.
Tensor bf16_copy(const Tensor& x);

/// bf16_copy(x) on a bf16 route, an undefined tensor on the float32 one.
Tensor bf16_copy_for(kernels::Bf16Route route, const Tensor& x);

/// The bits of a bf16 tensor, for kernels::gemm_bf16.
const uint16_t* bf16_bits(const Tensor& t);

/// The two operands of a product: their values, and on a bf16 route their bf16 copies (from
/// bf16_copy_for). gemm() runs kernels::gemm_bf16 or kernels::gemm accordingly, with alpha 1;
/// the offsets index values and copies alike.
template <class T>
struct ProductOperands {
    kernels::Bf16Route route;
    const T *a, *b;
    const uint16_t *ah = nullptr, *bh = nullptr;

    ProductOperands(kernels::Bf16Route r, const Tensor& x, const Tensor& xh, const Tensor& y, const Tensor& yh)
        : route(r), a(x.data<T>()), b(y.data<T>()) {
        if (route != kernels::Bf16Route::float32) ah = bf16_bits(xh), bh = bf16_bits(yh);
    }
    void gemm(bool ta, bool tb, int64_t m, int64_t n, int64_t k, int64_t a_off, int64_t lda, int64_t b_off, int64_t ldb,
              T beta, T* c, int64_t ldc) const {
        if constexpr (std::is_same_v<T, float>) {
            if (route != kernels::Bf16Route::float32)
                return kernels::gemm_bf16(route, ta, tb, m, n, k, 1.0f, ah + a_off, lda, bh + b_off, ldb, beta, c, ldc);
        }
        kernels::gemm(ta, tb, m, n, k, T(1), a + a_off, lda, b + b_off, ldb, beta, c, ldc);
    }
};

}  // namespace tg::detail
