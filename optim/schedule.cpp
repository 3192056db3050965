#include "optim/schedule.hpp"

#include <fmt/format.h>

#include <cmath>
#include <numbers>

#include "core/check.hpp"

namespace tg::optim {

namespace {
void check_step(const char* name, int64_t step) {
    TG_CHECK(step >= 0, ValueError, "{}: step must be >= 0, got {}", name, step);
}
void check_lr(const char* name, double lr) {
    TG_CHECK(lr >= 0 && std::isfinite(lr), ValueError, "{}: lr must be finite and >= 0, got {:g}", name, lr);
}
}  // namespace

ConstantLR::ConstantLR(double lr) : lr_(lr) { check_lr("ConstantLR", lr); }

double ConstantLR::lr(int64_t step) const {
    check_step("ConstantLR", step);
    return lr_;
}

LinearWarmup::LinearWarmup(double lr, int64_t warmup) : lr_(lr), warmup_(warmup) {
    check_lr("LinearWarmup", lr);
    TG_CHECK(warmup >= 0, ValueError, "LinearWarmup: warmup_steps must be >= 0, got {}", warmup);
}

double LinearWarmup::lr(int64_t step) const {
    check_step("LinearWarmup", step);
    if (step >= warmup_) return lr_;
    return lr_ * static_cast<double>(step + 1) / static_cast<double>(warmup_);
}

CosineDecay::CosineDecay(double lr, int64_t warmup, int64_t total, double min_lr)
    : lr_(lr), min_lr_(min_lr), warmup_(warmup), total_(total) {
    check_lr("CosineDecay", lr);
    check_lr("CosineDecay", min_lr);
    TG_CHECK(warmup >= 0 && total >= warmup && min_lr <= lr, ValueError,  // both finite (check_lr)
             "CosineDecay: need 0 <= warmup_steps ({}) <= total_steps ({}) and min_lr ({:g}) <= lr ({:g})", warmup, total,
             min_lr, lr);
}

double CosineDecay::lr(int64_t step) const {
    check_step("CosineDecay", step);
    if (step < warmup_) return lr_ * static_cast<double>(step + 1) / static_cast<double>(warmup_);
    if (step >= total_) return min_lr_;
    const double progress = static_cast<double>(step - warmup_) / static_cast<double>(total_ - warmup_);
    return min_lr_ + 0.5 * (1.0 + std::cos(std::numbers::pi * progress)) * (lr_ - min_lr_);
}

StepDecay::StepDecay(double lr, int64_t step_size, double gamma) : lr_(lr), gamma_(gamma), step_size_(step_size) {
    check_lr("StepDecay", lr);
    TG_CHECK(step_size > 0 && gamma > 0, ValueError, "StepDecay: step_size ({}) and gamma ({:g}) must be positive",
             step_size, gamma);
}

double StepDecay::lr(int64_t step) const {
    check_step("StepDecay", step);
    return lr_ * std::pow(gamma_, static_cast<double>(step / step_size_));
}

}  // namespace tg::optim
