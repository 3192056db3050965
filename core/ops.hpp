#pragma once
/// \file
/// Every differentiable op, as a free function. Each is defined with its backward in the file
/// of its family under core/ops/ (arithmetic.cpp, unary.cpp, ...). Elementwise binary ops
/// broadcast as numpy and PyTorch do.
#include <array>
#include <cstdint>
#include <string_view>
#include <vector>

#include "tensor.hpp"

namespace tg {

class Generator;

// Elementwise arithmetic (core/ops/arithmetic.cpp). Both operands share one floating dtype.
/// a + b, elementwise with broadcasting (torch.add).
Tensor add(const Tensor& a, const Tensor& b);
/// a - b, elementwise with broadcasting.
Tensor sub(const Tensor& a, const Tensor& b);
/// a * b, elementwise with broadcasting.
Tensor mul(const Tensor& a, const Tensor& b);
/// a / b, elementwise with broadcasting.
Tensor div(const Tensor& a, const Tensor& b);
/// a + b for a number b (a floating).
Tensor add(const Tensor& a, double b);
/// a * b for a number b (a floating).
Tensor mul(const Tensor& a, double b);
/// -a (a floating).
Tensor neg(const Tensor& a);

/// add(a, b).
Tensor operator+(const Tensor& a, const Tensor& b);
/// sub(a, b).
Tensor operator-(const Tensor& a, const Tensor& b);
/// mul(a, b).
Tensor operator*(const Tensor& a, const Tensor& b);
/// div(a, b).
Tensor operator/(const Tensor& a, const Tensor& b);
/// neg(a).
Tensor operator-(const Tensor& a);
/// add(a, b).
Tensor operator+(const Tensor& a, double b);
/// add(b, a).
Tensor operator+(double a, const Tensor& b);
/// add(a, -b).
Tensor operator-(const Tensor& a, double b);
/// a - b: add(neg(b), a).
Tensor operator-(double a, const Tensor& b);
/// mul(a, b).
Tensor operator*(const Tensor& a, double b);
/// mul(b, a).
Tensor operator*(double a, const Tensor& b);
/// mul(a, 1 / b).
Tensor operator/(const Tensor& a, double b);
/// a / b: a times pow(b, -1).
Tensor operator/(double a, const Tensor& b);

// Elementwise functions (core/ops/unary.cpp).
/// e^x, elementwise.
Tensor exp(const Tensor& x);
/// Natural logarithm, elementwise (NaN below 0, -inf at 0).
Tensor log(const Tensor& x);
/// Hyperbolic tangent, elementwise.
Tensor tanh(const Tensor& x);
/// Square root, elementwise (NaN below 0).
Tensor sqrt(const Tensor& x);
/// x * x.
Tensor square(const Tensor& x);
/// 1 / sqrt(x).
Tensor rsqrt(const Tensor& x);
/// x^exponent, elementwise, for a finite exponent (ValueError otherwise).
Tensor pow(const Tensor& x, double exponent);
/// max(x, 0), elementwise; the gradient at 0 is 0.
Tensor relu(const Tensor& x);
/// 1 / (1 + exp(-x)), elementwise, computed without overflow.
Tensor sigmoid(const Tensor& x);
/// GPT-2's tanh approximation: 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))).
Tensor gelu(const Tensor& x);
/// gelu with PyTorch's approximate argument: "none" is the exact x Phi(x) (erf; PyTorch's
/// default), "tanh" the approximation above (tapegrad's default, as GPT-2).
Tensor gelu(const Tensor& x, std::string_view approximate);

// Dtype conversion and copy (core/ops/copy.cpp).
/// x converted to dtype, as Tensor::to: x itself when the dtype already matches. Differentiable
/// between f32 and f64; converting a tensor that requires grad to bf16 is refused while grad
/// mode is on (DtypeError), since bf16 tensors carry no gradient.
Tensor to(const Tensor& x, Dtype dtype);
/// A copy of x in a new buffer, any dtype (differentiable).
Tensor clone(const Tensor& x);

/// (..., M, K) @ (..., K, N) -> (..., M, N); batch dims broadcast (core/ops/matmul.cpp). A 1-d
/// operand is a row on the left, a column on the right, and that dim leaves the result, as in
/// PyTorch: (K) @ (K) is the 0-d dot product, (M, K) @ (K) is (M), (K) @ (B, K, N) is (B, N).
Tensor matmul(const Tensor& a, const Tensor& b);

/// x (..., in) @ weight^T (in, out) + bias (out): nn::Linear's map, weight stored (out, in) as in
/// PyTorch; bias may be an undefined Tensor (core/ops/linear.cpp).
Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias);

