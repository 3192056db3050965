#include "curvature.hpp"

#include <chrono>
#include <cmath>

namespace example {

namespace {
// Runs f, adds its time to the clock; a tg::Error (a NaN or Inf met on the way) gives NaN.
template <class F>
double timed(CurvatureClock& clock, F f) {
    const auto t0 = std::chrono::steady_clock::now();
    double v = NAN;
    try {
        v = f();
    } catch (const tg::Error&) {
    }
    clock.seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    ++clock.measurements;
    return v;
}
}  // namespace

tg::nn::HessianOptions curvature_options(int64_t iterations, uint64_t seed) {
    return {.iterations = static_cast<int>(iterations), .tol = 1e-3, .seed = seed};
}

CurvatureRow measure_curvature(CurvatureRow row, tg::nn::GPT& model, const Batch& batch, const tg::optim::AdamW* adamw,
                               const tg::optim::SGD* sgd, const tg::nn::HessianOptions& options, CurvatureClock& clock) {
    const auto loss = [&] { return batch_loss(model, batch); };
    row.sharpness = model_sharpness(loss, model, options, clock);
    if (adamw && adamw->steps_taken() > 0)
        row.preconditioned_sharpness = timed(clock, [&] { return tg::optim::preconditioned_sharpness(loss, *adamw, options); });
    row.threshold = adamw ? tg::optim::stability_threshold(*adamw) : tg::optim::stability_threshold(*sgd);
    return row;
}

double model_sharpness(const std::function<tg::Tensor()>& loss, tg::nn::GPT& model, const tg::nn::HessianOptions& options,
                       CurvatureClock& clock) {
    return timed(clock, [&] { return tg::nn::hessian_eigenvalues(loss, model.parameters(), 1, options)[0]; });
}

std::vector<double> blocks_sharpness(const std::function<tg::Tensor()>& loss, tg::nn::GPT& model,
                                     const tg::nn::HessianOptions& options, CurvatureClock& clock) {
    std::vector<double> out(model.num_blocks(), NAN);
    timed(clock, [&] {
        out = tg::nn::block_sharpness(loss, model, options);
        return 0.0;
    });
    return out;
}

}  // namespace example
