// Fused normalisations with their hand-derived backwards: layer_norm and rms_norm over the
// last dim, batch_norm over every dim but the channels.
#include <cmath>

#include <omp.h>

#include <vector>

#include "core/check.hpp"
#include "core/kernels/simd.hpp"
#include "core/ops/common.hpp"
#include "core/internal/profiler.hpp"

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

void check_rms_norm(const Tensor& x, const Tensor& w, double eps) {
    detail::check_floating("rms_norm", x);
    if (w.defined()) detail::check_same_floating("rms_norm", x, w);
    TG_CHECK(x.dim() >= 1 && (!w.defined() || (w.dim() == 1 && w.shape()[0] == x.shape().back())), ShapeError,
             "rms_norm: weight {} must be (C,) with C the last dim of x {}", w.defined() ? shape_str(w.shape()) : "none",
             shape_str(x.shape()));
    check_eps("rms_norm", eps);
}

// A per-channel tensor of batch_norm (weight, bias, running_mean, running_var): undefined, or
// (C,) with x's dtype.
void check_channel_tensor(const Tensor& x, const Tensor& t, const char* what) {
    if (!t.defined()) return;
    TG_CHECK(t.dtype() == x.dtype(), DtypeError, "batch_norm: {} has dtype {}, x has {}; they must match", what,
             dtype_name(t.dtype()), dtype_name(x.dtype()));
    TG_CHECK(t.dim() == 1 && t.shape()[0] == x.shape()[1], ShapeError,
             "batch_norm: {} {} must be (C,) = ({},) for x {} (N, C, ...)", what, shape_str(t.shape()), x.shape()[1],
             shape_str(x.shape()));
}

void check_batch_norm(const Tensor& x, const Tensor& running_mean, const Tensor& running_var, const Tensor& w,
                      const Tensor& b, bool training, double momentum, double eps) {
    detail::check_floating("batch_norm", x);
    TG_CHECK(x.dim() >= 2, ShapeError, "batch_norm: x must be (N, C, ...) with rank >= 2, got {}",
             shape_str(x.shape()));
    check_channel_tensor(x, w, "weight");
    check_channel_tensor(x, b, "bias");
    check_channel_tensor(x, running_mean, "running_mean");
    check_channel_tensor(x, running_var, "running_var");
    for (const auto& [t, what] : {std::pair{&running_mean, "running_mean"}, std::pair{&running_var, "running_var"}})
        TG_CHECK(!t->defined() || !t->requires_grad(), ValueError,
                 "batch_norm: {} requires grad; running statistics are buffers, updated in place and never "
                 "differentiated: pass one that does not require grad (detach() it)",
                 what);
    TG_CHECK(training || (running_mean.defined() && running_var.defined()), ValueError,
             "batch_norm: running_mean and running_var must both be defined when training is false (evaluation "
             "normalises with them); pass training=true to use the batch's statistics");
    TG_CHECK(std::isfinite(momentum), ValueError, "batch_norm: momentum must be finite, got {}", momentum);
    check_eps("batch_norm", eps);
}

// The normalisations' backwards as recorded ops, for create_graph. Each recomputes xhat from x
// with ops (so that its dependence on x is on the tape) and applies the formula its fused
// backward uses; `dims` are the dims one statistic runs over (layer_norm and rms_norm: the last;
// batch_norm: all but the channels, of x seen as (N, C, S)).
Tensor mean_over(const Tensor& t, const std::vector<int64_t>& dims) {
    Tensor m = t;
    for (int64_t d : dims) m = mean(m, d, true);
    return m;
}

// dx = rstd * (g - mean(g) - xhat * mean(g * xhat)), without the mean(g) term when centred is false.
Tensor normalised_dx(const Tensor& g, const Tensor& xhat, const Tensor& rstd, const std::vector<int64_t>& dims,
                     bool centred) {
    Tensor inner = sub(g, mul(xhat, mean_over(mul(g, xhat), dims)));
    if (centred) inner = sub(inner, mean_over(g, dims));
    return mul(rstd, inner);
}

}  // namespace

