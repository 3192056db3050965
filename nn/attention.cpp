#include "nn/attention.hpp"

#include <cmath>
#include <limits>
#include <vector>

#include "core/check.hpp"
#include "core/grad_mode.hpp"
#include "core/ops.hpp"
#include "nn/init.hpp"

namespace tg::nn {

namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

// A floating mask in dtype, or a b8 one as it is; anything else is refused.
Tensor checked_mask(const Tensor& m, Dtype dtype, const std::string& who, const char* what) {
    TG_CHECK(m.dtype() == Dtype::b8 || is_floating(m.dtype()), DtypeError,
             "{}: {} must be b8 or floating (f32, f64), got {}", who, what, dtype_name(m.dtype()));
    return m.dtype() == Dtype::b8 ? m : m.to(dtype);
}

// b8 "may attend" as 0 / -inf in dtype; floating masks pass through.
Tensor additive(const Tensor& m, Dtype dtype) {
    if (m.dtype() != Dtype::b8) return m;
    return where(m, zeros({}, dtype), full({}, -kInf, dtype));
}

}  // namespace

Tensor merge_attention_masks(const Tensor& attn_mask, const Tensor& key_padding_mask, int64_t B, int64_t H,
                             int64_t T, int64_t S, Dtype dtype, const std::string& who) {
    Tensor a, k;  // in scaled_dot_product_attention's convention, broadcasting to (B, H, T, S)
    if (attn_mask.defined()) {
        const Tensor m = checked_mask(attn_mask, dtype, who, "attn_mask");
        const Shape& s = m.shape();
        const bool flat = s == Shape{T, S}, per_head = s == Shape{B * H, T, S};
        TG_CHECK(flat || per_head, ShapeError,
                 "{}: attn_mask must be (T, S) = ({}, {}) or (B * num_heads, T, S) = ({}, {}, {}), got {}", who, T, S,
                 B * H, T, S, shape_str(s));
        a = per_head ? reshape(m, {B, H, T, S}) : m;
        if (a.dtype() == Dtype::b8) a = logical_not(a);  // nn's true: may not attend
    }
    if (key_padding_mask.defined()) {
        const Tensor m = checked_mask(key_padding_mask, dtype, who, "key_padding_mask");
        TG_CHECK(m.shape() == Shape({B, S}), ShapeError, "{}: key_padding_mask must be (B, S) = ({}, {}), got {}", who,
                 B, S, shape_str(m.shape()));
        k = reshape(m, {B, 1, 1, S});
        if (k.dtype() == Dtype::b8) k = logical_not(k);  // true: padding, never attended to
    }
    if (!a.defined()) return k;
    if (!k.defined()) return a;
    if (a.dtype() == Dtype::b8 && k.dtype() == Dtype::b8) return logical_and(a, k);
    return additive(a, dtype) + additive(k, dtype);
}

MultiheadAttention::MultiheadAttention(int64_t E, int64_t H, const MultiheadAttentionOptions& o)
    : out_proj(E, E, {.bias = o.bias, .seed = derive_seed(o.seed, 1), .dtype = o.dtype}),
      embed_dim(E),
      num_heads(H),
      kdim(o.kdim > 0 ? o.kdim : E),
      vdim(o.vdim > 0 ? o.vdim : E),
      dropout(o.dropout),
      batch_first(o.batch_first),
      gen_(resolve_seed(derive_seed(o.seed, 2))) {
    TG_CHECK(E > 0 && H > 0 && E % H == 0, ValueError,
             "MultiheadAttention: embed_dim {} is not divisible into num_heads {} heads", E, H);
    TG_CHECK(o.kdim >= 0 && o.vdim >= 0, ValueError, "MultiheadAttention: kdim {} and vdim {} must be >= 0", o.kdim,
             o.vdim);
    TG_CHECK(o.dropout >= 0.0 && o.dropout < 1.0, ValueError, "MultiheadAttention: dropout {} is not in [0, 1)",
             o.dropout);
    TG_CHECK(is_floating(o.dtype), DtypeError, "MultiheadAttention: parameters are f32 or f64, not {}",
             dtype_name(o.dtype));
    // PyTorch's initialisation: Xavier-uniform projections, zero biases; out_proj's weight as
    // nn.Linear's (U(-1/sqrt(E), 1/sqrt(E))).
    Generator gen(resolve_seed(o.seed));
    NoGradGuard no_grad;
    auto xavier = [&](const Shape& s) {
        Tensor w = Tensor::empty(s, o.dtype);
        init::xavier_uniform_(w, gen);
        return w;
    };
    if (kdim == E && vdim == E) {
        in_proj_weight = register_parameter("in_proj_weight", xavier({3 * E, E}));
    } else {
        q_proj_weight = register_parameter("q_proj_weight", xavier({E, E}));
        k_proj_weight = register_parameter("k_proj_weight", xavier({E, kdim}));
        v_proj_weight = register_parameter("v_proj_weight", xavier({E, vdim}));
    }
    if (o.bias) {
        in_proj_bias = register_parameter("in_proj_bias", Tensor::zeros({3 * E}, o.dtype));
        out_proj.bias.zero_();
    }
    register_module("out_proj", out_proj);
}

Tensor MultiheadAttention::forward(const Tensor& x) { return forward(x, x, x).output; }