// Reductions (core/ops/reduction.cpp). dim may be negative. sum of an i64 or b8 tensor gives
// an i64 total (for b8, how many are true), not differentiable, as in PyTorch.
/// The sum of every element, 0-d.
Tensor sum(const Tensor& x);
/// The sums along dim, which is dropped (kept with size 1 when keepdim).
Tensor sum(const Tensor& x, int64_t dim, bool keepdim = false);
/// The mean of every element, 0-d (floating x only; ValueError for an empty x).
Tensor mean(const Tensor& x);
/// The means along dim, which is dropped (kept with size 1 when keepdim).
Tensor mean(const Tensor& x, int64_t dim, bool keepdim = false);
/// Over several dims at once, as x.sum({1, 2}) in PyTorch: each dim named once, negative ones
/// counted from the end; an empty list means every dim (but a bare {} picks the one-dim
/// overload, dim 0, as C++ prefers the integer; write std::vector<int64_t>{}).
Tensor sum(const Tensor& x, const std::vector<int64_t>& dims, bool keepdim = false);
/// The means over several dims at once (dims as for sum).
Tensor mean(const Tensor& x, const std::vector<int64_t>& dims, bool keepdim = false);
/// Largest element; the gradient goes to the first position holding it.
Tensor max(const Tensor& x);
/// The largest values along dim (values only: argmax gives the positions); the gradient goes
/// to the first position holding each.
Tensor max(const Tensor& x, int64_t dim, bool keepdim = false);

// Shape ops (core/ops/shape_ops.cpp). All return contiguous tensors; reshape shares storage.
/// One dim may be -1 (inferred).
Tensor reshape(const Tensor& x, const Shape& shape);
/// x with dims dim0 and dim1 swapped (negative dims count from the end); a copy.
Tensor transpose(const Tensor& x, int64_t dim0, int64_t dim1);
/// x with its dims reordered: dim i of the result is dim dims[i] of x (each dim named once;
/// negative ones count from the end); a copy.
Tensor permute(const Tensor& x, const std::vector<int64_t>& dims);
/// Elements start, start+step, ... below end along dim (start/end clamped like Python slices,
/// negative values count from the end; step >= 1).
Tensor slice(const Tensor& x, int64_t dim, int64_t start, int64_t end, int64_t step = 1);
/// x[..., start:start+length, ...] along dim, as torch.narrow: the range must lie inside the dim
/// (ValueError otherwise, where slice would clamp); start may be negative.
Tensor narrow(const Tensor& x, int64_t dim, int64_t start, int64_t length);
/// The slab at index along dim, with that dim removed (x.select(0, i) is x[i]); index may be
/// negative, counting from the end.
Tensor select(const Tensor& x, int64_t dim, int64_t index);
/// Every slab along dim, each with that dim removed, as torch.unbind.
std::vector<Tensor> unbind(const Tensor& x, int64_t dim = 0);
/// reshape under PyTorch's other name. Tensors are always contiguous here, so unlike torch's
/// view it never fails for the layout; it shares storage.
Tensor view(const Tensor& x, const Shape& shape);
/// The tensors joined along an existing dim: one dtype, the same sizes in every other dim.
Tensor cat(const std::vector<Tensor>& xs, int64_t dim);

