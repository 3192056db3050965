// Fused layer normalisation over the last dim, with its hand-derived backward.
#include <cmath>

#include "core/ops/common.hpp"

namespace tg {

namespace {

void check_layer_norm(const Tensor& x, const Tensor& w, const Tensor& b, double eps) {
    detail::check_floating("layer_norm", x);
    detail::check_same_floating("layer_norm", x, w);
    detail::check_same_floating("layer_norm", x, b);
    if (x.dim() < 1 || w.dim() != 1 || b.dim() != 1 || w.shape()[0] != x.shape().back() ||
        b.shape()[0] != x.shape().back())
        throw ShapeError(fmt::format("layer_norm: weight {} and bias {} must both be (C,) with C "
                                     "the last dim of x {}",
                                     shape_str(w.shape()), shape_str(b.shape()), shape_str(x.shape())));
    if (!(eps >= 0) || !std::isfinite(eps))
        throw ValueError(fmt::format("layer_norm: eps must be finite and >= 0, got {}", eps));
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
        const T *px = x.data<T>(), *pw = w.data<T>(), *pb = b.data<T>();
        T *py = y.data<T>(), *pm = mean.data<T>(), *pr = rstd.data<T>();
#pragma omp parallel for if (N * C > (1 << 16))
        for (int64_t n = 0; n < N; ++n) {
            const T* row = px + n * C;
            T m = 0;
            for (int64_t c = 0; c < C; ++c) m += row[c];
            m /= static_cast<T>(C);
            T v = 0;  // two passes: no cancellation for large offsets
            for (int64_t c = 0; c < C; ++c) v += (row[c] - m) * (row[c] - m);
            v /= static_cast<T>(C);
            const T r = T(1) / std::sqrt(v + static_cast<T>(eps));
            T* out = py + n * C;
            for (int64_t c = 0; c < C; ++c) out[c] = (row[c] - m) * r * pw[c] + pb[c];
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
            const T *px = x.data<T>(), *pw = w.data<T>(), *pg = dy.data<T>();
            const T *pm = mean.data<T>(), *pr = rstd.data<T>();
            T *pdx = dx.data<T>(), *pdw = dw.data<T>(), *pdb = db.data<T>();
            for (int64_t n = 0; n < N; ++n) {
                const T *row = px + n * C, *g = pg + n * C;
                const T m = pm[n], r = pr[n];
                T mean_g = 0, mean_gx = 0;
                for (int64_t c = 0; c < C; ++c) {
                    const T xhat = (row[c] - m) * r;
                    const T gw = g[c] * pw[c];
                    mean_g += gw;
                    mean_gx += gw * xhat;
                    pdw[c] += g[c] * xhat;
                    pdb[c] += g[c];
                }
                mean_g /= static_cast<T>(C);
                mean_gx /= static_cast<T>(C);
                T* d = pdx + n * C;
                for (int64_t c = 0; c < C; ++c) {
                    const T xhat = (row[c] - m) * r;
                    d[c] = r * (g[c] * pw[c] - mean_g - xhat * mean_gx);
                }
            }
        });
        return Grads{dx, dw, db};
    });
}

}  // namespace tg
