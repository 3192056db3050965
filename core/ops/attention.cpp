// Fused scaled dot-product attention. Per (batch, head): P = softmax(Q K^T * scale + mask),
// O = P V, computed by the blocked head kernels of core/kernels/attention.hpp: no (T, S) array
// is kept, only each query row's log-normaliser (B, H, T), from which backward rebuilds P block
// by block. (batch, head) pairs run in parallel. The kernels read Q, K, V and write O through
// row strides, so the same code serves (B, H, T, hs) tensors and the packed (B, T, 3C) output
// of a qkv projection.
#include <cmath>

#include "core/kernels/attention.hpp"
#include "core/ops/common.hpp"

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
};

bool worth_threads(const Problem& p) {
    const kernels::AttentionHead& a = p.head;
    return p.B * p.H > 1 && a.T * a.S * (a.hs + a.hv) > (1 << 14);
}

template <class T>
void attention_forward(const Problem& p, const T* Q, const T* K, const T* V, T* O, T* lse) {
    const int64_t BH = p.B * p.H;
#pragma omp parallel for schedule(static) if (worth_threads(p))
    for (int64_t bh = 0; bh < BH; ++bh) {
        const int64_t b = bh / p.H, h = bh % p.H;
        kernels::attention_head_forward(p.head, Q + p.q.base(b, h), K + p.k.base(b, h), V + p.v.base(b, h),
                                        O + p.o.base(b, h), lse + bh * p.head.T);
    }
}

// dO has the layout of O; dQ, dK and dV those of Q, K and V.
template <class T>
void attention_backward(const Problem& p, const T* Q, const T* K, const T* V, const T* O, const T* lse, const T* dO,
                        T* dQ, T* dK, T* dV) {
    const int64_t BH = p.B * p.H;
#pragma omp parallel for schedule(static) if (worth_threads(p))
    for (int64_t bh = 0; bh < BH; ++bh) {
        const int64_t b = bh / p.H, h = bh % p.H;
        const int64_t q = p.q.base(b, h), k = p.k.base(b, h), v = p.v.base(b, h);
        const int64_t o = p.o.base(b, h);
        kernels::attention_head_backward(p.head, Q + q, K + k, V + v, O + o, lse + bh * p.head.T, dO + o,
                                         p.head.o_row, dQ + q, dK + k, dV + v);
    }
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

/// S = Q K^T / sqrt(hs) (+ -inf above the causal diagonal), P = softmax_rows(S), O = P V.
/// dV = P^T dO,  dP = dO V^T,  dS = P * (dP - rowsum(dP * P)),  dQ = dS K / sqrt(hs),
/// dK = dS^T Q / sqrt(hs).
Tensor scaled_dot_product_attention(const Tensor& q, const Tensor& k, const Tensor& v, bool causal) {
    const AttnShapes s = check_attention(q, k, v, causal);
    const Problem p{.B = s.B,
                    .H = s.H,
                    .head = {.T = s.T, .S = s.S, .hs = s.hs, .hv = s.hv, .causal = causal,
                             .scale = attention_scale(s.hs), .q_row = s.hs, .k_row = s.hs, .v_row = s.hv,
                             .o_row = s.hv},
                    .q = {s.H * s.T * s.hs, s.T * s.hs},
                    .k = {s.H * s.S * s.hs, s.S * s.hs},
                    .v = {s.H * s.S * s.hv, s.S * s.hv},
                    .o = {s.H * s.T * s.hv, s.T * s.hv}};
    Tensor out = Tensor::empty({s.B, s.H, s.T, s.hv}, q.dtype());
    Tensor lse = Tensor::empty({s.B, s.H, s.T}, q.dtype());
    dispatch_floating("scaled_dot_product_attention", q.dtype(), [&](auto tag) {
        using U = decltype(tag);
        attention_forward<U>(p, q.data<U>(), k.data<U>(), v.data<U>(), out.data<U>(), lse.data<U>());
    });
    return record("scaled_dot_product_attention", out, {q, k, v},
                  [q, k, v, lse, p](const Tensor& dout, const Tensor& out) {
        Tensor dq = Tensor::empty(q.shape(), q.dtype());
        Tensor dk = Tensor::empty(k.shape(), k.dtype());
        Tensor dv = Tensor::empty(v.shape(), v.dtype());
        dispatch_floating("scaled_dot_product_attention", q.dtype(), [&](auto tag) {
            using U = decltype(tag);
            attention_backward<U>(p, q.data<U>(), k.data<U>(), v.data<U>(), out.data<U>(), lse.data<U>(),
                                  dout.data<U>(), dq.data<U>(), dk.data<U>(), dv.data<U>());
        });
        return Grads{dq, dk, dv};
    });
}

/// The attention of a GPT block straight from its packed projection: qkv (B, T, 3C) holds q,
/// k and v side by side, head h in columns [h hs, (h+1) hs) of each; returns (B, T, C) with
/// head h in the same columns. Same maths as scaled_dot_product_attention on the split,
/// permuted heads, without the copies.
Tensor attention_qkv(const Tensor& qkv, int64_t n_head, bool causal) {
    detail::check_floating("attention_qkv", qkv);
    const Shape& sh = qkv.shape();
    TG_CHECK(sh.size() == 3 && sh[2] % 3 == 0 && n_head > 0 && (sh[2] / 3) % n_head == 0, ShapeError,
             "attention_qkv: expected qkv (B, T, 3C) with C divisible by n_head, got {} and n_head {}", shape_str(sh),
             n_head);
    const int64_t B = sh[0], T = sh[1], C = sh[2] / 3, hs = C / n_head;
    const Layout qkv_heads{T * 3 * C, hs};
    const Problem p{.B = B,
                    .H = n_head,
                    .head = {.T = T, .S = T, .hs = hs, .hv = hs, .causal = causal, .scale = attention_scale(hs),
                             .q_row = 3 * C, .k_row = 3 * C, .v_row = 3 * C, .o_row = C},
                    .q = qkv_heads,
                    .k = qkv_heads,
                    .v = qkv_heads,
                    .o = {T * C, hs}};
    Tensor out = Tensor::empty({B, T, C}, qkv.dtype());
    Tensor lse = Tensor::empty({B, n_head, T}, qkv.dtype());
    dispatch_floating("attention_qkv", qkv.dtype(), [&](auto tag) {
        using U = decltype(tag);
        const U* base = qkv.data<U>();
        attention_forward<U>(p, base, base + C, base + 2 * C, out.data<U>(), lse.data<U>());
    });
    return record("attention_qkv", out, {qkv}, [qkv, lse, p, C](const Tensor& dout, const Tensor& out) {
        Tensor dqkv = Tensor::empty(qkv.shape(), qkv.dtype());
        dispatch_floating("attention_qkv", qkv.dtype(), [&](auto tag) {
            using U = decltype(tag);
            const U* base = qkv.data<U>();
            U* d = dqkv.data<U>();
            attention_backward<U>(p, base, base + C, base + 2 * C, out.data<U>(), lse.data<U>(), dout.data<U>(), d,
                                  d + C, d + 2 * C);
        });
        return Grads{dqkv};
    });
}

}  // namespace tg
