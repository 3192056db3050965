#pragma once
/// \file
/// The transformer block (GPT-2's, and an encoder's) and its two sublayers.
#include "../core/random.hpp"
#include "layers.hpp"

namespace tg::nn {

/// Where the block's LayerNorms sit. pre (GPT-2): x + f(ln(x)); post (the original
/// Transformer): ln(x + f(x)); none: x + f(x).
enum class Norm { pre, post, none };
/// \var Norm::pre
/// x + f(ln(x)), GPT-2's.
/// \var Norm::post
/// ln(x + f(x)), the original Transformer's.
/// \var Norm::none
/// x + f(x), no LayerNorm.

/// "pre", "post" or "none".
std::string_view norm_name(Norm n);

/// C -> 4C -> GELU -> C, then dropout. Names as nanoGPT: c_fc, c_proj.
class MLP : public Module {
public:
    /// C = d_model; dropout is the probability of the final Dropout, seed seeds both Linears
    /// and the Dropout's masks.
    MLP(int64_t d_model, double dropout = 0.0, Dtype dtype = Dtype::f32, Seed seed = std::nullopt);
    /// x (..., C) -> (..., C): drop(c_proj(gelu(c_fc(x)))), GELU's tanh form.
    Tensor forward(const Tensor& x) override;
    std::string type_name() const override { return "MLP"; }

    Linear c_fc;    ///< (4C, C)
    Linear c_proj;  ///< (C, 4C)
    Dropout drop;   ///< on c_proj's output
};

/// The options of SelfAttention.
struct SelfAttentionOptions {
    /// Each position attends to itself and the positions before it only (a GPT's decoder);
    /// false (the default, as PyTorch's nn.MultiheadAttention and TransformerEncoderLayer):
    /// every position attends to every position, unless a mask says otherwise.
    bool causal = false;
    double dropout = 0.0;      ///< on the output projection's result (nanoGPT's resid_dropout)
    Dtype dtype = Dtype::f32;  ///< of the parameters: f32 or f64
    Seed seed;                 ///< initialisation and dropout masks; unset: global generator
};

/// The keys and values a causal attention layer has computed so far, so that generation runs
/// one new position at a time instead of the whole context again: k and v (B, n_head, S,
/// C / n_head), undefined while empty. SelfAttention::forward_cached fills it.
struct AttentionCache {
    /// \var k
    /// The keys, (B, n_head, S, C / n_head).
    /// \var v
    /// The values, shaped as k.
    Tensor k, v;
    /// Positions held (S).
    int64_t length() const { return k.defined() ? k.shape()[2] : 0; }
    /// Empties the cache (for a new sequence, batch or model).
    void clear() { k = v = Tensor(); }
};

/// Multi-head self-attention on (B, T, C): one projection to q|k|v (c_attn, (3C, C)), heads of
/// size C / n_head through the fused attention kernels, then c_proj. Names as nanoGPT's.
class SelfAttention : public Module {
public:
    /// C = d_model features in n_head heads; d_model must be a multiple of n_head (else
    /// ValueError).
    SelfAttention(int64_t d_model, int64_t n_head, const SelfAttentionOptions& options = {});
    /// x (B, T, C) -> (B, T, C), without masks (causal if the layer is).
    Tensor forward(const Tensor& x) override;
    /// With masks as PyTorch's nn.MultiheadAttention takes them (note: the opposite of
    /// scaled_dot_product_attention's b8 convention): attn_mask (T, T) or (B * n_head, T, T),
    /// b8 true where a query may NOT attend to a key, or floating (added to the scores);
    /// key_padding_mask (B, T), b8 true at padding positions (no query attends to them), or
    /// floating. Either may be undefined. The causal option applies as well.
    Tensor forward(const Tensor& x, const Tensor& attn_mask, const Tensor& key_padding_mask = {});
    using Module::operator();
    /// forward(x, attn_mask, key_padding_mask) through the call gate (hooks, profiler).
    Tensor operator()(const Tensor& x, const Tensor& attn_mask, const Tensor& key_padding_mask = {}) {
        return call(this, x, attn_mask, key_padding_mask);
    }
    /// Causal attention of the new positions x (B, T, C), which follow the cache.length()
    /// positions already in cache, over the cached keys and values and their own; appends the
    /// new keys and values to cache. Equals forward on the whole sequence, restricted to the
    /// new positions. Needs causal (a non-causal layer's earlier outputs change with every new
    /// position, so there is nothing to cache).
    Tensor forward_cached(const Tensor& x, AttentionCache& cache);
    std::string type_name() const override { return "SelfAttention"; }
    std::string extra_repr() const override;

