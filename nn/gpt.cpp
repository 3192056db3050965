#include "nn/gpt.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

#include "core/autograd.hpp"
#include "core/check.hpp"
#include "core/checkpoint.hpp"
#include "core/ops.hpp"
#include "nn/init.hpp"

namespace tg::nn {

namespace {

GPTConfig checked(const GPTConfig& c) {
    auto need = [](bool ok, const std::string& what) {
        if (!ok) throw ValueError("GPTConfig: " + what);
    };
    need(c.vocab_size > 0, fmt::format("vocab_size must be positive, got {}", c.vocab_size));
    need(c.context_length > 0, fmt::format("context_length must be positive, got {}", c.context_length));
    need(c.n_layer >= 0, fmt::format("n_layer must be >= 0, got {}", c.n_layer));
    need(c.n_head > 0 && c.d_model > 0 && c.d_model % c.n_head == 0,
         fmt::format("d_model {} must be a positive multiple of n_head {}", c.d_model, c.n_head));
    need(c.dropout >= 0 && c.dropout < 1, fmt::format("dropout must be in [0, 1), got {}", c.dropout));
    need(is_floating(c.dtype), "dtype must be f32 or f64");
    return c;
}

}  // namespace

GPT::GPT(const GPTConfig& cfg)
    : wte(checked(cfg).vocab_size, cfg.d_model, {.seed = cfg.seed, .dtype = cfg.dtype}),
      wpe(cfg.context_length, cfg.d_model, {.seed = cfg.seed + 1, .dtype = cfg.dtype}),
      drop(cfg.dropout, cfg.seed + 2),
      ln_f(cfg.d_model, 1e-5, cfg.dtype),
      lm_head(cfg.d_model, cfg.vocab_size, {.bias = false, .seed = cfg.seed + 3, .dtype = cfg.dtype}),
      config_(cfg) {
    register_module("wte", wte);
    register_module("wpe", wpe);
    register_module("drop", drop);
    register_module("h", blocks_);
    for (int64_t i = 0; i < cfg.n_layer; ++i)
        h.push_back(blocks_.push_back(std::make_shared<TransformerBlock>(
            cfg.d_model, cfg.n_head,
            TransformerBlockOptions{.norm = cfg.norm, .causal = true, .dropout = cfg.dropout, .dtype = cfg.dtype,
                                    .seed = cfg.seed + 100 * static_cast<uint64_t>(i + 1)})));
    if (cfg.norm == Norm::pre) register_module("ln_f", ln_f);
    if (cfg.tie_embeddings) lm_head.weight = lm_head.replace_parameter("weight", wte.weight);
    register_module("lm_head", lm_head);

    // GPT-2 initialisation: N(0, 0.02) for weights and embeddings, zero biases, and the two
    // projections that write into the residual stream scaled by 1/sqrt(2 n_layer). Xavier:
    // the linear layers' weights Xavier-uniform instead (embeddings, and lm_head when it is
    // wte, as GPT-2's).
    Generator gen(cfg.seed);
    NoGradGuard no_grad;  // parameters are leaves that require grad
    const double proj_std = 0.02 / std::sqrt(2.0 * static_cast<double>(std::max<int64_t>(cfg.n_layer, 1)));
    for (auto& [name, p] : named_parameters()) {
        const bool is_bias = name.ends_with(".bias");
        const bool is_ln = name.find("ln_") != std::string::npos;
        const bool is_embedding = name == "wte.weight" || name == "wpe.weight";
        if (is_ln) continue;  // ones and zeros already
        if (is_bias) p.zero_();
        else if (cfg.init == Init::xavier && !is_embedding) init::xavier_uniform_(p, gen);
        else init::normal_(p, 0.0, name.ends_with("c_proj.weight") ? proj_std : 0.02, gen);
    }
}

std::string_view init_name(Init init) { return init == Init::xavier ? "xavier" : "gpt2"; }

namespace {

void check_tokens(const Tensor& tokens, const char* who) {
    TG_CHECK(tokens.defined() && tokens.dtype() == Dtype::i64 && tokens.dim() == 2, ValueError,
             "{}: tokens must be i64 of shape (B, T), got {}", who,
             tokens.defined() ? shape_str(tokens.shape()) + " " + std::string(dtype_name(tokens.dtype())) : std::string("undefined"));
}

// The next token of each row of last (B * V logits), as generate describes.
std::vector<int64_t> pick_next(const std::vector<double>& last, int64_t B, int64_t V, double temperature, int64_t top_k,
                               Generator& gen) {
    std::vector<int64_t> next(static_cast<std::size_t>(B));
    for (int64_t b = 0; b < B; ++b) {
        std::vector<double> row(last.begin() + b * V, last.begin() + (b + 1) * V);
        if (temperature == 0) {
            next[b] = std::max_element(row.begin(), row.end()) - row.begin();
            continue;
        }
        if (top_k > 0 && top_k < V) {
            std::vector<double> sorted = row;
            std::nth_element(sorted.begin(), sorted.begin() + (top_k - 1), sorted.end(), std::greater<>());
            const double kth = sorted[top_k - 1];
            for (double& v : row)
                if (v < kth) v = -std::numeric_limits<double>::infinity();
        }
        const double m = *std::max_element(row.begin(), row.end());
        double total = 0;
        for (double& v : row) total += (v = std::exp((v - m) / temperature));
        double u = gen.uniform() * total;
        int64_t pick = V - 1;
        for (int64_t v = 0; v < V; ++v) {
            if (u < row[v]) {
                pick = v;
                break;
            }
            u -= row[v];
        }
        next[b] = pick;
    }
    return next;
}

}  // namespace

Tensor GPT::head(const Tensor& x) {
    return linear(config_.norm == Norm::pre ? ln_f(x) : x, lm_head.weight, Tensor());
}

Tensor GPT::logits(const Tensor& tokens) {
    check_tokens(tokens, "GPT");
    const int64_t T = tokens.shape()[1];
    TG_CHECK(T <= config_.context_length && T != 0, ValueError,
             "GPT: sequence length {} must be in [1, context_length {}]", T, config_.context_length);
    Tensor pos = Tensor::arange(0.0, static_cast<double>(T), 1.0, Dtype::i64);
    Tensor x = drop(add(wte(tokens), wpe(pos)));  // (B, T, C)
    for (const auto& block : h) {
        if (config_.checkpoint_blocks && is_grad_enabled() && x.requires_grad())
            x = checkpoint([block](const std::vector<Tensor>& in) { return std::vector<Tensor>{(*block)(in[0])}; },
                           {x})[0];
        else
            x = (*block)(x);
    }
    return head(x);
}

Tensor GPT::logits(const Tensor& tokens, KVCache& cache) {
    check_tokens(tokens, "GPT::logits (cached)");
    const int64_t T = tokens.shape()[1], P = cache.length();
    TG_CHECK(T != 0 && P + T <= config_.context_length, ValueError,
             "GPT::logits (cached): {} new positions after the {} in the cache must be 1 to context_length {} in all; "
             "clear() the cache and start again from the last tokens", T, P, config_.context_length);
    TG_CHECK(cache.layers.empty() || cache.layers.size() == h.size(), ValueError,
             "GPT::logits (cached): the cache holds {} layers, the model has {}: it belongs to another model",
             cache.layers.size(), h.size());
    cache.layers.resize(h.size());
    Tensor pos = Tensor::arange(static_cast<double>(P), static_cast<double>(P + T), 1.0, Dtype::i64);
    Tensor x = drop(add(wte(tokens), wpe(pos)));
    for (std::size_t i = 0; i < h.size(); ++i) x = h[i]->forward_cached(x, cache.layers[i]);
    return head(x);
}

Tensor GPT::loss(const Tensor& tokens, const Tensor& targets) {
    TG_CHECK(targets.defined() && tokens.defined() && targets.shape() == tokens.shape(), ShapeError,
             "GPT::loss: targets {} must have the shape of tokens {}",
             targets.defined() ? shape_str(targets.shape()) : "undefined",
             tokens.defined() ? shape_str(tokens.shape()) : "undefined");
    Tensor lg = (*this)(tokens);  // through the call gate: hooks and the profiler see the model
    const int64_t BT = tokens.numel();
    return cross_entropy(reshape(lg, {BT, config_.vocab_size}), reshape(targets, {BT}));
}

Tensor GPT::generate(const Tensor& prompt, int64_t max_new_tokens, double temperature, int64_t top_k, uint64_t seed,
                     bool use_cache) {
    TG_CHECK(max_new_tokens >= 0, ValueError, "GPT::generate: max_new_tokens must be >= 0, got {}", max_new_tokens);
    TG_CHECK(temperature >= 0, ValueError, "GPT::generate: temperature must be >= 0, got {}", temperature);
    TG_CHECK(top_k >= 0, ValueError, "GPT::generate: top_k must be >= 0, got {}", top_k);
    check_tokens(prompt, "GPT::generate");
    TG_CHECK(prompt.shape()[1] > 0 || max_new_tokens == 0, ValueError, "GPT::generate: the prompt {} has no tokens; give at least one",
             shape_str(prompt.shape()));
    NoGradGuard ng;
    Generator gen(seed);
    // Dropout's masks depend on the shape of each call, so with dropout on only a full
    // recomputation gives the tokens a full recomputation gives.
    const bool cached = use_cache && !(is_training() && config_.dropout > 0);
    KVCache cache;
    Tensor tokens = prompt;
    const int64_t V = config_.vocab_size, B = prompt.shape()[0];
    for (int64_t step = 0; step < max_new_tokens; ++step) {
        const int64_t T = tokens.shape()[1];
        const int64_t start = std::max<int64_t>(0, T - config_.context_length);
        const Tensor window = start > 0 ? slice(tokens, 1, start, T) : tokens;
        Tensor lg;
        if (!cached) {
            lg = logits(window);  // (B, T', V)
        } else {
            // The cache holds positions [0, T - 1) of the window until the window slides; then
            // every position moves and the whole window runs again.
            if (start > 0 || cache.length() != T - 1) cache.clear();
            lg = logits(cache.length() == 0 ? window : slice(tokens, 1, T - 1, T), cache);
        }
        const int64_t Tc = lg.shape()[1];
        const std::vector<int64_t> next =
            pick_next(slice(lg, 1, Tc - 1, Tc).to_vector<double>(), B, V, temperature, top_k, gen);
        tokens = cat({tokens, tensor(next, {B, 1})}, 1);
    }
    return tokens;
}

std::string GPT::extra_repr() const {
    return fmt::format("vocab_size={}, context_length={}, d_model={}, n_layer={}, n_head={}, norm={}, init={}, tied={}",
                       config_.vocab_size, config_.context_length, config_.d_model, config_.n_layer, config_.n_head,
                       norm_name(config_.norm), init_name(config_.init), config_.tie_embeddings);
}

}  // namespace tg::nn
