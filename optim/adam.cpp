#include "optim/adam.hpp"

#include <fmt/format.h>

#include <cmath>
#include <xsimd/xsimd.hpp>

#include "core/check.hpp"
#include "core/internal/dispatch.hpp"

// GCC 12 reports -Wmaybe-uninitialized inside its own AVX-512 intrinsics, which start from a
// deliberately undefined register; the warning concerns the compiler's header, not this file.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

namespace tg::optim {

namespace detail {

namespace {

template <class T, class A>
xsimd::batch<T, A> vmax(const xsimd::batch<T, A>& a, const xsimd::batch<T, A>& b) { return xsimd::max(a, b); }
template <class T, class A>
xsimd::batch<T, A> vsqrt(const xsimd::batch<T, A>& a) { return xsimd::sqrt(a); }
template <class T>
T vmax(T a, T b) { return a < b ? b : a; }
template <class T>
T vsqrt(T a) { return std::sqrt(a); }

// One element (or one SIMD batch: every operation is the same IEEE operation, so the batch and
// scalar paths give identical bits). Operation order follows PyTorch's kernels.
template <class V, class T>
void adam_element(V& p, V g, V& m, V& v, V* v_max, T decay, T wd, T b1, T one_minus_b1, T b2, T one_minus_b2,
                  T bc2_sqrt, T eps, T neg_step, bool decoupled, bool l2) {
    if (decoupled) p = p * V(decay);
    if (l2) g = g + V(wd) * p;
    m = m * V(b1) + V(one_minus_b1) * g;
    v = v * V(b2) + V(one_minus_b2) * g * g;
    V denom;
    if (v_max) {
        *v_max = vmax(*v_max, v);
        denom = vsqrt(*v_max) / V(bc2_sqrt) + V(eps);
    } else {
        denom = vsqrt(v) / V(bc2_sqrt) + V(eps);
    }
    p = p + V(neg_step) * m / denom;
}

}  // namespace

void adam_update(Tensor& param, const Tensor& grad, Tensor& m, Tensor& v, Tensor& v_max, int64_t t, double lr,
                 double beta1, double beta2, double eps, double weight_decay, bool decoupled, bool amsgrad) {
    if (!m.defined()) m = Tensor::zeros(param.shape(), param.dtype());
    if (!v.defined()) v = Tensor::zeros(param.shape(), param.dtype());
    if (amsgrad && !v_max.defined()) v_max = Tensor::zeros(param.shape(), param.dtype());
    const double bc1 = 1.0 - std::pow(beta1, static_cast<double>(t));
    const double bc2 = 1.0 - std::pow(beta2, static_cast<double>(t));
    dispatch_floating("adam", param.dtype(), [&](auto tag) {
        using T = decltype(tag);
        using B = xsimd::batch<T>;
        const T decay = static_cast<T>(1.0 - lr * weight_decay), wd = static_cast<T>(weight_decay);
        const T b1 = static_cast<T>(beta1), omb1 = static_cast<T>(1.0 - beta1);
        const T b2 = static_cast<T>(beta2), omb2 = static_cast<T>(1.0 - beta2);
        const T bc2_sqrt = static_cast<T>(std::sqrt(bc2)), e = static_cast<T>(eps);
        const T neg_step = static_cast<T>(-(lr / bc1));
        const bool l2 = !decoupled && weight_decay != 0;
        const bool dec = decoupled && weight_decay != 0;
        T *pp = param.data<T>(), *pm = m.data<T>(), *pv = v.data<T>();
        T* pvm = amsgrad ? v_max.data<T>() : nullptr;
        const T* pg = grad.data<T>();
        const int64_t n = param.numel();
        const int64_t simd_end = n - n % static_cast<int64_t>(B::size);
        for (int64_t i = 0; i < simd_end; i += B::size) {  // storage is 64-byte aligned
            B p = B::load_aligned(pp + i), g = B::load_aligned(pg + i);
            B mm = B::load_aligned(pm + i), vv = B::load_aligned(pv + i);
            B vm = pvm ? B::load_aligned(pvm + i) : B(T(0));
            adam_element<B, T>(p, g, mm, vv, pvm ? &vm : nullptr, decay, wd, b1, omb1, b2, omb2, bc2_sqrt, e, neg_step,
                               dec, l2);
            p.store_aligned(pp + i);
            mm.store_aligned(pm + i);
            vv.store_aligned(pv + i);
            if (pvm) vm.store_aligned(pvm + i);
        }
        for (int64_t i = simd_end; i < n; ++i) {
            T vm = pvm ? pvm[i] : T(0);
            adam_element<T, T>(pp[i], pg[i], pm[i], pv[i], pvm ? &vm : nullptr, decay, wd, b1, omb1, b2, omb2, bc2_sqrt,
                               e, neg_step, dec, l2);
            if (pvm) pvm[i] = vm;
        }
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

template class AdamFamily<AdamOptions, false>;
template class AdamFamily<AdamWOptions, true>;

}  // namespace detail
}  // namespace tg::optim