/// Per row of C values: mean = sum x / C, var = sum (x - mean)^2 / C, rstd = 1/sqrt(var + eps),
/// xhat = (x - mean) * rstd, y = xhat * w + b.
/// Backward, with g = dy * w (the gradient reaching xhat):
///   dx = rstd * (g - mean(g) - xhat * mean(g * xhat)),   dw = sum_rows dy * xhat,   db = sum_rows dy.
/// (xhat depends on x directly and through mean and rstd; the two mean terms are those paths.)
Tensor layer_norm(const Tensor& x, const Tensor& w, const Tensor& b, double eps) {
    const detail::OpScope scope("layer_norm");
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
#pragma omp parallel for schedule(dynamic, kernels::kRowChunk) if (N * C >= kernels::kParallelElems)
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
    return record("layer_norm", y, {x, w, b}, [x, w, mean, rstd, N, C, eps](const Tensor& dy, const Tensor&) {
        if (is_grad_enabled() && x.numel() == 0)  // nothing to normalise (the means below refuse empty rows)
            return Grads{Tensor::zeros(x.shape(), x.dtype()), Tensor::zeros({C}, x.dtype()), Tensor::zeros({C}, x.dtype())};
        if (is_grad_enabled()) {  // creating a graph
            const Tensor xc = sub(x, tg::mean(x, -1, true));
            const Tensor r = rsqrt(add(tg::mean(mul(xc, xc), -1, true), eps));
            const Tensor xhat = mul(xc, r);
            return Grads{normalised_dx(mul(dy, w), xhat, r, {-1}, true), detail::sum_to(mul(dy, xhat), {C}),
                         detail::sum_to(dy, {C})};
        }
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
    }, BackwardReads::values, Differentiable::twice);
}

