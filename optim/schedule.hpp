#pragma once
// Learning-rate schedules: small objects that give the learning rate for a step (counted from
// 0). Apply one with opt.set_lr(schedule.lr(step)) before opt.step(), or schedule.apply(opt, step).
#include <cstdint>
#include <memory>

#include "optimizer.hpp"

namespace tg::optim {

class Schedule {
public:
    virtual ~Schedule() = default;
    virtual double lr(int64_t step) const = 0;
    /// Sets the optimizer's learning rate for this step and returns it.
    double apply(Optimizer& opt, int64_t step) const {
        const double v = lr(step);
        opt.set_lr(v);
        return v;
    }
};

/// The same rate at every step.
class ConstantLR : public Schedule {
public:
    explicit ConstantLR(double lr);
    double lr(int64_t step) const override;

private:
    double lr_;
};

/// Rises linearly from lr / warmup_steps at step 0 to lr at step warmup_steps - 1, then stays.
class LinearWarmup : public Schedule {
public:
    LinearWarmup(double lr, int64_t warmup_steps);
    double lr(int64_t step) const override;

private:
    double lr_;
    int64_t warmup_;
};

/// nanoGPT's schedule: linear warmup over warmup_steps, then a cosine from lr down to min_lr
/// at total_steps, and min_lr after that.
class CosineDecay : public Schedule {
public:
    CosineDecay(double lr, int64_t warmup_steps, int64_t total_steps, double min_lr = 0.0);
    double lr(int64_t step) const override;

private:
    double lr_, min_lr_;
    int64_t warmup_, total_;
};

/// lr * gamma^(step / step_size) (integer division): decays by gamma every step_size steps.
class StepDecay : public Schedule {
public:
    StepDecay(double lr, int64_t step_size, double gamma = 0.1);
    double lr(int64_t step) const override;

private:
    double lr_, gamma_;
    int64_t step_size_;
};

}  // namespace tg::optim