/// Rows of weight (V, C) picked by i64 ids of any shape -> (*ids.shape, C)
/// (core/ops/embedding.cpp). weight may have any dtype when it needs no gradient.
Tensor embedding(const Tensor& weight, const Tensor& ids);

// Softmax family (core/ops/softmax.cpp), numerically stable (the row max is subtracted).
/// exp(x) / sum(exp(x)) along dim (the last by default): every slice along dim sums to 1.
Tensor softmax(const Tensor& x, int64_t dim = -1);
/// log(softmax(x, dim)), computed directly: x - max - log(sum(exp(x - max))).
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
/// The same with attn_mask, which broadcasts to (B, H, T, S), as torch's
/// scaled_dot_product_attention takes it: b8, true where the query may attend to the key, or
/// floating (q's dtype), added to the scores (-inf removes a key). With causal too, both apply.
/// A query left with no key gives a zero output row and zero gradients (PyTorch gives NaN). The
/// fused kernels run for every mask; a floating mask that requires grad (a learned bias) gets
/// its gradient through a composite path of matmul and softmax instead.
Tensor scaled_dot_product_attention(const Tensor& q, const Tensor& k, const Tensor& v,
                                    const Tensor& attn_mask, bool causal = false);
/// The same attention read straight from a packed projection qkv (B, T, 3C) = [q | k | v],
/// head h in columns [h C/n_head, (h+1) C/n_head) of each third; returns (B, T, C) with the
/// heads side by side, ready for the output projection (core/ops/attention.cpp).
Tensor attention_qkv(const Tensor& qkv, int64_t n_head, bool causal = true);
/// With an attn_mask broadcasting to (B, n_head, T, T), as scaled_dot_product_attention's.
Tensor attention_qkv(const Tensor& qkv, int64_t n_head, bool causal, const Tensor& attn_mask);

// ---- Ops for custom models: CNNs, LLaMA-style blocks, indexing and losses. PyTorch's names,
// argument order and semantics; f32 and f64 (index tensors are i64).

// Elementwise (core/ops/unary.cpp).
/// x * sigmoid(x), also called swish.
Tensor silu(const Tensor& x);
/// x where x > 0, else negative_slope * x.
Tensor leaky_relu(const Tensor& x, double negative_slope = 0.01);
/// |x|; the gradient at 0 is 0, as torch's.
Tensor abs(const Tensor& x);
/// min(max(x, min), max); the gradient passes where min <= x <= max.
Tensor clamp(const Tensor& x, double min, double max);
/// Sine, elementwise.
Tensor sin(const Tensor& x);
/// Cosine, elementwise.
Tensor cos(const Tensor& x);

// Selection and indexing (core/ops/indexing.cpp). gather and index_select read x of any dtype
// (i64 labels, b8 masks) when it needs no gradient; a gradient needs f32 or f64.
/// a where cond is true (b8) or nonzero (f32, f64, i64), else b; the three broadcast together.
Tensor where(const Tensor& cond, const Tensor& a, const Tensor& b);
/// x with value wherever mask (broadcast to x's shape) is true (b8) or nonzero.
Tensor masked_fill(const Tensor& x, const Tensor& mask, double value);
/// out[i][j][k] = x[index[i][j][k]][j][k] for dim 0 (and so on); index i64 of x's rank, each
/// of its dims no larger than x's except along dim.
Tensor gather(const Tensor& x, int64_t dim, const Tensor& index);
/// The slices of x at the positions of a 1-D i64 index along dim.
Tensor index_select(const Tensor& x, int64_t dim, const Tensor& index);
/// labels (i64, any shape) as one-hot rows: i64 of shape labels.shape + (num_classes), as
/// torch's one_hot; num_classes -1 takes the largest label + 1.
Tensor one_hot(const Tensor& labels, int64_t num_classes = -1);