AttentionOutput MultiheadAttention::forward(const Tensor& query, const Tensor& key, const Tensor& value,
                                            const MultiheadAttentionArgs& args) {
    const char* who = "MultiheadAttention";
    for (const Tensor* t : {&query, &key, &value})
        TG_CHECK(t->defined(), ValueError, "{}: query, key and value must all be defined", who);
    const bool unbatched = query.dim() == 2;
    TG_CHECK((query.dim() == 3 || unbatched) && key.dim() == query.dim() && value.dim() == query.dim(), ShapeError,
             "{}: query, key and value must be 3-d ({}) or all 2-d (T, E), got {}, {} and {}", who,
             batch_first ? "B, T, E" : "T, B, E", shape_str(query.shape()), shape_str(key.shape()),
             shape_str(value.shape()));
    const bool self = query.is_same(key) && key.is_same(value);
    // To (B, T, features).
    auto batched = [&](const Tensor& t) {
        if (unbatched) return unsqueeze(t, 0);
        return batch_first ? t : transpose(t, 0, 1);
    };
    const Tensor q_in = batched(query), k_in = self ? q_in : batched(key), v_in = self ? q_in : batched(value);
    const int64_t B = q_in.size(0), T = q_in.size(1), S = k_in.size(1), E = embed_dim, H = num_heads, hd = E / H;
    TG_CHECK(q_in.size(2) == E && k_in.size(2) == kdim && v_in.size(2) == vdim, ShapeError,
             "{}: expected query, key and value features {}, {} and {}, got {}, {} and {}", who, E, kdim, vdim,
             shape_str(query.shape()), shape_str(key.shape()), shape_str(value.shape()));
    TG_CHECK(k_in.size(0) == B && v_in.size(0) == B && v_in.size(1) == S, ShapeError,
             "{}: key and value must have the query's batch and one length between them: query {}, key {}, value {}",
             who, shape_str(query.shape()), shape_str(key.shape()), shape_str(value.shape()));
    TG_CHECK(!args.is_causal || T == S, ShapeError,
             "{}: is_causal needs as many queries as keys, got {} and {} (pass an attn_mask instead)", who, T, S);

    Tensor q, k, v;
    if (in_proj_weight.defined() && self) {
        const std::vector<Tensor> qkv = chunk(linear(q_in, in_proj_weight, in_proj_bias), 3, -1);
        q = qkv[0], k = qkv[1], v = qkv[2];
    } else {
        auto part = [&](const Tensor& w, int64_t i) { return w.defined() ? w : slice(in_proj_weight, 0, i * E, (i + 1) * E); };
        auto bias = [&](int64_t i) { return in_proj_bias.defined() ? slice(in_proj_bias, 0, i * E, (i + 1) * E) : Tensor(); };
        q = linear(q_in, part(q_proj_weight, 0), bias(0));
        k = linear(k_in, part(k_proj_weight, 1), bias(1));
        v = linear(v_in, part(v_proj_weight, 2), bias(2));
    }
    auto heads = [&](const Tensor& t, int64_t L) { return permute(reshape(t, {B, L, H, hd}), {0, 2, 1, 3}); };
    const Tensor qh = heads(q, T), kh = heads(k, S), vh = heads(v, S);
    const Tensor kpm = unbatched && args.key_padding_mask.defined() && args.key_padding_mask.dim() == 1
                           ? unsqueeze(args.key_padding_mask, 0)
                           : args.key_padding_mask;
    const Tensor mask = merge_attention_masks(args.attn_mask, kpm, B, H, T, S, q.dtype(), who);

    AttentionOutput out;
    Tensor o;  // (B, H, T, hd)
    const bool drop = dropout > 0.0 && is_training();
    if (args.need_weights || drop) {
        // The probabilities themselves are wanted (or dropped out): S = q k^T / sqrt(hd) + mask,
        // softmax, dropout, @ v. A query with no key left gives NaN here, as in PyTorch.
        Tensor scores = matmul(qh, transpose(kh, -2, -1)) * (1.0 / std::sqrt(static_cast<double>(hd)));
        if (mask.defined()) scores = scores + additive(mask, q.dtype());
        if (args.is_causal) {
            std::vector<bool> future(static_cast<std::size_t>(T * S));
            for (int64_t t = 0; t < T; ++t)
                for (int64_t j = 0; j < S; ++j) future[static_cast<std::size_t>(t * S + j)] = j > t;
            scores = masked_fill(scores, tensor(future, {T, S}), -kInf);
        }
        Tensor w = softmax(scores, -1);
        if (drop) w = tg::dropout(w, dropout, true, gen_);
        o = matmul(w, vh);
        if (args.need_weights) {
            out.weights = args.average_attn_weights ? mean(w, 1) : w;
            if (unbatched) out.weights = squeeze(out.weights, 0);
        }
    } else {
        o = scaled_dot_product_attention(qh, kh, vh, mask, args.is_causal);
    }
    Tensor y = out_proj(reshape(permute(o, {0, 2, 1, 3}), {B, T, E}));
    if (unbatched) y = squeeze(y, 0);
    else if (!batch_first) y = transpose(y, 0, 1);
    out.output = y;
    return out;
}

std::string MultiheadAttention::extra_repr() const {
    std::string s = fmt::format("embed_dim={}, num_heads={}", embed_dim, num_heads);
    if (kdim != embed_dim || vdim != embed_dim) s += fmt::format(", kdim={}, vdim={}", kdim, vdim);
    if (dropout > 0) s += fmt::format(", dropout={}", dropout);
    if (batch_first) s += ", batch_first";
    return s;
}

}  // namespace tg::nn
