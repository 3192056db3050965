#pragma once
#include "optimizer.hpp"

namespace tg::optim {

struct SGDOptions {
    double lr = 1e-2;
    double momentum = 0.0;
    double dampening = 0.0;
    bool nesterov = false;
    double weight_decay = 0.0;  // L2: added to the gradient
    bool check_finite = false;  // report NaN/Inf gradients by name instead of applying them
};

/// torch.optim.SGD: g = grad + wd p; with momentum, b = g on the first step and
/// b = momentum b + (1 - dampening) g after, then g = g + momentum b (Nesterov) or g = b;
/// p = p - lr g.
class SGD : public Optimizer {
public:
    SGD(const std::vector<Tensor>& params, SGDOptions options = {});
    explicit SGD(const std::vector<ParamGroup<SGDOptions>>& groups);
    double lr(std::size_t group = 0) const override { return options_.at(group).lr; }
    void set_lr(double lr) override;
    std::string name() const override { return "SGD"; }
    const SGDOptions& options(std::size_t group = 0) const { return options_.at(group); }

protected:
    bool check_finite(std::size_t group) const override { return options_[group].check_finite; }
    void update(std::size_t group, Tensor& param, const Tensor& grad, State& state) override;

private:
    void add(const std::vector<Tensor>& params, const SGDOptions& o, std::vector<std::string> names);
    std::vector<SGDOptions> options_;
};

}  // namespace tg::optim
