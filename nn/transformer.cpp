#include "nn/transformer.hpp"

#include "core/check.hpp"
#include "core/ops.hpp"
#include "nn/attention.hpp"
#include "nn/residual.hpp"

namespace tg::nn {

std::string_view norm_name(Norm n) {
    switch (n) {
        case Norm::pre: return "pre";
        case Norm::post: return "post";
        case Norm::none: return "none";
    }
    return "?";
}

MLP::MLP(int64_t C, double p, Dtype dtype, Seed seed)
    : c_fc(C, 4 * C, {.seed = seed, .dtype = dtype}),
      c_proj(4 * C, C, {.seed = derive_seed(seed, 1), .dtype = dtype}),
      drop(p, derive_seed(seed, 2)) {
    register_module("c_fc", c_fc);
    register_module("c_proj", c_proj);
    register_module("drop", drop);
}

Tensor MLP::forward(const Tensor& x) { return drop(c_proj(gelu(c_fc.forward(x)))); }

SelfAttention::SelfAttention(int64_t C, int64_t heads, const SelfAttentionOptions& o)
    : c_attn(C, 3 * C, {.seed = o.seed, .dtype = o.dtype}),
      c_proj(C, C, {.seed = derive_seed(o.seed, 1), .dtype = o.dtype}),
      drop(o.dropout, derive_seed(o.seed, 2)),
      n_head(heads),
      causal(o.causal) {
    TG_CHECK(heads > 0 && C % heads == 0, ValueError, "{}: d_model {} is not divisible into {} heads",
             o.causal ? "CausalSelfAttention" : "SelfAttention", C, heads);
    register_module("c_attn", c_attn);
    register_module("c_proj", c_proj);
    register_module("drop", drop);
}

Tensor SelfAttention::forward(const Tensor& x) { return forward(x, Tensor(), Tensor()); }

Tensor SelfAttention::forward(const Tensor& x, const Tensor& attn_mask, const Tensor& key_padding_mask) {
    const int64_t C = c_proj.out_features;
    const std::string who = type_name();
    TG_CHECK(x.defined() && x.dim() == 3 && x.shape()[2] == C, ShapeError, "{}: expected input (B, T, {}), got {}",
             who, C, x.defined() ? shape_str(x.shape()) : std::string("an undefined tensor"));
    const int64_t B = x.shape()[0], T = x.shape()[1];
    const Tensor mask = merge_attention_masks(attn_mask, key_padding_mask, B, n_head, T, T, x.dtype(), who);
    // attention_qkv reads the heads from the (B, T, 3C) projection in place; it equals
    // scaled_dot_product_attention on the split, permuted q, k, v (a test checks this).
    Tensor y = attention_qkv(c_attn(x), n_head, causal, mask);  // (B, T, C)
    return drop(c_proj(y));
}

Tensor SelfAttention::forward_cached(const Tensor& x, AttentionCache& cache) {
    const int64_t C = c_proj.out_features, H = n_head;
    const std::string who = type_name() + "::forward_cached";
    TG_CHECK(causal, ValueError, "{}: the attention is not causal, so its earlier positions change with every new one "
             "and cannot be cached; call forward on the whole sequence", who);
    TG_CHECK(x.defined() && x.dim() == 3 && x.shape()[2] == C && x.shape()[1] > 0, ShapeError,
             "{}: expected new positions (B, T, {}) with T >= 1, got {}", who, C,
             x.defined() ? shape_str(x.shape()) : std::string("an undefined tensor"));
    const int64_t B = x.shape()[0], T = x.shape()[1], hs = C / H;
    TG_CHECK(!cache.k.defined() || (cache.k.dim() == 4 && cache.k.shape()[0] == B && cache.k.shape()[1] == H &&
                                    cache.k.shape()[3] == hs && cache.v.defined() && cache.v.shape() == cache.k.shape() &&
                                    cache.k.dtype() == x.dtype()),
             ShapeError, "{}: the cache holds keys {} {} but the input {} {} needs (B = {}, {}, S, {}) {}; clear() the "
             "cache when the batch or the model changes", who, shape_str(cache.k.shape()), dtype_name(cache.k.dtype()),
             shape_str(x.shape()), dtype_name(x.dtype()), B, H, hs, dtype_name(x.dtype()));
    // (B, T, 3C) -> q, k, v (B, H, T, hs).
    const std::vector<Tensor> qkv = split(c_attn(x), C, 2);
    auto heads = [&](const Tensor& t) { return permute(reshape(t, {B, T, H, hs}), {0, 2, 1, 3}); };
    const Tensor q = heads(qkv[0]);
    cache.k = cache.k.defined() ? cat({cache.k, heads(qkv[1])}, 2) : heads(qkv[1]);
    cache.v = cache.v.defined() ? cat({cache.v, heads(qkv[2])}, 2) : heads(qkv[2]);
    // Causal with S >= T keys aligns the queries with the last T keys: query t sees keys
    // s <= t + (S - T), its own position and every earlier one.
    const Tensor y = scaled_dot_product_attention(q, cache.k, cache.v, /*causal=*/true);  // (B, H, T, hs)
    return drop(c_proj(reshape(permute(y, {0, 2, 1, 3}), {B, T, C})));
}

std::string SelfAttention::extra_repr() const {
    return fmt::format("n_head={}{}", n_head, causal ? ", causal" : "");
}

CausalSelfAttention::CausalSelfAttention(int64_t C, int64_t heads, double p, Dtype dtype, Seed seed)
    : SelfAttention(C, heads, {.causal = true, .dropout = p, .dtype = dtype, .seed = seed}) {}

TransformerBlock::TransformerBlock(int64_t C, int64_t heads, const TransformerBlockOptions& o)
    : ln_1(C, 1e-5, o.dtype),
      attn(C, heads, {.causal = o.causal, .dropout = o.dropout, .dtype = o.dtype, .seed = o.seed}),
      ln_2(C, 1e-5, o.dtype),
      mlp(C, o.dropout, o.dtype, derive_seed(o.seed, 10)),
      norm(o.norm) {
    // Without norms the LayerNorms are not part of the model: no parameters, no checkpoint names.
    if (norm != Norm::none) register_module("ln_1", ln_1);
    register_module("attn", attn);
    if (norm != Norm::none) register_module("ln_2", ln_2);
    register_module("mlp", mlp);
}

Tensor TransformerBlock::forward(const Tensor& x) { return forward(x, Tensor(), Tensor()); }

namespace {

// The block around its attention (attend(h), with or without a cache), as norm places the
// LayerNorms.
template <class Attend>
Tensor run_block(TransformerBlock& b, const Tensor& x, Attend&& attend) {
    switch (b.norm) {
        case Norm::pre: {
            Tensor h = apply_residual_connection(x, attend(b.ln_1(x)));
            return apply_residual_connection(h, b.mlp(b.ln_2(h)));
        }
        case Norm::post: {
            Tensor h = b.ln_1(apply_residual_connection(x, attend(x)));
            return b.ln_2(apply_residual_connection(h, b.mlp(h)));
        }
        case Norm::none: {
            Tensor h = apply_residual_connection(x, attend(x));
            return apply_residual_connection(h, b.mlp(h));
        }
    }
    throw ValueError("TransformerBlock: unknown norm placement");
}

}  // namespace

Tensor TransformerBlock::forward(const Tensor& x, const Tensor& attn_mask, const Tensor& key_padding_mask) {
    return run_block(*this, x, [&](const Tensor& h) { return attn(h, attn_mask, key_padding_mask); });
}

Tensor TransformerBlock::forward_cached(const Tensor& x, AttentionCache& cache) {
    return run_block(*this, x, [&](const Tensor& h) { return attn.forward_cached(h, cache); });
}

std::string TransformerBlock::extra_repr() const {
    return fmt::format("norm={}{}", norm_name(norm), attn.causal ? ", causal" : "");
}

}  // namespace tg::nn
