#pragma once
// ops_fuzz's calls for conv1d, conv2d, max_pool2d, avg_pool2d, batch_norm, rms_norm and the
// losses (mse_loss, binary_cross_entropy_with_logits, nll_loss, 4-argument cross_entropy);
// included by ops_fuzz_models.hpp, whose helpers it uses. Kernels are at most 3 wide and
// every dim at most 4, so the plain loops below stay cheap.
#include <algorithm>
#include <array>
#include <cmath>
#include <tapegrad.hpp>
#include <vector>

#include "ops_fuzz_input.hpp"
#include "ops_reference.hpp"

namespace tg::fuzz {

// A small parameter in [lo, hi], or one below it one time in eight (conv2d has six of them).
inline int64_t mostly(Source& src, int64_t lo, int64_t hi) {
    const int64_t v = src.small(lo, lo + 7 * (hi - lo + 1));
    return v == lo + 7 * (hi - lo + 1) ? lo - 1 : lo + (v - lo) % (hi - lo + 1);
}

// An optional per-channel tensor: undefined, (n,) of dtype dt, or any small shape and dtype.
inline Tensor maybe_vector(Source& src, int64_t n, Dtype dt) {
    switch (src.small(0, 3)) {
        case 0: return Tensor();
        case 1: case 2: return src.values({n}, dt);
        default: return src.values(src.shape(2), src.dtype());
    }
}

// conv1d and conv2d, in 2-d terms (conv1d is a height of 1, kernel height 1, no H padding).
// x (N, C, H, W) or (C, H, W), w (O, C/G, KH, KW), b (O,) or undefined: the reference gives
// y[n, o, i, j] = b[o] + sum w[o, c, u, v] x[n, g C/G + c, i sh - ph + u dh, j sw - pw + v dw].
inline Call conv_call(Source& src) {
    const int spatial = src.coin() ? 1 : 2;
    Call c;
    c.name = spatial == 1 ? "conv1d" : "conv2d";
    Shape xs, ws;
    const int64_t groups = mostly(src, 1, 2);
    if (src.small(0, 3) > 0) {  // a well-formed call, perhaps with one shape changed
        const int64_t G = std::max<int64_t>(groups, 1), Cg = src.small(0, 2), Og = src.small(1, 2);
        if (src.coin()) xs.push_back(src.small(0, 2));
        xs.push_back(G * Cg);
        if (spatial == 2) xs.push_back(src.small(0, 4));
        xs.push_back(src.small(0, 4));
        ws = {G * Og, Cg};
        if (spatial == 2) ws.push_back(src.small(1, 3));
        ws.push_back(src.small(1, 3));
        if (src.small(0, 3) == 0) ws = src.near(ws);
    } else {
        xs = src.shape();
        ws = src.shape();
    }
    const Tensor x = src.any(xs);
    const Tensor w = src.values(ws, src.coin() ? x.dtype() : src.dtype());
    const Tensor b = maybe_vector(src, ws.empty() ? 1 : ws[0], src.coin() ? x.dtype() : src.dtype());
    std::array<int64_t, 2> stride{1, mostly(src, 1, 2)}, pad{0, mostly(src, 0, 1)}, dil{1, mostly(src, 1, 2)};
    if (spatial == 2) stride[0] = mostly(src, 1, 2), pad[0] = mostly(src, 0, 1), dil[0] = mostly(src, 1, 2);
    c.inputs = {x, w, b};
    c.expect = same_floating(b.defined() ? std::vector<Tensor>{x, w, b} : std::vector<Tensor>{x, w});
    const bool batched = x.dim() == spatial + 2;
    bool ok = (batched || x.dim() == spatial + 1) && w.dim() == spatial + 2 && stride[0] >= 1 && stride[1] >= 1 &&
              dil[0] >= 1 && dil[1] >= 1 && pad[0] >= 0 && pad[1] >= 0 && groups >= 1;
    int64_t N = 0, C = 0, H = 0, W = 0, O = 0, KH = 0, KW = 0, OH = 0, OW = 0;
    if (ok) {
        N = batched ? xs[0] : 1, C = xs[batched ? 1 : 0], H = spatial == 1 ? 1 : xs[xs.size() - 2], W = xs.back();
        O = ws[0], KH = spatial == 1 ? 1 : ws[2], KW = ws.back();
        auto out_size = [](int64_t L, int64_t K, int64_t s, int64_t p, int64_t d) {
            const int64_t num = L + 2 * p - d * (K - 1) - 1;
            return num < 0 ? 0 : num / s + 1;
        };
        OH = out_size(H, KH, stride[0], pad[0], dil[0]);
        OW = out_size(W, KW, stride[1], pad[1], dil[1]);
        ok = C % groups == 0 && O % groups == 0 && ws[1] == C / groups && O >= 1 && KH >= 1 && KW >= 1 &&
             (!b.defined() || b.shape() == Shape{O}) && OH >= 1 && OW >= 1;
    }
    if (!ok) c.expect = Expect::bad();
    if (c.expect.verdict == Verdict::valid) {
        Shape os;
        if (batched) os.push_back(N);
        os.push_back(O);
        if (spatial == 2) os.push_back(OH);
        os.push_back(OW);
        const Ref rx = ref_of(x), rw = ref_of(w);
        const Ref rb = b.defined() ? ref_of(b) : Ref{};
        const int64_t Cg = C / groups, Og = O / groups;
        Ref r{os, std::vector<double>(at(numel(os))), x.dtype()};
        for (int64_t n = 0; n < N; ++n)
            for (int64_t o = 0; o < O; ++o)
                for (int64_t i = 0; i < OH; ++i)
                    for (int64_t j = 0; j < OW; ++j) {
                        double s = b.defined() ? rb.v[at(o)] : 0.0;
                        for (int64_t cg = 0; cg < Cg; ++cg)
                            for (int64_t u = 0; u < KH; ++u)
                                for (int64_t v = 0; v < KW; ++v) {
                                    const int64_t h = i * stride[0] - pad[0] + u * dil[0], ww = j * stride[1] - pad[1] + v * dil[1];
                                    if (h < 0 || h >= H || ww < 0 || ww >= W) continue;
                                    s += rw.v[at(((o * Cg + cg) * KH + u) * KW + v)] *
                                         rx.v[at(((n * C + o / Og * Cg + cg) * H + h) * W + ww)];
                                }
                        r.v[at(((n * O + o) * OH + i) * OW + j)] = s;
                    }
        c.expect.out = r;
        // No input channels, or an input plane that only padding reaches: a result is a choice.
        if (C == 0 || H == 0 || W == 0) c.expect.verdict = Verdict::either;
    }
    c.run = [spatial, stride, pad, dil, groups](const std::vector<Tensor>& in) {
        if (spatial == 1)
            return conv1d(in[0], in[1], in[2], {.stride = stride[1], .padding = pad[1], .dilation = dil[1], .groups = groups});
        return conv2d(in[0], in[1], in[2], {.stride = stride, .padding = pad, .dilation = dil, .groups = groups});
    };
    return c;
}

// max_pool2d and avg_pool2d over the last two dims of (N, C, H, W) or (C, H, W): windows of
// kernel every stride (0 = the kernel), padding at most half the kernel; max treats padding as
// -inf, avg counts it as zeros in a divisor of kH kW.
inline Call pool_call(Source& src) {
    const bool is_max = src.coin();
    Call c;
    c.name = is_max ? "max_pool2d" : "avg_pool2d";
    Shape xs = src.shape();
    if (src.coin()) {
        xs = {src.small(0, 2), src.small(0, 2), src.small(0, 4), src.small(0, 4)};
        if (src.coin()) xs.erase(xs.begin());
    }
    const Tensor x = src.any(xs);
    Pool2dArgs args;
    args.kernel = {mostly(src, 1, 3), mostly(src, 1, 3)};
    args.stride = {mostly(src, 0, 2), mostly(src, 0, 2)};
    args.padding = {src.coin() ? 0 : mostly(src, 0, 2), src.coin() ? 0 : mostly(src, 0, 2)};
    c.inputs = {x};
    const auto &k = args.kernel, &p = args.padding;
    const int64_t sh = args.stride[0] ? args.stride[0] : k[0], sw = args.stride[1] ? args.stride[1] : k[1];
    bool ok = floating(x) && (x.dim() == 3 || x.dim() == 4) && k[0] >= 1 && k[1] >= 1 && args.stride[0] >= 0 &&
              args.stride[1] >= 0 && p[0] >= 0 && p[1] >= 0 && 2 * p[0] <= k[0] && 2 * p[1] <= k[1];
    const int64_t H = ok ? xs[xs.size() - 2] : 0, W = ok ? xs.back() : 0;
    ok = ok && H >= 1 && W >= 1;
    const int64_t OH = ok && H + 2 * p[0] >= k[0] ? (H + 2 * p[0] - k[0]) / sh + 1 : 0;
    const int64_t OW = ok && W + 2 * p[1] >= k[1] ? (W + 2 * p[1] - k[1]) / sw + 1 : 0;
    ok = ok && OH >= 1 && OW >= 1;
    c.expect = ok ? Expect{} : Expect::bad();
    if (ok) {
        Shape os(xs.begin(), xs.end() - 2);
        os.push_back(OH);
        os.push_back(OW);
        const Ref rx = ref_of(x);
        const int64_t planes = numel(xs) / (H * W);
        Ref r{os, std::vector<double>(at(numel(os))), x.dtype()};
        for (int64_t pl = 0; pl < planes; ++pl)
            for (int64_t i = 0; i < OH; ++i)
                for (int64_t j = 0; j < OW; ++j) {
                    double m = -INFINITY, s = 0;
                    for (int64_t h = i * sh - p[0]; h < i * sh - p[0] + k[0]; ++h)
                        for (int64_t w = j * sw - p[1]; w < j * sw - p[1] + k[1]; ++w) {
                            if (h < 0 || h >= H || w < 0 || w >= W) continue;
                            m = std::max(m, rx.v[at((pl * H + h) * W + w)]);
                            s += rx.v[at((pl * H + h) * W + w)];
                        }
                    r.v[at((pl * OH + i) * OW + j)] = is_max ? m : s / static_cast<double>(k[0] * k[1]);
                }
        c.expect.out = r;
    }
    c.run = [is_max, args](const std::vector<Tensor>& in) { return is_max ? max_pool2d(in[0], args) : avg_pool2d(in[0], args); };
    return c;
}

// batch_norm(x, running_mean, running_var, weight, bias, training, momentum, eps) over every dim
// but 1. The running statistics are buffers, not inputs (the fuzzer makes every floating input
// require grad, which batch_norm rightly refuses for them): the call holds them.
inline Call batch_norm_call(Source& src) {
    Call c;
    c.name = "batch_norm";
    Shape xs = src.shape();
    if (src.coin()) {
        xs = {src.small(0, 3), src.small(0, 3)};
        for (int64_t i = src.small(0, 2); i > 0; --i) xs.push_back(src.small(0, 3));
    }
    const Tensor x = src.any(xs);
    const int64_t C = x.dim() >= 2 ? xs[1] : 2;
    const Dtype dt = src.small(0, 3) ? x.dtype() : src.dtype();
    const Tensor w = maybe_vector(src, C, dt), b = maybe_vector(src, C, dt), rm = maybe_vector(src, C, dt);
    Tensor rv = maybe_vector(src, C, dt);
    if (rv.defined() && floating(rv)) {  // a variance: no negative values
        std::vector<double> v = rv.to_vector<double>();
        for (double& e : v) e = std::abs(e);
        rv = to(tensor(v, rv.shape()), rv.dtype());
    }
    const bool training = src.coin();
    static const double momenta[] = {0.1, 0.5, 1.0, kNaN}, epsilons[] = {1e-5, 0.5, 0.0, -1.0};
    const double momentum = momenta[src.small(0, 3)], eps = epsilons[src.small(0, 3)];
    c.inputs = {x, w, b};
    bool ok = floating(x) && x.dim() >= 2;
    for (const Tensor& t : {w, b, rm, rv}) ok = ok && (!t.defined() || (t.dtype() == x.dtype() && t.shape() == Shape{C}));
    ok = ok && (training || (rm.defined() && rv.defined())) && std::isfinite(momentum) && eps >= 0;
    const int64_t N = ok ? xs[0] : 0, S = ok ? numel(Shape(xs.begin() + 2, xs.end())) : 0, M = N * S;
    ok = ok && !(training && M == 1);
    c.expect = ok ? Expect{} : Expect::bad();
    if (ok) {
        const Ref rx = ref_of(x);
        const std::vector<double> vw = w.defined() ? w.to_vector<double>() : std::vector<double>(at(C), 1.0);
        const std::vector<double> vb = b.defined() ? b.to_vector<double>() : std::vector<double>(at(C), 0.0);
        Ref r{xs, rx.v, x.dtype()};
        for (int64_t ch = 0; ch < C; ++ch) {
            double m = 0, var = 0;
            if (training) {
                for (int64_t n = 0; n < N; ++n)
                    for (int64_t i = 0; i < S; ++i) m += rx.v[at((n * C + ch) * S + i)];
                m /= static_cast<double>(M);
                for (int64_t n = 0; n < N; ++n)
                    for (int64_t i = 0; i < S; ++i) var += std::pow(rx.v[at((n * C + ch) * S + i)] - m, 2);
                var /= static_cast<double>(M);
            } else {
                m = rm.to_vector<double>()[at(ch)];
                var = rv.to_vector<double>()[at(ch)];
            }
            for (int64_t n = 0; n < N; ++n)
                for (int64_t i = 0; i < S; ++i) {
                    double& y = r.v[at((n * C + ch) * S + i)];
                    y = (y - m) * (1.0 / std::sqrt(var + eps)) * vw[at(ch)] + vb[at(ch)];
                }
        }
        c.expect.out = r;
    }
    c.run = [rm, rv, training, momentum, eps](const std::vector<Tensor>& in) {
        return batch_norm(in[0], rm, rv, in[1], in[2], training, momentum, eps);
    };
    return c;
}

// rms_norm(x, weight, eps) over the last dim: x / sqrt(mean(x^2) + eps) * weight.
inline Call rms_norm_call(Source& src) {
    Call c;
    c.name = "rms_norm";
    const Tensor x = src.any(src.shape());
    const int64_t C = x.dim() >= 1 ? x.shape().back() : 2;
    const Tensor w = maybe_vector(src, C, src.coin() ? x.dtype() : src.dtype());
    static const double epsilons[] = {1e-5, 0.5, 0.0, -1.0};
    const double eps = epsilons[src.small(0, 3)];
    c.inputs = {x, w};
    const bool ok = floating(x) && x.dim() >= 1 && eps >= 0 &&
                    (!w.defined() || (w.dtype() == x.dtype() && w.shape() == Shape{C}));
    c.expect = ok ? Expect{} : Expect::bad();
    if (ok) {
        const std::vector<double> vw = w.defined() ? w.to_vector<double>() : std::vector<double>(at(C), 1.0);
        c.expect.out = along(ref_of(x), x.dim() - 1, C, true, [&](const std::vector<double>& row) {
            double ms = 0;
            for (double e : row) ms += e * e;
            const double r = 1.0 / std::sqrt(ms / static_cast<double>(C) + eps);
            std::vector<double> o(row.size());
            for (std::size_t i = 0; i < row.size(); ++i) o[i] = row[i] * r * vw[i];
            return o;
        });
        if (C == 0) c.expect.verdict = Verdict::either;  // normalising empty rows: a choice
    }
    c.run = [eps](const std::vector<Tensor>& in) { return rms_norm(in[0], in[1], eps); };
    return c;
}

// mse_loss and binary_cross_entropy_with_logits: two tensors of one shape and floating dtype
// (no broadcasting); the mean over the elements, NaN when there are none.
inline Call pair_loss_call(Source& src) {
    const bool bce = src.coin();
    Call c;
    c.name = bce ? "binary_cross_entropy_with_logits" : "mse_loss";
    const Tensor a = src.any(src.shape());
    const Tensor b = src.values(src.coin() ? a.shape() : src.near(a.shape()), src.coin() ? a.dtype() : src.dtype());
    c.inputs = {a, b};
    c.expect = same_floating(c.inputs);
    if (a.shape() != b.shape()) c.expect = Expect::bad();
    if (c.expect.verdict == Verdict::valid) {
        const Ref ra = ref_of(a), rb = ref_of(b);
        double s = 0;
        for (std::size_t i = 0; i < ra.v.size(); ++i) {
            const double z = ra.v[i], t = rb.v[i];
            s += bce ? std::max(z, 0.0) - z * t + std::log1p(std::exp(-std::abs(z))) : (z - t) * (z - t);
        }
        c.expect.out = {{}, {s / static_cast<double>(ra.v.size())}, a.dtype()};
    }
    c.run = [bce](const std::vector<Tensor>& in) {
        return bce ? binary_cross_entropy_with_logits(in[0], in[1]) : mse_loss(in[0], in[1]);
    };
    return c;
}

// nll_loss(log_probs, targets) and cross_entropy(logits, targets, ignore_index, smoothing):
// x (N, C) with i64 targets (N), or x (C) with a 0-d target; targets in [0, C) unless they
// equal ignore_index (cross_entropy). The mean over the counted rows, NaN when none count.
inline Call class_loss_call(Source& src) {
    const bool ce = src.coin();
    Call c;
    c.name = ce ? "cross_entropy" : "nll_loss";
    const Tensor x = src.any(src.coin() ? Shape{src.small(0, 4), src.small(0, 4)} : src.shape());
    // (N, C), (C), or (N, C, d1, ...) with targets (N, d1, ...): every position one sample.
    const bool spatial = x.dim() >= 3;
    const int64_t C = x.dim() >= 2 ? x.shape()[1] : x.dim() == 1 ? x.shape()[0] : 3;
    Shape spatial_ts = x.shape();
    if (spatial) spatial_ts.erase(spatial_ts.begin() + 1);
    const Shape ts = src.coin() ? (spatial ? spatial_ts : x.dim() == 2 ? Shape{x.shape()[0]} : Shape{}) : src.shape(2);
    const Tensor targets = index_values(src, ts, C);
    const int64_t ignore = src.coin() ? -100 : src.small(-1, 2);
    static const double smoothings[] = {0.0, 0.0, 0.1, 0.25, 1.0, -0.5, 1.5};
    const double e = ce ? smoothings[src.small(0, 6)] : 0.0;
    c.inputs = {x, targets};
    const bool batched = x.dim() == 2;
    bool ok = floating(x) && targets.dtype() == Dtype::i64 &&
              (spatial ? ts == spatial_ts : batched ? ts == Shape{x.shape()[0]} : x.dim() == 1 && ts.empty()) &&
              e >= 0 && e <= 1;
    const std::vector<int64_t> t = ok ? targets.to_vector<int64_t>() : std::vector<int64_t>{};
    for (int64_t target : t) ok = ok && ((ce && target == ignore) || (target >= 0 && target < C));
    c.expect = ok ? Expect{} : Expect::bad();
    if (ok) {
        Ref rx = ref_of(x);
        if (spatial) {  // rows (n, p) of C scores each, from x[n, c, p]
            const int64_t N = x.shape()[0], S = x.numel() / std::max<int64_t>(N * C, 1);
            std::vector<double> rows(rx.v.size());
            for (int64_t n = 0; n < N; ++n)
                for (int64_t c = 0; c < C; ++c)
                    for (int64_t q = 0; q < S; ++q)
                        rows[static_cast<std::size_t>((n * S + q) * C + c)] = rx.v[static_cast<std::size_t>((n * C + c) * S + q)];
            rx.v = rows;
        }
        double s = 0;
        int64_t counted = 0;
        for (std::size_t n = 0; n < t.size(); ++n) {
            if (ce && t[n] == ignore) continue;
            ++counted;
            const auto row = rx.v.begin() + static_cast<std::ptrdiff_t>(n) * C;
            if (!ce) {
                s -= row[t[n]];
                continue;
            }
            double m = -INFINITY, sum_exp = 0, sum_x = 0;
            for (int64_t k = 0; k < C; ++k) m = std::max(m, row[k]);
            for (int64_t k = 0; k < C; ++k) sum_exp += std::exp(row[k] - m), sum_x += row[k];
            s += m + std::log(sum_exp) - (1 - e) * row[t[n]] - e / static_cast<double>(C) * sum_x;
        }
        c.expect.out = {{}, {s / static_cast<double>(counted)}, x.dtype()};
    }
    c.run = [ce, ignore, e](const std::vector<Tensor>& in) {
        return ce ? cross_entropy(in[0], in[1], ignore, e) : nll_loss(in[0], in[1]);
    };
    return c;
}

}  // namespace tg::fuzz
