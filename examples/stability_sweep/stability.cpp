#include "stability.hpp"

#include <fmt/format.h>

#include <cmath>
#include <tapegrad.hpp>

namespace example {

Divergence classify_divergence(const std::vector<double>& losses) {
    for (std::size_t t = 0; t < losses.size(); ++t)
        if (!std::isfinite(losses[t])) return {true, static_cast<int64_t>(t)};
    if (losses.empty()) return {};
    const double start = losses[0];
    double smoothed = start;
    int64_t last_at_or_below = 0;  // s_0 = loss_0 is at the start by definition
    for (std::size_t t = 1; t < losses.size(); ++t) {
        smoothed = kLossSmoothing * smoothed + (1 - kLossSmoothing) * losses[t];
        if (smoothed <= start) last_at_or_below = static_cast<int64_t>(t);
    }
    if (smoothed <= start) return {};
    return {true, last_at_or_below + 1};
}

/// b = sum((u - mean u)(v - mean v)) / sum((u - mean u)^2), a = mean v - b mean u, with u = log x, v = log y.
LogLogFit loglog_fit(const std::vector<double>& x, const std::vector<double>& y) {
    if (x.size() != y.size())
        throw tg::ValueError(fmt::format("loglog_fit: {} x values but {} y values", x.size(), y.size()));
    std::vector<double> u, v;
    for (std::size_t i = 0; i < x.size(); ++i)
        if (x[i] > 0 && y[i] > 0 && std::isfinite(x[i]) && std::isfinite(y[i])) {
            u.push_back(std::log(x[i]));
            v.push_back(std::log(y[i]));
        }
    const auto n = static_cast<double>(u.size());
    double mu = 0, mv = 0;
    for (std::size_t i = 0; i < u.size(); ++i) mu += u[i] / n, mv += v[i] / n;
    double suv = 0, suu = 0;
    for (std::size_t i = 0; i < u.size(); ++i) {
        suv += (u[i] - mu) * (v[i] - mv);
        suu += (u[i] - mu) * (u[i] - mu);
    }
    if (u.size() < 2 || suu <= 0)
        throw tg::ValueError(fmt::format("loglog_fit: needs two points with distinct positive x and positive y, got {} "
                                         "usable of {}", u.size(), x.size()));
    const double b = suv / suu;
    return {b, mv - b * mu};
}

bool is_curvature_step(int64_t step, int64_t every, int64_t mark, int64_t last) {
    const bool power_of_two = step > 0 && (step & (step - 1)) == 0;
    return (every > 0 && step % every == 0) || (power_of_two && step < every) || step == mark || step == last;
}

}  // namespace example
