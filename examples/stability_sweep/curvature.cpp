#include "curvature.hpp"

#include <fmt/format.h>

#include <chrono>
#include <cmath>

namespace example {

namespace {
// Runs f, adds its time to the clock. A measurement fails with a tg::Error when the loss or its
// derivatives are not finite (a run on its way to diverging): that gives NaN, and the clock
// keeps the first message so the summary can show it.
template <class F>
double timed(CurvatureClock& clock, F f) {
    const auto t0 = std::chrono::steady_clock::now();
    double v = NAN;
    try {
        v = f();
    } catch (const tg::Error& e) {
        if (clock.failed++ == 0) clock.first_failure = e.what();
    }
    clock.seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    ++clock.measurements;
    return v;
}

// Measures in eval mode (no dropout: the loss must be the same function at every product),
// restoring the mode the model was in.
class EvalMode {
public:
    explicit EvalMode(tg::nn::Module& m) : m_(m), was_(m.is_training()) { m_.eval(); }
    ~EvalMode() { m_.train(was_); }
    EvalMode(const EvalMode&) = delete;
    EvalMode& operator=(const EvalMode&) = delete;

private:
    tg::nn::Module& m_;
    bool was_;
};

double checked(CurvatureClock& clock, const tg::nn::EigenEstimate& e) {
    if (!e.converged) {
        ++clock.unconverged;
        const double v = std::abs(e.values.front());
        clock.worst_relative_residual =
            std::max(clock.worst_relative_residual, v > 0 ? e.residuals.front() / v : INFINITY);
    }
    return e.values.front();
}
}  // namespace

std::string CurvatureClock::quality() const {
    std::string s = unconverged == 0
                        ? fmt::format("all {} reached the tolerance", measurements - failed)
                        : fmt::format("{} of {} stopped at the product limit (relative residual at most {:.2g})",
                                      unconverged, measurements - failed, worst_relative_residual);
    if (failed > 0) s += fmt::format("; {} failed (NaN), the first with: {}", failed, first_failure);
    return s;
}

Batch fixed_curvature_batch(const Task& task, int64_t rows) { return task.train_batch(rows, 1'000'000'007); }

tg::nn::HessianOptions curvature_options(int64_t iterations, uint64_t seed) {
    return {.iterations = static_cast<int>(iterations), .tol = 1e-3, .seed = seed};
}

CurvatureRow measure_curvature(CurvatureRow row, tg::nn::GPT& model, const Batch& batch, const tg::optim::AdamW* adamw,
                               const tg::optim::SGD* sgd, const tg::nn::HessianOptions& options, CurvatureClock& clock) {
    EvalMode eval(model);
    const auto loss = [&] { return batch_loss(model, batch); };
    row.sharpness = model_sharpness(loss, model, options, clock);
    if (adamw && adamw->steps_taken() > 0)
        row.preconditioned_sharpness =
            timed(clock, [&] { return checked(clock, tg::optim::preconditioned_sharpness_estimate(loss, *adamw, options)); });
    row.threshold = adamw ? tg::optim::stability_threshold(*adamw) : tg::optim::stability_threshold(*sgd);
    return row;
}

double model_sharpness(const std::function<tg::Tensor()>& loss, tg::nn::GPT& model, const tg::nn::HessianOptions& options,
                       CurvatureClock& clock) {
    EvalMode eval(model);
    return timed(clock, [&] { return checked(clock, tg::nn::hessian_eigen_estimate(loss, model.parameters(), 1, options)); });
}

std::vector<double> blocks_sharpness(const std::function<tg::Tensor()>& loss, tg::nn::GPT& model,
                                     const tg::nn::HessianOptions& options, CurvatureClock& clock) {
    EvalMode eval(model);
    std::vector<double> out(model.num_blocks(), NAN);
    timed(clock, [&] {
        out = tg::nn::block_sharpness(loss, model, options);
        return 0.0;
    });
    return out;
}

}  // namespace example
