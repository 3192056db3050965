#include "optim/sharpness.hpp"

#include "core/check.hpp"

namespace tg::optim {

namespace {

template <class Opt>
std::vector<Tensor> all_params(const Opt& opt) {
    std::vector<Tensor> out;
    for (std::size_t g = 0; g < opt.num_groups(); ++g)
        for (const Tensor& p : opt.params(g)) out.push_back(p);
    return out;
}

template <class Opt>
nn::EigenEstimate adam_sharpness(const std::function<Tensor()>& loss, const Opt& opt,
                                 const nn::HessianOptions& options) {
    return nn::preconditioned_hessian_eigen_estimate(loss, all_params(opt), opt.preconditioner(), 1, options);
}

// One value of a per-group option shared by every group, or an error naming the option.
template <class Opt, class Get>
double shared(const Opt& opt, const char* what, Get get) {
    const double v = get(opt.options(0));
    for (std::size_t g = 1; g < opt.num_groups(); ++g)
        TG_CHECK(get(opt.options(g)) == v, ValueError,
                 "stability_threshold: the {} groups of {} differ in {} ({} in group 0, {} in group {}); the threshold "
                 "needs one value",
                 opt.num_groups(), opt.name(), what, v, get(opt.options(g)), g);
    return v;
}

template <class Opt>
double adam_threshold(const Opt& opt) {
    const double lr = shared(opt, "lr", [](const auto& o) { return o.lr; });
    const double b1 = shared(opt, "beta1", [](const auto& o) { return o.beta1; });
    TG_CHECK(lr > 0, ValueError, "stability_threshold: {} has lr {}; the threshold needs lr > 0", opt.name(), lr);
    return (2 + 2 * b1) / ((1 - b1) * lr);
}

}  // namespace

double preconditioned_sharpness(const std::function<Tensor()>& loss, const Adam& optimizer,
                                const nn::HessianOptions& options) {
    return adam_sharpness(loss, optimizer, options).values.front();
}
double preconditioned_sharpness(const std::function<Tensor()>& loss, const AdamW& optimizer,
                                const nn::HessianOptions& options) {
    return adam_sharpness(loss, optimizer, options).values.front();
}
nn::EigenEstimate preconditioned_sharpness_estimate(const std::function<Tensor()>& loss, const Adam& optimizer,
                                                    const nn::HessianOptions& options) {
    return adam_sharpness(loss, optimizer, options);
}
nn::EigenEstimate preconditioned_sharpness_estimate(const std::function<Tensor()>& loss, const AdamW& optimizer,
                                                    const nn::HessianOptions& options) {
    return adam_sharpness(loss, optimizer, options);
}

double stability_threshold(const Adam& optimizer) { return adam_threshold(optimizer); }
double stability_threshold(const AdamW& optimizer) { return adam_threshold(optimizer); }

double stability_threshold(const SGD& optimizer) {
    const double lr = shared(optimizer, "lr", [](const SGDOptions& o) { return o.lr; });
    const double mu = shared(optimizer, "momentum", [](const SGDOptions& o) { return o.momentum; });
    for (std::size_t g = 0; g < optimizer.num_groups(); ++g)
        TG_CHECK(!optimizer.options(g).nesterov && (mu == 0 || optimizer.options(g).dampening == 0), ValueError,
                 "stability_threshold: SGD group {} uses {}; only plain SGD and heavy-ball momentum (dampening 0) "
                 "have a threshold here",
                 g, optimizer.options(g).nesterov ? "Nesterov momentum" : "dampening");
    TG_CHECK(lr > 0, ValueError, "stability_threshold: SGD has lr {}; the threshold needs lr > 0", lr);
    return (2 + 2 * mu) / lr;
}

}  // namespace tg::optim
