#pragma once
// Attention kernels for one (batch, head), blocked: O = softmax(Q K^T * scale + mask) V, under
// an optional causal mask,
// computed over blocks of keys with an online softmax, so that no (T, S) array of scores or
// probabilities ever exists; backward recomputes each block's probabilities from Q, K and the
// rows' log-normalisers. The products are small register-tiled kernels of their own: at block
// size a BLAS call's fixed cost (packing, dispatch) would be most of the work.
// Operands are read and written through row strides, so the same code serves (B, H, T, hs)
// tensors and the packed (B, T, 3C) output of a qkv projection. The caller runs the (batch,
// head) pairs, in parallel if it likes: each call uses only its own thread's scratch.
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
    /// An additive mask, when the kernels get one: mask(t, s) = mask[t * mask_row + s *
    /// mask_col] is added to the scaled score of query t and key s before the softmax (-inf
    /// removes the key; mask_row 0 gives every query the same row, as a key padding mask).
    int64_t mask_row = 0, mask_col = 1;
    /// The keys query t sees: all S, or under the causal mask those up to t + (S - T).
    int64_t visible(int64_t t) const { return causal ? std::min(S, t + (S - T) + 1) : S; }
};

/// Queries and keys per block. Small blocks waste little on the causal diagonal (the masked half
/// of a diagonal block is computed and dropped); 32 x 32 measured as fast as 64 x 64 at T = 1024
/// and faster below T = 256 (one thread, AVX2 EPYC). A block's scores stay in L1.
inline constexpr int64_t kQueryBlock = 32, kKeyBlock = 32;

/// Forward of one head: o (T, hv) = P v with P = softmax(q k^T * scale + mask) under the causal
/// mask, and lse[t] = log sum_j exp(scale q_t . k_j + mask(t, j)) over the keys t sees (-inf if
/// it sees none or the mask removes them all, and then o's row is 0). lse is all backward needs
/// to rebuild P. mask may be null (no additive mask).
template <class T>
void attention_head_forward(const AttentionHead& a, const T* q, const T* k, const T* v, const T* mask, T* o, T* lse);

/// Backward of one head from the forward's o and lse and the output gradient dout (row stride
/// dout_row): dq, dk and dv are written (not added) with the row strides of q, k and v. mask is
/// the forward's.
template <class T>
void attention_head_backward(const AttentionHead& a, const T* q, const T* k, const T* v, const T* mask, const T* o,
                             const T* lse, const T* dout, int64_t dout_row, T* dq, T* dk, T* dv);

}  // namespace tg::kernels
