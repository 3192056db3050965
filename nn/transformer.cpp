#include "nn/transformer.hpp"

#include "core/check.hpp"
#include "core/ops.hpp"
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

Tensor MLP::forward(const Tensor& x) { return drop.forward(c_proj.forward(gelu(c_fc.forward(x)))); }

CausalSelfAttention::CausalSelfAttention(int64_t C, int64_t heads, double p, Dtype dtype, Seed seed)
    : c_attn(C, 3 * C, {.seed = seed, .dtype = dtype}),
      c_proj(C, C, {.seed = derive_seed(seed, 1), .dtype = dtype}),
      drop(p, derive_seed(seed, 2)),
      n_head(heads) {
    TG_CHECK(heads > 0 && C % heads == 0, ValueError,
             "CausalSelfAttention: d_model {} is not divisible into {} heads", C, heads);
    register_module("c_attn", c_attn);
    register_module("c_proj", c_proj);
    register_module("drop", drop);
}

Tensor CausalSelfAttention::forward(const Tensor& x) {
    const int64_t C = c_proj.out_features;
    TG_CHECK(x.dim() == 3 && x.shape()[2] == C, ShapeError, "CausalSelfAttention: expected input (B, T, {}), got {}",
             C, shape_str(x.shape()));
    // attention_qkv reads the heads from the (B, T, 3C) projection in place; it equals
    // scaled_dot_product_attention on the split, permuted q, k, v (a test checks this).
    Tensor y = attention_qkv(c_attn.forward(x), n_head, /*causal=*/true);  // (B, T, C)
    return drop.forward(c_proj.forward(y));
}

std::string CausalSelfAttention::extra_repr() const { return fmt::format("n_head={}", n_head); }

TransformerBlock::TransformerBlock(int64_t C, int64_t heads, Norm n, double p, Dtype dtype, Seed seed)
    : ln_1(C, 1e-5, dtype), attn(C, heads, p, dtype, seed), ln_2(C, 1e-5, dtype), mlp(C, p, dtype, derive_seed(seed, 10)),
      norm(n) {
    // Without norms the LayerNorms are not part of the model: no parameters, no checkpoint names.
    if (norm != Norm::none) register_module("ln_1", ln_1);
    register_module("attn", attn);
    if (norm != Norm::none) register_module("ln_2", ln_2);
    register_module("mlp", mlp);
}

Tensor TransformerBlock::forward(const Tensor& x) {
    switch (norm) {
        case Norm::pre: {
            Tensor h = apply_residual_connection(x, attn.forward(ln_1.forward(x)));
            return apply_residual_connection(h, mlp.forward(ln_2.forward(h)));
        }
        case Norm::post: {
            Tensor h = ln_1.forward(apply_residual_connection(x, attn.forward(x)));
            return ln_2.forward(apply_residual_connection(h, mlp.forward(h)));
        }
        case Norm::none: {
            Tensor h = apply_residual_connection(x, attn.forward(x));
            return apply_residual_connection(h, mlp.forward(h));
        }
    }
    throw ValueError("TransformerBlock: unknown norm placement");
}

std::string TransformerBlock::extra_repr() const { return fmt::format("norm={}", norm_name(norm)); }

}  // namespace tg::nn
