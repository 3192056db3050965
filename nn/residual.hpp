#pragma once
// Residual connections and the pre-norm pattern of GPT-2: x + sublayer(LayerNorm(x)).
#include <concepts>

#include "layers.hpp"

namespace tg::nn {

/// x + sublayer_output; the shapes must match exactly (no broadcasting: a residual that
/// broadcasts is a bug), else a ShapeError naming both.
Tensor apply_residual_connection(const Tensor& input, const Tensor& sublayer_output);

class ResidualBlock : public Module {
public:
    explicit ResidualBlock(int64_t dim, double eps = 1e-5, Dtype dtype = Dtype::f32);

    /// x + sublayer_output.
    Tensor forward(const Tensor& x, const Tensor& sublayer_output) const;
    /// The pre-norm pattern: x + sublayer(ln(x)).
    template <class F>
        requires std::invocable<F&, const Tensor&>
    Tensor forward(const Tensor& x, F&& sublayer) {
        return apply_residual_connection(x, sublayer(ln(x)));
    }
    Tensor operator()(const Tensor& x, const Tensor& sublayer_output) const { return call(this, x, sublayer_output); }
    template <class F>
        requires std::invocable<F&, const Tensor&>
    Tensor operator()(const Tensor& x, F&& sublayer) {
        return call(this, x, sublayer);
    }
    std::string type_name() const override { return "ResidualBlock"; }

    LayerNorm ln;
};

}  // namespace tg::nn
