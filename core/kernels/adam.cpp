#include "core/kernels/adam.hpp"

#include <cmath>
#include <xsimd/xsimd.hpp>

// GCC 12 reports -Wmaybe-uninitialized inside its own AVX-512 intrinsics, which start from a
// deliberately undefined register; the warning concerns the compiler's header, not this file.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

namespace tg::kernels {

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

template <class T>
void adam_step(T* pp, const T* pg, T* pm, T* pv, T* pvm, int64_t n, const AdamStepArgs& a) {
    using B = xsimd::batch<T>;
    const T decay = static_cast<T>(1.0 - a.lr * a.weight_decay), wd = static_cast<T>(a.weight_decay);
    const T b1 = static_cast<T>(a.beta1), omb1 = static_cast<T>(1.0 - a.beta1);
    const T b2 = static_cast<T>(a.beta2), omb2 = static_cast<T>(1.0 - a.beta2);
    const T bc2_sqrt = static_cast<T>(std::sqrt(a.bias_correction2)), e = static_cast<T>(a.eps);
    const T neg_step = static_cast<T>(-(a.lr / a.bias_correction1));
    const bool l2 = !a.decoupled && a.weight_decay != 0;
    const bool dec = a.decoupled && a.weight_decay != 0;
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
        adam_element<T, T>(pp[i], pg[i], pm[i], pv[i], pvm ? &vm : nullptr, decay, wd, b1, omb1, b2, omb2, bc2_sqrt, e,
                           neg_step, dec, l2);
        if (pvm) pvm[i] = vm;
    }
}

template void adam_step<float>(float*, const float*, float*, float*, float*, int64_t, const AdamStepArgs&);
template void adam_step<double>(double*, const double*, double*, double*, double*, int64_t, const AdamStepArgs&);

}  // namespace tg::kernels
