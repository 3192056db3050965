#pragma once
/// \file
/// Learning-rate schedules: small objects that give the learning rate for a step (counted from
/// 0). Apply one with opt.set_lr(schedule.lr(step)) before opt.step(), or
/// schedule.apply(opt, step). Part of tapegrad::optim.
#include <cstdint>
#include <memory>

#include "optimizer.hpp"

namespace tg::optim {

/// A learning rate as a function of the step: stateless, so resuming at step s needs only s
/// (unlike torch.optim.lr_scheduler's objects, which count calls). The constructors check
/// their arguments (ValueError).
class Schedule {
public:
    virtual ~Schedule() = default;
    /// The learning rate at `step` (ValueError if it is negative).
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
    /// `lr` at every step (finite and >= 0).
    explicit ConstantLR(double lr);
    /// `lr`, whatever the step.
    double lr(int64_t step) const override;

private:
    double lr_;
};

/// Rises linearly from lr / warmup_steps at step 0 to lr at step warmup_steps - 1, then stays.
class LinearWarmup : public Schedule {
public:
    /// Warms up to `lr` (finite and >= 0) over warmup_steps >= 0 (0: no warmup).
    LinearWarmup(double lr, int64_t warmup_steps);
    /// lr (step + 1) / warmup_steps during the warmup, lr after it.
    double lr(int64_t step) const override;

private:
    double lr_;
    int64_t warmup_;
};

/// nanoGPT's schedule: linear warmup over warmup_steps, then a cosine from lr down to min_lr
/// at total_steps, and min_lr after that.
class CosineDecay : public Schedule {
public:
    /// Needs 0 <= warmup_steps <= total_steps and 0 <= min_lr <= lr (both finite).
    CosineDecay(double lr, int64_t warmup_steps, int64_t total_steps, double min_lr = 0.0);
    /// lr (step + 1) / warmup_steps during the warmup, then min_lr + (lr - min_lr) (1 + cos(pi
    /// p)) / 2 with p = (step - warmup_steps) / (total_steps - warmup_steps), and min_lr from
    /// total_steps on.
    double lr(int64_t step) const override;

private:
    double lr_, min_lr_;
    int64_t warmup_, total_;
};

/// lr * gamma^(step / step_size) (integer division): decays by gamma every step_size steps.
class StepDecay : public Schedule {
public:
    /// Needs lr finite and >= 0, step_size > 0 and gamma > 0.
    StepDecay(double lr, int64_t step_size, double gamma = 0.1);
    /// lr gamma^(step / step_size), the division rounding down.
    double lr(int64_t step) const override;

private:
    double lr_, gamma_;
    int64_t step_size_;
};

}  // namespace tg::optim
