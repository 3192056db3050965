#pragma once
// Attention micro-kernels for one (batch, head): P = softmax(Q K^T * scale + causal mask),
// O = P V, and the gradients. Operands are read and written through row strides, so the same
// code serves (B, H, T, hs) tensors and the packed (B, T, 3C) output of a qkv projection. The
// caller runs the (batch, head) pairs, in parallel if it likes: each call uses only its own
// thread's scratch.
#include <algorithm>
#include <cstdint>

namespace tg::kernels {

/// One head: T queries against S keys, head sizes hs (q, k) and hv (v, o). Element (t, d) of an
/// operand is at its base pointer + t * row + d.
struct AttentionHead {
    int64_t T, S, hs, hv;
    bool causal;
    double scale;
    int64_t q_row, k_row, v_row, o_row;
    /// The keys query t sees: all S, or under the causal mask those up to t + (S - T).
    int64_t visible(int64_t t) const { return causal ? std::min(S, t + (S - T) + 1) : S; }
};

/// n rounded up to whole vectors of T: the row length of a packed operand.
template <class T>
int64_t padded(int64_t n);

/// M (rows, cols, row stride) -> M^T (cols, ld), zero in columns [rows, ld).
template <class T>
void pack_transposed(const T* src, int64_t rows, int64_t cols, int64_t row_stride, int64_t ld, T* dst);

/// The score kernel: out[j] = sum_d a[d] * mt[d * ld + j] for j < padded(n) (ld >= padded(n)),
/// one row of A M^T with M^T packed d-major (pack_transposed). out has room for padded(n).
template <class T>
void row_times_packed(const T* a, const T* mt, int64_t ld, int64_t depth, int64_t n, T* out);

/// The weighted-sum kernel: out[0, width) = sum_{i < count} w[i * ws] * rows[i * rs + (0, width)].
template <class T>
void weighted_rows(const T* w, int64_t ws, const T* rows, int64_t rs, int64_t count, int64_t width, T* out);

/// Forward of one head: o (T, hv) = P v with P = softmax(q k^T * scale) under the mask. p is
/// the head's (T, S) probabilities, contiguous, kept for backward (0 at masked keys).
template <class T>
void attention_head_forward(const AttentionHead& a, const T* q, const T* k, const T* v, T* o, T* p);

/// Backward of one head from the forward's p and the output gradient dout (row stride dout_row):
/// dq, dk and dv are written (not added) with the row strides of q, k and v.
template <class T>
void attention_head_backward(const AttentionHead& a, const T* q, const T* k, const T* v, const T* p,
                             const T* dout, int64_t dout_row, T* dq, T* dk, T* dv);

}  // namespace tg::kernels
