// torch-bench: the libtorch reference for tapegrad-bench. The same GPT in nanoGPT's layout
// (wte, wpe, blocks of ln_1, attn.c_attn, attn.c_proj, ln_2, mlp.c_fc, GELU (tanh form),
// mlp.c_proj; ln_f; lm_head tied to wte), the attention written as nanoGPT does without
// flash attention (softmax(mask(q k^T / sqrt(hs))) v, the only form libtorch 1.13 has),
// AdamW with weight decay on the 2-d weights only, the same flags and the same output lines;
// the Fashion-MNIST example's CNN (cnn), and torch::nn::LSTM / GRU (rnn).
#include <dlfcn.h>
#include <ATen/autocast_mode.h>
#include <torch/torch.h>

#include <CLI/CLI.hpp>
#include <cmath>
#include <cstdio>
#include <string>

#include "bench/bench_common.hpp"

namespace {

struct Config {
    int64_t vocab = 65, context = 64, d_model = 64, layers = 2, heads = 4, batch = 8;
    int64_t steps = 50, warmup = 5, threads = 2;
    std::string norm = "pre", dtype = "f32", autocast = "off";
    uint64_t seed = 1;
};

struct BlockImpl : torch::nn::Module {
    BlockImpl(const Config& c, bool use_norm)
        : n_head(c.heads), norm(use_norm) {
        const int64_t C = c.d_model;
        ln_1 = register_module("ln_1", torch::nn::LayerNorm(torch::nn::LayerNormOptions({C})));
        ln_2 = register_module("ln_2", torch::nn::LayerNorm(torch::nn::LayerNormOptions({C})));
        c_attn = register_module("c_attn", torch::nn::Linear(C, 3 * C));
        attn_proj = register_module("attn_proj", torch::nn::Linear(C, C));
        c_fc = register_module("c_fc", torch::nn::Linear(C, 4 * C));
        mlp_proj = register_module("mlp_proj", torch::nn::Linear(4 * C, C));
        const int64_t T = c.context;
        mask = register_buffer("mask", torch::ones({T, T}, torch::kBool).tril().logical_not());
    }

    torch::Tensor attn(const torch::Tensor& x) {
        const int64_t B = x.size(0), T = x.size(1), C = x.size(2), hs = C / n_head;
        auto qkv = c_attn(x).split(C, 2);
        auto q = qkv[0].view({B, T, n_head, hs}).transpose(1, 2);
        auto k = qkv[1].view({B, T, n_head, hs}).transpose(1, 2);
        auto v = qkv[2].view({B, T, n_head, hs}).transpose(1, 2);
        auto att = torch::matmul(q, k.transpose(-2, -1)) * (1.0 / std::sqrt(static_cast<double>(hs)));
        att = att.masked_fill(mask.slice(0, 0, T).slice(1, 0, T), -INFINITY);
        att = torch::softmax(att, -1);
        auto y = torch::matmul(att, v).transpose(1, 2).contiguous().view({B, T, C});
        return attn_proj(y);
    }
    torch::Tensor mlp(const torch::Tensor& x) {
        return mlp_proj(torch::gelu(c_fc(x), "tanh"));
    }
    torch::Tensor forward(torch::Tensor x, const std::string& placement) {
        if (placement == "pre") {
            x = x + attn(ln_1(x));
            return x + mlp(ln_2(x));
        }
        if (placement == "post") {
            x = ln_1(x + attn(x));
            return ln_2(x + mlp(x));
        }
        x = x + attn(x);
        return x + mlp(x);
    }