// Shape ops (core/ops/shape_ops.cpp).
/// Joins tensors of one shape along a new dim.
Tensor stack(const std::vector<Tensor>& xs, int64_t dim);
/// Pieces of split_size along dim (the last may be smaller).
std::vector<Tensor> split(const Tensor& x, int64_t split_size, int64_t dim);
/// chunks pieces along dim as torch.chunk makes them (ceil(size / chunks) each, maybe fewer).
std::vector<Tensor> chunk(const Tensor& x, int64_t chunks, int64_t dim);
/// Removes dim if it has size 1 (otherwise returns x unchanged, as torch).
Tensor squeeze(const Tensor& x, int64_t dim);
/// Inserts a size-1 dim at position dim (-(rank+1) <= dim <= rank).
Tensor unsqueeze(const Tensor& x, int64_t dim);
/// Merges dims start_dim..end_dim into one.
Tensor flatten(const Tensor& x, int64_t start_dim = 0, int64_t end_dim = -1);
/// Broadcasts size-1 dims (and new leading dims) to shape; -1 keeps a dim's size.
Tensor expand(const Tensor& x, const Shape& shape);
/// x tiled reps[k] times along dim k, as torch's x.repeat(reps); reps may name more dims than
/// x has (new leading dims). A copy; the gradient sums the tiles.
Tensor repeat(const Tensor& x, const Shape& reps);
/// The lower (tril) or upper (triu) triangle of the last two dims, zeros elsewhere; diagonal 0
/// is the main diagonal, k > 0 the k-th above it, k < 0 below. Any dtype.
Tensor tril(const Tensor& x, int64_t diagonal = 0);
/// The upper triangle: x on and above the diagonal-th diagonal, zeros below it (see tril).
Tensor triu(const Tensor& x, int64_t diagonal = 0);

// Reductions (core/ops/reduction.cpp).
/// Variance along dim, with Bessel's correction when unbiased.
Tensor var(const Tensor& x, int64_t dim, bool unbiased = true, bool keepdim = false);
/// Variance of the elements of several dims together (dims as for sum).
Tensor var(const Tensor& x, const std::vector<int64_t>& dims, bool unbiased = true, bool keepdim = false);
/// Largest / smallest element over dims (all dims by default); NaN propagates. Unlike max and
/// min, the gradient is split evenly between the elements equal to the result, as torch.amax.
Tensor amax(const Tensor& x, const std::vector<int64_t>& dims = {}, bool keepdim = false);
/// \overload
/// The largest elements along one dim.
Tensor amax(const Tensor& x, int64_t dim, bool keepdim = false);
/// The smallest elements over dims, as amax.
Tensor amin(const Tensor& x, const std::vector<int64_t>& dims = {}, bool keepdim = false);
/// \overload
/// The smallest elements along one dim.
Tensor amin(const Tensor& x, int64_t dim, bool keepdim = false);
/// Smallest element; the gradient goes to the first position holding it.
Tensor min(const Tensor& x);
/// The smallest values along dim (values only); the gradient goes to the first position
/// holding each.
Tensor min(const Tensor& x, int64_t dim, bool keepdim = false);
/// Position of the largest element along dim (the first one on ties), i64, not differentiable.
Tensor argmax(const Tensor& x, int64_t dim, bool keepdim = false);
/// log(sum(exp(x))) along dim, computed stably.
Tensor logsumexp(const Tensor& x, int64_t dim, bool keepdim = false);
/// The p-norm over dims (every dim by default), as torch.linalg.vector_norm: p = 2 (default),
/// 1, any finite p > 0, or std::numeric_limits<double>::infinity() for max |x|. The gradient
/// of a zero norm is 0.
Tensor norm(const Tensor& x, double p = 2.0, const std::vector<int64_t>& dims = {}, bool keepdim = false);
/// Running sums along dim (inclusive), as torch.cumsum; f32, f64, or i64 (an i64 result).
Tensor cumsum(const Tensor& x, int64_t dim);

