#pragma once
// Inputs for the op tests: seeded float64 values kept away from the points where an op has a
// kink or a pole (relu at 0, max ties, log and 1/x near 0), so finite differences stay smooth,
// and the small fixtures several op test files share.
#include <cmath>
#include <cstdint>
#include <numeric>
#include <vector>

#include <tapegrad.hpp>

namespace tg::test {

/// The inputs a GradcheckFn receives.
using Xs = std::vector<Tensor>;

/// Standard normal values pushed at least gap away from zero (relu, 1/x, odd powers).
inline Tensor away_from_zero(const Shape& shape, uint64_t seed, double gap = 0.25) {
    std::vector<double> v = Tensor::randn(shape, Dtype::f64, seed).to_vector<double>();
    for (double& x : v) x += std::copysign(gap, x);
    return tensor(v, shape);
}

/// Uniform values in [lo, hi) (log, sqrt and denominators want lo > 0).
inline Tensor uniform64(const Shape& shape, uint64_t seed, double lo, double hi) {
    std::vector<double> v = Tensor::rand(shape, Dtype::f64, seed).to_vector<double>();
    for (double& x : v) x = lo + (hi - lo) * x;
    return tensor(v, shape);
}

/// Values 0, 0.5, 1, ... (shifted by offset) in a seeded random order: any two differ by at
/// least 0.5, so a max never has a near-tie that a finite-difference step could flip.
inline Tensor distinct64(const Shape& shape, uint64_t seed, double offset = -1.0) {
    const auto n = static_cast<std::size_t>(shape_numel(shape));
    std::vector<double> v(n);
    std::iota(v.begin(), v.end(), 0.0);
    Generator gen(seed);
    for (std::size_t i = n; i > 1; --i) std::swap(v[i - 1], v[gen.below(i)]);
    for (double& x : v) x = offset + 0.5 * x;
    return tensor(v, shape);
}

/// 0, 1, ..., n-1 as f64 in the given shape (x[o, d, i] = 12 o + 4 d + i for (2, 3, 4)).
inline Tensor iota64(const Shape& shape) { return reshape(arange(shape_numel(shape), Dtype::f64), shape); }

/// An i64 tensor from values.
inline Tensor i64s(const std::vector<int64_t>& values, const Shape& shape) { return tensor(values, shape); }

}  // namespace tg::test
