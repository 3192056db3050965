#include "core/kernels/bf16.hpp"

#include <xsimd/xsimd.hpp>

#include <algorithm>
#include <bit>
#include <cmath>

#include "core/dtype.hpp"
#include "core/kernels/simd.hpp"

namespace tg::kernels {

namespace {

using U = xsimd::batch<uint32_t>;  // float bits
using I = xsimd::batch<int32_t>;   // the same, for the compare (AVX2 compares signed lanes only)

// bfloat16::round_bits on every lane, as float bits with the low half cleared.
U round_lanes(const U& u) {
    const U up = u + U(0x7fffu) + ((u >> 16) & U(1u));
    const U quiet_nan = u | U(0x00400000u);
    // |u| > inf's bits: both sides below 2^31, so the signed compare is the unsigned one.
    const auto is_nan = xsimd::bitwise_cast<I>(u & U(0x7fffffffu)) > I(0x7f800000);
    const I kept = xsimd::select(is_nan, xsimd::bitwise_cast<I>(quiet_nan), xsimd::bitwise_cast<I>(up));
    return xsimd::bitwise_cast<U>(kept) & U(0xffff0000u);
}

// y[i] = f(x[i]) as the compiler's vector code, on the OpenMP threads for large n. Used where
// lanes change width (32 <-> 16 bits): xsimd 8 converts widths only through a stack buffer,
// which measured 2-3x slower than the packs and unpacks the compiler emits for this loop.
template <class From, class To, class F>
void convert_loop(const From* x, To* y, int64_t n, F f) {
    if (n >= kParallelMapElems) {
#pragma omp parallel for simd schedule(static)
        for (int64_t i = 0; i < n; ++i) y[i] = f(x[i]);
    } else {
#pragma omp simd
        for (int64_t i = 0; i < n; ++i) y[i] = f(x[i]);
    }
}

}  // namespace

void to_bf16(const float* src, uint16_t* dst, int64_t n) {
    convert_loop(src, dst, n, [](float f) { return bfloat16::round_bits(f); });
}

void from_bf16(const uint16_t* src, float* dst, int64_t n) {
    convert_loop(src, dst, n, [](uint16_t b) { return bfloat16::from_bits(b).to_float(); });
}

void round_to_bf16(const float* src, float* dst, int64_t n) {
    vmap(src, dst, n, [](const Vec<float>& x) {
        return xsimd::bitwise_cast<Vec<float>>(round_lanes(xsimd::bitwise_cast<U>(x)));
    });
}

void to_bf16(const double* src, uint16_t* dst, int64_t n) {
    for (int64_t i = 0; i < n; ++i) dst[i] = bfloat16(src[i]).bits();
}

void to_bf16(const int64_t* src, uint16_t* dst, int64_t n) {
    for (int64_t i = 0; i < n; ++i) {
        // |x| rounded to odd at 24 bits (the bits shifted out collapse into the last one), which
        // a float holds exactly; rounding that to nearest bf16 rounds x itself (see bfloat16).
        const int64_t x = src[i];
        uint64_t mag = x < 0 ? 0 - static_cast<uint64_t>(x) : static_cast<uint64_t>(x);
        const int shift = std::max(0, static_cast<int>(std::bit_width(mag)) - 24);
        const uint64_t dropped = mag & ((uint64_t{1} << shift) - 1);
        mag = (mag >> shift) | (dropped != 0);
        const float f = std::ldexp(static_cast<float>(mag), shift);
        dst[i] = bfloat16(x < 0 ? -f : f).bits();
    }
}

void from_bf16(const uint16_t* src, double* dst, int64_t n) {
    for (int64_t i = 0; i < n; ++i) dst[i] = bfloat16::from_bits(src[i]).to_float();
}

}  // namespace tg::kernels
