#include "core/kernels/softmax.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

#include "core/kernels/simd.hpp"

namespace tg::kernels {

namespace {

// e[d] = exp(x[d] - m) with m the row max; returns {m, sum e}.
template <class T>
RowMaxSum<T> exp_row(const T* x, T* e, int64_t D) {
    using V = Vec<T>;
    const T lowest = -std::numeric_limits<T>::infinity();
    V vm(lowest);
    int64_t d = 0;
    constexpr int64_t W = V::size;
    for (; d + W <= D; d += W) vm = xsimd::max(vm, V::load_unaligned(x + d));
    T m = lanes_max(vm);
    for (; d < D; ++d) m = std::max(m, x[d]);
    vmap(x, e, D, [m](V v) { return kernels::exp<T>(v - V(m)); });
    return {m, vreduce(e, D, T(0), [](V v) { return v; })};
}

// The max m of x[d * stride], d < D, and sum exp(x - m), in scalar code.
template <class T>
RowMaxSum<T> max_sum_strided(const T* x, int64_t D, int64_t stride) {
    T m = -std::numeric_limits<T>::infinity();
    for (int64_t d = 0; d < D; ++d) m = std::max(m, x[d * stride]);
    T s = 0;
    for (int64_t d = 0; d < D; ++d) s += std::exp(x[d * stride] - m);
    return {m, s};
}

}  // namespace

template <class T>
RowMaxSum<T> softmax_row(const T* x, T* y, int64_t D) {
    const RowMaxSum<T> ms = exp_row(x, y, D);
    const T inv = T(1) / ms.sum;
    for (int64_t d = 0; d < D; ++d) y[d] *= inv;
    return ms;
}

template <class T>
void log_softmax_row(const T* x, T* y, int64_t D) {
    const auto [m, s] = exp_row(x, y, D);
    const T lse = m + std::log(s);
    for (int64_t d = 0; d < D; ++d) y[d] = x[d] - lse;
}

template <class T>
void softmax_row_strided(const T* x, T* y, int64_t D, int64_t stride) {
    const auto [m, s] = max_sum_strided(x, D, stride);
    const T inv = T(1) / s;
    for (int64_t d = 0; d < D; ++d) y[d * stride] = std::exp(x[d * stride] - m) * inv;
}

template <class T>
void log_softmax_row_strided(const T* x, T* y, int64_t D, int64_t stride) {
    const auto [m, s] = max_sum_strided(x, D, stride);
    const T lse = m + std::log(s);
    for (int64_t d = 0; d < D; ++d) y[d * stride] = x[d * stride] - lse;
}

template RowMaxSum<float> softmax_row<float>(const float*, float*, int64_t);
template RowMaxSum<double> softmax_row<double>(const double*, double*, int64_t);
template void log_softmax_row<float>(const float*, float*, int64_t);
template void log_softmax_row<double>(const double*, double*, int64_t);
template void softmax_row_strided<float>(const float*, float*, int64_t, int64_t);
template void softmax_row_strided<double>(const double*, double*, int64_t, int64_t);
template void log_softmax_row_strided<float>(const float*, float*, int64_t, int64_t);
template void log_softmax_row_strided<double>(const double*, double*, int64_t, int64_t);

}  // namespace tg::kernels
