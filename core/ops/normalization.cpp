// Fused layer normalisation over the last dim, with its hand-derived backward.
#include <cmath>

#include <omp.h>

#include <vector>

#include "core/check.hpp"
#include "core/kernels/simd.hpp"
#include "core/ops/common.hpp"

namespace tg {

namespace {

void check_layer_norm(const Tensor& x, const Tensor& w, const Tensor& b, double eps) {
    detail::check_floating("layer_norm", x);
    detail::check_same_floating("layer_norm", x, w);
    detail::check_same_floating("layer_norm", x, b);
    TG_CHECK(x.dim() >= 1 && w.dim() == 1 && b.dim() == 1 && w.shape()[0] == x.shape().back() &&
             b.shape()[0] == x.shape().back(), ShapeError,
             "layer_norm: weight {} and bias {} must both be (C,) with C the last dim of x {}", shape_str(w.shape()),
             shape_str(b.shape()), shape_str(x.shape()));
    check_eps("layer_norm", eps);
}

}  // namespace

/// Per row of C values: mean = sum x / C, var = sum (x - mean)^2 / C, rstd = 1/sqrt(var + eps),
/// xhat = (x - mean) * rstd, y = xhat * w + b.
/// Backward, with g = dy * w (the gradient reaching xhat):
///   dx = rstd * (g - mean(g) - xhat * mean(g * xhat)),   dw = sum_rows dy * xhat,   db = sum_rows dy.
/// (xhat depends on x directly and through mean and rstd; the two mean terms are those paths.)
Tensor layer_norm(const Tensor& x, const Tensor& w, const Tensor& b, double eps) {
    check_layer_norm(x, w, b, eps);
    const int64_t C = x.shape().back();
    const int64_t N = C ? x.numel() / C : 0;
    Tensor y = Tensor::empty(x.shape(), x.dtype());
    Tensor mean = Tensor::empty({N}, x.dtype());
    Tensor rstd = Tensor::empty({N}, x.dtype());
    dispatch_floating("layer_norm", x.dtype(), [&](auto tag) {
        using T = decltype(tag);
        using V = kernels::Vec<T>;
        constexpr int64_t W = V::size;
        const T *px = x.data<T>(), *pw = w.data<T>(), *pb = b.data<T>();
        T *py = y.data<T>(), *pm = mean.data<T>(), *pr = rstd.data<T>();
        const T inv_c = T(1) / static_cast<T>(C);
#pragma omp parallel for schedule(static) if (N * C >= kernels::kParallelElems)
        for (int64_t n = 0; n < N; ++n) {
            const T* row = px + n * C;
            const T m = kernels::vreduce(row, C, T(0), [](V v) { return v; }) * inv_c;
            // Two passes: no cancellation for rows far from zero. The padding equals the mean,
            // so it adds nothing.
            const T var = kernels::vreduce(row, C, m, [m](V v) { return (v - V(m)) * (v - V(m)); }) * inv_c;
            const T r = T(1) / std::sqrt(var + static_cast<T>(eps));
            T* out = py + n * C;
            int64_t c = 0;
            for (; c + W <= C; c += W) {
                const V xh = (V::load_unaligned(row + c) - V(m)) * V(r);
                xsimd::fma(xh, V::load_unaligned(pw + c), V::load_unaligned(pb + c)).store_unaligned(out + c);
            }
            for (; c < C; ++c) out[c] = (row[c] - m) * r * pw[c] + pb[c];
            pm[n] = m;
            pr[n] = r;
        }
    });
    return record("layer_norm", y, {x, w, b}, [x, w, mean, rstd, N, C](const Tensor& dy, const Tensor&) {
        Tensor dx = Tensor::empty(x.shape(), x.dtype());
        Tensor dw = Tensor::zeros({C}, x.dtype());
        Tensor db = Tensor::zeros({C}, x.dtype());
        dispatch_floating("layer_norm", x.dtype(), [&](auto tag) {
            using T = decltype(tag);
            using V = kernels::Vec<T>;
            constexpr int64_t W = V::size;
            const T *px = x.data<T>(), *pw = w.data<T>(), *pg = dy.data<T>();
            const T *pm = mean.data<T>(), *pr = rstd.data<T>();
            T *pdx = dx.data<T>(), *pdw = dw.data<T>(), *pdb = db.data<T>();
            const T inv_c = T(1) / static_cast<T>(C);
            // Rows are independent for dx; dw and db sum over rows, so each thread sums its rows
            // into its own partial sums, added in thread order at the end.
            const int threads = N * C >= kernels::kParallelElems ? omp_get_max_threads() : 1;
            std::vector<T> partial(static_cast<std::size_t>(threads > 1 ? 2 * C * threads : 0), T(0));
#pragma omp parallel num_threads(threads) if (threads > 1)
            {
                const int id = omp_get_thread_num();
                T* sw = threads > 1 ? partial.data() + 2 * C * id : pdw;
                T* sb = threads > 1 ? sw + C : pdb;
#pragma omp for schedule(static)
                for (int64_t n = 0; n < N; ++n) {
                    const T *row = px + n * C, *g = pg + n * C;
                    const T m = pm[n], r = pr[n];
                    V vg(T(0)), vgx(T(0));
                    int64_t c = 0;
                    for (; c + W <= C; c += W) {
                        const V xh = (V::load_unaligned(row + c) - V(m)) * V(r);
                        const V gv = V::load_unaligned(g + c);
                        const V gw = gv * V::load_unaligned(pw + c);
                        vg += gw;
                        vgx = xsimd::fma(gw, xh, vgx);
                        xsimd::fma(gv, xh, V::load_unaligned(sw + c)).store_unaligned(sw + c);
                        (V::load_unaligned(sb + c) + gv).store_unaligned(sb + c);
                    }
                    T mean_g = xsimd::hadd(vg), mean_gx = xsimd::hadd(vgx);
                    for (; c < C; ++c) {
                        const T xh = (row[c] - m) * r;
                        const T gw = g[c] * pw[c];
                        mean_g += gw;
                        mean_gx += gw * xh;
                        sw[c] += g[c] * xh;
                        sb[c] += g[c];
                    }
                    mean_g *= inv_c;
                    mean_gx *= inv_c;
                    T* d = pdx + n * C;
                    c = 0;
                    for (; c + W <= C; c += W) {
                        const V xh = (V::load_unaligned(row + c) - V(m)) * V(r);
                        const V gw = V::load_unaligned(g + c) * V::load_unaligned(pw + c);
                        (V(r) * (gw - V(mean_g) - xh * V(mean_gx))).store_unaligned(d + c);
                    }
                    for (; c < C; ++c) d[c] = r * (g[c] * pw[c] - mean_g - (row[c] - m) * r * mean_gx);
                }
            }
            for (int t = 0; threads > 1 && t < threads; ++t)
                for (int64_t c = 0; c < C; ++c) {
                    pdw[c] += partial[2 * C * t + c];
                    pdb[c] += partial[2 * C * t + C + c];
                }
        });
        return Grads{dx, dw, db};
    });
}

}  // namespace tg
