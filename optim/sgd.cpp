#include "optim/sgd.hpp"

#include <fmt/format.h>

#include "core/check.hpp"
#include "core/internal/dispatch.hpp"

namespace tg::optim {

SGD::SGD(const std::vector<Tensor>& params, SGDOptions options) {
    add(params, options, {});
    require_parameters();
}

SGD::SGD(const std::vector<ParamGroup<SGDOptions>>& groups) {
    for (const auto& g : groups) add(g.params, g.options, g.names);
    require_parameters();
}

void SGD::add(const std::vector<Tensor>& params, const SGDOptions& o, std::vector<std::string> names) {
    TG_CHECK(o.lr >= 0 && o.momentum >= 0 && o.weight_decay >= 0, ValueError,
             "SGD: lr {}, momentum {} and weight_decay {} must be >= 0", o.lr, o.momentum, o.weight_decay);
    TG_CHECK(!o.nesterov || (o.momentum > 0 && o.dampening == 0), ValueError,
             "SGD: Nesterov momentum needs momentum > 0 and dampening 0");
    add_group(params, std::move(names));
    options_.push_back(o);
}

void SGD::set_lr(double lr) {
    for (SGDOptions& o : options_) o.lr = lr;
}

void SGD::update(std::size_t group, Tensor& param, const Tensor& grad, State& state) {
    const SGDOptions& o = options_[group];
    const bool first = !state.momentum.defined();
    if (o.momentum != 0 && first) state.momentum = Tensor::empty(param.shape(), param.dtype());
    dispatch_floating("SGD", param.dtype(), [&](auto tag) {
        using T = decltype(tag);
        T* p = param.data<T>();
        const T* gr = grad.data<T>();
        T* buf = o.momentum != 0 ? state.momentum.data<T>() : nullptr;
        const T wd = static_cast<T>(o.weight_decay), mom = static_cast<T>(o.momentum);
        const T damp = static_cast<T>(1.0 - o.dampening), neg_lr = static_cast<T>(-o.lr);
        const int64_t n = param.numel();
        for (int64_t i = 0; i < n; ++i) {
            T g = o.weight_decay != 0 ? gr[i] + wd * p[i] : gr[i];
            if (buf) {
                buf[i] = first ? g : buf[i] * mom + damp * g;
                g = o.nesterov ? g + mom * buf[i] : buf[i];
            }
            p[i] = p[i] + neg_lr * g;
        }
    });
}

}  // namespace tg::optim
