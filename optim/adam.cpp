#include "optim/adam.hpp"

#include <fmt/format.h>

#include <cmath>

#include "core/check.hpp"
#include "core/grad_mode.hpp"
#include "core/ops.hpp"
#include "core/internal/dispatch.hpp"
#include "core/kernels/adam.hpp"

namespace tg::optim {

namespace detail {

void adam_update(Tensor& param, const Tensor& grad, Tensor& m, Tensor& v, Tensor& v_max, int64_t t, double lr,
                 double beta1, double beta2, double eps, double weight_decay, bool decoupled, bool amsgrad) {
    if (!m.defined()) m = Tensor::zeros(param.shape(), param.dtype());
    if (!v.defined()) v = Tensor::zeros(param.shape(), param.dtype());
    if (amsgrad && !v_max.defined()) v_max = Tensor::zeros(param.shape(), param.dtype());
    const kernels::AdamStepArgs args{.lr = lr,
                                     .beta1 = beta1,
                                     .beta2 = beta2,
                                     .eps = eps,
                                     .weight_decay = weight_decay,
                                     .bias_correction1 = 1.0 - std::pow(beta1, static_cast<double>(t)),
                                     .bias_correction2 = 1.0 - std::pow(beta2, static_cast<double>(t)),
                                     .decoupled = decoupled};
    dispatch_floating("adam", param.dtype(), [&](auto tag) {
        using T = decltype(tag);
        kernels::adam_step<T>(param.data<T>(), grad.data<T>(), m.data<T>(), v.data<T>(),
                              amsgrad ? v_max.data<T>() : nullptr, param.numel(), args);
    });
}

}  // namespace detail

namespace {
void check_adam(const char* name, double lr, double beta1, double beta2, double eps, double wd) {
    TG_CHECK(lr >= 0 && beta1 >= 0 && beta1 < 1 && beta2 >= 0 && beta2 < 1 && eps >= 0 && wd >= 0, ValueError,
             "{}: need lr >= 0, 0 <= beta1, beta2 < 1, eps >= 0, weight_decay >= 0; got lr {}, betas ({}, {}), eps "
             "{}, weight_decay {}",
             name, lr, beta1, beta2, eps, wd);
}
}  // namespace

namespace detail {

template <class Options, bool Decoupled>
AdamFamily<Options, Decoupled>::AdamFamily(const std::vector<Tensor>& params, Options options)
    : AdamFamily(std::vector<ParamGroup<Options>>{ParamGroup<Options>{params, options}}) {}

template <class Options, bool Decoupled>
AdamFamily<Options, Decoupled>::AdamFamily(const std::vector<ParamGroup<Options>>& groups) {
    for (const auto& g : groups) {
        const Options& o = g.options;
        check_adam(Decoupled ? "AdamW" : "Adam", o.lr, o.beta1, o.beta2, o.eps, o.weight_decay);
        add_group(g.params, g.names);
        options_.push_back(o);
    }
    require_parameters();
}

template <class Options, bool Decoupled>
void AdamFamily<Options, Decoupled>::set_lr(double lr) {
    for (Options& o : options_) o.lr = lr;
}

template <class Options, bool Decoupled>
void AdamFamily<Options, Decoupled>::update(std::size_t group, Tensor& param, const Tensor& grad, State& s) {
    const Options& o = options_[group];
    adam_update(param, grad, s.exp_avg, s.exp_avg_sq, s.max_exp_avg_sq, s.step, o.lr, o.beta1, o.beta2, o.eps,
                o.weight_decay, Decoupled, o.amsgrad);
}

template <class Options, bool Decoupled>
std::vector<Tensor> AdamFamily<Options, Decoupled>::preconditioner() const {
    NoGradGuard ng;
    std::vector<Tensor> out;
    for (std::size_t g = 0; g < num_groups(); ++g) {
        const Options& o = options_[g];
        for (std::size_t i = 0; i < params(g).size(); ++i) {
            const State& s = state(g, i);
            const Tensor& v = o.amsgrad ? s.max_exp_avg_sq : s.exp_avg_sq;
            TG_CHECK(s.step > 0 && v.defined(), ValueError,
                     "{}.preconditioner: {} has not been updated yet, so it has no second moment; take a step() "
                     "with a gradient for it first",
                     name(), param_label(g, i));
            const double bias_correction2 = 1.0 - std::pow(o.beta2, static_cast<double>(s.step));
            out.push_back(add(sqrt(mul(v, 1.0 / bias_correction2)), o.eps));
        }
    }
    return out;
}

template class AdamFamily<AdamOptions, false>;
template class AdamFamily<AdamWOptions, true>;

}  // namespace detail
}  // namespace tg::optim
