#pragma once
#include "optimizer.hpp"

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

namespace detail {
/// Adam (Decoupled false: L2-style weight decay) or AdamW (true: decoupled weight decay).
template <class Options, bool Decoupled>
class AdamFamily : public Optimizer {
public:
    AdamFamily(const std::vector<Tensor>& params, Options options = {});
    explicit AdamFamily(const std::vector<ParamGroup<Options>>& groups);
    double lr(std::size_t group = 0) const override { return options_.at(group).lr; }
    void set_lr(double lr) override;
    std::string name() const override { return Decoupled ? "AdamW" : "Adam"; }
    const Options& options(std::size_t group = 0) const { return options_.at(group); }
    /// The diagonal preconditioner of the last update, one tensor per parameter (group by
    /// group, in the order of params(g)): P = sqrt(v / (1 - beta2^t)) + eps, with v the
    /// max_exp_avg_sq under amsgrad and t the parameter's step count, so that update was
    /// p -= lr m_hat / P. The next update's P also folds in the next gradient (v moves by a
    /// fraction 1 - beta2 of it): this is the preconditioner the edge-of-stability analysis of
    /// Cohen et al. 2022 holds fixed. Weight decay is not in P: Adam's L2 term adds wd / P to
    /// the preconditioned Hessian, AdamW's decoupled decay leaves it out. Copies, so the state
    /// is not exposed. An error before the parameter's first update (there is no v yet).
    std::vector<Tensor> preconditioner() const;

protected:
    bool check_finite(std::size_t group) const override { return options_[group].check_finite; }
    void update(std::size_t group, Tensor& param, const Tensor& grad, State& state) override;

private:
    std::vector<Options> options_;
};
}  // namespace detail

/// torch.optim.Adam (L2-style weight decay).
using Adam = detail::AdamFamily<AdamOptions, false>;
/// torch.optim.AdamW (decoupled weight decay).
using AdamW = detail::AdamFamily<AdamWOptions, true>;

}  // namespace tg::optim
