#pragma once
/// \file
/// SGD with momentum, as torch.optim.SGD. Part of tapegrad::optim.
#include "optimizer.hpp"

namespace tg::optim {

/// Options of SGD, torch.optim.SGD's (with a default lr). The constructor checks lr, momentum
/// and weight_decay >= 0, and that nesterov has momentum > 0 and dampening 0 (ValueError).
struct SGDOptions {
    double lr = 1e-2;           ///< Learning rate.
    double momentum = 0.0;      ///< Momentum factor (0: plain SGD, no buffer).
    double dampening = 0.0;     ///< The new gradient enters the buffer scaled by 1 - this.
    bool nesterov = false;      ///< Nesterov momentum instead of heavy-ball.
    double weight_decay = 0.0;  ///< L2: added to the gradient.
    bool check_finite = false;  ///< Report NaN/Inf gradients by name instead of applying them.
};

/// torch.optim.SGD: g = grad + wd p; with momentum, b = g on the first step and
/// b = momentum b + (1 - dampening) g after, then g = g + momentum b (Nesterov) or g = b;
/// p = p - lr g.
class SGD : public Optimizer {
public:
    /// One group of `params` with `options` (checked: ValueError, as is an empty list).
    SGD(const std::vector<Tensor>& params, SGDOptions options = {});
    /// One group per ParamGroup, each with its own options (weight_decay_groups, named_group).
    explicit SGD(const std::vector<ParamGroup<SGDOptions>>& groups);
    double lr(std::size_t group = 0) const override { return options_.at(group).lr; }
    void set_lr(double lr) override;
    /// "SGD".
    std::string name() const override { return "SGD"; }
    /// The options of a group (std::out_of_range past the last).
    const SGDOptions& options(std::size_t group = 0) const { return options_.at(group); }

protected:
    /// The group's check_finite option.
    bool check_finite(std::size_t group) const override { return options_[group].check_finite; }
    void update(std::size_t group, Tensor& param, const Tensor& grad, State& state) override;

private:
    void add(const std::vector<Tensor>& params, const SGDOptions& o, std::vector<std::string> names);
    std::vector<SGDOptions> options_;
};

}  // namespace tg::optim