    int64_t n_head;
    bool norm;
    torch::nn::LayerNorm ln_1{nullptr}, ln_2{nullptr};
    torch::nn::Linear c_attn{nullptr}, attn_proj{nullptr}, c_fc{nullptr}, mlp_proj{nullptr};
    torch::Tensor mask;
};
TORCH_MODULE(Block);

struct GPTImpl : torch::nn::Module {
    explicit GPTImpl(const Config& c) : cfg(c) {
        wte = register_module("wte", torch::nn::Embedding(c.vocab, c.d_model));
        wpe = register_module("wpe", torch::nn::Embedding(c.context, c.d_model));
        for (int64_t i = 0; i < c.layers; ++i)
            blocks.push_back(register_module("h" + std::to_string(i), Block(c, c.norm != "none")));
        ln_f = register_module("ln_f", torch::nn::LayerNorm(torch::nn::LayerNormOptions({c.d_model})));
        // GPT-2 initialisation, as nanoGPT: N(0, 0.02) weights, zero biases, residual
        // projections scaled by 1/sqrt(2 L).
        torch::NoGradGuard ng;
        for (auto& p : named_parameters()) {
            if (p.key().find("weight") != std::string::npos && p.value().dim() == 2) {
                const bool proj = p.key().find("proj") != std::string::npos;
                p.value().normal_(0.0, proj ? 0.02 / std::sqrt(2.0 * static_cast<double>(c.layers)) : 0.02);
            } else if (p.key().find("bias") != std::string::npos) {
                p.value().zero_();
            }
        }
    }
    torch::Tensor loss(const torch::Tensor& idx, const torch::Tensor& targets) {
        const int64_t T = idx.size(1);
        auto pos = torch::arange(T, torch::kLong);
        auto x = wte(idx) + wpe(pos);
        for (auto& b : blocks) x = b->forward(x, cfg.norm);
        if (cfg.norm == "pre") x = ln_f(x);
        auto logits = torch::matmul(x, wte->weight.t());  // lm_head tied to wte
        return torch::nn::functional::cross_entropy(logits.view({-1, cfg.vocab}), targets.view({-1}));
    }

