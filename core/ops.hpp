#pragma once
// Every differentiable op, as a free function. Each is defined with its backward in
// core/ops/<family>.cpp. Elementwise binary ops broadcast as numpy and PyTorch do.
#include <cstdint>
#include <vector>

#include "tensor.hpp"

namespace tg {

class Generator;

// Elementwise arithmetic (core/ops/arithmetic.cpp). Both operands share one floating dtype.
Tensor add(const Tensor& a, const Tensor& b);
Tensor sub(const Tensor& a, const Tensor& b);
Tensor mul(const Tensor& a, const Tensor& b);
Tensor div(const Tensor& a, const Tensor& b);
Tensor add(const Tensor& a, double b);
Tensor mul(const Tensor& a, double b);
Tensor neg(const Tensor& a);

Tensor operator+(const Tensor& a, const Tensor& b);
Tensor operator-(const Tensor& a, const Tensor& b);
Tensor operator*(const Tensor& a, const Tensor& b);
Tensor operator/(const Tensor& a, const Tensor& b);
Tensor operator-(const Tensor& a);
Tensor operator+(const Tensor& a, double b);
Tensor operator+(double a, const Tensor& b);
Tensor operator-(const Tensor& a, double b);
Tensor operator-(double a, const Tensor& b);
Tensor operator*(const Tensor& a, double b);
Tensor operator*(double a, const Tensor& b);
Tensor operator/(const Tensor& a, double b);
Tensor operator/(double a, const Tensor& b);

// Elementwise functions (core/ops/unary.cpp).
Tensor exp(const Tensor& x);
Tensor log(const Tensor& x);
Tensor tanh(const Tensor& x);
Tensor sqrt(const Tensor& x);
Tensor pow(const Tensor& x, double exponent);
Tensor relu(const Tensor& x);
Tensor sigmoid(const Tensor& x);
/// GPT-2's tanh approximation: 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))).
Tensor gelu(const Tensor& x);

// Dtype conversion and copy (core/ops/copy.cpp).
Tensor to(const Tensor& x, Dtype dtype);
Tensor clone(const Tensor& x);

/// (..., M, K) @ (..., K, N) -> (..., M, N); batch dims broadcast (core/ops/matmul.cpp).
Tensor matmul(const Tensor& a, const Tensor& b);

/// x (..., in) @ weight^T (in, out) + bias (out): nn::Linear's map, weight stored (out, in) as in
/// PyTorch; bias may be an undefined Tensor (core/ops/linear.cpp).
Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias);

// Reductions (core/ops/reduction.cpp). dim may be negative.
Tensor sum(const Tensor& x);
Tensor sum(const Tensor& x, int64_t dim, bool keepdim = false);
Tensor mean(const Tensor& x);
Tensor mean(const Tensor& x, int64_t dim, bool keepdim = false);
/// Largest element; the gradient goes to the first position holding it.
Tensor max(const Tensor& x);
Tensor max(const Tensor& x, int64_t dim, bool keepdim = false);

// Shape ops (core/ops/shape_ops.cpp). All return contiguous tensors; reshape shares storage.
/// One dim may be -1 (inferred).
Tensor reshape(const Tensor& x, const Shape& shape);
Tensor transpose(const Tensor& x, int64_t dim0, int64_t dim1);
Tensor permute(const Tensor& x, const std::vector<int64_t>& dims);
/// Elements start, start+step, ... below end along dim (start/end clamped like Python slices,
/// negative values count from the end; step >= 1).
Tensor slice(const Tensor& x, int64_t dim, int64_t start, int64_t end, int64_t step = 1);
Tensor cat(const std::vector<Tensor>& xs, int64_t dim);

/// Rows of weight (V, C) picked by i64 ids of any shape -> (*ids.shape, C)
/// (core/ops/embedding.cpp).
Tensor embedding(const Tensor& weight, const Tensor& ids);

// Softmax family (core/ops/softmax.cpp), numerically stable (the row max is subtracted).
Tensor softmax(const Tensor& x, int64_t dim = -1);
Tensor log_softmax(const Tensor& x, int64_t dim = -1);
/// Mean over N of -log softmax(logits)[n, target[n]]; logits (N, V), targets i64 (N).
Tensor cross_entropy(const Tensor& logits, const Tensor& targets);

/// Normalises over the last dim C: (x - mean) / sqrt(var + eps) * weight + bias, weight and
/// bias of shape (C) (core/ops/normalization.cpp).
Tensor layer_norm(const Tensor& x, const Tensor& weight, const Tensor& bias, double eps = 1e-5);

/// Zeroes each element with probability p and scales the rest by 1 / (1 - p); the identity
/// when training is false or p == 0 (core/ops/dropout.cpp).
Tensor dropout(const Tensor& x, double p, bool training, Generator& gen);

/// softmax(q k^T / sqrt(hs) [+ causal mask]) v on q (B, H, T, hs), k (B, H, S, hs) and
/// v (B, H, S, hv) -> (B, H, T, hv); with causal, query t attends to keys s <= t + (S - T)
/// (core/ops/attention.cpp).
Tensor scaled_dot_product_attention(const Tensor& q, const Tensor& k, const Tensor& v,
                                    bool causal = false);
/// The same attention read straight from a packed projection qkv (B, T, 3C) = [q | k | v],
/// head h in columns [h C/n_head, (h+1) C/n_head) of each third; returns (B, T, C) with the
/// heads side by side, ready for the output projection (core/ops/attention.cpp).
Tensor attention_qkv(const Tensor& qkv, int64_t n_head, bool causal = true);

}  // namespace tg