/// Per row of C values: rstd = 1/sqrt(mean(x^2) + eps), xhat = x * rstd, y = xhat * w.
/// Backward, with g = dy * w (the gradient reaching xhat): xhat_k = x_k * rstd depends on x_k
/// directly and through rstd, with d rstd / d x_k = -rstd^3 x_k / C, so
///   dx_k = g_k rstd - sum_c g_c x_c rstd^3 x_k / C = rstd * (g_k - xhat_k * mean(g * xhat)),
///   dw = sum_rows dy * xhat.
Tensor rms_norm(const Tensor& x, const Tensor& w, double eps) {
    const detail::OpScope scope("rms_norm");
    check_rms_norm(x, w, eps);
    const int64_t C = x.shape().back();
    const int64_t N = C ? x.numel() / C : 0;
    Tensor y = Tensor::empty(x.shape(), x.dtype());
    Tensor rstd = Tensor::empty({N}, x.dtype());
    dispatch_floating("rms_norm", x.dtype(), [&](auto tag) {
        using T = decltype(tag);
        using V = kernels::Vec<T>;
        constexpr int64_t W = V::size;
        const std::vector<T> ones(static_cast<std::size_t>(w.defined() ? 0 : C), T(1));
        const T *px = x.data<T>(), *pw = w.defined() ? w.data<T>() : ones.data();
        T *py = y.data<T>(), *pr = rstd.data<T>();
        const T inv_c = T(1) / static_cast<T>(C);
#pragma omp parallel for schedule(dynamic, kernels::kRowChunk) if (N * C >= kernels::kParallelElems)
        for (int64_t n = 0; n < N; ++n) {
            const T* row = px + n * C;
            const T ms = kernels::vreduce(row, C, T(0), [](V v) { return v * v; }) * inv_c;
            const T r = T(1) / std::sqrt(ms + static_cast<T>(eps));
            T* out = py + n * C;
            int64_t c = 0;
            for (; c + W <= C; c += W)
                (V::load_unaligned(row + c) * V(r) * V::load_unaligned(pw + c)).store_unaligned(out + c);
            for (; c < C; ++c) out[c] = row[c] * r * pw[c];
            pr[n] = r;
        }
    });
    return record("rms_norm", y, {x, w}, [x, w, rstd, N, C, eps](const Tensor& dy, const Tensor&) {
        if (is_grad_enabled() && x.numel() == 0)
            return Grads{Tensor::zeros(x.shape(), x.dtype()), w.defined() ? Tensor::zeros({C}, x.dtype()) : Tensor()};
        if (is_grad_enabled()) {  // creating a graph
            const Tensor r = rsqrt(add(tg::mean(mul(x, x), -1, true), eps));
            const Tensor xhat = mul(x, r);
            return Grads{normalised_dx(w.defined() ? mul(dy, w) : dy, xhat, r, {-1}, false),
                         w.defined() ? detail::sum_to(mul(dy, xhat), {C}) : Tensor()};
        }
        Tensor dx = Tensor::empty(x.shape(), x.dtype());
        Tensor dw = w.defined() ? Tensor::zeros({C}, x.dtype()) : Tensor();
        dispatch_floating("rms_norm", x.dtype(), [&](auto tag) {
            using T = decltype(tag);
            using V = kernels::Vec<T>;
            constexpr int64_t W = V::size;
            const std::vector<T> ones(static_cast<std::size_t>(w.defined() ? 0 : C), T(1));
            const T *px = x.data<T>(), *pw = w.defined() ? w.data<T>() : ones.data(), *pg = dy.data<T>();
            const T* pr = rstd.data<T>();
            T *pdx = dx.data<T>(), *pdw = dw.defined() ? dw.data<T>() : nullptr;
            const T inv_c = T(1) / static_cast<T>(C);
            // dw sums over rows: each thread sums its rows into its own partial sums, added in
            // thread order at the end (as layer_norm).
            const int threads = N * C >= kernels::kParallelElems ? omp_get_max_threads() : 1;
            std::vector<T> partial(static_cast<std::size_t>(threads > 1 && pdw ? C * threads : 0), T(0));
#pragma omp parallel num_threads(threads) if (threads > 1)
            {
                T* sw = pdw && threads > 1 ? partial.data() + C * omp_get_thread_num() : pdw;
#pragma omp for schedule(static)
                for (int64_t n = 0; n < N; ++n) {
                    const T *row = px + n * C, *g = pg + n * C;
                    const T r = pr[n];
                    V vgx(T(0));
                    int64_t c = 0;
                    for (; c + W <= C; c += W) {
                        const V xh = V::load_unaligned(row + c) * V(r);
                        const V gv = V::load_unaligned(g + c);
                        vgx = xsimd::fma(gv * V::load_unaligned(pw + c), xh, vgx);
                        if (sw) xsimd::fma(gv, xh, V::load_unaligned(sw + c)).store_unaligned(sw + c);
                    }
                    T mean_gx = xsimd::hadd(vgx);
                    for (; c < C; ++c) {
                        const T xh = row[c] * r;
                        mean_gx += g[c] * pw[c] * xh;
                        if (sw) sw[c] += g[c] * xh;
                    }
                    mean_gx *= inv_c;
                    T* d = pdx + n * C;
                    c = 0;
                    for (; c + W <= C; c += W) {
                        const V xh = V::load_unaligned(row + c) * V(r);
                        const V gw = V::load_unaligned(g + c) * V::load_unaligned(pw + c);
                        (V(r) * (gw - xh * V(mean_gx))).store_unaligned(d + c);
                    }
                    for (; c < C; ++c) d[c] = r * (g[c] * pw[c] - row[c] * r * mean_gx);
                }
            }
            for (int t = 0; pdw && threads > 1 && t < threads; ++t)
                for (int64_t c = 0; c < C; ++c) pdw[c] += partial[C * t + c];
        });
        return Grads{dx, dw};
    }, BackwardReads::values, Differentiable::twice);
}