// Sorting (core/ops/sort.cpp): f32, f64 and i64; NaN sorts as the largest value and ties keep
// their order (stable), as torch with stable=True.
/// What sort and topk return: auto [values, indices] = topk(x, 3).
struct ValuesIndices {
    Tensor values;   ///< differentiable (gathered from x)
    Tensor indices;  ///< i64 positions along dim
};
/// The positions that sort x along dim, i64.
Tensor argsort(const Tensor& x, int64_t dim = -1, bool descending = false);
/// x sorted along dim (ascending, or descending) with the positions the values came from;
/// values are differentiable, as gather(x, dim, indices).
ValuesIndices sort(const Tensor& x, int64_t dim = -1, bool descending = false);
/// The k largest (largest = true) or smallest elements along dim, in that order.
ValuesIndices topk(const Tensor& x, int64_t k, int64_t dim = -1, bool largest = true);

// Recurrences (core/ops/rnn.cpp): the step-by-step part of an LSTM or GRU layer over a whole
// sequence as one op with its backward through time, what nn::LSTM and nn::GRU run after one
// linear over every step gives x_proj = x W_ih^T + b_ih. f32 or f64, all operands one dtype.
/// What lstm_recurrence returns.
struct LSTMSequence {
    Tensor output;  ///< (T, B, H): h after every step
    Tensor h,       ///< (B, H): the hidden state after the last step
        c;          ///< (B, H): the cell state after the last step
};
/// x_proj (T, B, 4H) with T >= 1, gates in PyTorch's order (i, f, g, o); h0, c0 (B, H);
/// w_hh (4H, H); b_hh (4H) or undefined. Per step: a = x_proj[t] + h W_hh^T + b_hh,
/// i, f, o = sigmoid(a_i, a_f, a_o), g = tanh(a_g), c = f c + i g, h = o tanh(c).
LSTMSequence lstm_recurrence(const Tensor& x_proj, const Tensor& h0, const Tensor& c0, const Tensor& w_hh,
                             const Tensor& b_hh);
/// x_proj (T, B, 3H) with T >= 1, gates in PyTorch's order (r, z, n); h0 (B, H); w_hh (3H, H);
/// b_hh (3H) or undefined. Per step, with a = h W_hh^T + b_hh: r = sigmoid(x_r + a_r),
/// z = sigmoid(x_z + a_z), n = tanh(x_n + r a_n), h = (1 - z) n + z h. Returns every h (T, B, H).
Tensor gru_recurrence(const Tensor& x_proj, const Tensor& h0, const Tensor& w_hh, const Tensor& b_hh);

