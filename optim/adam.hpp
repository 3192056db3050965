#pragma once
#include "optim/optimizer.hpp"

namespace tg::optim {

struct AdamOptions {
    double lr = 1e-3;
    double beta1 = 0.9;
    double beta2 = 0.999;
    double eps = 1e-8;
    double weight_decay = 0.0;  // L2: added to the gradient
    bool amsgrad = false;
    bool check_finite = false;  // report NaN/Inf gradients by name instead of applying them
};

struct AdamWOptions {
    double lr = 1e-3;
    double beta1 = 0.9;
    double beta2 = 0.999;
    double eps = 1e-8;
    double weight_decay = 1e-2;  // decoupled: p *= 1 - lr wd before the Adam step
    bool amsgrad = false;
    bool check_finite = false;
};

namespace detail {
/// The Adam update shared by Adam and AdamW, as torch.optim defines it, at step t:
///   (AdamW) p *= 1 - lr wd;  (Adam) g += wd p
///   m = b1 m + (1 - b1) g;   v = b2 v + (1 - b2) g^2;   (amsgrad) v_max = max(v_max, v)
///   p -= lr / (1 - b1^t) * m / (sqrt(v or v_max) / sqrt(1 - b2^t) + eps)
/// one fused pass over each tensor (xsimd), no temporaries.
void adam_update(Tensor& param, const Tensor& grad, Tensor& m, Tensor& v, Tensor& v_max, int64_t t, double lr,
                 double beta1, double beta2, double eps, double weight_decay, bool decoupled, bool amsgrad);
}  // namespace detail

/// torch.optim.Adam (L2-style weight decay).
class Adam : public Optimizer {
public:
    Adam(const std::vector<Tensor>& params, AdamOptions options = {});
    explicit Adam(const std::vector<ParamGroup<AdamOptions>>& groups);
    double lr(std::size_t group = 0) const override { return options_.at(group).lr; }
    void set_lr(double lr) override;
    std::string name() const override { return "Adam"; }
    const AdamOptions& options(std::size_t group = 0) const { return options_.at(group); }

protected:
    bool check_finite(std::size_t group) const override { return options_[group].check_finite; }
    void update(std::size_t group, Tensor& param, const Tensor& grad, State& state) override;

private:
    std::vector<AdamOptions> options_;
};

/// torch.optim.AdamW (decoupled weight decay).
class AdamW : public Optimizer {
public:
    AdamW(const std::vector<Tensor>& params, AdamWOptions options = {});
    explicit AdamW(const std::vector<ParamGroup<AdamWOptions>>& groups);
    double lr(std::size_t group = 0) const override { return options_.at(group).lr; }
    void set_lr(double lr) override;
    std::string name() const override { return "AdamW"; }
    const AdamWOptions& options(std::size_t group = 0) const { return options_.at(group); }

protected:
    bool check_finite(std::size_t group) const override { return options_[group].check_finite; }
    void update(std::size_t group, Tensor& param, const Tensor& grad, State& state) override;

private:
    std::vector<AdamWOptions> options_;
};

}  // namespace tg::optim
