// Fused scaled dot-product attention. Per (batch, head): P = softmax(Q K^T * scale + mask),
// O = P V, computed by the blocked head kernels of core/kernels/attention.hpp: no (T, S) array
// is kept, only each query row's log-normaliser (B, H, T), from which backward rebuilds P block
// by block. (batch, head) pairs run in parallel. The kernels read Q, K, V and write O through
// row strides, so the same code serves (B, H, T, hs) tensors and the packed (B, T, 3C) output
// of a qkv projection.
#include <array>
#include <cmath>
#include <limits>
#include <vector>

#include "core/kernels/attention.hpp"
#include "core/ops/common.hpp"
#include "core/internal/profiler.hpp"

namespace tg {

namespace {

// Where head (b, h) of one operand starts; the head's row strides are in kernels::AttentionHead.
struct Layout {
    int64_t batch_stride, head_stride;
    int64_t base(int64_t b, int64_t h) const { return b * batch_stride + h * head_stride; }
};

struct Problem {
    int64_t B, H;
    kernels::AttentionHead head;
    Layout q, k, v, o;
    Layout mask = {0, 0};  // where head (b, h) of the additive mask starts (0 strides: broadcast)
};

// Heads are independent, so they are handed out one at a time (schedule dynamic): when one of
// the threads shares its core with another process, the other thread takes more heads instead
// of waiting for it at the end. Each head's result is the same whichever thread computes it.
bool worth_threads(const Problem& p) {
    const kernels::AttentionHead& a = p.head;
    return p.B * p.H > 1 && a.T * a.S * (a.hs + a.hv) > (1 << 14);
}

template <class T>
void attention_forward(const Problem& p, const T* Q, const T* K, const T* V, const T* M, T* O, T* lse) {
    const int64_t BH = p.B * p.H;
#pragma omp parallel for schedule(dynamic, 1) if (worth_threads(p))
    for (int64_t bh = 0; bh < BH; ++bh) {
        const int64_t b = bh / p.H, h = bh % p.H;
        kernels::attention_head_forward(p.head, Q + p.q.base(b, h), K + p.k.base(b, h), V + p.v.base(b, h),
                                        M ? M + p.mask.base(b, h) : nullptr, O + p.o.base(b, h), lse + bh * p.head.T);
    }
}

// dO has the layout of O; dQ, dK and dV those of Q, K and V.
template <class T>
void attention_backward(const Problem& p, const T* Q, const T* K, const T* V, const T* M, const T* O, const T* lse,
                        const T* dO, T* dQ, T* dK, T* dV) {
    const int64_t BH = p.B * p.H;
#pragma omp parallel for schedule(dynamic, 1) if (worth_threads(p))
    for (int64_t bh = 0; bh < BH; ++bh) {
        const int64_t b = bh / p.H, h = bh % p.H;
        const int64_t q = p.q.base(b, h), k = p.k.base(b, h), v = p.v.base(b, h);
        const int64_t o = p.o.base(b, h);
        kernels::attention_head_backward(p.head, Q + q, K + k, V + v, M ? M + p.mask.base(b, h) : nullptr, O + o,
                                         lse + bh * p.head.T, dO + o, p.head.o_row, dQ + q, dK + k, dV + v);
    }
}

// An attention mask made ready for the kernels: additive values in the operands' dtype (b8
// masks become 0 where true and -inf where false), and where each head's (T, S) block starts
// and how its rows and columns step, 0 along every dim the mask broadcasts.
struct Mask {
    Tensor values;  // undefined: no mask
    Layout heads{0, 0};
    int64_t row = 0, col = 0;
};

Mask prepare_mask(const char* op, const Tensor& mask, Dtype dtype, int64_t B, int64_t H, int64_t T, int64_t S) {
    Mask m;
    if (!mask.defined()) return m;
    const Shape& ms = mask.shape();
    const Shape full{B, H, T, S};
    bool fits = ms.size() <= 4;
    Shape padded(4, 1);
    for (std::size_t i = 0; fits && i < ms.size(); ++i) {
        const std::size_t d = 4 - ms.size() + i;
        padded[d] = ms[i];
        fits = ms[i] == 1 || ms[i] == full[d];
    }
    TG_CHECK(fits, ShapeError, "{}: attn_mask of shape {} does not broadcast to (B, H, T, S) = {}", op, shape_str(ms),
             shape_str(full));
    if (mask.dtype() == Dtype::b8) {
        m.values = Tensor::empty(ms, dtype);
        dispatch_floating(op, dtype, [&](auto tag) {
            using U = decltype(tag);
            const bool* pm = mask.data<bool>();
            U* pv = m.values.data<U>();
            for (int64_t i = 0; i < mask.numel(); ++i) pv[i] = pm[i] ? U(0) : -std::numeric_limits<U>::infinity();
        });
    } else {
        TG_CHECK(mask.dtype() == dtype, DtypeError,
                 "{}: attn_mask must be b8 (true: may attend) or {} like the operands (added to the scores), got {}", op,
                 dtype_name(dtype), dtype_name(mask.dtype()));
        m.values = mask;
    }
    const Shape st = contiguous_strides(padded);
    auto step = [&](int d) { return padded[static_cast<std::size_t>(d)] == 1 ? 0 : st[static_cast<std::size_t>(d)]; };
    m.heads = {step(0), step(1)};
    m.row = step(2);
    m.col = step(3);
    return m;
}

// The same attention from differentiable ops, for a floating mask that requires grad (the
// fused kernels give no mask gradient): S = q k^T scale + mask (+ causal), softmax, @ v. Rows
// the mask removes entirely give NaN here, as in PyTorch.
// P = softmax(q k^T scale + additive (+ causal)) from differentiable ops; additive may be
// undefined. dead (b8, (..., T, 1)), when defined, marks the query rows the masks remove entirely:
// they get P = 0, as the fused kernels give them (their scores are zeroed first, so that no NaN
// reaches a gradient).
Tensor attention_probs(const Tensor& q, const Tensor& k, const Tensor& additive, bool causal, double scale,
                       const Tensor& dead = Tensor()) {
    Tensor s = matmul(q, transpose(k, -2, -1)) * scale;
    if (additive.defined()) s = s + additive;
    if (causal) {
        const int64_t T = q.shape()[2], S = k.shape()[2];
        std::vector<bool> future(static_cast<std::size_t>(T * S));
        for (int64_t t = 0; t < T; ++t)
            for (int64_t j = 0; j < S; ++j) future[static_cast<std::size_t>(t * S + j)] = j > t + (S - T);
        s = masked_fill(s, tensor(future, {T, S}), -std::numeric_limits<double>::infinity());
    }
    if (dead.defined()) return masked_fill(softmax(masked_fill(s, dead, 0.0), -1), dead, 0.0);
    return softmax(s, -1);
}

Tensor attention_composite(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& additive, bool causal,
                           double scale) {
    return matmul(attention_probs(q, k, additive, causal, scale), v);
}

// The fused backward's formulas (above scaled_dot_product_attention) from differentiable ops,
// for create_graph: P is rebuilt as a recorded softmax (rows the forward found fully masked,
// lse = -inf, are zero). Returns dq, dk, dv.
std::array<Tensor, 3> attention_backward_ops(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& additive,
                                             bool causal, double scale, const Tensor& lse, const Tensor& dout) {
    Tensor dead = unsqueeze(isinf(lse), -1);
    if (!any(dead).item<bool>()) dead = Tensor();
    const Tensor P = attention_probs(q, k, additive, causal, scale, dead);
    const Tensor dP = matmul(dout, transpose(v, -2, -1));
    const Tensor dS = mul(P, sub(dP, sum(mul(dP, P), -1, true)));
    return {mul(matmul(dS, k), scale), mul(matmul(transpose(dS, -2, -1), q), scale),
            matmul(transpose(P, -2, -1), dout)};
}

// The packed (B, T, C) layout of attention_qkv's operands and output against the (B, H, T, hs)
// heads the composite paths take: head h is columns [h hs, (h+1) hs).
Tensor split_heads(const Tensor& x, int64_t H) {
    const Shape& s = x.shape();
    return permute(reshape(x, {s[0], s[1], H, s[2] / H}), {0, 2, 1, 3});
}
Tensor join_heads(const Tensor& x) {
    const Shape& s = x.shape();
    return reshape(permute(x, {0, 2, 1, 3}), {s[0], s[2], s[1] * s[3]});
}

struct AttnShapes {
    int64_t B, H, T, S, hs, hv;
};

AttnShapes check_attention(const Tensor& q, const Tensor& k, const Tensor& v, bool causal) {
    detail::check_same_floating("scaled_dot_product_attention", q, k);
    detail::check_same_floating("scaled_dot_product_attention", q, v);
    const Shape &sq = q.shape(), &sk = k.shape(), &sv = v.shape();
    auto fail = [&](const char* why) {
        return ShapeError(fmt::format("scaled_dot_product_attention: {}: q {}, k {}, v {}", why,
                                      shape_str(sq), shape_str(sk), shape_str(sv)));
    };
    if (sq.size() != 4 || sk.size() != 4 || sv.size() != 4)
        throw fail("q, k and v must be 4-d (B, H, T, head_dim)");
    if (sk[0] != sq[0] || sv[0] != sq[0] || sk[1] != sq[1] || sv[1] != sq[1])
        throw fail("batch and head dims differ");
    if (sk[3] != sq[3]) throw fail("q and k head dims differ");
    if (sv[2] != sk[2]) throw fail("k and v sequence lengths differ");
    if (causal && sk[2] < sq[2]) throw fail("causal attention needs at least as many keys as queries");
    return {sq[0], sq[1], sq[2], sk[2], sq[3], sv[3]};
}

double attention_scale(int64_t hs) { return hs > 0 ? 1.0 / std::sqrt(static_cast<double>(hs)) : 1.0; }

}  // namespace

/// S = Q K^T / sqrt(hs) + mask (+ -inf above the causal diagonal), P = softmax_rows(S), O = P V.
/// dV = P^T dO,  dP = dO V^T,  dS = P * (dP - rowsum(dP * P)),  dQ = dS K / sqrt(hs),
/// dK = dS^T Q / sqrt(hs)  (the mask is a constant added to S: it does not change dS).
Tensor scaled_dot_product_attention(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& attn_mask,
                                    bool causal) {
    const detail::OpScope scope("scaled_dot_product_attention");
    const char* op = "scaled_dot_product_attention";
    const AttnShapes s = check_attention(q, k, v, causal);
    const Mask mask = prepare_mask(op, attn_mask, q.dtype(), s.B, s.H, s.T, s.S);
    if (mask.values.defined() && mask.values.requires_grad())
        return attention_composite(q, k, v, mask.values, causal, attention_scale(s.hs));
    const Problem p{.B = s.B,
                    .H = s.H,
                    .head = {.T = s.T, .S = s.S, .hs = s.hs, .hv = s.hv, .causal = causal,
                             .scale = attention_scale(s.hs), .q_row = s.hs, .k_row = s.hs, .v_row = s.hv,
                             .o_row = s.hv, .mask_row = mask.row, .mask_col = mask.col},
                    .q = {s.H * s.T * s.hs, s.T * s.hs},
                    .k = {s.H * s.S * s.hs, s.S * s.hs},
                    .v = {s.H * s.S * s.hv, s.S * s.hv},
                    .o = {s.H * s.T * s.hv, s.T * s.hv},
                    .mask = mask.heads};
    Tensor out = Tensor::empty({s.B, s.H, s.T, s.hv}, q.dtype());
    Tensor lse = Tensor::empty({s.B, s.H, s.T}, q.dtype());
    const Tensor mv = mask.values;
    dispatch_floating(op, q.dtype(), [&](auto tag) {
        using U = decltype(tag);
        attention_forward<U>(p, q.data<U>(), k.data<U>(), v.data<U>(), mv.defined() ? mv.data<U>() : nullptr,
                             out.data<U>(), lse.data<U>());
    });
    return record(op, out, {q, k, v}, [q, k, v, mv, lse, p](const Tensor& dout, const Tensor& out) {
        if (is_grad_enabled() && (q.numel() == 0 || k.numel() == 0 || v.numel() == 0))  // nothing flows
            return Grads{Tensor::zeros(q.shape(), q.dtype()), Tensor::zeros(k.shape(), k.dtype()),
                         Tensor::zeros(v.shape(), v.dtype())};
        if (is_grad_enabled()) {  // creating a graph
            const auto [dq, dk, dv] = attention_backward_ops(q, k, v, mv, p.head.causal, p.head.scale, lse, dout);
            return Grads{dq, dk, dv};
        }
        Tensor dq = Tensor::empty(q.shape(), q.dtype());
        Tensor dk = Tensor::empty(k.shape(), k.dtype());
        Tensor dv = Tensor::empty(v.shape(), v.dtype());
        dispatch_floating("scaled_dot_product_attention", q.dtype(), [&](auto tag) {
            using U = decltype(tag);
            attention_backward<U>(p, q.data<U>(), k.data<U>(), v.data<U>(), mv.defined() ? mv.data<U>() : nullptr,
                                  out.data<U>(), lse.data<U>(), dout.data<U>(), dq.data<U>(), dk.data<U>(),
                                  dv.data<U>());
        });
        return Grads{dq, dk, dv};
    }, BackwardReads::values, Differentiable::twice);
}

Tensor scaled_dot_product_attention(const Tensor& q, const Tensor& k, const Tensor& v, bool causal) {
    return scaled_dot_product_attention(q, k, v, Tensor(), causal);
}

/// The attention of a GPT block straight from its packed projection: qkv (B, T, 3C) holds q,
/// k and v side by side, head h in columns [h hs, (h+1) hs) of each; returns (B, T, C) with
/// head h in the same columns. Same maths as scaled_dot_product_attention on the split,
/// permuted heads, without the copies.
Tensor attention_qkv(const Tensor& qkv, int64_t n_head, bool causal, const Tensor& attn_mask) {
    const detail::OpScope scope("attention_qkv");
    detail::check_floating("attention_qkv", qkv);
    const Shape& sh = qkv.shape();
    TG_CHECK(sh.size() == 3 && sh[2] % 3 == 0 && n_head > 0 && (sh[2] / 3) % n_head == 0, ShapeError,
             "attention_qkv: expected qkv (B, T, 3C) with C divisible by n_head, got {} and n_head {}", shape_str(sh),
             n_head);
    const int64_t B = sh[0], T = sh[1], C = sh[2] / 3, hs = C / n_head;
    const Mask mask = prepare_mask("attention_qkv", attn_mask, qkv.dtype(), B, n_head, T, T);
    if (mask.values.defined() && mask.values.requires_grad()) {
        // Split into (B, H, T, hs) heads for the composite path, and join the heads again.
        const std::vector<Tensor> parts = split(qkv, C, 2);
        return join_heads(attention_composite(split_heads(parts[0], n_head), split_heads(parts[1], n_head),
                                              split_heads(parts[2], n_head), mask.values, causal, attention_scale(hs)));
    }
    const Layout qkv_heads{T * 3 * C, hs};
    const Problem p{.B = B,
                    .H = n_head,
                    .head = {.T = T, .S = T, .hs = hs, .hv = hs, .causal = causal, .scale = attention_scale(hs),
                             .q_row = 3 * C, .k_row = 3 * C, .v_row = 3 * C, .o_row = C, .mask_row = mask.row,
                             .mask_col = mask.col},
                    .q = qkv_heads,
                    .k = qkv_heads,
                    .v = qkv_heads,
                    .o = {T * C, hs},
                    .mask = mask.heads};
    Tensor out = Tensor::empty({B, T, C}, qkv.dtype());
    Tensor lse = Tensor::empty({B, n_head, T}, qkv.dtype());
    const Tensor mv = mask.values;
    dispatch_floating("attention_qkv", qkv.dtype(), [&](auto tag) {
        using U = decltype(tag);
        const U* base = qkv.data<U>();
        attention_forward<U>(p, base, base + C, base + 2 * C, mv.defined() ? mv.data<U>() : nullptr, out.data<U>(),
                             lse.data<U>());
    });
    return record("attention_qkv", out, {qkv}, [qkv, mv, lse, p, C](const Tensor& dout, const Tensor& out) {
        if (is_grad_enabled() && qkv.numel() == 0) return Grads{Tensor::zeros(qkv.shape(), qkv.dtype())};
        if (is_grad_enabled()) {  // creating a graph: the heads split and joined with ops
            const std::vector<Tensor> parts = split(qkv, C, 2);
            const auto [dq, dk, dv] =
                attention_backward_ops(split_heads(parts[0], p.H), split_heads(parts[1], p.H), split_heads(parts[2], p.H),
                                       mv, p.head.causal, p.head.scale, lse, split_heads(dout, p.H));
            return Grads{cat({join_heads(dq), join_heads(dk), join_heads(dv)}, 2)};
        }
        Tensor dqkv = Tensor::empty(qkv.shape(), qkv.dtype());
        dispatch_floating("attention_qkv", qkv.dtype(), [&](auto tag) {
            using U = decltype(tag);
            const U* base = qkv.data<U>();
            U* d = dqkv.data<U>();
            attention_backward<U>(p, base, base + C, base + 2 * C, mv.defined() ? mv.data<U>() : nullptr,
                                  out.data<U>(), lse.data<U>(), dout.data<U>(), d, d + C, d + 2 * C);
        });
        return Grads{dqkv};
    }, BackwardReads::values, Differentiable::twice);
}

Tensor attention_qkv(const Tensor& qkv, int64_t n_head, bool causal) { return attention_qkv(qkv, n_head, causal, Tensor()); }

}  // namespace tg