// Comparisons and logic (core/ops/compare.cpp). Results are b8 (bool) and carry no gradient.
// Operands broadcast; of one dtype they compare in it, of two dtypes (or against a number) as
// double. NaN compares false (ne: true). Logical ops, any, all, nonzero and count_nonzero read
// any dtype but bf16 as "nonzero is true".
/// a == b, elementwise (b8).
Tensor eq(const Tensor& a, const Tensor& b);
/// a != b, elementwise (b8; true where either is NaN).
Tensor ne(const Tensor& a, const Tensor& b);
/// a < b, elementwise (b8).
Tensor lt(const Tensor& a, const Tensor& b);
/// a <= b, elementwise (b8).
Tensor le(const Tensor& a, const Tensor& b);
/// a > b, elementwise (b8).
Tensor gt(const Tensor& a, const Tensor& b);
/// a >= b, elementwise (b8).
Tensor ge(const Tensor& a, const Tensor& b);
/// a == b against a number, compared as double.
Tensor eq(const Tensor& a, double b);
/// a != b against a number, compared as double.
Tensor ne(const Tensor& a, double b);
/// a < b against a number, compared as double.
Tensor lt(const Tensor& a, double b);
/// a <= b against a number, compared as double.
Tensor le(const Tensor& a, double b);
/// a > b against a number, compared as double.
Tensor gt(const Tensor& a, double b);
/// a >= b against a number, compared as double.
Tensor ge(const Tensor& a, double b);
/// eq(a, b): elementwise, a b8 tensor (not a bool).
Tensor operator==(const Tensor& a, const Tensor& b);
/// ne(a, b).
Tensor operator!=(const Tensor& a, const Tensor& b);
/// lt(a, b).
Tensor operator<(const Tensor& a, const Tensor& b);
/// le(a, b).
Tensor operator<=(const Tensor& a, const Tensor& b);
/// gt(a, b).
Tensor operator>(const Tensor& a, const Tensor& b);
/// ge(a, b).
Tensor operator>=(const Tensor& a, const Tensor& b);
/// eq(a, b).
Tensor operator==(const Tensor& a, double b);
/// ne(a, b).
Tensor operator!=(const Tensor& a, double b);
/// lt(a, b).
Tensor operator<(const Tensor& a, double b);
/// le(a, b).
Tensor operator<=(const Tensor& a, double b);
/// gt(a, b).
Tensor operator>(const Tensor& a, double b);
/// ge(a, b).
Tensor operator>=(const Tensor& a, double b);
/// eq(b, a).
Tensor operator==(double a, const Tensor& b);
/// ne(b, a).
Tensor operator!=(double a, const Tensor& b);
/// a < b: gt(b, a).
Tensor operator<(double a, const Tensor& b);
/// a <= b: ge(b, a).
Tensor operator<=(double a, const Tensor& b);
/// a > b: lt(b, a).
Tensor operator>(double a, const Tensor& b);
/// a >= b: le(b, a).
Tensor operator>=(double a, const Tensor& b);
/// a and b, elementwise (b8), with broadcasting.
Tensor logical_and(const Tensor& a, const Tensor& b);
/// a or b, elementwise (b8), with broadcasting.
Tensor logical_or(const Tensor& a, const Tensor& b);
/// Exactly one of a and b, elementwise (b8), with broadcasting.
Tensor logical_xor(const Tensor& a, const Tensor& b);
/// not a, elementwise (b8).
Tensor logical_not(const Tensor& a);
/// &, |, ^ and ~ on b8 tensors are logical_and, logical_or, logical_xor and logical_not (other
/// dtypes: DtypeError, pointing at the logical_* functions).
Tensor operator&(const Tensor& a, const Tensor& b);
/// logical_or(a, b) on b8 tensors.
Tensor operator|(const Tensor& a, const Tensor& b);
/// logical_xor(a, b) on b8 tensors.
Tensor operator^(const Tensor& a, const Tensor& b);
/// logical_not(a) on a b8 tensor.
Tensor operator~(const Tensor& a);
/// Whether any element is true: 0-d b8 (false for an empty x).
Tensor any(const Tensor& x);
/// Whether every element is true: 0-d b8 (true for an empty x).
Tensor all(const Tensor& x);
/// Whether any element along dim is true (b8); dim is dropped unless keepdim.
Tensor any(const Tensor& x, int64_t dim, bool keepdim = false);
/// Whether every element along dim is true (b8); dim is dropped unless keepdim.
Tensor all(const Tensor& x, int64_t dim, bool keepdim = false);
/// The positions of the true elements, one row each: i64 (count, x.dim()), row-major order.
Tensor nonzero(const Tensor& x);
/// How many elements are true: 0-d i64.
Tensor count_nonzero(const Tensor& x);
/// True where x is NaN (b8). These tests read floating values; i64 and b8 are always finite.
Tensor isnan(const Tensor& x);
/// True where x is +inf or -inf (b8).
Tensor isinf(const Tensor& x);
/// True where x is neither NaN nor infinite (b8).
Tensor isfinite(const Tensor& x);

