// Fused scaled dot-product attention. Per (batch, head): P = softmax(Q K^T * scale + mask),
// O = P V. Work is O(T S hs) and, with the causal mask, only the visible half is computed.
// The probabilities P are the one (B, H, T, S) array, kept for backward; (batch, head) pairs
// run in parallel. The kernel reads Q, K, V and writes O through row strides, so the same
// code serves (B, H, T, hs) tensors and the packed (B, T, 3C) output of a qkv projection.
#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "core/check.hpp"
#include "core/kernels/simd.hpp"
#include "core/ops/common.hpp"

namespace tg {

namespace {

// Where head (b, h) of one operand lives: element (t, d) is at base(b, h) + t * row + d.
struct Layout {
    int64_t batch_stride, head_stride, row;
    int64_t base(int64_t b, int64_t h) const { return b * batch_stride + h * head_stride; }
};

struct Problem {
    int64_t B, H, T, S, hs, hv;
    bool causal;
    double scale;
    Layout q, k, v, o;
    int64_t visible(int64_t t) const { return causal ? std::min(S, t + (S - T) + 1) : S; }
};

// One thread's scratch, reused across heads and calls.
template <class T>
struct Scratch {
    std::vector<T> kt, vt, ds, row;
    void fit(std::vector<T>& v, int64_t n) {
        if (static_cast<int64_t>(v.size()) < n) v.resize(static_cast<std::size_t>(n));
    }
};
template <class T>
Scratch<T>& scratch() {
    static thread_local Scratch<T> s;
    return s;
}

template <class T>
constexpr int64_t kW = kernels::Vec<T>::size;
template <class T>
int64_t padded(int64_t n) { return (n + kW<T> - 1) / kW<T> * kW<T>; }

// out[j] = sum_d a[d] * mt[d * ld + j] for j < padded(n) (ld >= padded(n)): one row of A M^T
// with M^T packed d-major. Four vectors of outputs at a time, so four independent FMA chains
// hide the FMA latency.
template <class T>
void row_times_packed(const T* a, const T* mt, int64_t ld, int64_t depth, int64_t n, T* out) {
    using V = kernels::Vec<T>;
    constexpr int64_t W = kW<T>;
    int64_t j = 0;
    for (; j + 4 * W <= n; j += 4 * W) {
        V c0(T(0)), c1(T(0)), c2(T(0)), c3(T(0));
        for (int64_t d = 0; d < depth; ++d) {
            const V ad(a[d]);
            const T* m = mt + d * ld + j;
            c0 = xsimd::fma(ad, V::load_unaligned(m), c0);
            c1 = xsimd::fma(ad, V::load_unaligned(m + W), c1);
            c2 = xsimd::fma(ad, V::load_unaligned(m + 2 * W), c2);
            c3 = xsimd::fma(ad, V::load_unaligned(m + 3 * W), c3);
        }
        c0.store_unaligned(out + j);
        c1.store_unaligned(out + j + W);
        c2.store_unaligned(out + j + 2 * W);
        c3.store_unaligned(out + j + 3 * W);
    }
    for (; j < n; j += W) {
        V acc(T(0));
        for (int64_t d = 0; d < depth; ++d) acc = xsimd::fma(V(a[d]), V::load_unaligned(mt + d * ld + j), acc);
        acc.store_unaligned(out + j);
    }
}

// M (rows, cols, row stride) -> M^T (cols, ld), zero in columns [rows, ld).
template <class T>
void pack_transposed(const T* src, int64_t rows, int64_t cols, int64_t row_stride, int64_t ld, T* dst) {
    for (int64_t c = 0; c < cols; ++c) {
        T* d = dst + c * ld;
        for (int64_t r = 0; r < rows; ++r) d[r] = src[r * row_stride + c];
        for (int64_t r = rows; r < ld; ++r) d[r] = 0;
    }
}

// out[0, width) = sum_{i < count} w[i * ws] * rows[i * rs + (0, width)], with NV vectors of
// accumulators held in registers (width == NV * kW), in four interleaved sets over i so that
// the FMA chains are independent.
template <class T, int NV>
void weighted_rows_fixed(const T* w, int64_t ws, const T* rows, int64_t rs, int64_t count, T* out) {
    using V = kernels::Vec<T>;
    constexpr int U = 4;
    V acc[U][NV];
    for (int u = 0; u < U; ++u)
        for (int c = 0; c < NV; ++c) acc[u][c] = V(T(0));
    int64_t i = 0;
    for (; i + U <= count; i += U) {
        for (int u = 0; u < U; ++u) {
            const V wi(w[(i + u) * ws]);
            const T* r = rows + (i + u) * rs;
            for (int c = 0; c < NV; ++c) acc[u][c] = xsimd::fma(wi, V::load_unaligned(r + c * kW<T>), acc[u][c]);
        }
    }
    for (; i < count; ++i) {
        const V wi(w[i * ws]);
        const T* r = rows + i * rs;
        for (int c = 0; c < NV; ++c) acc[0][c] = xsimd::fma(wi, V::load_unaligned(r + c * kW<T>), acc[0][c]);
    }
    for (int c = 0; c < NV; ++c) ((acc[0][c] + acc[1][c]) + (acc[2][c] + acc[3][c])).store_unaligned(out + c * kW<T>);
}

template <class T>
void weighted_rows(const T* w, int64_t ws, const T* rows, int64_t rs, int64_t count, int64_t width, T* out) {
    if (width % kW<T> == 0) {
        switch (width / kW<T>) {
            case 1: return weighted_rows_fixed<T, 1>(w, ws, rows, rs, count, out);
            case 2: return weighted_rows_fixed<T, 2>(w, ws, rows, rs, count, out);
            case 3: return weighted_rows_fixed<T, 3>(w, ws, rows, rs, count, out);
            case 4: return weighted_rows_fixed<T, 4>(w, ws, rows, rs, count, out);
            default: break;
        }
    }
    for (int64_t d = 0; d < width; ++d) out[d] = 0;
    for (int64_t i = 0; i < count; ++i) {
        const T wi = w[i * ws];
        const T* r = rows + i * rs;
        for (int64_t d = 0; d < width; ++d) out[d] += wi * r[d];
    }
}

// For kKeys keys k at once: out[k * os + (0, width)] = sum_i w[i * ws + k] rows[i * rs + (0, width)].
// Each row is loaded once for all keys. Returns false (nothing written) when width is not a
// whole number of vectors up to 2.
constexpr int64_t kKeys = 4;
template <class T, int NV>
void weighted_rows_keys_fixed(const T* w, int64_t ws, const T* rows, int64_t rs, int64_t count, T* out, int64_t os) {
    using V = kernels::Vec<T>;
    V acc[kKeys][NV];
    for (int k = 0; k < kKeys; ++k)
        for (int c = 0; c < NV; ++c) acc[k][c] = V(T(0));
    for (int64_t i = 0; i < count; ++i) {
        const T* r = rows + i * rs;
        const T* wi = w + i * ws;
        V rv[NV];
        for (int c = 0; c < NV; ++c) rv[c] = V::load_unaligned(r + c * kW<T>);
        for (int k = 0; k < kKeys; ++k) {
            const V wk(wi[k]);
            for (int c = 0; c < NV; ++c) acc[k][c] = xsimd::fma(wk, rv[c], acc[k][c]);
        }
    }
    for (int k = 0; k < kKeys; ++k)
        for (int c = 0; c < NV; ++c) acc[k][c].store_unaligned(out + k * os + c * kW<T>);
}

template <class T>
bool weighted_rows_keys(const T* w, int64_t ws, const T* rows, int64_t rs, int64_t count, int64_t width, T* out,
                        int64_t os) {
    if (width == kW<T>) weighted_rows_keys_fixed<T, 1>(w, ws, rows, rs, count, out, os);
    else if (width == 2 * kW<T>) weighted_rows_keys_fixed<T, 2>(w, ws, rows, rs, count, out, os);
    else return false;
    return true;
}

// In place over whole vectors: row[0, n) <- softmax(scale * row[0, n)). The row has room for
// padded(n) values; the padding is set to -inf so that it adds exp(-inf) = 0.
template <class T>
void softmax_row(T* row, int64_t n, T scale) {
    using V = kernels::Vec<T>;
    const int64_t np = padded<T>(n);
    std::fill(row + n, row + np, -std::numeric_limits<T>::infinity());
    V vmax(-std::numeric_limits<T>::infinity());
    for (int64_t j = 0; j < np; j += kW<T>) {
        const V v = V::load_unaligned(row + j) * V(scale);
        v.store_unaligned(row + j);
        vmax = xsimd::max(vmax, v);
    }
    const V m(kernels::lanes_max(vmax));
    V vsum(T(0));
    for (int64_t j = 0; j < np; j += kW<T>) {
        const V e = kernels::exp<T>(V::load_unaligned(row + j) - m);
        e.store_unaligned(row + j);
        vsum += e;
    }
    const V inv(T(1) / xsimd::hadd(vsum));
    for (int64_t j = 0; j < np; j += kW<T>) (V::load_unaligned(row + j) * inv).store_unaligned(row + j);
}

// sum_j a[j] b[j] over j < n, whole vectors then the tail.
template <class T>
T dot(const T* a, const T* b, int64_t n) {
    using V = kernels::Vec<T>;
    V acc(T(0));
    int64_t j = 0;
    for (; j + kW<T> <= n; j += kW<T>) acc = xsimd::fma(V::load_unaligned(a + j), V::load_unaligned(b + j), acc);
    T s = xsimd::hadd(acc);
    for (; j < n; ++j) s += a[j] * b[j];
    return s;
}

template <class T>
bool worth_threads(const Problem& p) {
    return p.B * p.H > 1 && p.T * p.S * (p.hs + p.hv) > (1 << 14);
}

template <class T>
void attention_forward(const Problem& p, const T* Q, const T* K, const T* V, T* O, T* P) {
    const int64_t BH = p.B * p.H, ld = padded<T>(p.S);
    const T scale = static_cast<T>(p.scale);
#pragma omp parallel for schedule(static) if (worth_threads<T>(p))
    for (int64_t bh = 0; bh < BH; ++bh) {
        const int64_t b = bh / p.H, h = bh % p.H;
        Scratch<T>& s = scratch<T>();
        s.fit(s.kt, ld * p.hs);
        s.fit(s.row, ld);
        const T* q = Q + p.q.base(b, h);
        const T* v = V + p.v.base(b, h);
        T* o = O + p.o.base(b, h);
        pack_transposed(K + p.k.base(b, h), p.S, p.hs, p.k.row, ld, s.kt.data());
        for (int64_t t = 0; t < p.T; ++t) {
            const int64_t n = p.visible(t);
            T* prow = P + (bh * p.T + t) * p.S;
            T* orow = o + t * p.o.row;
            if (n == 0) {
                std::fill(orow, orow + p.hv, T(0));
                continue;
            }
            T* row = s.row.data();
            row_times_packed(q + t * p.q.row, s.kt.data(), ld, p.hs, n, row);
            softmax_row(row, n, scale);
            std::copy(row, row + n, prow);
            std::fill(prow + n, prow + p.S, T(0));  // masked keys: probability 0 (backward reads it)
            weighted_rows(prow, 1, v, p.v.row, n, p.hv, orow);
        }
    }
}

// dV = P^T dO,  dP = dO V^T,  dS = P * (dP - rowsum(dP * P)),  dQ = scale dS K,
// dK = scale dS^T Q. dq/dk/dv use the layouts of q/k/v. Rows of dQ come from one pass over
// queries; dK and dV are sums over queries, so a second pass over keys gathers them.
template <class T>
void attention_backward(const Problem& p, const T* Q, const T* K, const T* V, const T* P,
                        const T* dO, const Layout& dol, T* dQ, T* dK, T* dV) {
    const int64_t BH = p.B * p.H, ld = padded<T>(p.S), shift = p.S - p.T;
    const T scale = static_cast<T>(p.scale);
#pragma omp parallel for schedule(static) if (worth_threads<T>(p))
    for (int64_t bh = 0; bh < BH; ++bh) {
        const int64_t b = bh / p.H, h = bh % p.H;
        Scratch<T>& s = scratch<T>();
        s.fit(s.vt, ld * p.hv);
        s.fit(s.ds, p.T * p.S);
        s.fit(s.row, ld);
        const T* q = Q + p.q.base(b, h);
        const T* k = K + p.k.base(b, h);
        const T* dout = dO + dol.base(b, h);
        const T* pb = P + bh * p.T * p.S;
        T* ds = s.ds.data();
        pack_transposed(V + p.v.base(b, h), p.S, p.hv, p.v.row, ld, s.vt.data());
        for (int64_t t = 0; t < p.T; ++t) {
            const int64_t n = p.visible(t);
            T* dqt = dQ + p.q.base(b, h) + t * p.q.row;
            if (n == 0) {
                std::fill(dqt, dqt + p.hs, T(0));
                continue;
            }
            const T* prow = pb + t * p.S;
            T* dp = s.row.data();
            row_times_packed(dout + t * dol.row, s.vt.data(), ld, p.hv, n, dp);  // dP[t, :n]
            const T pdp = dot(dp, prow, n);
            T* dst = ds + t * p.S;
            for (int64_t j = 0; j < n; ++j) dst[j] = scale * prow[j] * (dp[j] - pdp);  // scale dS
            std::fill(dst + n, dst + p.S, T(0));
            weighted_rows(dst, 1, k, p.k.row, n, p.hs, dqt);
        }
        // dV and dK sum over queries. Blocks of kKeys keys share each query's row loads, and
        // their weights are adjacent in P and dS (zero where a key is masked).
        int64_t j = 0;
        if (p.hv == p.hs) {
            for (; j + kKeys <= p.S; j += kKeys) {
                const int64_t t0 = p.causal ? std::max<int64_t>(0, j - shift) : 0, cnt = p.T - t0;
                T* dkj = dK + p.k.base(b, h) + j * p.k.row;
                T* dvj = dV + p.v.base(b, h) + j * p.v.row;
                if (!weighted_rows_keys(pb + t0 * p.S + j, p.S, dout + t0 * dol.row, dol.row, cnt, p.hv, dvj, p.v.row) ||
                    !weighted_rows_keys(ds + t0 * p.S + j, p.S, q + t0 * p.q.row, p.q.row, cnt, p.hs, dkj, p.k.row))
                    break;
            }
        }
        for (; j < p.S; ++j) {
            // Queries that see key j: all, or t >= j - shift under the causal mask.
            const int64_t t0 = p.causal ? std::max<int64_t>(0, j - shift) : 0, cnt = p.T - t0;
            T* dkj = dK + p.k.base(b, h) + j * p.k.row;
            T* dvj = dV + p.v.base(b, h) + j * p.v.row;
            weighted_rows(pb + t0 * p.S + j, p.S, dout + t0 * dol.row, dol.row, cnt, p.hv, dvj);
            weighted_rows(ds + t0 * p.S + j, p.S, q + t0 * p.q.row, p.q.row, cnt, p.hs, dkj);
        }
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
    const Layout lq{s.H * s.T * s.hs, s.T * s.hs, s.hs}, lk{s.H * s.S * s.hs, s.S * s.hs, s.hs},
        lv{s.H * s.S * s.hv, s.S * s.hv, s.hv}, lo{s.H * s.T * s.hv, s.T * s.hv, s.hv};
    const Problem p{s.B, s.H, s.T, s.S, s.hs, s.hv, causal, attention_scale(s.hs), lq, lk, lv, lo};
    Tensor out = Tensor::empty({s.B, s.H, s.T, s.hv}, q.dtype());
    Tensor probs = Tensor::empty({s.B, s.H, s.T, s.S}, q.dtype());
    dispatch_floating("scaled_dot_product_attention", q.dtype(), [&](auto tag) {
        using U = decltype(tag);
        attention_forward<U>(p, q.data<U>(), k.data<U>(), v.data<U>(), out.data<U>(), probs.data<U>());
    });
    return record("scaled_dot_product_attention", out, {q, k, v},
                  [q, k, v, probs, p](const Tensor& dout, const Tensor&) {
        Tensor dq = Tensor::empty(q.shape(), q.dtype());
        Tensor dk = Tensor::empty(k.shape(), k.dtype());
        Tensor dv = Tensor::empty(v.shape(), v.dtype());
        dispatch_floating("scaled_dot_product_attention", q.dtype(), [&](auto tag) {
            using U = decltype(tag);
            attention_backward<U>(p, q.data<U>(), k.data<U>(), v.data<U>(), probs.data<U>(),
                                  dout.data<U>(), p.o, dq.data<U>(), dk.data<U>(), dv.data<U>());
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
    const Layout lq{T * 3 * C, hs, 3 * C};
    const Layout lk{lq.batch_stride, hs, 3 * C}, lv = lk, lo{T * C, hs, C};
    Problem p{B, n_head, T, T, hs, hs, causal, attention_scale(hs), lq, lk, lv, lo};
    Tensor out = Tensor::empty({B, T, C}, qkv.dtype());
    Tensor probs = Tensor::empty({B, n_head, T, T}, qkv.dtype());
    dispatch_floating("attention_qkv", qkv.dtype(), [&](auto tag) {
        using U = decltype(tag);
        const U* base = qkv.data<U>();
        attention_forward<U>(p, base, base + C, base + 2 * C, out.data<U>(), probs.data<U>());
    });
    return record("attention_qkv", out, {qkv}, [qkv, probs, p, C](const Tensor& dout, const Tensor&) {
        Tensor dqkv = Tensor::empty(qkv.shape(), qkv.dtype());
        dispatch_floating("attention_qkv", qkv.dtype(), [&](auto tag) {
            using U = decltype(tag);
            const U* base = qkv.data<U>();
            U* d = dqkv.data<U>();
            attention_backward<U>(p, base, base + C, base + 2 * C, probs.data<U>(), dout.data<U>(), p.o,
                                  d, d + C, d + 2 * C);
        });
        return Grads{dqkv};
    });
}

}  // namespace tg
