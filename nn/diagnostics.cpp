#include "nn/diagnostics.hpp"

#include <cmath>

#include "core/internal/dispatch.hpp"

namespace tg::nn {

namespace {
double squared_norm(const Tensor& g) {
    if (!g.defined()) return 0.0;
    return dispatch_floating("grad_norms", g.dtype(), [&](auto tag) {
        using T = decltype(tag);
        const T* p = g.data<T>();
        double s = 0;
        for (int64_t i = 0; i < g.numel(); ++i) s += static_cast<double>(p[i]) * static_cast<double>(p[i]);
        return s;
    });
}
}  // namespace

std::vector<std::pair<std::string, double>> grad_norms(const Module& module) {
    std::vector<std::pair<std::string, double>> out;
    for (const auto& [name, p] : module.named_parameters()) out.emplace_back(name, std::sqrt(squared_norm(p.grad())));
    return out;
}

double grad_norm(const std::vector<Tensor>& params) {
    double s = 0;
    for (const Tensor& p : params) s += squared_norm(p.grad());
    return std::sqrt(s);
}

double global_grad_norm(const Module& module) { return grad_norm(module.parameters()); }

std::vector<double> block_grad_norms(const GPT& model) {
    std::vector<double> out;
    for (const auto& block : model.h) out.push_back(grad_norm(block->parameters()));
    return out;
}

}  // namespace tg::nn
