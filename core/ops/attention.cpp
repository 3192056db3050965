// Fused scaled dot-product attention. Per (batch, head): P = softmax(Q K^T * scale + mask),
// O = P V. The probabilities P (B, H, T, S) are kept for backward.
#include <cmath>
#include <limits>

#include "core/kernels/blas.hpp"
#include "core/ops/common.hpp"

namespace tg {

namespace {

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

}  // namespace

/// S = Q K^T / sqrt(hs) (+ -inf above the causal diagonal), P = softmax_rows(S), O = P V.
/// dV = P^T dO,  dP = dO V^T,  dS = P * (dP - rowsum(dP * P)),  dQ = dS K / sqrt(hs),
/// dK = dS^T Q / sqrt(hs).
Tensor scaled_dot_product_attention(const Tensor& q, const Tensor& k, const Tensor& v, bool causal) {
    const AttnShapes s = check_attention(q, k, v, causal);
    const int64_t BH = s.B * s.H, T = s.T, S = s.S, hs = s.hs, hv = s.hv;
    const double scale = hs > 0 ? 1.0 / std::sqrt(static_cast<double>(hs)) : 1.0;
    const int64_t shift = S - T;  // query t sees keys s <= t + shift
    Tensor out = Tensor::empty({s.B, s.H, T, hv}, q.dtype());
    Tensor probs = Tensor::empty({s.B, s.H, T, S}, q.dtype());
    dispatch_floating("scaled_dot_product_attention", q.dtype(), [&](auto tag) {
        using U = decltype(tag);
        for (int64_t bh = 0; bh < BH; ++bh) {
            const U* Q = q.data<U>() + bh * T * hs;
            const U* K = k.data<U>() + bh * S * hs;
            const U* V = v.data<U>() + bh * S * hv;
            U* P = probs.data<U>() + bh * T * S;
            kernels::gemm(false, true, T, S, hs, static_cast<U>(scale), Q, hs, K, hs, U(0), P, S);
            for (int64_t t = 0; t < T; ++t) {
                U* row = P + t * S;
                const int64_t visible = causal ? t + shift + 1 : S;
                U m = -std::numeric_limits<U>::infinity();
                for (int64_t j = 0; j < visible; ++j) m = std::max(m, row[j]);
                U sum = 0;
                for (int64_t j = 0; j < visible; ++j) sum += (row[j] = std::exp(row[j] - m));
                const U inv = U(1) / sum;
                for (int64_t j = 0; j < visible; ++j) row[j] *= inv;
                for (int64_t j = visible; j < S; ++j) row[j] = 0;
            }
            kernels::gemm(false, false, T, hv, S, U(1), P, S, V, hv, U(0), out.data<U>() + bh * T * hv, hv);
        }
    });
    return record("scaled_dot_product_attention", out, {q, k, v},
                  [q, k, v, probs, s, scale](const Tensor& dout, const Tensor&) {
        const int64_t BH = s.B * s.H, T = s.T, S = s.S, hs = s.hs, hv = s.hv;
        Tensor dq = Tensor::empty(q.shape(), q.dtype());
        Tensor dk = Tensor::empty(k.shape(), k.dtype());
        Tensor dv = Tensor::empty(v.shape(), v.dtype());
        dispatch_floating("scaled_dot_product_attention", q.dtype(), [&](auto tag) {
            using U = decltype(tag);
            std::vector<U> dp(static_cast<std::size_t>(T * S));
            for (int64_t bh = 0; bh < BH; ++bh) {
                const U* Q = q.data<U>() + bh * T * hs;
                const U* K = k.data<U>() + bh * S * hs;
                const U* V = v.data<U>() + bh * S * hv;
                const U* P = probs.data<U>() + bh * T * S;
                const U* dO = dout.data<U>() + bh * T * hv;
                kernels::gemm(true, false, S, hv, T, U(1), P, S, dO, hv, U(0), dv.data<U>() + bh * S * hv, hv);
                kernels::gemm(false, true, T, S, hv, U(1), dO, hv, V, hv, U(0), dp.data(), S);
                for (int64_t t = 0; t < T; ++t) {
                    U* row = dp.data() + t * S;
                    const U* prow = P + t * S;
                    U dot = 0;
                    for (int64_t j = 0; j < S; ++j) dot += row[j] * prow[j];
                    for (int64_t j = 0; j < S; ++j) row[j] = prow[j] * (row[j] - dot);
                }
                kernels::gemm(false, false, T, hs, S, static_cast<U>(scale), dp.data(), S, K, hs, U(0),
                              dq.data<U>() + bh * T * hs, hs);
                kernels::gemm(true, false, S, hs, T, static_cast<U>(scale), dp.data(), S, Q, hs, U(0),
                              dk.data<U>() + bh * S * hs, hs);
            }
        });
        return Grads{dq, dk, dv};
    });
}

}  // namespace tg
