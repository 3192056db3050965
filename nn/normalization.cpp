#include "nn/normalization.hpp"

#include <fmt/format.h>

#include <cmath>

#include "core/check.hpp"
#include "core/ops.hpp"

namespace tg::nn {

BatchNorm::BatchNorm(const char* name, int64_t c, BatchNormOptions opt, int64_t min_rank, int64_t max_rank)
    : num_features(c), options(opt), name_(name), min_rank_(min_rank), max_rank_(max_rank) {
    TG_CHECK(c > 0, ValueError, "{}: num_features must be positive, got {}", name, c);
    check_eps(name, opt.eps);
    TG_CHECK(std::isfinite(opt.momentum) && opt.momentum >= 0 && opt.momentum <= 1, ValueError,
             "{}: momentum must lie in [0, 1], got {}", name, opt.momentum);
    TG_CHECK(is_floating(opt.dtype), DtypeError, "{}: dtype must be f32 or f64, got {}", name,
             dtype_name(opt.dtype));
    if (opt.affine) {
        weight = register_parameter("weight", Tensor::ones({c}, opt.dtype));
        bias = register_parameter("bias", Tensor::zeros({c}, opt.dtype));
    }
    if (opt.track_running_stats) {
        running_mean = register_buffer("running_mean", Tensor::zeros({c}, opt.dtype));
        running_var = register_buffer("running_var", Tensor::ones({c}, opt.dtype));
        num_batches_tracked = register_buffer("num_batches_tracked", Tensor::zeros({}, Dtype::i64));
    }
}

Tensor BatchNorm::forward(const Tensor& x) {
    TG_CHECK(x.defined(), ValueError, "{}: the input is undefined", name_);
    TG_CHECK(x.dim() >= min_rank_ && x.dim() <= max_rank_, ShapeError,
             "{}: expected a {} input, got shape {}", name_,
             min_rank_ == max_rank_ ? fmt::format("{}-D", min_rank_) : fmt::format("{}-D or {}-D", min_rank_, max_rank_),
             shape_str(x.shape()));
    TG_CHECK(x.shape()[1] == num_features, ShapeError, "{}: input {} has {} channels (dim 1), the layer {}",
             name_, shape_str(x.shape()), x.shape()[1], num_features);
    // Without tracking there are no running statistics: batch statistics in both modes, as PyTorch.
    // With tracking, training updates them (batch_norm writes them in place) and eval reads them.
    const bool training = is_training() || !options.track_running_stats;
    Tensor y = batch_norm(x, running_mean, running_var, weight, bias, training, options.momentum, options.eps);
    if (is_training() && options.track_running_stats) {
        num_batches_tracked.data<int64_t>()[0] += 1;
        num_batches_tracked.mark_modified();
    }
    return y;
}

std::string BatchNorm::extra_repr() const {
    return fmt::format("{}, eps={}, momentum={}, affine={}, track_running_stats={}", num_features,
                       options.eps, options.momentum,
                       options.affine, options.track_running_stats);
}

BatchNorm1d::BatchNorm1d(int64_t c, BatchNormOptions opt) : BatchNorm("BatchNorm1d", c, opt, 2, 3) {}
BatchNorm2d::BatchNorm2d(int64_t c, BatchNormOptions opt) : BatchNorm("BatchNorm2d", c, opt, 4, 4) {}

RMSNorm::RMSNorm(int64_t d, RMSNormOptions opt) : dim(d), eps(opt.eps) {
    TG_CHECK(d > 0, ValueError, "RMSNorm: dim must be positive, got {}", d);
    check_eps("RMSNorm", opt.eps);
    if (opt.elementwise_affine) weight = register_parameter("weight", Tensor::ones({d}, opt.dtype));
}

Tensor RMSNorm::forward(const Tensor& x) {
    TG_CHECK(x.defined() && x.dim() >= 1 && x.shape().back() == dim, ShapeError,
             "RMSNorm: expected an input whose last dim is {}, got {}", dim,
             x.defined() ? shape_str(x.shape()) : std::string("an undefined tensor"));
    return rms_norm(x, weight, eps);
}

std::string RMSNorm::extra_repr() const {
    return fmt::format("{}, eps={}, elementwise_affine={}", dim, eps, weight.defined());
}

}  // namespace tg::nn
