#pragma once
// The curvature measurements the sweep and the main example's study share: the sharpness of a
// model on a fixed batch (and AdamW's preconditioned sharpness) with the optimiser's threshold,
// timed, a failed measurement (a run on its way to diverging) giving NaN.
#include <tapegrad.hpp>

#include "../train_tiny_transformer/tasks.hpp"
#include "report.hpp"

namespace example {

/// Time spent measuring, and how many measurements.
struct CurvatureClock {
    double seconds = 0;
    int64_t measurements = 0;
};

/// The settings of every measurement: Lanczos with at most `iterations` Hessian-vector products
/// at tolerance 1e-3, from the seed.
tg::nn::HessianOptions curvature_options(int64_t iterations, uint64_t seed);

/// One row of curvature.csv for `row`'s cell after `step` updates: the sharpness of the loss on
/// batch, and with adamw (after its first step) the preconditioned sharpness; the threshold is
/// AdamW's 38 / lr-style one with adamw, SGD's 2 / lr with sgd (exactly one is given).
CurvatureRow measure_curvature(CurvatureRow row, tg::nn::GPT& model, const Batch& batch, const tg::optim::AdamW* adamw,
                               const tg::optim::SGD* sgd, const tg::nn::HessianOptions& options, CurvatureClock& clock);

/// The top eigenvalue of loss's Hessian in the model's parameters (whole model) or per block
/// (block_sharpness), timed; NaN where a measurement fails.
double model_sharpness(const std::function<tg::Tensor()>& loss, tg::nn::GPT& model, const tg::nn::HessianOptions& options,
                       CurvatureClock& clock);
std::vector<double> blocks_sharpness(const std::function<tg::Tensor()>& loss, tg::nn::GPT& model,
                                     const tg::nn::HessianOptions& options, CurvatureClock& clock);

}  // namespace example
