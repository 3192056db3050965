// Blocked attention. The scores of a block of queries against a block of keys are one small
// product (the register-tiled kernel below), kQueryBlock x kKeyBlock floats that stay in L1;
// an online softmax folds each key block into running row maxima, sums and outputs, so memory
// is O(T hs) per head instead of O(T S). Backward recomputes a block's probabilities from q, k
// and the rows' log-normalisers (one more product than keeping them, and no (T, S) array to
// write and read).
#include "core/kernels/attention.hpp"

#include <cmath>
#include <limits>
#include <vector>

#include "core/kernels/simd.hpp"

namespace tg::kernels {

namespace {

static_assert(kKeyBlock % 16 == 0, "a key block is a whole number of vectors");

// One thread's scratch, reused across heads and calls.
template <class T>
struct Scratch {
    std::vector<T> s, dp, acc, m, l, d, q, k, v, kt, vt, dout, dq, dk, dv;
    static T* fit(std::vector<T>& v, int64_t n) {
        if (static_cast<int64_t>(v.size()) < n) v.resize(static_cast<std::size_t>(n));
        return v.data();
    }
};
template <class T>
Scratch<T>& scratch() {
    static thread_local Scratch<T> s;
    return s;
}

template <class T>
constexpr int64_t kW = Vec<T>::size;
template <class T>
constexpr T kNegInf = -std::numeric_limits<T>::infinity();

template <class T>
int64_t padded(int64_t n) { return (n + kW<T> - 1) / kW<T> * kW<T>; }

// How many keys of the block [c0, c0 + cn) query t sees: the causal mask cuts a row short.
int64_t seen_in_block(const AttentionHead& a, int64_t t, int64_t c0, int64_t cn) {
    return std::clamp<int64_t>(a.visible(t) - c0, 0, cn);
}

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

// row[j] <- exp(row[j] - shift) for j < n and 0 for j in [n, padded(cn)); returns the sum if
// kSum (the forward's normaliser; backward rebuilds probabilities and needs no sum, and a
// horizontal sum per row is a fair share of a short row's cost).
template <class T, bool kSum>
[[gnu::always_inline]] inline T exp_shifted(T* row, int64_t n, int64_t cn, T shift) {
    using V = Vec<T>;
    std::fill(row + n, row + padded<T>(cn), kNegInf<T>);
    const V sh(shift);
    V sum(T(0));
    for (int64_t j = 0; j < padded<T>(n); j += kW<T>) {
        const V e = kernels::exp<T>(V::load_unaligned(row + j) - sh);
        e.store_unaligned(row + j);
        if constexpr (kSum) sum += e;
    }
    std::fill(row + padded<T>(n), row + padded<T>(cn), T(0));
    if constexpr (kSum) return xsimd::hadd(sum);
    return T(0);
}

template <class T>
T row_max(T* row, int64_t n) {
    using V = Vec<T>;
    std::fill(row + n, row + padded<T>(n), kNegInf<T>);
    V mx(kNegInf<T>);
    for (int64_t j = 0; j < n; j += kW<T>) mx = xsimd::max(mx, V::load_unaligned(row + j));
    return lanes_max(mx);
}

// The block products. C[i, 0:n) = alpha * sum_{k < depth} A(i, k) B[k, 0:n) (+ C if
// accumulate), with A(i, k) = a[i * a_rs + k * a_cs] (so A may be a transposed view) and B's rows
// contiguous. Tiles of R rows by NV vectors keep R x NV accumulators in registers: each step
// loads NV vectors of B and broadcasts R values of A for R x NV FMAs. Blocks are small (at most
// kQueryBlock x kKeyBlock, depth <= head size or block), so these beat a BLAS call, whose fixed
// cost (packing, dispatch) is most of the work at this size.
template <class T, int R, int NV>
void tile(int64_t depth, T alpha, const T* a, int64_t a_rs, int64_t a_cs, const T* b, int64_t b_rs,
          bool accumulate, T* c, int64_t c_rs) {
    using V = Vec<T>;
    V acc[R][NV];
    for (int r = 0; r < R; ++r)
        for (int v = 0; v < NV; ++v) acc[r][v] = V(T(0));
    for (int64_t k = 0; k < depth; ++k) {
        V bv[NV];
        for (int v = 0; v < NV; ++v) {
            auto reg = V::load_unaligned(b + k * b_rs + v * kW<T>).data;
            asm("" : "+v"(reg));  // keep B in a register: otherwise GCC reloads it for every row
            bv[v] = reg;
        }
        for (int r = 0; r < R; ++r) {
            const V ar(a[r * a_rs + k * a_cs]);
            for (int v = 0; v < NV; ++v) acc[r][v] = xsimd::fma(ar, bv[v], acc[r][v]);
        }
    }
    const V al(alpha);
    for (int r = 0; r < R; ++r)
        for (int v = 0; v < NV; ++v) {
            T* out = c + r * c_rs + v * kW<T>;
            V x = acc[r][v] * al;
            if (accumulate) x += V::load_unaligned(out);
            x.store_unaligned(out);
        }
}

template <class T, int NV>
void tile_rows(int64_t m, int64_t depth, T alpha, const T* a, int64_t a_rs, int64_t a_cs, const T* b, int64_t b_rs,
               bool accumulate, T* c, int64_t c_rs) {
    int64_t i = 0;
    for (; i + 4 <= m; i += 4)
        tile<T, 4, NV>(depth, alpha, a + i * a_rs, a_rs, a_cs, b, b_rs, accumulate, c + i * c_rs, c_rs);
    for (; i < m; ++i) tile<T, 1, NV>(depth, alpha, a + i * a_rs, a_rs, a_cs, b, b_rs, accumulate, c + i * c_rs, c_rs);
}

template <class T>
void small_gemm(int64_t m, int64_t n, int64_t depth, T alpha, const T* a, int64_t a_rs, int64_t a_cs, const T* b,
                int64_t b_rs, bool accumulate, T* c, int64_t c_rs) {
    int64_t j = 0;
    for (; j + 2 * kW<T> <= n; j += 2 * kW<T>)
        tile_rows<T, 2>(m, depth, alpha, a, a_rs, a_cs, b + j, b_rs, accumulate, c + j, c_rs);
    for (; j + kW<T> <= n; j += kW<T>)
        tile_rows<T, 1>(m, depth, alpha, a, a_rs, a_cs, b + j, b_rs, accumulate, c + j, c_rs);
    for (; j < n; ++j)  // columns short of a vector (head sizes that are not a multiple of it)
        for (int64_t i = 0; i < m; ++i) {
            T sum = 0;
            for (int64_t k = 0; k < depth; ++k) sum += a[i * a_rs + k * a_cs] * b[k * b_rs + j];
            c[i * c_rs + j] = alpha * sum + (accumulate ? c[i * c_rs + j] : T(0));
        }
}

// M's rows [0, rows) of width cols (row stride rs) -> M^T (cols, ld), zero in columns [rows, ld).
template <class T>
void pack_transposed(const T* src, int64_t rows, int64_t cols, int64_t rs, int64_t ld, T* dst) {
    for (int64_t c = 0; c < cols; ++c) {
        T* d = dst + c * ld;
        for (int64_t r = 0; r < rows; ++r) d[r] = src[r * rs + c];
        std::fill(d + rows, d + ld, T(0));
    }
}

// The online softmax for one row of a block: s[0, n) are the row's visible scores, m and l the
// running maximum and sum of exponentials, acc (hv values) the running unnormalised output.
// Leaves s = exp(s - m_new) (0 where masked) for the product with the block's values.
template <class T>
void online_update(T* s, int64_t n, int64_t cn, T& m, T& l, T* acc, int64_t hv) {
    if (n == 0) {
        std::fill(s, s + cn, T(0));
        return;
    }
    const T m_new = std::max(m, row_max(s, n));
    if (m_new == kNegInf<T>) {  // the mask removed every key seen so far: nothing to add yet
        std::fill(s, s + padded<T>(cn), T(0));
        return;
    }
    const T sum = exp_shifted<T, true>(s, n, cn, m_new);
    if (m != m_new) {  // rescale what earlier blocks gave (m = -inf: nothing yet, factor 0)
        const T factor = std::exp(m - m_new);
        l *= factor;
        for (int64_t d = 0; d < hv; ++d) acc[d] *= factor;
    }
    l += sum;
    m = m_new;
}

// Adds the additive mask to the first n scores of row t of a key block starting at key c0.
template <class T>
void add_mask_row(T* row, int64_t n, const AttentionHead& a, const T* mask, int64_t t, int64_t c0) {
    const T* m = mask + t * a.mask_row + c0 * a.mask_col;
    if (a.mask_col == 1) {
        using V = Vec<T>;
        int64_t j = 0;
        for (; j + kW<T> <= n; j += kW<T>) (V::load_unaligned(row + j) + V::load_unaligned(m + j)).store_unaligned(row + j);
        for (; j < n; ++j) row[j] += m[j];
    } else {
        for (int64_t j = 0; j < n; ++j) row[j] += m[j * a.mask_col];
    }
}

// Each head works on contiguous copies of its operands: read in place through row strides of
// 3C (a packed qkv projection), a block's rows fall into a few cache sets and evict each
// other, and the forward would transpose each key block once per query block. The copies cost
// a few T hs loads and stores against the 4 T S hs (forward) and 10 T S hs (backward) FLOPs of
// the products. Rows are short (a head, 16-128 floats), so a vector loop beats a memmove call
// per row.
template <class T>
void copy_row(const T* src, int64_t n, T* dst) {
    using V = Vec<T>;
    int64_t j = 0;
    for (; j + kW<T> <= n; j += kW<T>) V::load_unaligned(src + j).store_unaligned(dst + j);
    for (; j < n; ++j) dst[j] = src[j];
}
template <class T>
void copy_rows(const T* src, int64_t rows, int64_t cols, int64_t rs, T* dst) {
    for (int64_t r = 0; r < rows; ++r) copy_row(src + r * rs, cols, dst + r * cols);
}
template <class T>
void store_rows(const T* src, int64_t rows, int64_t cols, T* dst, int64_t rs) {
    for (int64_t r = 0; r < rows; ++r) copy_row(src + r * cols, cols, dst + r * rs);
}

// K^T (or V^T) as one (cols, kKeyBlock) panel per key block, zero beyond S: a panel's rows are
// adjacent. (One (cols, S) array would put rows S floats apart, 4 KiB at S = 1024, all in the
// same L1 sets.) Key block c0's panel starts at panels + c0 * cols.
template <class T>
void pack_key_panels(const T* src, int64_t S, int64_t cols, int64_t rs, T* panels) {
    for (int64_t c0 = 0; c0 < S; c0 += kKeyBlock)
        pack_transposed(src + c0 * rs, std::min(kKeyBlock, S - c0), cols, rs, kKeyBlock, panels + c0 * cols);
}
int64_t panel_size(const AttentionHead& a, int64_t cols) {
    return (a.S + kKeyBlock - 1) / kKeyBlock * kKeyBlock * cols;
}

}  // namespace

template <class T>
void attention_head_forward(const AttentionHead& a, const T* q, const T* k, const T* v, const T* mask, T* o, T* lse) {
    Scratch<T>& sc = scratch<T>();
    constexpr int64_t ld = kKeyBlock;
    T* s = Scratch<T>::fit(sc.s, kQueryBlock * ld);
    T* acc = Scratch<T>::fit(sc.acc, kQueryBlock * a.hv);
    T* m = Scratch<T>::fit(sc.m, kQueryBlock);
    T* l = Scratch<T>::fit(sc.l, kQueryBlock);
    T* qc = Scratch<T>::fit(sc.q, a.T * a.hs);
    T* kt = Scratch<T>::fit(sc.kt, panel_size(a, a.hs));
    T* vc = Scratch<T>::fit(sc.v, a.S * a.hv);
    copy_rows(q, a.T, a.hs, a.q_row, qc);
    pack_key_panels(k, a.S, a.hs, a.k_row, kt);
    copy_rows(v, a.S, a.hv, a.v_row, vc);
    const T scale = static_cast<T>(a.scale);
    for (int64_t r0 = 0; r0 < a.T; r0 += kQueryBlock) {
        const int64_t rn = std::min(kQueryBlock, a.T - r0);
        const int64_t keys = a.visible(r0 + rn - 1);  // the block's last query sees the most
        std::fill(m, m + rn, kNegInf<T>);
        std::fill(l, l + rn, T(0));
        std::fill(acc, acc + rn * a.hv, T(0));
        for (int64_t c0 = 0; c0 < keys; c0 += kKeyBlock) {
            const int64_t cn = std::min(kKeyBlock, keys - c0);
            small_gemm(rn, padded<T>(cn), a.hs, scale, qc + r0 * a.hs, a.hs, int64_t{1}, kt + c0 * a.hs, ld, false,
                       s, ld);
            for (int64_t i = 0; i < rn; ++i) {
                const int64_t seen = seen_in_block(a, r0 + i, c0, cn);
                if (mask) add_mask_row(s + i * ld, seen, a, mask, r0 + i, c0);
                online_update(s + i * ld, seen, cn, m[i], l[i], acc + i * a.hv, a.hv);
            }
            small_gemm(rn, a.hv, cn, T(1), s, ld, int64_t{1}, vc + c0 * a.hv, a.hv, true, acc, a.hv);
        }
        for (int64_t i = 0; i < rn; ++i) {
            T* orow = o + (r0 + i) * a.o_row;
            const T inv = l[i] > T(0) ? T(1) / l[i] : T(0);
            for (int64_t d = 0; d < a.hv; ++d) orow[d] = acc[i * a.hv + d] * inv;
            lse[r0 + i] = l[i] > T(0) ? m[i] + std::log(l[i]) : kNegInf<T>;
        }
    }
}

// Per block, with P rebuilt as exp(scale q k^T - lse) and D[t] = dout_t . o_t:
// dV += P^T dO,  dP = dO V^T,  dS = P * (dP - D),  dQ += scale dS K,  dK += scale dS^T Q.
// Key blocks run outermost, so each dK and dV block is finished (and stored) before the next;
// dQ accumulates in a contiguous copy stored at the end.
template <class T>
void attention_head_backward(const AttentionHead& a, const T* q, const T* k, const T* v, const T* mask, const T* o,
                             const T* lse, const T* dout, int64_t dout_row, T* dq, T* dk, T* dv) {
    Scratch<T>& sc = scratch<T>();
    constexpr int64_t ld = kKeyBlock;
    T* p = Scratch<T>::fit(sc.s, kQueryBlock * ld);
    T* ds = Scratch<T>::fit(sc.dp, kQueryBlock * ld);
    T* D = Scratch<T>::fit(sc.d, a.T);
    T* qc = Scratch<T>::fit(sc.q, a.T * a.hs);
    T* kc = Scratch<T>::fit(sc.k, a.S * a.hs);
    T* kt = Scratch<T>::fit(sc.kt, panel_size(a, a.hs));
    T* vt = Scratch<T>::fit(sc.vt, panel_size(a, a.hv));
    T* doc = Scratch<T>::fit(sc.dout, a.T * a.hv);
    T* dqc = Scratch<T>::fit(sc.dq, a.T * a.hs);
    T* dkb = Scratch<T>::fit(sc.dk, kKeyBlock * a.hs);
    T* dvb = Scratch<T>::fit(sc.dv, kKeyBlock * a.hv);
    copy_rows(q, a.T, a.hs, a.q_row, qc);
    copy_rows(k, a.S, a.hs, a.k_row, kc);
    pack_key_panels(k, a.S, a.hs, a.k_row, kt);
    pack_key_panels(v, a.S, a.hv, a.v_row, vt);
    copy_rows(dout, a.T, a.hv, dout_row, doc);
    std::fill(dqc, dqc + a.T * a.hs, T(0));
    const T scale = static_cast<T>(a.scale);
    const int64_t shift = a.S - a.T;
    for (int64_t t = 0; t < a.T; ++t) D[t] = dot(doc + t * a.hv, o + t * a.o_row, a.hv);
    for (int64_t c0 = 0; c0 < a.S; c0 += kKeyBlock) {
        const int64_t cn = std::min(kKeyBlock, a.S - c0);
        std::fill(dkb, dkb + cn * a.hs, T(0));
        std::fill(dvb, dvb + cn * a.hv, T(0));
        const int64_t first = a.causal ? std::max<int64_t>(0, c0 - shift) : 0;  // first query seeing key c0
        for (int64_t r0 = first; r0 < a.T; r0 += kQueryBlock) {
            const int64_t rn = std::min(kQueryBlock, a.T - r0);
            // Keys of this block that some query of [r0, r0 + rn) sees (at least key c0).
            const int64_t kn = std::min(cn, a.visible(r0 + rn - 1) - c0), kp = padded<T>(kn);
            const T* qr = qc + r0 * a.hs;
            const T* dor = doc + r0 * a.hv;
            small_gemm(rn, kp, a.hs, scale, qr, a.hs, int64_t{1}, kt + c0 * a.hs, ld, false, p, ld);
            for (int64_t i = 0; i < rn; ++i) {
                T* row = p + i * ld;
                const int64_t seen = seen_in_block(a, r0 + i, c0, kn);
                if (lse[r0 + i] == kNegInf<T>) {  // a row that saw no key (all masked): P is 0
                    std::fill(row, row + kp, T(0));
                    continue;
                }
                if (mask) add_mask_row(row, seen, a, mask, r0 + i, c0);
                exp_shifted<T, false>(row, seen, kn, lse[r0 + i]);
            }
            small_gemm(rn, kp, a.hv, T(1), dor, a.hv, int64_t{1}, vt + c0 * a.hv, ld, false, ds, ld);
            small_gemm(kn, a.hv, rn, T(1), p, int64_t{1}, ld, dor, a.hv, true, dvb, a.hv);
            for (int64_t i = 0; i < rn; ++i) {
                using V = Vec<T>;
                T* dsi = ds + i * ld;
                const T* pi = p + i * ld;
                const V Di(D[r0 + i]), sv(scale);
                for (int64_t j = 0; j < kp; j += kW<T>)
                    (V::load_unaligned(pi + j) * (V::load_unaligned(dsi + j) - Di) * sv).store_unaligned(dsi + j);
            }
            small_gemm(rn, a.hs, kn, T(1), ds, ld, int64_t{1}, kc + c0 * a.hs, a.hs, true, dqc + r0 * a.hs, a.hs);
            small_gemm(kn, a.hs, rn, T(1), ds, int64_t{1}, ld, qr, a.hs, true, dkb, a.hs);
        }
        store_rows(dkb, cn, a.hs, dk + c0 * a.k_row, a.k_row);
        store_rows(dvb, cn, a.hv, dv + c0 * a.v_row, a.v_row);
    }
    store_rows(dqc, a.T, a.hs, dq, a.q_row);
}

template void attention_head_forward<float>(const AttentionHead&, const float*, const float*, const float*,
                                            const float*, float*, float*);
template void attention_head_backward<float>(const AttentionHead&, const float*, const float*, const float*,
                                             const float*, const float*, const float*, const float*, int64_t, float*,
                                             float*, float*);
template void attention_head_forward<double>(const AttentionHead&, const double*, const double*, const double*,
                                             const double*, double*, double*);
template void attention_head_backward<double>(const AttentionHead&, const double*, const double*, const double*,
                                              const double*, const double*, const double*, const double*, int64_t,
                                              double*, double*, double*);

}  // namespace tg::kernels
