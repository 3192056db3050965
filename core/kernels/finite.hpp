#pragma once
// Scans for NaN and Inf: anomaly detection wants the first one, the optimizers' finite-gradient
// check wants how many.
#include <cmath>
#include <cstdint>

namespace tg::kernels {

/// Index of the first NaN or Inf among p[0, n), or -1.
template <class T>
int64_t first_non_finite(const T* p, int64_t n) {
    for (int64_t i = 0; i < n; ++i)
        if (!std::isfinite(p[i])) return i;
    return -1;
}

/// How many of p[0, n) are NaN or Inf.
template <class T>
int64_t count_non_finite(const T* p, int64_t n) {
    int64_t bad = 0;
    for (int64_t i = 0; i < n; ++i) bad += !std::isfinite(p[i]);
    return bad;
}

}  // namespace tg::kernels
