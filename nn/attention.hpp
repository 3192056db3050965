#pragma once
/// \file
/// PyTorch's nn.MultiheadAttention, and the translation of its mask conventions into the one the
/// fused attention (scaled_dot_product_attention) takes.
#include <string>

#include "../core/random.hpp"
#include "layers.hpp"

namespace tg::nn {

/// One mask for scaled_dot_product_attention (b8 true where a query may attend, or floating
/// added to the scores, broadcasting to (B, H, T, S)) from the masks PyTorch's nn layers take:
///   attn_mask (T, S) or (B * H, T, S): b8 true where a query may NOT attend, or floating;
///   key_padding_mask (B, S): b8 true at keys to ignore (padding), or floating.
/// Either may be undefined (both: an undefined result). Two b8 masks stay b8; otherwise b8
/// masks become 0 / -inf in `dtype` and the masks add. `who` names the caller in errors.
Tensor merge_attention_masks(const Tensor& attn_mask, const Tensor& key_padding_mask, int64_t B, int64_t H,
                             int64_t T, int64_t S, Dtype dtype, const std::string& who);

/// The options of MultiheadAttention, as PyTorch's nn.MultiheadAttention keyword arguments.
struct MultiheadAttentionOptions {
    double dropout = 0.0;      ///< on the attention weights while training (then a composite path runs)
    bool bias = true;          ///< in_proj_bias and out_proj.bias
    bool batch_first = false;  ///< inputs (B, T, E) instead of PyTorch's default (T, B, E)
    /// \var kdim
    /// The key's features (0: embed_dim). A kdim or vdim other than embed_dim gives separate
    /// q_proj_weight, k_proj_weight and v_proj_weight instead of in_proj_weight.
    /// \var vdim
    /// The value's features (0: embed_dim), as kdim.
    int64_t kdim = 0, vdim = 0;
    Dtype dtype = Dtype::f32;  ///< of the parameters: f32 or f64
    Seed seed;                 ///< unset: drawn from the global generator (manual_seed)
};

/// What MultiheadAttention::forward takes besides query, key and value (PyTorch's keyword
/// arguments; masks in PyTorch's nn conventions, see merge_attention_masks).
struct MultiheadAttentionArgs {
    Tensor key_padding_mask;  ///< (B, S), or (S) for an unbatched input
    /// Also return the attention weights. false by default (PyTorch's default is true): the
    /// weights need the (B, H, T, S) probabilities the fused kernels never form, so asking for
    /// them runs a composite path.
    bool need_weights = false;
    Tensor attn_mask;  ///< (T, S) or (B * num_heads, T, S)
    bool average_attn_weights = true;  ///< weights averaged over heads: (B, T, S); else (B, H, T, S)
    bool is_causal = false;            ///< also mask every key after the query's position (T = S)
};

/// What MultiheadAttention::forward returns, as PyTorch's (attn_output, attn_weights).
struct AttentionOutput {
    Tensor output;   ///< (T, B, E), or (B, T, E) with batch_first, or (T, E) unbatched
    Tensor weights;  ///< undefined unless need_weights: (B, T, S) or (B, H, T, S), no B unbatched
};
/// What a forward hook sees of an AttentionOutput: {output, weights}.
inline std::vector<Tensor> tensors_of(const AttentionOutput& o) { return {o.output, o.weights}; }
/// Puts back what a forward hook left of an AttentionOutput: output = t[0], weights = t[1].
inline void assign_tensors(AttentionOutput& o, const std::vector<Tensor>& t) {
    o.output = t.at(0);
    o.weights = t.at(1);
}

/// PyTorch's nn.MultiheadAttention: separate query, key and value inputs projected by
/// in_proj_weight (3E, E) and in_proj_bias (3E) (q | k | v stacked), num_heads heads of
/// E / num_heads through the fused attention, then out_proj. Parameter names, shapes and
/// initialisation are PyTorch's, so its state_dict loads (add_bias_kv and add_zero_attn are not
/// offered).
class MultiheadAttention : public Module {
public:
    /// E = embed_dim features split into num_heads heads: embed_dim must be a positive multiple
    /// of num_heads and dropout in [0, 1) (else ValueError), dtype f32 or f64 (else DtypeError).
    MultiheadAttention(int64_t embed_dim, int64_t num_heads, const MultiheadAttentionOptions& options = {});
    /// query (T, B, E), key (S, B, kdim) and value (S, B, vdim), batch first with batch_first,
    /// or all unbatched ((T, E), (S, kdim), (S, vdim)) -> output shaped as query, and the
    /// weights if args.need_weights. Throws ShapeError for shapes that do not fit.
    AttentionOutput forward(const Tensor& query, const Tensor& key, const Tensor& value,
                            const MultiheadAttentionArgs& args = {});
    /// Self-attention: forward(x, x, x).output.
    Tensor forward(const Tensor& x) override;
    using Module::operator();
    /// forward(query, key, value, args) through the call gate (hooks, profiler), as Module's m(x).
    AttentionOutput operator()(const Tensor& query, const Tensor& key, const Tensor& value,
                               const MultiheadAttentionArgs& args = {}) {
        return call(this, query, key, value, args);
    }
    std::string type_name() const override { return "MultiheadAttention"; }
    std::string extra_repr() const override;

    Parameter in_proj_weight;  ///< (3E, E), undefined when kdim or vdim differ from E
    /// \var q_proj_weight
    /// (E, E) when kdim or vdim differ from E, else undefined.
    /// \var k_proj_weight
    /// (E, kdim) when kdim or vdim differ from E, else undefined.
    /// \var v_proj_weight
    /// (E, vdim) when kdim or vdim differ from E, else undefined.
    Parameter q_proj_weight, k_proj_weight, v_proj_weight;
    Parameter in_proj_bias;    ///< (3E), undefined without bias
    Linear out_proj;           ///< (E, E)
    /// \var embed_dim
    /// E, the query's and the output's features.
    /// \var num_heads
    /// H, the heads, of E / H features each.
    /// \var kdim
    /// The key's features.
    /// \var vdim
    /// The value's features.
    int64_t embed_dim, num_heads, kdim, vdim;
    double dropout;            ///< on the attention weights while training
    bool batch_first;          ///< inputs and output (B, T, E) instead of (T, B, E)

private:
    Generator gen_;  // the attention dropout's masks
};

}  // namespace tg::nn