    Linear c_attn;   ///< (3C, C)
    Linear c_proj;   ///< (C, C)
    Dropout drop;    ///< on c_proj's output
    int64_t n_head;  ///< the number of heads
    bool causal;     ///< whether each position attends only to itself and those before it
};

/// GPT-2's attention: SelfAttention with causal = true.
class CausalSelfAttention : public SelfAttention {
public:
    /// A causal SelfAttention with these dropout, dtype and seed options.
    CausalSelfAttention(int64_t d_model, int64_t n_head, double dropout = 0.0, Dtype dtype = Dtype::f32,
                        Seed seed = std::nullopt);
    std::string type_name() const override { return "CausalSelfAttention"; }
};

/// The options of TransformerBlock.
struct TransformerBlockOptions {
    Norm norm = Norm::pre;  ///< where the LayerNorms sit
    /// As SelfAttentionOptions::causal: false by default (an encoder block, as PyTorch's
    /// nn.TransformerEncoderLayer); nn::GPT builds its blocks with true.
    bool causal = false;
    double dropout = 0.0;      ///< of the attention's and the MLP's output dropouts
    Dtype dtype = Dtype::f32;  ///< of the parameters: f32 or f64
    Seed seed;                 ///< initialisation and dropout masks; unset: global generator
};

/// One transformer block: attention and MLP sublayers, each with a residual connection and a
/// LayerNorm placed as norm says (ln_1 around attention, ln_2 around the MLP). Not causal
/// unless asked for (options.causal); nn::GPT's blocks are.
class TransformerBlock : public Module {
public:
    /// C = d_model features, n_head attention heads (d_model a multiple of n_head). With
    /// Norm::none, ln_1 and ln_2 are not registered (no parameters, no checkpoint names).
    TransformerBlock(int64_t d_model, int64_t n_head, const TransformerBlockOptions& options = {});
    /// x (B, T, C) -> (B, T, C), without masks.
    Tensor forward(const Tensor& x) override;
    /// With the attention's masks (SelfAttention::forward: PyTorch's nn conventions).
    Tensor forward(const Tensor& x, const Tensor& attn_mask, const Tensor& key_padding_mask = {});
    using Module::operator();
    /// forward(x, attn_mask, key_padding_mask) through the call gate (hooks, profiler).
    Tensor operator()(const Tensor& x, const Tensor& attn_mask, const Tensor& key_padding_mask = {}) {
        return call(this, x, attn_mask, key_padding_mask);
    }
    /// forward for the new positions x (B, T, C) after those in cache (the attention's keys and
    /// values, which it extends): see SelfAttention::forward_cached. Needs a causal block.
    Tensor forward_cached(const Tensor& x, AttentionCache& cache);
    std::string type_name() const override { return "TransformerBlock"; }
    std::string extra_repr() const override;

    LayerNorm ln_1;      ///< the attention sublayer's LayerNorm
    SelfAttention attn;  ///< the attention sublayer
    LayerNorm ln_2;      ///< the MLP sublayer's LayerNorm
    MLP mlp;             ///< the MLP sublayer
    Norm norm;           ///< where ln_1 and ln_2 sit
};

}  // namespace tg::nn