/// x (N, C, S...) seen as (N, C, S) with S the product of the trailing dims; each channel c has
/// M = N * S values. Training: mean_c = sum x / M, var_c = sum (x - mean_c)^2 / M (biased),
/// and the running statistics (when defined) become (1 - momentum) * running + momentum * stat,
/// with the unbiased var_c * M / (M - 1) for running_var. Evaluation: mean_c and var_c are the
/// running statistics. Then rstd = 1/sqrt(var + eps), xhat = (x - mean) * rstd, y = xhat * w + b.
/// Backward, per channel, with sums over its M values:
///   dw = sum dy * xhat,   db = sum dy,
///   training: dx = w * rstd * (dy - sum(dy) / M - xhat * sum(dy * xhat) / M)
///     (layer_norm's formula over a channel instead of a row: w is constant over the channel,
///     so mean(g) = w * sum(dy) / M and mean(g * xhat) = w * sum(dy * xhat) / M),
///   evaluation: dx = w * rstd * dy (mean and rstd are constants).
Tensor batch_norm(const Tensor& x, const Tensor& running_mean, const Tensor& running_var, const Tensor& w,
                  const Tensor& b, bool training, double momentum, double eps) {
    const detail::OpScope scope("batch_norm");
    check_batch_norm(x, running_mean, running_var, w, b, training, momentum, eps);
    const int64_t N = x.shape()[0], C = x.shape()[1];
    const int64_t S = shape_numel(Shape(x.shape().begin() + 2, x.shape().end()));
    const int64_t M = N * S;
    TG_CHECK(!training || M != 1, ValueError,
             "batch_norm: Expected more than 1 value per channel when training, got input size {}; use a larger "
             "batch, or training=false",
             shape_str(x.shape()));
    Tensor y = Tensor::empty(x.shape(), x.dtype());
    // The statistics the output was normalised with: the backward's constants, copies (not the
    // running buffers themselves, which later training steps overwrite).
    Tensor mean = Tensor::empty({C}, x.dtype());
    Tensor rstd = Tensor::empty({C}, x.dtype());
    dispatch_floating("batch_norm", x.dtype(), [&](auto tag) {
        using T = decltype(tag);
        const T* px = x.data<T>();
        const T *pw = w.defined() ? w.data<T>() : nullptr, *pb = b.defined() ? b.data<T>() : nullptr;
        T *py = y.data<T>(), *pm = mean.data<T>(), *pr = rstd.data<T>();
        T* prm = running_mean.defined() ? running_mean.data<T>() : nullptr;
        T* prv = running_var.defined() ? running_var.data<T>() : nullptr;
        const T mom = static_cast<T>(momentum);
        // Statistics accumulate in double (as torch's CPU kernel): a channel can hold N*H*W values.
#pragma omp parallel for schedule(static) if (x.numel() >= kernels::kParallelElems)
        for (int64_t c = 0; c < C; ++c) {
            double m = 0, var = 1;  // an empty batch (M = 0) has an empty output and leaves the buffers, as torch
            if (training && M > 0) {
                double s = 0, q = 0;
                // (simd reductions: several partial sums in the vector lanes, not one serial chain)
                for (int64_t n = 0; n < N; ++n) {
                    const T* seg = px + (n * C + c) * S;
#pragma omp simd reduction(+ : s)
                    for (int64_t i = 0; i < S; ++i) s += static_cast<double>(seg[i]);
                }
                m = s / static_cast<double>(M);
                for (int64_t n = 0; n < N; ++n) {  // two passes: no cancellation far from zero
                    const T* seg = px + (n * C + c) * S;
#pragma omp simd reduction(+ : q)
                    for (int64_t i = 0; i < S; ++i) q += (static_cast<double>(seg[i]) - m) * (static_cast<double>(seg[i]) - m);
                }
                var = q / static_cast<double>(M);
                if (prm) prm[c] = mom * static_cast<T>(m) + (T(1) - mom) * prm[c];
                if (prv) prv[c] = mom * static_cast<T>(q / static_cast<double>(M - 1)) + (T(1) - mom) * prv[c];
            } else if (!training) {
                m = static_cast<double>(prm[c]);
                var = static_cast<double>(prv[c]);
            }
            const T tm = static_cast<T>(m), r = static_cast<T>(1.0 / std::sqrt(var + eps));
            const T scale = pw ? r * pw[c] : r, shift = pb ? pb[c] : T(0);
            for (int64_t n = 0; n < N; ++n) {
                const T* seg = px + (n * C + c) * S;
                T* out = py + (n * C + c) * S;
                for (int64_t i = 0; i < S; ++i) out[i] = (seg[i] - tm) * scale + shift;
            }
            pm[c] = tm;
            pr[c] = r;
        }
    });
    if (training && M > 0) {  // written through data<T>() above: say so, as every in-place writer does
        if (running_mean.defined()) Tensor(running_mean).mark_modified();
        if (running_var.defined()) Tensor(running_var).mark_modified();
    }
    const bool need_dw = w.defined() && w.requires_grad(), need_db = b.defined() && b.requires_grad();
    return record("batch_norm", y, {x, w, b},
                  [x, w, mean, rstd, training, need_dw, need_db, N, C, S, eps](const Tensor& dy, const Tensor&) {
        if (is_grad_enabled() && x.numel() == 0)
            return Grads{x.requires_grad() ? Tensor::zeros(x.shape(), x.dtype()) : Tensor(),
                         need_dw ? Tensor::zeros({C}, x.dtype()) : Tensor(), need_db ? Tensor::zeros({C}, x.dtype()) : Tensor()};
        if (is_grad_enabled()) {  // creating a graph, on x seen as (N, C, S)
            const Shape per_channel{1, C, 1};
            const Tensor x3 = reshape(x, {N, C, S}), g3 = reshape(dy, {N, C, S});
            Tensor xhat, r;
            if (training) {  // the statistics depend on x
                const Tensor xc = sub(x3, mean_over(x3, {0, 2}));
                r = rsqrt(add(mean_over(mul(xc, xc), {0, 2}), eps));
                xhat = mul(xc, r);
            } else {  // the running statistics are constants
                r = reshape(rstd, per_channel);
                xhat = mul(sub(x3, reshape(mean, per_channel)), r);
            }
            const Tensor g = w.defined() ? mul(g3, reshape(w, per_channel)) : g3;
            Tensor dx = training ? normalised_dx(g, xhat, r, {0, 2}, true) : mul(g, r);
            return Grads{x.requires_grad() ? reshape(dx, x.shape()) : Tensor(),
                         need_dw ? detail::sum_to(sum(mul(g3, xhat), 2), {C}) : Tensor(),
                         need_db ? detail::sum_to(sum(g3, 2), {C}) : Tensor()};
        }
        const int64_t M = N * S;
        Tensor dx = x.requires_grad() ? Tensor::empty(x.shape(), x.dtype()) : Tensor();
        Tensor dw = need_dw ? Tensor::empty({C}, x.dtype()) : Tensor();
        Tensor db = need_db ? Tensor::empty({C}, x.dtype()) : Tensor();
        dispatch_floating("batch_norm", x.dtype(), [&](auto tag) {
            using T = decltype(tag);
            const T *px = x.data<T>(), *pg = dy.data<T>(), *pm = mean.data<T>(), *pr = rstd.data<T>();
            const T* pw = w.defined() ? w.data<T>() : nullptr;
            T *pdx = dx.defined() ? dx.data<T>() : nullptr, *pdw = need_dw ? dw.data<T>() : nullptr,
              *pdb = need_db ? db.data<T>() : nullptr;
#pragma omp parallel for schedule(static) if (x.numel() >= kernels::kParallelElems)
            for (int64_t c = 0; c < C; ++c) {
                const T m = pm[c], r = pr[c];
                double sg = 0, sgx = 0;  // sum dy, sum dy * xhat over the channel
                if (training || pdw || pdb)
                    for (int64_t n = 0; n < N; ++n) {
                        const T *seg = px + (n * C + c) * S, *g = pg + (n * C + c) * S;
#pragma omp simd reduction(+ : sg, sgx)
                        for (int64_t i = 0; i < S; ++i) {
                            sg += static_cast<double>(g[i]);
                            sgx += static_cast<double>(g[i] * ((seg[i] - m) * r));
                        }
                    }
                if (pdw) pdw[c] = static_cast<T>(sgx);
                if (pdb) pdb[c] = static_cast<T>(sg);
                if (!pdx) continue;
                const T k = pw ? r * pw[c] : r;
                const T a = training ? static_cast<T>(sg / static_cast<double>(M)) : T(0);
                const T bq = training ? static_cast<T>(sgx / static_cast<double>(M)) : T(0);
                for (int64_t n = 0; n < N; ++n) {
                    const T *seg = px + (n * C + c) * S, *g = pg + (n * C + c) * S;
                    T* d = pdx + (n * C + c) * S;
                    for (int64_t i = 0; i < S; ++i) d[i] = k * (g[i] - a - (seg[i] - m) * r * bq);
                }
            }
        });
        return Grads{dx, dw, db};
    }, BackwardReads::values, Differentiable::twice);
}

}  // namespace tg