    Config cfg;
    torch::nn::Embedding wte{nullptr}, wpe{nullptr};
    std::vector<Block> blocks;
    torch::nn::LayerNorm ln_f{nullptr};
};
TORCH_MODULE(GPT);

// libtorch's own knob does not reach OpenBLAS's pthread pool; set it too when present.
void set_blas_threads(int n) {
    using Fn = void (*)(int);
    if (auto f = reinterpret_cast<Fn>(dlsym(RTLD_DEFAULT, "openblas_set_num_threads"))) f(n);
}
std::string blas_core() {
    using Fn = char* (*)();
    auto f = reinterpret_cast<Fn>(dlsym(RTLD_DEFAULT, "openblas_get_corename"));
    return f ? f() : "unknown";
}

int run_gpt(const Config& c) {
    torch::set_num_threads(static_cast<int>(c.threads));
    set_blas_threads(static_cast<int>(c.threads));
    torch::manual_seed(c.seed);
    if (c.dtype == "f64") torch::set_default_dtype(caffe2::TypeMeta::Make<double>());
    GPT model(c);
    std::vector<torch::Tensor> decay, no_decay;
    for (auto& p : model->parameters()) (p.dim() >= 2 ? decay : no_decay).push_back(p);
    std::vector<torch::optim::OptimizerParamGroup> groups;
    groups.emplace_back(decay, std::make_unique<torch::optim::AdamWOptions>(
                                   torch::optim::AdamWOptions(1e-4).weight_decay(0.1)));
    groups.emplace_back(no_decay, std::make_unique<torch::optim::AdamWOptions>(
                                      torch::optim::AdamWOptions(1e-4).weight_decay(0.0)));
    torch::optim::AdamW opt(groups);
    auto x = torch::randint(0, c.vocab, {c.batch, c.context}, torch::kLong);
    auto y = torch::randint(0, c.vocab, {c.batch, c.context}, torch::kLong);

    auto step = [&] {
        opt.zero_grad();
        // PyTorch's CPU autocast, as torch.autocast("cpu", torch.bfloat16) sets it up: on for the
        // forward, its cast cache cleared when it ends; backward runs outside it.
        at::autocast::set_cpu_enabled(c.autocast == "bf16");
        at::autocast::set_autocast_cpu_dtype(at::kBFloat16);
        auto loss = model->loss(x, y);
        at::autocast::set_cpu_enabled(false);
        at::autocast::clear_cache();
        loss.backward();
        opt.step();
        return loss.item<double>();
    };
    const bench::StepTimes t = bench::time_steps(step, c.warmup, c.steps);
    const std::vector<double>& ms = t.ms;
    const double first = t.first_loss, last = t.last_loss;
    const bench::AllocCounts before = t.before, after = t.after;
    const double med = bench::median(ms);
    const auto steps = static_cast<double>(c.steps);
    int64_t params = 0;
    for (auto& p : model->parameters()) params += p.numel();
    std::printf("framework: libtorch %s\n", TORCH_VERSION);
    std::printf("model: V=%ld T=%ld C=%ld L=%ld H=%ld B=%ld norm=%s dtype=%s\n", c.vocab, c.context,
                c.d_model, c.layers, c.heads, c.batch, c.norm.c_str(), c.dtype.c_str());
    std::printf("threads: %ld\n", c.threads);
    std::printf("blas: OpenBLAS core %s\n", blas_core().c_str());
    std::printf("autocast: %s\n", c.autocast == "bf16" ? "bf16 (torch autocast, CPU)" : "off");
    std::printf("params: %ld\n", params);
    std::printf("loss_first: %.4f\nloss_last: %.4f\n", first, last);
    std::printf("ms_min: %.3f\nms_p90: %.3f\n", bench::quantile(ms, 0.0), bench::quantile(ms, 0.9));
    std::printf("allocs_per_step: %.1f\n", static_cast<double>(after.buffers - before.buffers) / steps);
    std::printf("small_allocs_per_step: %.1f\n", static_cast<double>(after.small - before.small) / steps);
    std::printf("ms_per_step: %.3f\n", med);
    std::printf("tokens_per_s: %.0f\n", static_cast<double>(c.batch * c.context) / (med / 1e3));
    std::printf("peak_rss_mb: %.1f\n", bench::peak_rss_mb());
    return 0;
}

// The Fashion-MNIST example's CNN (examples/fashion_mnist/model.hpp), layer for layer.
struct CnnImpl : torch::nn::Module {
    CnnImpl(int64_t w, int64_t classes) {
        namespace F = torch::nn;
        conv1 = register_module("conv1", F::Conv2d(F::Conv2dOptions(1, w, 3).padding(1).bias(false)));
        bn1 = register_module("bn1", F::BatchNorm2d(w));
        conv2 = register_module("conv2", F::Conv2d(F::Conv2dOptions(w, 2 * w, 3).padding(1).bias(false)));
        bn2 = register_module("bn2", F::BatchNorm2d(2 * w));
        drop = register_module("drop", F::Dropout(0.25));
        fc1 = register_module("fc1", F::Linear(2 * w * 7 * 7, 128));
        fc2 = register_module("fc2", F::Linear(128, classes));
    }
    torch::Tensor forward(const torch::Tensor& x) {
        auto h = torch::max_pool2d(torch::relu(bn1(conv1(x))), 2);
        h = torch::max_pool2d(torch::relu(bn2(conv2(h))), 2);
        h = drop(h.flatten(1));
        return fc2(torch::relu(fc1(h)));
    }
    torch::nn::Conv2d conv1{nullptr}, conv2{nullptr};
    torch::nn::BatchNorm2d bn1{nullptr}, bn2{nullptr};
    torch::nn::Dropout drop{nullptr};
    torch::nn::Linear fc1{nullptr}, fc2{nullptr};
};
TORCH_MODULE(Cnn);

struct CnnConfig {
    int64_t batch = 128, width = 32, steps = 20, warmup = 3, threads = 2;
    uint64_t seed = 1;
};

int run_cnn(const CnnConfig& c) {
    torch::set_num_threads(static_cast<int>(c.threads));
    set_blas_threads(static_cast<int>(c.threads));
    torch::manual_seed(c.seed);
    Cnn model(c.width, 10);
    torch::optim::AdamW opt(model->parameters(), torch::optim::AdamWOptions(2e-3).weight_decay(5e-4));
    auto x = torch::randn({c.batch, 1, 28, 28});
    auto y = torch::randint(0, 10, {c.batch}, torch::kLong);
    auto step = [&] {
        opt.zero_grad();
        auto loss = torch::nn::functional::cross_entropy(model->forward(x), y);
        loss.backward();
        opt.step();
        return loss.item<double>();
    };
    const bench::StepTimes t = bench::time_steps(step, c.warmup, c.steps);
    const std::vector<double>& ms = t.ms;
    const double first = t.first_loss, last = t.last_loss;
    const double med = bench::median(ms);
    int64_t params = 0;
    for (auto& p : model->parameters()) params += p.numel();
    std::printf("framework: libtorch %s\n", TORCH_VERSION);
    std::printf("model: FashionCNN width=%ld B=%ld\n", c.width, c.batch);
    std::printf("threads: %ld\n", c.threads);
    std::printf("blas: OpenBLAS core %s\n", blas_core().c_str());
    std::printf("params: %ld\n", params);
    std::printf("loss_first: %.4f\nloss_last: %.4f\n", first, last);
    std::printf("ms_min: %.3f\nms_p90: %.3f\n", bench::quantile(ms, 0.0), bench::quantile(ms, 0.9));
    std::printf("ms_per_step: %.3f\n", med);
    std::printf("images_per_s: %.0f\n", static_cast<double>(c.batch) / (med / 1e3));
    std::printf("peak_rss_mb: %.1f\n", bench::peak_rss_mb());
    return 0;
}

struct LnConfig {
    int64_t rows = 4096, cols = 768, iters = 50, threads = 2;
};

int run_layernorm(const LnConfig& c) {
    torch::set_num_threads(static_cast<int>(c.threads));
    torch::manual_seed(1);
    auto x = torch::randn({c.rows, c.cols}).requires_grad_(true);
    auto w = torch::ones({c.cols}).requires_grad_(true);
    auto b = torch::zeros({c.cols}).requires_grad_(true);
    auto dy = torch::randn({c.rows, c.cols});
    std::vector<double> ms;
    for (int64_t i = 0; i < c.iters + 3; ++i) {
        x.mutable_grad() = torch::Tensor();
        w.mutable_grad() = torch::Tensor();
        b.mutable_grad() = torch::Tensor();
        const double t0 = bench::now_ms();
        auto y = torch::layer_norm(x, {c.cols}, w, b, 1e-5);
        y.backward(dy);
        if (i >= 3) ms.push_back(bench::now_ms() - t0);
    }
    const double med = bench::median(ms);
    const double bytes = bench::layernorm_bytes(c.rows, c.cols, 4);
    std::printf("framework: libtorch %s\n", TORCH_VERSION);
    std::printf("shape: %ld x %ld f32\nthreads: %ld\n", c.rows, c.cols, c.threads);
    std::printf("stream_copy_gb_per_s: %.1f\n", bench::stream_copy_gb_per_s(static_cast<int>(c.threads)));
    std::printf("bytes_moved_mb: %.1f\n", bytes / 1e6);
    std::printf("ms_fwd_bwd: %.3f\n", med);
    std::printf("gb_per_s: %.1f\n", bytes / (med / 1e3) / 1e9);
    return 0;
}


struct RnnConfig {
    std::string cell = "lstm";
    int64_t seq = 32, batch = 16, input = 64, hidden = 128, layers = 1, steps = 30, warmup = 3, threads = 2;
};

// torch::nn::LSTM / GRU forward + backward of mean(output^2), as tapegrad-bench rnn --impl fused.
int run_rnn(const RnnConfig& c) {
    torch::set_num_threads(static_cast<int>(c.threads));
    torch::manual_seed(1);
    const bool lstm = c.cell == "lstm";
    torch::nn::LSTM l(torch::nn::LSTMOptions(c.input, c.hidden).num_layers(c.layers));
    torch::nn::GRU g(torch::nn::GRUOptions(c.input, c.hidden).num_layers(c.layers));
    auto x = torch::randn({c.seq, c.batch, c.input});
    std::vector<double> ms;
    for (int64_t i = 0; i < c.warmup + c.steps; ++i) {
        const double t0 = bench::now_ms();
        if (lstm) l->zero_grad();
        else g->zero_grad();
        auto y = lstm ? std::get<0>(l->forward(x)) : std::get<0>(g->forward(x));
        auto loss = (y * y).mean();
        loss.backward();
        if (i >= c.warmup) ms.push_back(bench::now_ms() - t0);
    }
    std::printf("framework: libtorch %s\n", TORCH_VERSION);
    std::printf("model: %s T=%ld B=%ld in=%ld H=%ld layers=%ld\n", c.cell.c_str(), c.seq, c.batch, c.input, c.hidden,
                c.layers);
    std::printf("threads: %ld\n", c.threads);
    std::printf("ms_fwd_bwd: %.3f\n", bench::median(ms));
    std::printf("peak_rss_mb: %.1f\n", bench::peak_rss_mb());
    return 0;
}
}  // namespace

