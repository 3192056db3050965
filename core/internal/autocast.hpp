#pragma once
// Internal (not installed): what the products (matmul, linear) ask of autocast.
#include <cstdint>

#include "core/kernels/mixed.hpp"
#include "core/tensor.hpp"

namespace tg::detail {

/// How a float32 product of (m x k) by (k x n) runs now on this thread: float32 unless an
/// Autocast guard is on and this machine has a bf16 route for the shape.
kernels::Bf16Route product_route(int64_t m, int64_t n, int64_t k);

/// x (float32) as bf16 (bits in a bf16 tensor of x's shape). While autocast is on, copies of
/// leaves that require grad (weights) are kept and handed out again until the weight changes
/// (its version) or the outermost Autocast ends; other tensors are cast on every call.
Tensor bf16_copy(const Tensor& x);

/// The bits of a bf16 tensor, for kernels::gemm_bf16.
const uint16_t* bf16_bits(const Tensor& t);

}  // namespace tg::detail
