#pragma once
// What the sweep measures, as free functions the tests can check by hand: when a training run
// counts as diverged, and the slope of a log-log fit.
#include <cstdint>
#include <optional>
#include <vector>

namespace example {

/// The smoothing of the loss the divergence rule looks at: s_0 = loss_0,
/// s_t = kLossSmoothing * s_{t-1} + (1 - kLossSmoothing) * loss_t.
inline constexpr double kLossSmoothing = 0.9;

struct Divergence {
    bool diverged = false;
    std::optional<int64_t> step;  // set when diverged
};

/// The one definition of divergence the sweep uses, given the loss of every step run (a run stops
/// at its first non-finite loss, so only the last entry can be non-finite):
///  - a non-finite loss (NaN or infinity): diverged at the first step with one;
///  - otherwise, a smoothed loss (kLossSmoothing) at the end of the run above the first step's
///    loss: the run went nowhere or got worse. Diverged at the first step from which the smoothed
///    loss stayed above the first step's loss to the end (1 + the last step at or below it).
/// An empty history has not diverged.
Divergence classify_divergence(const std::vector<double>& losses);

/// log(y) = intercept + slope * log(x), natural logarithms.
struct LogLogFit {
    double slope = 0, intercept = 0;
};

/// The least-squares fit of log(y) = a + b log(x), over the points with x > 0 and y > 0 (finite).
/// Throws tg::ValueError when fewer than two points, or fewer than two distinct x, are left.
LogLogFit loglog_fit(const std::vector<double>& x, const std::vector<double>& y);

/// The steps after which the curvature is measured: every `every` steps, the powers of two below
/// `every` (so a run that diverges in its first steps is measured before it does), `mark` (the
/// end of warmup) and `last`. Step s means after s updates; step 0 (initialisation) is measured
/// separately.
bool is_curvature_step(int64_t step, int64_t every, int64_t mark, int64_t last);

}  // namespace example