int main(int argc, char** argv) {
    CLI::App app{"torch-bench: the libtorch reference for tapegrad-bench (same flags, same output)"};
    app.require_subcommand(1);
    Config g;
    CLI::App* gpt = app.add_subcommand("gpt", "Train the same GPT with libtorch's AdamW; see tapegrad-bench gpt --help");
    gpt->add_option("--vocab", g.vocab, "vocabulary size V")->capture_default_str();
    gpt->add_option("--context", g.context, "sequence length T")->capture_default_str();
    gpt->add_option("--d-model", g.d_model, "model width C")->capture_default_str();
    gpt->add_option("--layers", g.layers, "transformer blocks L")->capture_default_str();
    gpt->add_option("--heads", g.heads, "attention heads H")->capture_default_str();
    gpt->add_option("--batch", g.batch, "sequences per step B")->capture_default_str();
    gpt->add_option("--steps", g.steps, "timed steps N")->check(CLI::PositiveNumber)->capture_default_str();
    gpt->add_option("--warmup", g.warmup, "untimed steps W")->capture_default_str();
    gpt->add_option("--threads", g.threads, "threads P (intra-op pool and OpenBLAS)")->check(CLI::PositiveNumber)->capture_default_str();
    gpt->add_option("--norm", g.norm, "norm placement")->check(CLI::IsMember({"pre", "post", "none"}))->capture_default_str();
    gpt->add_option("--dtype", g.dtype, "dtype")->check(CLI::IsMember({"f32", "f64"}))->capture_default_str();
    gpt->add_option("--autocast", g.autocast, "off or bf16 (torch's CPU autocast)")->check(CLI::IsMember({"off", "bf16"}))->capture_default_str();
    gpt->add_option("--seed", g.seed, "seed")->capture_default_str();
    CnnConfig cc;
    CLI::App* cnn = app.add_subcommand("cnn", "Train the same CNN with libtorch's AdamW; see tapegrad-bench cnn --help");
    cnn->add_option("--batch", cc.batch, "images per step B")->check(CLI::PositiveNumber)->capture_default_str();
    cnn->add_option("--width", cc.width, "channels of the first conv")->check(CLI::PositiveNumber)->capture_default_str();
    cnn->add_option("--steps", cc.steps, "timed steps N")->check(CLI::PositiveNumber)->capture_default_str();
    cnn->add_option("--warmup", cc.warmup, "untimed steps W")->capture_default_str();
    cnn->add_option("--threads", cc.threads, "threads P (intra-op pool and OpenBLAS)")->check(CLI::PositiveNumber)->capture_default_str();
    cnn->add_option("--seed", cc.seed, "seed")->capture_default_str();
    LnConfig l;
    CLI::App* ln = app.add_subcommand("layernorm", "layer_norm forward + backward; see tapegrad-bench layernorm --help");
    ln->add_option("--rows", l.rows, "rows R")->capture_default_str();
    ln->add_option("--cols", l.cols, "columns C")->capture_default_str();
    ln->add_option("--iters", l.iters, "timed repeats")->capture_default_str();
    ln->add_option("--threads", l.threads, "threads P")->check(CLI::PositiveNumber)->capture_default_str();
    RnnConfig rc;
    CLI::App* rnn = app.add_subcommand("rnn", "torch::nn::LSTM / GRU forward + backward; see tapegrad-bench rnn --help");
    rnn->add_option("--cell", rc.cell, "lstm or gru")->check(CLI::IsMember({"lstm", "gru"}))->capture_default_str();
    rnn->add_option("--seq", rc.seq, "steps T")->check(CLI::PositiveNumber)->capture_default_str();
    rnn->add_option("--batch", rc.batch, "sequences B")->check(CLI::PositiveNumber)->capture_default_str();
    rnn->add_option("--input", rc.input, "input features")->check(CLI::PositiveNumber)->capture_default_str();
    rnn->add_option("--hidden", rc.hidden, "hidden size H")->check(CLI::PositiveNumber)->capture_default_str();
    rnn->add_option("--layers", rc.layers, "stacked layers")->check(CLI::PositiveNumber)->capture_default_str();
    rnn->add_option("--steps", rc.steps, "timed repeats N")->check(CLI::PositiveNumber)->capture_default_str();
    rnn->add_option("--warmup", rc.warmup, "untimed repeats W")->capture_default_str();
    rnn->add_option("--threads", rc.threads, "threads P (intra-op pool and OpenBLAS)")->check(CLI::PositiveNumber)->capture_default_str();
    CLI11_PARSE(app, argc, argv);
    if (*gpt) {
        if (g.d_model % g.heads != 0) {
            std::fprintf(stderr, "torch-bench: --heads %ld does not divide --d-model %ld\n", g.heads, g.d_model);
            return 2;
        }
        return run_gpt(g);
    }
    if (*cnn) return run_cnn(cc);
    if (*rnn) return run_rnn(rc);
    return run_layernorm(l);
}
