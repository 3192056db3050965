#pragma once
/// \file
/// Adam and AdamW, as torch.optim.Adam and torch.optim.AdamW. Part of tapegrad::optim.
#include "optimizer.hpp"

namespace tg::optim {

/// Options of Adam, torch.optim.Adam's (betas split into beta1 and beta2). The constructor
/// checks lr, eps and weight_decay >= 0 and 0 <= beta1, beta2 < 1 (ValueError).
struct AdamOptions {
    double lr = 1e-3;           ///< Learning rate.
    double beta1 = 0.9;         ///< Decay rate of the first moment (the gradient's average).
    double beta2 = 0.999;       ///< Decay rate of the second moment (the squared gradient's).
    double eps = 1e-8;          ///< Added to the denominator, after the square root.
    double weight_decay = 0.0;  ///< L2: added to the gradient.
    bool amsgrad = false;       ///< Use the largest second moment so far (AMSGrad).
    bool check_finite = false;  ///< Report NaN/Inf gradients by name instead of applying them.
};

/// Options of AdamW, torch.optim.AdamW's (betas split into beta1 and beta2); checked as
/// AdamOptions. The same fields, but weight decay is decoupled and on by default.
struct AdamWOptions {
    double lr = 1e-3;            ///< Learning rate.
    double beta1 = 0.9;          ///< Decay rate of the first moment (the gradient's average).
    double beta2 = 0.999;        ///< Decay rate of the second moment (the squared gradient's).
    double eps = 1e-8;           ///< Added to the denominator, after the square root.
    double weight_decay = 1e-2;  ///< Decoupled: p *= 1 - lr wd before the Adam step.
    bool amsgrad = false;        ///< Use the largest second moment so far (AMSGrad).
    bool check_finite = false;   ///< Report NaN/Inf gradients by name instead of applying them.
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
    /// One group of `params` with `options` (checked: ValueError, as is an empty list).
    AdamFamily(const std::vector<Tensor>& params, Options options = {});
    /// One group per ParamGroup, each with its own options (weight_decay_groups, named_group).
    explicit AdamFamily(const std::vector<ParamGroup<Options>>& groups);
    double lr(std::size_t group = 0) const override { return options_.at(group).lr; }
    void set_lr(double lr) override;
    /// "Adam" or "AdamW".
    std::string name() const override { return Decoupled ? "AdamW" : "Adam"; }
    /// The options of a group (std::out_of_range past the last).
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

/// torch.optim.Adam (L2-style weight decay). Made from parameters and AdamOptions, or from
/// ParamGroups; besides the Optimizer interface it has options(group) and preconditioner()
/// (the class is detail::AdamFamily, shared with AdamW).
using Adam = detail::AdamFamily<AdamOptions, false>;
/// torch.optim.AdamW (decoupled weight decay). Made from parameters and AdamWOptions, or from
/// ParamGroups; besides the Optimizer interface it has options(group) and preconditioner().
using AdamW = detail::AdamFamily<AdamWOptions, true>;

}  // namespace tg::optim
