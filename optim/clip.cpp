#include "optim/clip.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "core/check.hpp"
#include "core/internal/dispatch.hpp"
#include "nn/diagnostics.hpp"

namespace tg::optim {

double clip_grad_norm(const std::vector<Tensor>& params, double max_norm) {
    TG_CHECK(max_norm >= 0, ValueError, "clip_grad_norm: max_norm must be >= 0, got {}", max_norm);
    const double norm = nn::grad_norm(params);
    const double coef = max_norm / (norm + 1e-6);
    if (std::isfinite(norm) && coef < 1.0)
        for (const Tensor& p : params)
            if (Tensor g = p.grad(); g.defined()) g.mul_(coef);
    return norm;
}

void clip_grad_value(const std::vector<Tensor>& params, double clip) {
    TG_CHECK(clip >= 0, ValueError, "clip_grad_value: clip must be >= 0, got {}", clip);
    for (const Tensor& p : params) {
        Tensor g = p.grad();
        if (!g.defined()) continue;
        dispatch_floating("clip_grad_value", g.dtype(), [&](auto tag) {
            using T = decltype(tag);
            T* pg = g.data<T>();
            const T c = static_cast<T>(clip);
            for (int64_t i = 0; i < g.numel(); ++i) pg[i] = std::clamp(pg[i], -c, c);
        });
        g.mark_modified();
    }
}

}  // namespace tg::optim
