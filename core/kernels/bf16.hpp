#pragma once
// Conversions between float and bfloat16 over whole buffers (vector code, on the OpenMP threads
// above kParallelElems), and the scalar ones for double and int64. bf16 values travel as their bits
// (uint16_t; a tg::bfloat16 array has the same layout). Every narrowing rounds to nearest,
// ties to even, keeps infinities and signed zeros, and turns a NaN into a quiet NaN of the same
// sign; values past the largest bf16 (3.3895e38) by half a step or more become inf.
#include <cstdint>

namespace tg::kernels {

/// dst[i] = the bf16 bits nearest to src[i].
void to_bf16(const float* src, uint16_t* dst, int64_t n);
/// dst[i] = the float the bf16 bits src[i] stand for (exact).
void from_bf16(const uint16_t* src, float* dst, int64_t n);
/// dst[i] = src[i] rounded to bf16 precision, kept as a float (what a bf16 round trip gives);
/// src may equal dst.
void round_to_bf16(const float* src, float* dst, int64_t n);

/// From double: one rounding, straight to bf16 (tg::bfloat16's double constructor).
void to_bf16(const double* src, uint16_t* dst, int64_t n);
/// From int64: one rounding, straight to bf16 (8 significant bits; |x| >= 2^63 stays finite).
void to_bf16(const int64_t* src, uint16_t* dst, int64_t n);
/// To double (exact).
void from_bf16(const uint16_t* src, double* dst, int64_t n);

}  // namespace tg::kernels
