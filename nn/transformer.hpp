#pragma once
// The transformer block (GPT-2's, and an encoder's) and its two sublayers.
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

struct SelfAttentionOptions {
    /// Each position attends to itself and the positions before it only (a GPT's decoder);
    /// false (the default, as PyTorch's nn.MultiheadAttention and TransformerEncoderLayer):
    /// every position attends to every position, unless a mask says otherwise.
    bool causal = false;
    double dropout = 0.0;  // on the output projection's result (nanoGPT's resid_dropout)
    Dtype dtype = Dtype::f32;
    Seed seed;
};

/// The keys and values a causal attention layer has computed so far, so that generation runs
/// one new position at a time instead of the whole context again: k and v (B, n_head, S,
/// C / n_head), undefined while empty. SelfAttention::forward_cached fills it.
struct AttentionCache {
    Tensor k, v;
    /// Positions held (S).
    int64_t length() const { return k.defined() ? k.shape()[2] : 0; }
    void clear() { k = v = Tensor(); }
};

/// Multi-head self-attention on (B, T, C): one projection to q|k|v (c_attn, (3C, C)), heads of
/// size C / n_head through the fused attention kernels, then c_proj. Names as nanoGPT's.
class SelfAttention : public Module {
public:
    SelfAttention(int64_t d_model, int64_t n_head, const SelfAttentionOptions& options = {});
    Tensor forward(const Tensor& x) override;
    /// With masks as PyTorch's nn.MultiheadAttention takes them (note: the opposite of
    /// scaled_dot_product_attention's b8 convention): attn_mask (T, T) or (B * n_head, T, T),
    /// b8 true where a query may NOT attend to a key, or floating (added to the scores);
    /// key_padding_mask (B, T), b8 true at padding positions (no query attends to them), or
    /// floating. Either may be undefined. The causal option applies as well.
    Tensor forward(const Tensor& x, const Tensor& attn_mask, const Tensor& key_padding_mask = {});
    using Module::operator();
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

    Linear c_attn;  // (3C, C)
    Linear c_proj;  // (C, C)
    Dropout drop;
    int64_t n_head;
    bool causal;
};

/// GPT-2's attention: SelfAttention with causal = true.
class CausalSelfAttention : public SelfAttention {
public:
    CausalSelfAttention(int64_t d_model, int64_t n_head, double dropout = 0.0, Dtype dtype = Dtype::f32,
                        Seed seed = std::nullopt);
    std::string type_name() const override { return "CausalSelfAttention"; }
};

struct TransformerBlockOptions {
    Norm norm = Norm::pre;
    /// As SelfAttentionOptions::causal: false by default (an encoder block, as PyTorch's
    /// nn.TransformerEncoderLayer); nn::GPT builds its blocks with true.
    bool causal = false;
    double dropout = 0.0;
    Dtype dtype = Dtype::f32;
    Seed seed;
};

/// One transformer block: attention and MLP sublayers, each with a residual connection and a
/// LayerNorm placed as norm says (ln_1 around attention, ln_2 around the MLP). Not causal
/// unless asked for (options.causal); nn::GPT's blocks are.
class TransformerBlock : public Module {
public:
    TransformerBlock(int64_t d_model, int64_t n_head, const TransformerBlockOptions& options = {});
    Tensor forward(const Tensor& x) override;
    /// With the attention's masks (SelfAttention::forward: PyTorch's nn conventions).
    Tensor forward(const Tensor& x, const Tensor& attn_mask, const Tensor& key_padding_mask = {});
    using Module::operator();
    Tensor operator()(const Tensor& x, const Tensor& attn_mask, const Tensor& key_padding_mask = {}) {
        return call(this, x, attn_mask, key_padding_mask);
    }
    /// forward for the new positions x (B, T, C) after those in cache (the attention's keys and
    /// values, which it extends): see SelfAttention::forward_cached. Needs a causal block.
    Tensor forward_cached(const Tensor& x, AttentionCache& cache);
    std::string type_name() const override { return "TransformerBlock"; }
    std::string extra_repr() const override;

    LayerNorm ln_1;
    SelfAttention attn;
    LayerNorm ln_2;
    MLP mlp;
    Norm norm;
};

}  // namespace tg::nn
