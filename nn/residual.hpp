#pragma once
/// \file
/// Residual connections and the pre-norm pattern of GPT-2: x + sublayer(LayerNorm(x)).
#include <concepts>

#include "layers.hpp"

namespace tg::nn {

/// x + sublayer_output; the shapes must match exactly (no broadcasting: a residual that
/// broadcasts is a bug), else a ShapeError naming both.
Tensor apply_residual_connection(const Tensor& input, const Tensor& sublayer_output);

/// A residual connection with its own LayerNorm (ln) for the pre-norm pattern:
/// x + sublayer(ln(x)), or x + an output computed elsewhere.
class ResidualBlock : public Module {
public:
    /// ln normalises a last dim of size dim, with eps and dtype as LayerNorm's.
    explicit ResidualBlock(int64_t dim, double eps = 1e-5, Dtype dtype = Dtype::f32);

    /// x + sublayer_output.
    Tensor forward(const Tensor& x, const Tensor& sublayer_output) const;
    /// The pre-norm pattern: x + sublayer(ln(x)).
    template <class F>
        requires std::invocable<F&, const Tensor&>
    Tensor forward(const Tensor& x, F&& sublayer) {
        return apply_residual_connection(x, sublayer(ln(x)));
    }
    /// forward(x, sublayer_output) through the call gate (hooks, profiler).
    Tensor operator()(const Tensor& x, const Tensor& sublayer_output) const { return call(this, x, sublayer_output); }
    /// forward(x, sublayer) through the call gate: the hooks see x and the result.
    template <class F>
        requires std::invocable<F&, const Tensor&>
    Tensor operator()(const Tensor& x, F&& sublayer) {
        return call(this, x, sublayer);
    }
    std::string type_name() const override { return "ResidualBlock"; }

    LayerNorm ln;  ///< applied to x before the sublayer (in the sublayer form only)
};

}  // namespace tg::nn
