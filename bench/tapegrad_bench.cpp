// tapegrad-bench: times whole training steps of nn::GPT and of the Fashion-MNIST example's CNN,
// layer_norm forward + backward, LSTM/GRU layers (fused or written from ops), GPT-2 BPE
// encoding and generation with and without the key/value cache, and prints the figures as `key: value` lines (the last
// three lines of `gpt` are ms_per_step, tokens_per_s and peak_rss_mb, of `cnn` ms_per_step,
// images_per_s and peak_rss_mb, matching bench/torch_bench.cpp).
#include <CLI/CLI.hpp>
#include <tapegrad.hpp>

#include <fstream>
#include <iterator>
#include <optional>

#include "bench/bench_common.hpp"
#include "examples/fashion_mnist/model.hpp"

using namespace tg;

namespace {

struct GptArgs {
    int64_t vocab = 65, context = 64, d_model = 64, layers = 2, heads = 4, batch = 8;
    int64_t steps = 50, warmup = 5, threads = 2;
    std::string norm = "pre", dtype = "f32", autocast = "off", work = "step";
    uint64_t seed = 1;
    bool anomaly = false;
    bool checkpoint = false;  // GPTConfig::checkpoint_blocks
    bool profile = false;     // one more step under tg::Profiler, its tables printed
};

int run_gpt(const GptArgs& a) {
    set_num_threads(static_cast<int>(a.threads));
    set_detect_anomaly(a.anomaly);
    nn::GPTConfig cfg;
    cfg.vocab_size = a.vocab;
    cfg.context_length = a.context;
    cfg.d_model = a.d_model;
    cfg.n_layer = a.layers;
    cfg.n_head = a.heads;
    cfg.norm = a.norm == "pre" ? nn::Norm::pre : a.norm == "post" ? nn::Norm::post : nn::Norm::none;
    cfg.dtype = a.dtype == "f64" ? Dtype::f64 : Dtype::f32;
    cfg.seed = a.seed;
    cfg.checkpoint_blocks = a.checkpoint;
    nn::GPT model(cfg);
    optim::AdamWOptions opts;
    opts.lr = 1e-4;  // small, so that the timed steps see ordinary values
    opts.weight_decay = 0.1;
    optim::AdamW opt(optim::weight_decay_groups(model, opts));

    // Random tokens with a fixed seed; the same batch every step (the data loader is not timed).
    Generator gen(a.seed + 1);
    Tensor x = Tensor::randint(0, a.vocab, {a.batch, a.context}, gen);
    Tensor y = Tensor::randint(0, a.vocab, {a.batch, a.context}, gen);

    // What one timed repeat does (--work): a training step; only forward and backward; a
    // Hessian-vector product of the loss in the parameters (forward, a backward that records
    // itself, <g, v>, its backward); or a training step on loss + 0.01 |grad loss|^2 (a gradient
    // penalty: the same double backward, then the optimiser).
    const std::vector<Tensor> params = model.parameters();
    std::vector<Tensor> dirs;
    for (std::size_t i = 0; i < params.size(); ++i)
        dirs.push_back(Tensor::randn(params[i].shape(), params[i].dtype(), a.seed + 10 + i));
    auto forward = [&] {
        std::optional<Autocast> mixed;
        if (a.autocast == "bf16") mixed.emplace(Dtype::bf16);
        return model.loss(x, y);
    };
    auto step = [&] {
        opt.zero_grad();
        Tensor loss = forward();
        if (a.work == "hvp" || a.work == "penalty") {
            const std::vector<Tensor> g = grad({loss}, params, {}, {.create_graph = true});
            Tensor s = Tensor::zeros({}, loss.dtype());
            for (std::size_t i = 0; i < g.size(); ++i)
                s = add(s, sum(a.work == "hvp" ? mul(g[i], dirs[i]) : mul(g[i], g[i])));
            if (a.work == "hvp") {
                (void)grad({s}, params);  // H v, one tensor per parameter
                return loss;
            }
            loss = add(loss, mul(s, 0.01));
        }
        loss.backward();
        if (a.work != "backward") opt.step();
        return loss;
    };
    const bench::StepTimes t = bench::time_steps(step, a.warmup, a.steps);
    const std::vector<double>& ms = t.ms;
    const double first_loss = t.first_loss, last_loss = t.last_loss;
    const bench::AllocCounts before = t.before, after = t.after;
    const double med = bench::median(ms);
    const auto steps = static_cast<double>(std::max<int64_t>(a.steps, 1));

    // Memory of one more step: what the tape keeps for backward after the forward (the
    // activations checkpointing saves), and the peak of tensor memory over a whole step.
    int64_t kept = 0;
    {
        const Tensor loss = forward();
        kept = memory_stats().saved_by_tape_bytes;
    }
    reset_peak_memory();
    step();
    const int64_t peak = memory_stats().peak_bytes;
    if (a.profile) {
        Profiler prof;
        step();
        prof.stop();
        fmt::print("profile of one step, by op:\n{}\n", prof.table({.sort_by = "total", .group_by = "op", .rows = 20}));
        fmt::print("profile of one step, by module:\n{}\n",
                   prof.table({.sort_by = "total", .group_by = "module", .rows = 12}));
    }

    fmt::print("framework: tapegrad\n");
    fmt::print("model: V={} T={} C={} L={} H={} B={} norm={} dtype={}\n", a.vocab, a.context, a.d_model,
               a.layers, a.heads, a.batch, a.norm, a.dtype);
    fmt::print("threads: {}\n", a.threads);
    fmt::print("omp_wait_policy: {}\n", bench::omp_wait_policy());
    fmt::print("thread_policy: {} ({} active after the timed steps)\n",
               thread_policy() == ThreadPolicy::adaptive ? "adaptive" : "fixed", active_threads());
    fmt::print("detect_anomaly: {}\n", a.anomaly);
    fmt::print("checkpoint_blocks: {}\n", a.checkpoint);
    fmt::print("work: {}\n", a.work);
    fmt::print("blas: {}\n", blas_info());
    fmt::print("autocast: {}\n", a.autocast == "bf16" ? autocast_info() : std::string("off"));
    fmt::print("params: {}\n", bench::count_params(model));
    fmt::print("loss_first: {:.4f}\nloss_last: {:.4f}\n", first_loss, last_loss);
    fmt::print("ms_min: {:.3f}\nms_p90: {:.3f}\n", bench::quantile(ms, 0.0), bench::quantile(ms, 0.9));
    fmt::print("allocs_per_step: {:.1f}\n", static_cast<double>(after.buffers - before.buffers) / steps);
    fmt::print("allocs_per_step_inside_onednn: {:.1f}\n",
               static_cast<double>(after.buffers_in_onednn - before.buffers_in_onednn) / steps);
    fmt::print("small_allocs_per_step: {:.1f}\n", static_cast<double>(after.small - before.small) / steps);
    fmt::print("kept_for_backward_mb: {:.1f}\n", static_cast<double>(kept) / (1 << 20));
    fmt::print("peak_tensor_mb: {:.1f}\n", static_cast<double>(peak) / (1 << 20));
    fmt::print("ms_per_step: {:.3f}\n", med);
    fmt::print("tokens_per_s: {:.0f}\n", static_cast<double>(a.batch * a.context) / (med / 1e3));
    fmt::print("peak_rss_mb: {:.1f}\n", bench::peak_rss_mb());
    return 0;
}

struct CnnArgs {
    int64_t batch = 128, width = 32, steps = 20, warmup = 3, threads = 2;
    uint64_t seed = 1;
};

int run_cnn(const CnnArgs& a) {
    set_num_threads(static_cast<int>(a.threads));
    manual_seed(a.seed);
    example::FashionCNN model(a.width, 0.25);
    optim::AdamW opt(model.parameters(), {.lr = 2e-3, .weight_decay = 5e-4});
    // Random images and labels with a fixed seed; the same batch every step.
    Generator gen(a.seed + 1);
    Tensor x = Tensor::randn({a.batch, 1, 28, 28}, Dtype::f32, gen);
    Tensor y = Tensor::randint(0, 10, {a.batch}, gen);
    auto step = [&] {
        opt.zero_grad();
        Tensor loss = cross_entropy(model.forward(x), y);
        loss.backward();
        opt.step();
        return loss.item<double>();
    };
    const bench::StepTimes t = bench::time_steps(step, a.warmup, a.steps);
    const std::vector<double>& ms = t.ms;
    const double first = t.first_loss, last = t.last_loss;
    const double med = bench::median(ms);
    fmt::print("framework: tapegrad\n");
    fmt::print("model: FashionCNN width={} B={}\n", a.width, a.batch);
    fmt::print("threads: {}\n", a.threads);
    fmt::print("blas: {}\n", blas_info());
    fmt::print("params: {}\n", model.num_parameters());
    fmt::print("loss_first: {:.4f}\nloss_last: {:.4f}\n", first, last);
    fmt::print("ms_min: {:.3f}\nms_p90: {:.3f}\n", bench::quantile(ms, 0.0), bench::quantile(ms, 0.9));
    fmt::print("ms_per_step: {:.3f}\n", med);
    fmt::print("images_per_s: {:.0f}\n", static_cast<double>(a.batch) / (med / 1e3));
    fmt::print("peak_rss_mb: {:.1f}\n", bench::peak_rss_mb());
    return 0;
}

struct LnArgs {
    int64_t rows = 4096, cols = 768, iters = 50, threads = 2;
};

int run_layernorm(const LnArgs& a) {
    set_num_threads(static_cast<int>(a.threads));
    Tensor x = Tensor::randn({a.rows, a.cols}, Dtype::f32, 1).requires_grad_(true);
    Tensor w = Tensor::ones({a.cols}, Dtype::f32).requires_grad_(true);
    Tensor b = Tensor::zeros({a.cols}, Dtype::f32).requires_grad_(true);
    Tensor dy = Tensor::randn({a.rows, a.cols}, Dtype::f32, 2);
    std::vector<double> ms;
    for (int64_t i = 0; i < a.iters + 3; ++i) {
        for (Tensor* t : {&x, &w, &b}) t->set_grad(Tensor());
        const double t0 = bench::now_ms();
        Tensor y = layer_norm(x, w, b, 1e-5);
        y.backward(dy);
        if (i >= 3) ms.push_back(bench::now_ms() - t0);
    }
    const double med = bench::median(ms);
    const double bytes = bench::layernorm_bytes(a.rows, a.cols, 4);
    const double stream = bench::stream_copy_gb_per_s(static_cast<int>(a.threads));
    fmt::print("framework: tapegrad\n");
    fmt::print("shape: {} x {} f32\nthreads: {}\n", a.rows, a.cols, a.threads);
    fmt::print("stream_copy_gb_per_s: {:.1f}\n", stream);
    fmt::print("bytes_moved_mb: {:.1f}\n", bytes / 1e6);
    fmt::print("ms_fwd_bwd: {:.3f}\n", med);
    fmt::print("gb_per_s: {:.1f}\n", bytes / (med / 1e3) / 1e9);
    return 0;
}


struct RnnArgs {
    std::string cell = "lstm", impl = "fused";
    int64_t seq = 32, batch = 16, input = 64, hidden = 128, layers = 1, steps = 30, warmup = 3, threads = 2;
};

// One layer of the recurrence written from ops, as a user would write it without nn::LSTM /
// nn::GRU: per step, two linears, the gates' chunks and their pointwise ops, the outputs stacked.
Tensor composite_layer(bool lstm, const Tensor& x, const Tensor& w_ih, const Tensor& w_hh, const Tensor& b_ih,
                       const Tensor& b_hh) {
    const int64_t B = x.shape()[1], H = w_hh.shape()[1];
    Tensor h = Tensor::zeros({B, H}, x.dtype()), c = Tensor::zeros({B, H}, x.dtype());
    std::vector<Tensor> outs;
    for (const Tensor& xt : unbind(x, 0)) {
        const Tensor gi = linear(xt, w_ih, b_ih), gh = linear(h, w_hh, b_hh);
        if (lstm) {
            const std::vector<Tensor> g = chunk(gi + gh, 4, 1);
            c = sigmoid(g[1]) * c + sigmoid(g[0]) * tanh(g[2]);
            h = sigmoid(g[3]) * tanh(c);
        } else {
            const std::vector<Tensor> a = chunk(gi, 3, 1), r = chunk(gh, 3, 1);
            const Tensor reset = sigmoid(a[0] + r[0]), z = sigmoid(a[1] + r[1]);
            const Tensor n = tanh(a[2] + reset * r[2]);
            h = (1.0 - z) * n + z * h;
        }
        outs.push_back(h);
    }
    return stack(outs, 0);
}

int run_rnn(const RnnArgs& a) {
    set_num_threads(static_cast<int>(a.threads));
    const bool lstm = a.cell == "lstm";
    const nn::LSTMOptions o{.num_layers = a.layers, .seed = 1};
    nn::LSTM lstm_layer(a.input, a.hidden, o);
    nn::GRU gru_layer(a.input, a.hidden, o);
    nn::Module& m = lstm ? static_cast<nn::Module&>(lstm_layer) : gru_layer;
    const std::vector<Tensor>& w_ih = lstm ? lstm_layer.weight_ih : gru_layer.weight_ih;
    const std::vector<Tensor>& w_hh = lstm ? lstm_layer.weight_hh : gru_layer.weight_hh;
    const std::vector<Tensor>& b_ih = lstm ? lstm_layer.bias_ih : gru_layer.bias_ih;
    const std::vector<Tensor>& b_hh = lstm ? lstm_layer.bias_hh : gru_layer.bias_hh;
    const Tensor x = Tensor::randn({a.seq, a.batch, a.input}, Dtype::f32, 2);
    auto forward = [&](bool fused) {
        if (fused) return lstm ? lstm_layer(x).output : gru_layer(x).output;
        Tensor y = x;
        for (int64_t k = 0; k < a.layers; ++k) y = composite_layer(lstm, y, w_ih[k], w_hh[k], b_ih[k], b_hh[k]);
        return y;
    };
    // Both implementations compute the same function: their outputs agree to f32 rounding.
    double diff = 0;
    {
        NoGradGuard no_grad;
        diff = amax(abs(forward(true) - forward(false))).item();
    }
    auto step = [&] {
        m.zero_grad();
        const Tensor y = forward(a.impl == "fused");
        Tensor loss = mean(y * y);
        loss.backward();
        return loss;
    };
    const bench::StepTimes t = bench::time_steps(step, a.warmup, a.steps);
    const double med = bench::median(t.ms);
    fmt::print("framework: tapegrad\n");
    fmt::print("model: {} {} T={} B={} in={} H={} layers={}\n", a.cell, a.impl, a.seq, a.batch, a.input, a.hidden,
               a.layers);
    fmt::print("threads: {}\nblas: {}\n", a.threads, blas_info());
    fmt::print("max_abs_diff_fused_vs_composite: {:.3g}\n", diff);
    fmt::print("allocs_per_step: {:.1f}\n",
               static_cast<double>(t.after.buffers - t.before.buffers) / static_cast<double>(a.steps));
    fmt::print("ms_min: {:.3f}\nms_p90: {:.3f}\n", bench::quantile(t.ms, 0.0), bench::quantile(t.ms, 0.9));
    fmt::print("ms_fwd_bwd: {:.3f}\n", med);
    fmt::print("peak_rss_mb: {:.1f}\n", bench::peak_rss_mb());
    return 0;
}
struct TokenizeArgs {
    std::string vocab_dir = "tests/data/gpt2_bpe", text;
    int64_t repeats = 5, chunk = 4096;
};

// GPT-2 BPE encoding of a text file with data::BPETokenizer: each repeat encodes the text in
// chunks of about --chunk bytes, each ending just after a newline (0: the whole text in one
// call). Every encode() call starts with an empty piece cache. bench/tokenize_js.js times the
// JavaScript reference encoder the same way (it must chunk: its cost is quadratic in the length
// of one call's text).
int run_tokenize(const TokenizeArgs& a) {
    std::ifstream f(a.text, std::ios::binary);
    if (!f) throw IOError(fmt::format("tokenize: cannot open --text {}", a.text));
    const std::string text((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
    const double t0 = bench::now_ms();
    const auto tok = data::BPETokenizer::load(a.vocab_dir + "/encoder.json", a.vocab_dir + "/vocab.bpe");
    const double load_ms = bench::now_ms() - t0;
    std::vector<std::string_view> chunks;
    const std::string_view all(text);
    if (a.chunk == 0) chunks.push_back(all);
    for (std::size_t start = 0; a.chunk > 0 && start < all.size();) {
        const std::size_t newline = all.find('\n', std::min(all.size(), start + static_cast<std::size_t>(a.chunk)));
        const std::size_t end = newline == std::string_view::npos ? all.size() : newline + 1;
        chunks.push_back(all.substr(start, end - start));
        start = end;
    }
    std::vector<double> ms;
    std::size_t tokens = 0;
    for (int64_t r = 0; r < a.repeats; ++r) {
        const double s = bench::now_ms();
        tokens = 0;
        for (const std::string_view piece : chunks) tokens += tok.encode(piece).size();
        ms.push_back(bench::now_ms() - s);
    }
    const double med = bench::median(ms);
    fmt::print("framework: tapegrad\nchunks: {}\nbytes: {}\ntokens: {}\nbytes_per_token: {:.3f}\nload_ms: {:.1f}\n",
               chunks.size(), text.size(), tokens,
               static_cast<double>(text.size()) / static_cast<double>(std::max<std::size_t>(tokens, 1)), load_ms);
    fmt::print("ms_encode: {:.1f}\nmb_per_s: {:.3f}\n", med, static_cast<double>(text.size()) / 1e3 / med);
    return 0;
}
struct GenerateArgs {
    int64_t vocab = 65, context = 256, d_model = 256, layers = 6, heads = 8, batch = 1, prompt = 16;
    int64_t repeats = 3, threads = 2;
    double temperature = 0.0;
    uint64_t seed = 1;
};

// GPT::generate from a random prompt to the full context, with and without the key/value cache,
// alternating the two so that both see the same machine; checks that they give the same tokens.
int run_generate(const GenerateArgs& a) {
    set_num_threads(static_cast<int>(a.threads));
    nn::GPT model(nn::GPTConfig{.vocab_size = a.vocab, .context_length = a.context, .d_model = a.d_model,
                                .n_layer = a.layers, .n_head = a.heads, .seed = a.seed});
    model.eval();
    Generator gen(a.seed + 1);
    const Tensor prompt = Tensor::randint(0, a.vocab, {a.batch, a.prompt}, gen);
    const int64_t new_tokens = a.context - a.prompt;
    std::vector<double> full_ms, cached_ms;
    bool same = true;
    for (int64_t r = 0; r < a.repeats; ++r) {
        double t = bench::now_ms();
        const Tensor full = model.generate(prompt, new_tokens, a.temperature, 0, a.seed + r, /*use_cache=*/false);
        full_ms.push_back(bench::now_ms() - t);
        t = bench::now_ms();
        const Tensor cached = model.generate(prompt, new_tokens, a.temperature, 0, a.seed + r, /*use_cache=*/true);
        cached_ms.push_back(bench::now_ms() - t);
        same = same && full.to_vector<int64_t>() == cached.to_vector<int64_t>();
    }
    const double full = bench::median(full_ms), cached = bench::median(cached_ms);
    const auto generated = static_cast<double>(a.batch * new_tokens);
    fmt::print("framework: tapegrad\nmodel: V={} T={} C={} L={} H={} B={}\nthreads: {}\nblas: {}\n", a.vocab,
               a.context, a.d_model, a.layers, a.heads, a.batch, a.threads, blas_info());
    fmt::print("prompt: {}\nnew_tokens: {}\ntemperature: {}\nparams: {}\n", a.prompt, new_tokens, a.temperature,
               bench::count_params(model));
    fmt::print("same_tokens: {}\n", same ? "yes" : "NO");
    fmt::print("ms_full: {:.1f}\nms_cached: {:.1f}\ntokens_per_s_full: {:.1f}\ntokens_per_s_cached: {:.1f}\n", full,
               cached, generated / (full / 1e3), generated / (cached / 1e3));
    fmt::print("speedup: {:.2f}\npeak_rss_mb: {:.1f}\n", full / cached, bench::peak_rss_mb());
    return same ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{"tapegrad-bench: training-step and kernel timings (medians of timed repeats)"};
    app.require_subcommand(1);

    GptArgs g;
    CLI::App* gpt = app.add_subcommand(
        "gpt", "Train nn::GPT with AdamW on random tokens: W untimed steps, then N timed steps "
               "(zero_grad, forward, loss, backward, step). Prints ms_per_step (median), "
               "tokens_per_s (B*T/median), peak_rss_mb (VmHWM) last, and allocs_per_step "
               "(tensor buffers taken from the system per timed step) before them.");
    gpt->add_option("--vocab", g.vocab, "vocabulary size V")->check(CLI::Range(int64_t{2}, int64_t{1} << 20))->capture_default_str();
    gpt->add_option("--context", g.context, "sequence length T (also the model's context)")->check(CLI::Range(int64_t{1}, int64_t{1} << 16))->capture_default_str();
    gpt->add_option("--d-model", g.d_model, "model width C")->check(CLI::Range(int64_t{1}, int64_t{1} << 16))->capture_default_str();
    gpt->add_option("--layers", g.layers, "transformer blocks L")->check(CLI::Range(int64_t{1}, int64_t{1024}))->capture_default_str();
    gpt->add_option("--heads", g.heads, "attention heads H (must divide C)")->check(CLI::Range(int64_t{1}, int64_t{1024}))->capture_default_str();
    gpt->add_option("--batch", g.batch, "sequences per step B")->check(CLI::Range(int64_t{1}, int64_t{1} << 20))->capture_default_str();
    gpt->add_option("--steps", g.steps, "timed steps N")->check(CLI::Range(int64_t{1}, int64_t{1} << 30))->capture_default_str();
    gpt->add_option("--warmup", g.warmup, "untimed steps W before timing")->check(CLI::Range(int64_t{0}, int64_t{1} << 30))->capture_default_str();
    gpt->add_option("--threads", g.threads, "threads P for both OpenMP and BLAS")->check(CLI::Range(int64_t{1}, int64_t{1024}))->capture_default_str();
    gpt->add_option("--norm", g.norm, "norm placement")->check(CLI::IsMember({"pre", "post", "none"}))->capture_default_str();
    gpt->add_option("--dtype", g.dtype, "parameter and activation dtype")->check(CLI::IsMember({"f32", "f64"}))->capture_default_str();
    gpt->add_option("--seed", g.seed, "seed for the weights and the random tokens")->capture_default_str();
    gpt->add_option("--autocast", g.autocast, "precision of the products: off or bf16 (tg::Autocast)")->check(CLI::IsMember({"off", "bf16"}))->capture_default_str();
    gpt->add_option("--work", g.work,
                    "what a timed repeat does: step (a training step), backward (forward and backward only), hvp (a "
                    "Hessian-vector product in the parameters, by a double backward), penalty (a training step on "
                    "loss + 0.01 |grad loss|^2)")
        ->check(CLI::IsMember({"step", "backward", "hvp", "penalty"}))
        ->capture_default_str();
    gpt->add_flag("--detect-anomaly", g.anomaly, "scan every output and gradient for NaN/Inf (to measure its cost)");
    gpt->add_flag("--checkpoint", g.checkpoint,
                  "checkpoint every transformer block (GPTConfig::checkpoint_blocks): less memory kept for backward, "
                  "a recomputation in backward");
    gpt->add_flag("--profile", g.profile,
                  "after the timed steps, run one more under tg::Profiler and print its tables (by op and by module)");

    CnnArgs c;
    CLI::App* cnn = app.add_subcommand(
        "cnn", "Train the Fashion-MNIST example's CNN (examples/fashion_mnist/model.hpp) with AdamW on "
               "random 28x28 images: W untimed steps, then N timed steps. Prints ms_per_step (median), "
               "images_per_s (B/median) and peak_rss_mb last.");
    cnn->add_option("--batch", c.batch, "images per step B")->check(CLI::Range(int64_t{1}, int64_t{1} << 20))->capture_default_str();
    cnn->add_option("--width", c.width, "channels of the first conv (the second has twice as many)")->check(CLI::Range(int64_t{1}, int64_t{4096}))->capture_default_str();
    cnn->add_option("--steps", c.steps, "timed steps N")->check(CLI::Range(int64_t{1}, int64_t{1} << 30))->capture_default_str();
    cnn->add_option("--warmup", c.warmup, "untimed steps W before timing")->check(CLI::Range(int64_t{0}, int64_t{1} << 30))->capture_default_str();
    cnn->add_option("--threads", c.threads, "threads P for both OpenMP and BLAS")->check(CLI::Range(int64_t{1}, int64_t{1024}))->capture_default_str();
    cnn->add_option("--seed", c.seed, "seed for the weights and the random images")->capture_default_str();

    LnArgs l;
    CLI::App* ln = app.add_subcommand(
        "layernorm", "layer_norm forward + backward on a (rows, cols) f32 tensor. Prints "
                     "ms_fwd_bwd (median), gb_per_s (bytes the kernels must move / time) and "
                     "stream_copy_gb_per_s (this machine's memory bandwidth, measured by a copy).");
    ln->add_option("--rows", l.rows, "rows R")->check(CLI::Range(int64_t{1}, int64_t{1} << 24))->capture_default_str();
    ln->add_option("--cols", l.cols, "columns C (normalised over)")->check(CLI::Range(int64_t{1}, int64_t{1} << 24))->capture_default_str();
    ln->add_option("--iters", l.iters, "timed repeats")->check(CLI::Range(int64_t{1}, int64_t{1} << 20))->capture_default_str();
    ln->add_option("--threads", l.threads, "threads P")->check(CLI::Range(int64_t{1}, int64_t{1024}))->capture_default_str();

    RnnArgs r;
    CLI::App* rnn = app.add_subcommand(
        "rnn", "nn::LSTM or nn::GRU forward + backward on a random (T, B, in) f32 sequence, through the "
               "library's fused recurrence or the same layer written from ops (two linears, chunk and the "
               "gates' ops per step). Prints max_abs_diff_fused_vs_composite, then ms_fwd_bwd (median) and "
               "peak_rss_mb last.");
    rnn->add_option("--cell", r.cell, "recurrent layer")->check(CLI::IsMember({"lstm", "gru"}))->capture_default_str();
    rnn->add_option("--impl", r.impl, "fused (nn::LSTM / nn::GRU) or composite (from ops)")->check(CLI::IsMember({"fused", "composite"}))->capture_default_str();
    rnn->add_option("--seq", r.seq, "steps T")->check(CLI::Range(int64_t{1}, int64_t{1} << 20))->capture_default_str();
    rnn->add_option("--batch", r.batch, "sequences B")->check(CLI::Range(int64_t{1}, int64_t{1} << 20))->capture_default_str();
    rnn->add_option("--input", r.input, "input features")->check(CLI::Range(int64_t{1}, int64_t{1} << 16))->capture_default_str();
    rnn->add_option("--hidden", r.hidden, "hidden size H")->check(CLI::Range(int64_t{1}, int64_t{1} << 16))->capture_default_str();
    rnn->add_option("--layers", r.layers, "stacked layers")->check(CLI::Range(int64_t{1}, int64_t{64}))->capture_default_str();
    rnn->add_option("--steps", r.steps, "timed repeats N")->check(CLI::Range(int64_t{1}, int64_t{1} << 30))->capture_default_str();
    rnn->add_option("--warmup", r.warmup, "untimed repeats W before timing")->check(CLI::Range(int64_t{0}, int64_t{1} << 30))->capture_default_str();
    rnn->add_option("--threads", r.threads, "threads P for both OpenMP and BLAS")->check(CLI::Range(int64_t{1}, int64_t{1024}))->capture_default_str();

    TokenizeArgs k;
    CLI::App* tokenize = app.add_subcommand(
        "tokenize", "Encode a text file with GPT-2's BPE (data::BPETokenizer) in chunks of about --chunk "
                    "bytes ending at newlines. Prints chunks, tokens, bytes_per_token, ms_encode (median "
                    "of the repeats) and mb_per_s (10^6 bytes / s) last; bench/tokenize_js.js prints the "
                    "same for the JS encoder.");
    tokenize->add_option("--text", k.text, "the text file")->required()->check(CLI::ExistingFile);
    tokenize->add_option("--vocab-dir", k.vocab_dir, "directory of encoder.json and vocab.bpe")->check(CLI::ExistingDirectory)->capture_default_str();
    tokenize->add_option("--repeats", k.repeats, "timed encodes of the whole text")->check(CLI::Range(int64_t{1}, int64_t{1000}))->capture_default_str();
    tokenize->add_option("--chunk", k.chunk, "bytes per encode() call, extended to the next newline; 0: the whole text")->check(CLI::Range(int64_t{0}, int64_t{1} << 40))->capture_default_str();

    GenerateArgs n;
    CLI::App* generate = app.add_subcommand(
        "generate", "nn::GPT::generate from a random --prompt to the full --context, recomputing the whole "
                    "context for every token and with the key/value cache, alternately, --repeats times. "
                    "Prints same_tokens (yes when both gave the same tokens every time; the exit status is 1 "
                    "otherwise), the median ms and tokens/s of each, and speedup.");
    generate->add_option("--vocab", n.vocab, "vocabulary size V")->check(CLI::Range(int64_t{2}, int64_t{1} << 20))->capture_default_str();
    generate->add_option("--context", n.context, "the model's context, generated up to")->check(CLI::Range(int64_t{2}, int64_t{1} << 16))->capture_default_str();
    generate->add_option("--d-model", n.d_model, "model width C")->check(CLI::Range(int64_t{1}, int64_t{1} << 16))->capture_default_str();
    generate->add_option("--layers", n.layers, "transformer blocks L")->check(CLI::Range(int64_t{1}, int64_t{1024}))->capture_default_str();
    generate->add_option("--heads", n.heads, "attention heads H (must divide C)")->check(CLI::Range(int64_t{1}, int64_t{1024}))->capture_default_str();
    generate->add_option("--batch", n.batch, "sequences generated together B")->check(CLI::Range(int64_t{1}, int64_t{1} << 16))->capture_default_str();
    generate->add_option("--prompt", n.prompt, "prompt tokens (below --context)")->check(CLI::Range(int64_t{1}, int64_t{1} << 16))->capture_default_str();
    generate->add_option("--temperature", n.temperature, "0: greedy; else sampled with a seed per repeat")->check(CLI::NonNegativeNumber)->capture_default_str();
    generate->add_option("--repeats", n.repeats, "timed repeats of each")->check(CLI::Range(int64_t{1}, int64_t{1000}))->capture_default_str();
    generate->add_option("--threads", n.threads, "threads P for both OpenMP and BLAS")->check(CLI::Range(int64_t{1}, int64_t{1024}))->capture_default_str();
    generate->add_option("--seed", n.seed, "seed for the weights, the prompt and the sampling")->capture_default_str();

    CLI11_PARSE(app, argc, argv);
    try {
        if (*gpt) {
            if (g.d_model % g.heads != 0)
                throw CLI::ValidationError("--heads", fmt::format("{} heads do not divide --d-model {}", g.heads, g.d_model));
            return run_gpt(g);
        }
        if (*cnn) return run_cnn(c);
        if (*rnn) return run_rnn(r);
        if (*tokenize) return run_tokenize(k);
        if (*generate) {
            if (n.d_model % n.heads != 0)
                throw CLI::ValidationError("--heads", fmt::format("{} heads do not divide --d-model {}", n.heads, n.d_model));
            if (n.prompt >= n.context)
                throw CLI::ValidationError("--prompt", fmt::format("{} tokens leave nothing to generate in --context {}", n.prompt, n.context));
            return run_generate(n);
        }
        return run_layernorm(l);
    } catch (const CLI::Error& e) {
        return app.exit(e);
    } catch (const std::exception& e) {
        fmt::print(stderr, "tapegrad-bench: {}\n", e.what());
        return 1;
    }
}
