#pragma once
/// \file
/// A GPT-2 style language model with nanoGPT's parameter names.
#include <memory>
#include <string_view>
#include <vector>

#include "transformer.hpp"

namespace tg::nn {

/// How a GPT's weights start. gpt2 (GPT-2's, the default): N(0, 0.02) for every weight matrix
/// and embedding, the two projections that write into the residual stream scaled by
/// 1/sqrt(2 n_layer). xavier (as Xiong et al. 2020 trained Post-LN and Pre-LN transformers):
/// Xavier-uniform linear weights, U(-a, a) with a = sqrt(6 / (fan_in + fan_out)), embeddings as
/// gpt2. Biases start at zero and LayerNorms at ones and zeros in both.
enum class Init { gpt2, xavier };
/// \var Init::gpt2
/// GPT-2's: N(0, 0.02), the residual projections scaled by 1/sqrt(2 n_layer).
/// \var Init::xavier
/// Xavier-uniform linear weights, embeddings as gpt2.

/// "gpt2" or "xavier".
std::string_view init_name(Init init);

/// The shape and settings of a GPT (the defaults make a small character-level model). The
/// constructor checks them: ValueError for sizes that do not fit, a dtype that is not f32 or f64.
struct GPTConfig {
    int64_t vocab_size = 65;      ///< V, the number of token ids
    int64_t context_length = 64;  ///< the longest sequence (positions in wpe)
    int64_t d_model = 64;         ///< C, the features of every position (a multiple of n_head)
    int64_t n_layer = 2;          ///< the number of transformer blocks (0 allowed)
    int64_t n_head = 4;           ///< the attention heads of each block
    Norm norm = Norm::pre;        ///< where the blocks' LayerNorms sit; ln_f only with Norm::pre
    Init init = Init::gpt2;       ///< how the weights start
    bool tie_embeddings = true;   ///< lm_head.weight is wte.weight
    double dropout = 0.0;         ///< after the embeddings and in every block, in [0, 1)
    uint64_t seed = 0;            ///< initialisation and dropout masks
    Dtype dtype = Dtype::f32;     ///< of the parameters: f32 or f64
    /// Checkpoint every transformer block (tg::checkpoint) while training: the tape keeps each
    /// block's input only and backward runs the block again, trading about a third more step
    /// time for most of the activation memory (docs/profiling.md has the figures).
    bool checkpoint_blocks = false;
};

/// Every layer's keys and values (AttentionCache) for GPT::logits(tokens, cache): what lets
/// generation run one new position per token. Empty until the first call fills it.
struct KVCache {
    std::vector<AttentionCache> layers;  ///< one per transformer block, in order
    /// Positions held.
    int64_t length() const { return layers.empty() ? 0 : layers.front().length(); }
    /// Empties the cache (for a new sequence, batch or model).
    void clear() { layers.clear(); }
};

/// A GPT-2 style decoder-only language model: token (wte) and position (wpe) embeddings,
/// dropout, n_layer causal TransformerBlocks (h), a final LayerNorm (ln_f, with Norm::pre) and
/// the head (lm_head) to vocab_size logits. Parameter names are nanoGPT's
/// ("h.0.attn.c_attn.weight").
class GPT : public Module {
public:
    /// Builds and initialises the model (config.init, from config.seed); ValueError for a
    /// config that does not fit (see GPTConfig).
    explicit GPT(const GPTConfig& config);

    /// tokens i64 (B, T), T <= context_length -> logits (B, T, vocab_size).
    Tensor logits(const Tensor& tokens);
    /// The logits (B, T, vocab_size) of the next positions: tokens i64 (B, T) continue the
    /// cache.length() positions already in cache, whose keys and values every layer attends
    /// to; the new ones are appended. The same as the last T positions of logits() on the whole
    /// sequence, for T new positions at the cost of T. cache.length() + T <= context_length.
    Tensor logits(const Tensor& tokens, KVCache& cache);
    /// Mean cross-entropy of logits(tokens) against targets i64 (B, T).
    Tensor loss(const Tensor& tokens, const Tensor& targets);
    /// Appends max_new_tokens sampled tokens to prompt i64 (B, T0): temperature scales the
    /// logits (0 picks the most likely token), top_k > 0 keeps only the k likeliest. Runs
    /// without recording, in whatever train/eval mode the model is in.
    ///
    /// With use_cache (the default) the prompt runs once and every new token then runs one
    /// position against the layers' cached keys and values (KVCache), which gives the tokens a
    /// full recomputation gives (use_cache = false) at a fraction of the cost. Past
    /// context_length tokens the window slides, every position moves, and each further token
    /// costs a whole window in both modes. With dropout active (training mode, dropout > 0) the
    /// masks of a full recomputation cannot be replayed position by position, so generate then
    /// recomputes whatever use_cache says.
    Tensor generate(const Tensor& prompt, int64_t max_new_tokens, double temperature = 1.0,
                    int64_t top_k = 0, uint64_t seed = 0, bool use_cache = true);
    /// logits(tokens).
    Tensor forward(const Tensor& tokens) override { return logits(tokens); }
    std::string type_name() const override { return "GPT"; }
    std::string extra_repr() const override;

    /// The configuration it was built with.
    const GPTConfig& config() const { return config_; }
    /// The number of transformer blocks (n_layer).
    std::size_t num_blocks() const { return h.size(); }
    /// Block i ("h.i"); std::out_of_range past the last.
    TransformerBlock& block(std::size_t i) { return *h.at(i); }

    Embedding wte;  ///< (V, C)
    Embedding wpe;  ///< (T, C)
    Dropout drop;   ///< on the sum of the embeddings
    std::vector<std::shared_ptr<TransformerBlock>> h;  ///< the blocks, named "h.0", "h.1", ...
    LayerNorm ln_f;  ///< registered for Norm::pre only
    Linear lm_head;  ///< (V, C), no bias

private:
    /// The final norm and the head on the last layer's output x (B, T, C).
    Tensor head(const Tensor& x);
    ModuleList blocks_;  // holds h under the name "h", so block i is "h.i"
    GPTConfig config_;
};

}  // namespace tg::nn
