// Work per head is O(T S hs) and, with the causal mask, only the visible half is computed.
// Scores come from a K^T packed d-major, so each query row is a run of independent FMA chains.
#include "core/kernels/attention.hpp"

#include <algorithm>
#include <limits>
#include <vector>

#include "core/kernels/simd.hpp"

namespace tg::kernels {

namespace {

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
constexpr int64_t kW = Vec<T>::size;

// out[0, width) = sum_{i < count} w[i * ws] * rows[i * rs + (0, width)], with NV vectors of
// accumulators held in registers (width == NV * kW), in four interleaved sets over i so that
// the FMA chains are independent.
template <class T, int NV>
void weighted_rows_fixed(const T* w, int64_t ws, const T* rows, int64_t rs, int64_t count, T* out) {
    using V = Vec<T>;
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

// For kKeys keys k at once: out[k * os + (0, width)] = sum_i w[i * ws + k] rows[i * rs + (0, width)].
// Each row is loaded once for all keys. Returns false (nothing written) when width is not a
// whole number of vectors up to 2.
constexpr int64_t kKeys = 4;
template <class T, int NV>
void weighted_rows_keys_fixed(const T* w, int64_t ws, const T* rows, int64_t rs, int64_t count, T* out, int64_t os) {
    using V = Vec<T>;
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
void softmax_row_in_place(T* row, int64_t n, T scale) {
    using V = Vec<T>;
    const int64_t np = padded<T>(n);
    std::fill(row + n, row + np, -std::numeric_limits<T>::infinity());
    V vmax(-std::numeric_limits<T>::infinity());
    for (int64_t j = 0; j < np; j += kW<T>) {
        const V v = V::load_unaligned(row + j) * V(scale);
        v.store_unaligned(row + j);
        vmax = xsimd::max(vmax, v);
    }
    const V m(lanes_max(vmax));
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
    using V = Vec<T>;
    V acc(T(0));
    int64_t j = 0;
    for (; j + kW<T> <= n; j += kW<T>) acc = xsimd::fma(V::load_unaligned(a + j), V::load_unaligned(b + j), acc);
    T s = xsimd::hadd(acc);
    for (; j < n; ++j) s += a[j] * b[j];
    return s;
}

}  // namespace

template <class T>
int64_t padded(int64_t n) { return (n + kW<T> - 1) / kW<T> * kW<T>; }

// Four vectors of outputs at a time, so four independent FMA chains hide the FMA latency.
template <class T>
void row_times_packed(const T* a, const T* mt, int64_t ld, int64_t depth, int64_t n, T* out) {
    using V = Vec<T>;
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

template <class T>
void pack_transposed(const T* src, int64_t rows, int64_t cols, int64_t row_stride, int64_t ld, T* dst) {
    for (int64_t c = 0; c < cols; ++c) {
        T* d = dst + c * ld;
        for (int64_t r = 0; r < rows; ++r) d[r] = src[r * row_stride + c];
        for (int64_t r = rows; r < ld; ++r) d[r] = 0;
    }
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

template <class T>
void attention_head_forward(const AttentionHead& a, const T* q, const T* k, const T* v, T* o, T* p) {
    const int64_t ld = padded<T>(a.S);
    const T scale = static_cast<T>(a.scale);
    Scratch<T>& s = scratch<T>();
    s.fit(s.kt, ld * a.hs);
    s.fit(s.row, ld);
    pack_transposed(k, a.S, a.hs, a.k_row, ld, s.kt.data());
    for (int64_t t = 0; t < a.T; ++t) {
        const int64_t n = a.visible(t);
        T* prow = p + t * a.S;
        T* orow = o + t * a.o_row;
        if (n == 0) {
            std::fill(orow, orow + a.hv, T(0));
            continue;
        }
        T* row = s.row.data();
        row_times_packed(q + t * a.q_row, s.kt.data(), ld, a.hs, n, row);
        softmax_row_in_place(row, n, scale);
        std::copy(row, row + n, prow);
        std::fill(prow + n, prow + a.S, T(0));  // masked keys: probability 0 (backward reads it)
        weighted_rows(prow, 1, v, a.v_row, n, a.hv, orow);
    }
}

// dV = P^T dO,  dP = dO V^T,  dS = P * (dP - rowsum(dP * P)),  dQ = scale dS K,
// dK = scale dS^T Q. Rows of dQ come from one pass over queries; dK and dV are sums over
// queries, so a second pass over keys gathers them.
template <class T>
void attention_head_backward(const AttentionHead& a, const T* q, const T* k, const T* v, const T* p,
                             const T* dout, int64_t dout_row, T* dq, T* dk, T* dv) {
    const int64_t ld = padded<T>(a.S), shift = a.S - a.T;
    const T scale = static_cast<T>(a.scale);
    Scratch<T>& s = scratch<T>();
    s.fit(s.vt, ld * a.hv);
    s.fit(s.ds, a.T * a.S);
    s.fit(s.row, ld);
    T* ds = s.ds.data();
    pack_transposed(v, a.S, a.hv, a.v_row, ld, s.vt.data());
    for (int64_t t = 0; t < a.T; ++t) {
        const int64_t n = a.visible(t);
        T* dqt = dq + t * a.q_row;
        if (n == 0) {
            std::fill(dqt, dqt + a.hs, T(0));
            continue;
        }
        const T* prow = p + t * a.S;
        T* dp = s.row.data();
        row_times_packed(dout + t * dout_row, s.vt.data(), ld, a.hv, n, dp);  // dP[t, :n]
        const T pdp = dot(dp, prow, n);
        T* dst = ds + t * a.S;
        for (int64_t j = 0; j < n; ++j) dst[j] = scale * prow[j] * (dp[j] - pdp);  // scale dS
        std::fill(dst + n, dst + a.S, T(0));
        weighted_rows(dst, 1, k, a.k_row, n, a.hs, dqt);
    }
    // dV and dK sum over queries. Blocks of kKeys keys share each query's row loads, and
    // their weights are adjacent in P and dS (zero where a key is masked).
    int64_t j = 0;
    if (a.hv == a.hs) {
        for (; j + kKeys <= a.S; j += kKeys) {
            const int64_t t0 = a.causal ? std::max<int64_t>(0, j - shift) : 0, cnt = a.T - t0;
            T* dkj = dk + j * a.k_row;
            T* dvj = dv + j * a.v_row;
            if (!weighted_rows_keys(p + t0 * a.S + j, a.S, dout + t0 * dout_row, dout_row, cnt, a.hv, dvj, a.v_row) ||
                !weighted_rows_keys(ds + t0 * a.S + j, a.S, q + t0 * a.q_row, a.q_row, cnt, a.hs, dkj, a.k_row))
                break;
        }
    }
    for (; j < a.S; ++j) {
        // Queries that see key j: all, or t >= j - shift under the causal mask.
        const int64_t t0 = a.causal ? std::max<int64_t>(0, j - shift) : 0, cnt = a.T - t0;
        T* dkj = dk + j * a.k_row;
        T* dvj = dv + j * a.v_row;
        weighted_rows(p + t0 * a.S + j, a.S, dout + t0 * dout_row, dout_row, cnt, a.hv, dvj);
        weighted_rows(ds + t0 * a.S + j, a.S, q + t0 * a.q_row, a.q_row, cnt, a.hs, dkj);
    }
}

template int64_t padded<float>(int64_t);
template void pack_transposed<float>(const float*, int64_t, int64_t, int64_t, int64_t, float*);
template void row_times_packed<float>(const float*, const float*, int64_t, int64_t, int64_t, float*);
template void weighted_rows<float>(const float*, int64_t, const float*, int64_t, int64_t, int64_t, float*);
template void attention_head_forward<float>(const AttentionHead&, const float*, const float*, const float*,
                                            float*, float*);
template void attention_head_backward<float>(const AttentionHead&, const float*, const float*, const float*,
                                             const float*, const float*, int64_t, float*, float*, float*);
template int64_t padded<double>(int64_t);
template void pack_transposed<double>(const double*, int64_t, int64_t, int64_t, int64_t, double*);
template void row_times_packed<double>(const double*, const double*, int64_t, int64_t, int64_t, double*);
template void weighted_rows<double>(const double*, int64_t, const double*, int64_t, int64_t, int64_t, double*);
template void attention_head_forward<double>(const AttentionHead&, const double*, const double*, const double*,
                                             double*, double*);
template void attention_head_backward<double>(const AttentionHead&, const double*, const double*, const double*,
                                              const double*, const double*, int64_t, double*, double*, double*);

}  // namespace tg::kernels
