#pragma once
// Softmax rows. Each row is shifted by its max before exp, so no input magnitude overflows.
// Contiguous rows run as xsimd vector code with the padded tail of kernels::vmap, so every
// element is treated alike; rows strided through memory (softmax over an inner dim) are scalar.
#include <cstdint>

namespace tg::kernels {

/// A row's max m and s = sum exp(x - m): its logsumexp is m + log s.
template <class T>
struct RowMaxSum {
    T max, sum;
};

/// y[0, D) = softmax(x[0, D)) for one contiguous row; returns the row's max and sum.
template <class T>
RowMaxSum<T> softmax_row(const T* x, T* y, int64_t D);

/// y[0, D) = log_softmax(x[0, D)) = x - (m + log s) for one contiguous row.
template <class T>
void log_softmax_row(const T* x, T* y, int64_t D);

/// softmax or log_softmax over x[d * stride], d < D, written to y[d * stride].
template <class T>
void softmax_row_strided(const T* x, T* y, int64_t D, int64_t stride);
template <class T>
void log_softmax_row_strided(const T* x, T* y, int64_t D, int64_t stride);

}  // namespace tg::kernels
