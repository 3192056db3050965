#pragma once
// Elementwise loops over xsimd batches (the widest vectors -march allows). The last partial
// batch is padded through a small buffer, so every element goes through the same vector
// code and results do not depend on where an element sits. Large arrays are split across the
// OpenMP threads in cache-sized chunks.
// GCC 12 warns inside its own AVX-512 intrinsics (_mm512_undefined_* values it then
// overwrites) wherever xsimd inlines them; the state at the header's lines is what counts, so
// the warning is off for them only.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#include <xsimd/xsimd.hpp>
#pragma GCC diagnostic pop

#include <algorithm>
#include <cstdint>
#include <limits>
#include <type_traits>
#include "core/kernels/parallel.hpp"

namespace tg::kernels {

template <class T>
using Vec = xsimd::batch<T>;

/// y[i] = f(x[i]) with f taking and returning Vec<T>.
template <class T, class F>
void vmap(const T* x, T* y, int64_t n, F f) {
    constexpr int64_t W = Vec<T>::size;
    const int64_t full = n / W * W;
    // The test is outside the pragma: an OpenMP region costs a runtime call even when its
    // `if` is false, which matters when this runs per row inside a parallel loop.
    if (n >= kParallelMapElems) {
#pragma omp parallel for schedule(static)
        for (int64_t i = 0; i < full; i += W) f(Vec<T>::load_unaligned(x + i)).store_unaligned(y + i);
    } else {
        for (int64_t i = 0; i < full; i += W) f(Vec<T>::load_unaligned(x + i)).store_unaligned(y + i);
    }
    if (full < n) {
        alignas(64) T in[W] = {}, out[W];
        std::copy(x + full, x + n, in);
        f(Vec<T>::load_aligned(in)).store_aligned(out);
        std::copy(out, out + (n - full), y + full);
    }
}

/// y[i] = f(a[i], b[i]).
template <class T, class F>
void vmap2(const T* a, const T* b, T* y, int64_t n, F f) {
    constexpr int64_t W = Vec<T>::size;
    const int64_t full = n / W * W;
    auto body = [&](int64_t i) {
        f(Vec<T>::load_unaligned(a + i), Vec<T>::load_unaligned(b + i)).store_unaligned(y + i);
    };
    if (n >= kParallelMapElems) {
#pragma omp parallel for schedule(static)
        for (int64_t i = 0; i < full; i += W) body(i);
    } else {
        for (int64_t i = 0; i < full; i += W) body(i);
    }
    if (full < n) {
        alignas(64) T ia[W] = {}, ib[W] = {}, out[W];
        std::copy(a + full, a + n, ia);
        std::copy(b + full, b + n, ib);
        f(Vec<T>::load_aligned(ia), Vec<T>::load_aligned(ib)).store_aligned(out);
        std::copy(out, out + (n - full), y + full);
    }
}

/// The largest lane of v (xsimd 8 has no horizontal max).
template <class T>
T lanes_max(const Vec<T>& v) {
    alignas(64) T lanes[Vec<T>::size];
    v.store_aligned(lanes);
    return *std::max_element(lanes, lanes + Vec<T>::size);
}

/// Sum of f(i-th batch) over x[0, n), padding the tail with `pad` (chosen so f(pad) adds 0).
template <class T, class F>
T vreduce(const T* x, int64_t n, T pad, F f) {
    constexpr int64_t W = Vec<T>::size;
    const int64_t full = n / W * W;
    Vec<T> acc(T(0));
    for (int64_t i = 0; i < full; i += W) acc += f(Vec<T>::load_unaligned(x + i));
    if (full < n) {
        alignas(64) T in[W];
        std::fill(in, in + W, pad);
        std::copy(x + full, x + n, in);
        acc += f(Vec<T>::load_aligned(in));
    }
    return xsimd::hadd(acc);
}

/// xsimd::exp for every input. xsimd's exp turns x * log2(e) into an integer before its own
/// range check, which is undefined behaviour for infinities, NaN and huge values (UBSan under
/// clang reports it; masked softmax rows hold -inf by design). The argument is clamped to a
/// range whose ends already give exp's exact answer (0 below, +inf above) and NaN is put back
/// afterwards: four extra instructions, and finite in-range lanes are xsimd's result unchanged.
template <class T>
Vec<T> exp(const Vec<T>& x) {
    using V = Vec<T>;
    // exp underflows to 0 below about -745.1 (double) / -103.9 (float), overflows above 709.8 / 88.7.
    const V lo(std::is_same_v<T, double> ? T(-746) : T(-104));
    const V hi(std::is_same_v<T, double> ? T(710) : T(89));
    const V e = xsimd::exp(xsimd::min(xsimd::max(x, lo), hi));  // max(NaN, lo) is lo
    return xsimd::select(x != x, x, e);
}

/// xsimd::tanh for every input (the same integer conversion happens inside it): the argument
/// is clamped to [-20, 20], where tanh is already +-1 in float and double alike; NaN stays NaN.
template <class T>
Vec<T> tanh(const Vec<T>& x) {
    using V = Vec<T>;
    const V t = xsimd::tanh(xsimd::min(xsimd::max(x, V(T(-20))), V(T(20))));
    return xsimd::select(x != x, x, t);
}

}  // namespace tg::kernels