// Convolution and pooling (core/ops/conv.cpp, core/ops/pool.cpp).
/// conv1d's settings, as torch.nn.functional.conv1d's arguments. The output length is
/// Lout = floor((L + 2 padding - dilation (K - 1) - 1) / stride) + 1.
struct Conv1dArgs {
    int64_t stride = 1,  ///< step between output positions (>= 1)
        padding = 0,     ///< zeros added at each end of L (>= 0)
        dilation = 1,    ///< spacing between the kernel's taps (>= 1)
        groups = 1;      ///< channel groups, each convolved on its own; must divide Cin and Cout
};
/// conv2d's settings, (height, width) pairs as torch.nn.functional.conv2d's arguments; each
/// output size follows conv1d's formula in its own dim.
struct Conv2dArgs {
    std::array<int64_t, 2> stride{1, 1},  ///< step between output positions (>= 1)
        padding{0, 0},                    ///< zeros added on each side of H and of W (>= 0)
        dilation{1, 1};                   ///< spacing between the kernel's taps (>= 1)
    int64_t groups = 1;  ///< channel groups, each convolved on its own; must divide Cin and Cout
};
/// max_pool2d's and avg_pool2d's settings, (height, width) pairs, as torch's with
/// ceil_mode = false: Ho = floor((H + 2 padding - kernel) / stride) + 1.
struct Pool2dArgs {
    std::array<int64_t, 2> kernel{2, 2},  ///< window size (kH, kW), each >= 1
        stride{0, 0},                     ///< step between windows; 0 (the default) = kernel
        padding{0, 0};                    ///< added on each side, at most half the kernel
};
/// x (N, Cin, L), w (Cout, Cin/groups, K), b (Cout) or undefined -> (N, Cout, Lout).
Tensor conv1d(const Tensor& x, const Tensor& w, const Tensor& b, const Conv1dArgs& args = {});
/// x (N, Cin, H, W), w (Cout, Cin/groups, kH, kW), b (Cout) or undefined -> (N, Cout, Ho, Wo).
Tensor conv2d(const Tensor& x, const Tensor& w, const Tensor& b, const Conv2dArgs& args = {});
/// Max over each window of x (N, C, H, W); padding counts as -inf; gradient to the first max.
Tensor max_pool2d(const Tensor& x, const Pool2dArgs& args);
/// Mean over each window; padded positions count in the divisor (torch's default).
Tensor avg_pool2d(const Tensor& x, const Pool2dArgs& args);

// Normalisation (core/ops/normalization.cpp).
/// Normalises over every dim but 1 (channels). In training, uses the batch's statistics and
/// updates running_mean/running_var in place (momentum, unbiased variance) when they are
/// defined; otherwise uses the running statistics. weight and bias (C) may be undefined.
Tensor batch_norm(const Tensor& x, const Tensor& running_mean, const Tensor& running_var,
                  const Tensor& weight, const Tensor& bias, bool training,
                  double momentum = 0.1, double eps = 1e-5);
/// x / sqrt(mean(x^2 over the last dim) + eps) * weight; weight (C) may be undefined.
Tensor rms_norm(const Tensor& x, const Tensor& weight, double eps);

// Losses (core/ops/loss.cpp); each returns the mean over its elements or samples.
/// mean((input - target)^2) over every element; input and target of one shape (no
/// broadcasting) and one floating dtype.
Tensor mse_loss(const Tensor& input, const Tensor& target);
/// -mean_n log_probs[n, targets[n]]; log_probs (N, C), targets i64 (N).
Tensor nll_loss(const Tensor& log_probs, const Tensor& targets);
/// mean(max(z, 0) - z t + log(1 + exp(-|z|))): stable for any logit z.
Tensor binary_cross_entropy_with_logits(const Tensor& logits, const Tensor& targets);
/// torch.nn.functional.cross_entropy with class targets: rows whose target is ignore_index
/// count neither in the sum nor in the mean; label_smoothing mixes the one-hot target with the
/// uniform distribution.
Tensor cross_entropy(const Tensor& logits, const Tensor& targets, int64_t ignore_index,
                     double label_smoothing = 0.0);

}  // namespace tg
