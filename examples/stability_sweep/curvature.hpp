#pragma once
// The curvature measurements the sweep and the main example's study share: the sharpness of a
// model on a fixed batch (and AdamW's preconditioned sharpness) with the optimiser's threshold,
// timed, a failed measurement (a run on its way to diverging) giving NaN.
#include <string>
#include <tapegrad.hpp>

#include "../train_tiny_transformer/tasks.hpp"
#include "report.hpp"

namespace example {

/// Time spent measuring and how many measurements; how many stopped at the product limit before
/// the tolerance, with the largest relative residual among them (residual / |value|, a bound on
/// the relative error); how many failed (NaN, with the first failure's message).
struct CurvatureClock {
    double seconds = 0;
    int64_t measurements = 0;
    int64_t unconverged = 0;
    double worst_relative_residual = 0;
    int64_t failed = 0;
    std::string first_failure;
    /// "12 of 40 stopped at the product limit (relative residual at most 0.031); 1 failed: ..."
    std::string quality() const;
};

/// The fixed batch every curvature measurement uses: `rows` rows drawn as the training batch of
/// a step no run reaches, so it is the same in every run and never trained on as such.
Batch fixed_curvature_batch(const Task& task, int64_t rows);

/// The settings of every measurement: Lanczos with at most `iterations` Hessian-vector products
/// at tolerance 1e-3, from the seed.
tg::nn::HessianOptions curvature_options(int64_t iterations, uint64_t seed);

/// One row of curvature.csv for `row`'s cell after `step` updates: the sharpness of the loss on
/// batch, and with adamw (after its first step) the preconditioned sharpness; the threshold is
/// AdamW's 38 / lr-style one with adamw, SGD's 2 / lr with sgd (exactly one is given).
CurvatureRow measure_curvature(CurvatureRow row, tg::nn::GPT& model, const Batch& batch, const tg::optim::AdamW* adamw,
                               const tg::optim::SGD* sgd, const tg::nn::HessianOptions& options, CurvatureClock& clock);

/// The top eigenvalue of loss's Hessian in the model's parameters (whole model) or per block
/// (block_sharpness), timed, in eval mode (no dropout); NaN where a measurement fails.
double model_sharpness(const std::function<tg::Tensor()>& loss, tg::nn::GPT& model, const tg::nn::HessianOptions& options,
                       CurvatureClock& clock);
std::vector<double> blocks_sharpness(const std::function<tg::Tensor()>& loss, tg::nn::GPT& model,
                                     const tg::nn::HessianOptions& options, CurvatureClock& clock);

}  // namespace example
