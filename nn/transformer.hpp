#pragma once
// The GPT-2 transformer block and its two sublayers.
#include "../core/random.hpp"
#include "layers.hpp"

namespace tg::nn {

/// Where the block's LayerNorms sit. pre (GPT-2): x + f(ln(x)); post (the original
/// Transformer): ln(x + f(x)); none: x + f(x).
enum class Norm { pre, post, none };
std::string_view norm_name(Norm n);

/// C -> 4C -> GELU -> C, then dropout. Names as nanoGPT: c_fc, c_proj.
class MLP : public Module {
public:
    MLP(int64_t d_model, double dropout = 0.0, Dtype dtype = Dtype::f32, Seed seed = std::nullopt);
    Tensor forward(const Tensor& x) override;
    std::string type_name() const override { return "MLP"; }

    Linear c_fc;    // (4C, C)
    Linear c_proj;  // (C, 4C)
    Dropout drop;
};

/// Multi-head causal self-attention on (B, T, C): one projection to q|k|v (c_attn, (3C, C)),
/// heads of size C / n_head through the fused scaled_dot_product_attention, then c_proj.
class CausalSelfAttention : public Module {
public:
    CausalSelfAttention(int64_t d_model, int64_t n_head, double dropout = 0.0, Dtype dtype = Dtype::f32,
                        Seed seed = std::nullopt);
    Tensor forward(const Tensor& x) override;
    std::string type_name() const override { return "CausalSelfAttention"; }
    std::string extra_repr() const override;

    Linear c_attn;  // (3C, C)
    Linear c_proj;  // (C, C)
    Dropout drop;
    int64_t n_head;
};

/// One GPT block: attention and MLP sublayers, each with a residual connection and a LayerNorm
/// placed as norm says (ln_1 around attention, ln_2 around the MLP).
class TransformerBlock : public Module {
public:
    TransformerBlock(int64_t d_model, int64_t n_head, Norm norm = Norm::pre, double dropout = 0.0,
                     Dtype dtype = Dtype::f32, Seed seed = std::nullopt);
    Tensor forward(const Tensor& x) override;
    std::string type_name() const override { return "TransformerBlock"; }
    std::string extra_repr() const override;

    LayerNorm ln_1;
    CausalSelfAttention attn;
    LayerNorm ln_2;
    MLP mlp;
    Norm norm;
};

}  // namespace tg::nn
