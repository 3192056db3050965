#include "nn/residual.hpp"

#include "core/check.hpp"
#include "core/ops.hpp"

namespace tg::nn {

Tensor apply_residual_connection(const Tensor& input, const Tensor& sublayer_output) {
    TG_CHECK(input.defined() && sublayer_output.defined(), ValueError, "apply_residual_connection: undefined tensor");
    TG_CHECK(input.shape() == sublayer_output.shape(), ShapeError,
             "apply_residual_connection: input {} and sublayer output {} must have the same shape",
             shape_str(input.shape()), shape_str(sublayer_output.shape()));
    return add(input, sublayer_output);
}

ResidualBlock::ResidualBlock(int64_t dim, double eps, Dtype dtype) : ln(dim, eps, dtype) {
    register_module("ln", ln);
}

Tensor ResidualBlock::forward(const Tensor& x, const Tensor& sublayer_output) const {
    return apply_residual_connection(x, sublayer_output);
}

}  // namespace tg::nn
