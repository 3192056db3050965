// soak: a long training run that watches memory. Every step draws a fresh batch, trains, runs
// an evaluation forward with and without NoGradGuard, and now and then saves and reloads a
// checkpoint; every --report-every steps it prints the resident set size (RSS) and
// tapegrad's own counters. It fails (exit 1) when the counters drift or RSS keeps growing.
//
//   soak --minutes 10               # about ten minutes of the default model
//   soak --steps 200 --csv rss.csv  # a fixed number of steps, samples also written as CSV
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <tapegrad.hpp>

#include "bench/bench_common.hpp"

using namespace tg;

namespace {

struct Args {
    int64_t vocab = 65, context = 64, d_model = 64, layers = 2, heads = 4, batch = 8;
    int64_t steps = 0;  // 0: run for --minutes
    double minutes = 1.0;
    int64_t report_every = 100, checkpoint_every = 500, threads = 2;
    double max_growth_mb = 16.0;
    std::string csv;
    uint64_t seed = 1;
};

struct Sample {
    int64_t step;
    double seconds, rss_mb, cached_mb;
    MemoryStats stats;
};

int run(const Args& a) {
    set_num_threads(static_cast<int>(a.threads));
    nn::GPTConfig cfg;
    cfg.vocab_size = a.vocab;
    cfg.context_length = a.context;
    cfg.d_model = a.d_model;
    cfg.n_layer = a.layers;
    cfg.n_head = a.heads;
    cfg.dropout = 0.1;
    cfg.seed = a.seed;
    nn::GPT model(cfg);
    optim::AdamW opt(optim::weight_decay_groups(model, optim::AdamWOptions{.lr = 1e-3, .weight_decay = 0.1}));
    Generator gen(a.seed + 1);
    const auto dir = std::filesystem::temp_directory_path() / fmt::format("tapegrad-soak-{}", ::getpid());
    std::filesystem::create_directories(dir);
    const std::string ckpt = (dir / "model.safetensors").string();

    std::FILE* csv = nullptr;
    if (!a.csv.empty()) {
        csv = std::fopen(a.csv.c_str(), "w");
        if (!csv) throw IOError(fmt::format("soak: cannot write '{}'", a.csv));
        std::fputs("step,seconds,rss_mb,live_tensors,live_bytes,tape_entries,cached_mb\n", csv);
    }
    fmt::print("model: V={} T={} C={} L={} H={} B={} threads={}\n", a.vocab, a.context, a.d_model, a.layers,
               a.heads, a.batch, a.threads);
    fmt::print("{:>8} {:>9} {:>8} {:>12} {:>12} {:>6} {:>9} {:>8}\n", "step", "seconds", "rss_mb", "live_tensors",
               "live_bytes", "tape", "cached_mb", "loss");

    const double t0 = bench::now_ms();
    const double limit_ms = a.minutes * 60e3;
    std::vector<Sample> samples;
    MemoryStats base{};
    int64_t drifted = 0;
    double loss_value = 0;
    for (int64_t step = 1;; ++step) {
        const Tensor x = Tensor::randint(0, a.vocab, {a.batch, a.context}, gen);
        const Tensor y = Tensor::randint(0, a.vocab, {a.batch, a.context}, gen);
        opt.zero_grad();
        {
            Tensor loss = model.loss(x, y);
            loss.backward();
            loss_value = loss.item<double>();
        }
        opt.step();
        {
            Tensor forgot_guard = model.loss(x, y);  // recorded and dropped
            NoGradGuard no_grad;
            model.eval();
            Tensor eval_loss = model.loss(x, y);
            model.train();
        }
        if (a.checkpoint_every > 0 && step % a.checkpoint_every == 0) {
            model.save(ckpt);
            model.load(ckpt);
        }
        const MemoryStats now = memory_stats();
        if (step == 2) base = now;  // step 1 created the gradients and AdamW's moments
        if (step > 2 && (now.live_tensors != base.live_tensors || now.live_bytes != base.live_bytes ||
                         now.tape_entries != 0)) {
            if (drifted++ == 0)
                fmt::print(stderr, "soak: step {}: live tensors {} -> {}, live bytes {} -> {}, tape entries {}\n",
                           step, base.live_tensors, now.live_tensors, base.live_bytes, now.live_bytes,
                           now.tape_entries);
        }
        const double elapsed = bench::now_ms() - t0;
        const bool last = a.steps > 0 ? step >= a.steps : elapsed >= limit_ms;
        if (step % a.report_every == 0 || last) {
            const Sample s{step, elapsed / 1e3, bench::rss_mb(), static_cast<double>(now.cached_bytes) / 1e6, now};
            samples.push_back(s);
            fmt::print("{:>8} {:>9.1f} {:>8.1f} {:>12} {:>12} {:>6} {:>9.1f} {:>8.4f}\n", s.step, s.seconds, s.rss_mb,
                       now.live_tensors, now.live_bytes, now.tape_entries, s.cached_mb, loss_value);
            if (csv)
                std::fprintf(csv, "%lld,%.3f,%.2f,%lld,%lld,%lld,%.2f\n", static_cast<long long>(s.step), s.seconds,
                             s.rss_mb, static_cast<long long>(now.live_tensors),
                             static_cast<long long>(now.live_bytes), static_cast<long long>(now.tape_entries),
                             s.cached_mb);
            if (csv) std::fflush(csv);  // a run stopped early keeps its samples
            std::fflush(stdout);
        }
        if (last) break;
    }
    if (csv) std::fclose(csv);
    std::filesystem::remove_all(dir);

    // RSS growth from the first sample past a tenth of the run (start-up and the allocator's
    // first arenas settle before that) to the last one.
    const Sample& end = samples.back();
    const Sample* from = &samples.front();
    for (const Sample& s : samples)
        if (s.step * 10 >= end.step) {
            from = &s;
            break;
        }
    const double growth = end.rss_mb - from->rss_mb;
    // The kernel updates VmHWM lazily, so it can trail a VmRSS sample; report the larger.
    double peak = bench::peak_rss_mb();
    for (const Sample& s : samples) peak = std::max(peak, s.rss_mb);
    const double hours = (end.seconds - from->seconds) / 3600.0;
    fmt::print("steps: {}\nseconds: {:.1f}\n", end.step, end.seconds);
    fmt::print("rss_mb_first: {:.1f}\nrss_mb_from: {:.1f} (step {})\nrss_mb_last: {:.1f}\npeak_rss_mb: {:.1f}\n",
               samples.front().rss_mb, from->rss_mb, from->step, end.rss_mb, peak);
    fmt::print("rss_growth_mb: {:.2f}\nrss_growth_mb_per_hour: {:.2f}\n", growth,
               hours > 0 ? growth / hours : 0.0);
    fmt::print("steps_with_drift: {}\n", drifted);
    const bool ok = drifted == 0 && growth <= a.max_growth_mb;
    fmt::print("verdict: {}\n", ok ? "bounded" : "GROWING");
    return ok ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{"soak: a long tapegrad training run that reports RSS and memory counters over time"};
    Args a;
    app.add_option("--steps", a.steps, "Steps to run; 0 runs for --minutes")->check(CLI::NonNegativeNumber);
    app.add_option("--minutes", a.minutes, "Wall-clock minutes to run when --steps is 0")->check(CLI::PositiveNumber);
    app.add_option("--report-every", a.report_every, "Steps between RSS samples")->check(CLI::PositiveNumber);
    app.add_option("--checkpoint-every", a.checkpoint_every, "Steps between a checkpoint save + load (0: never)")
        ->check(CLI::NonNegativeNumber);
    app.add_option("--max-growth-mb", a.max_growth_mb, "Fail when RSS grows by more than this after the first tenth");
    app.add_option("--csv", a.csv, "Also write the samples to this CSV file");
    app.add_option("--vocab", a.vocab, "Vocabulary size")->check(CLI::PositiveNumber);
    app.add_option("--context", a.context, "Sequence length T")->check(CLI::PositiveNumber);
    app.add_option("--d-model", a.d_model, "Model width C")->check(CLI::PositiveNumber);
    app.add_option("--layers", a.layers, "Transformer blocks")->check(CLI::PositiveNumber);
    app.add_option("--heads", a.heads, "Attention heads (must divide --d-model)")->check(CLI::PositiveNumber);
    app.add_option("--batch", a.batch, "Sequences per step")->check(CLI::PositiveNumber);
    app.add_option("--threads", a.threads, "Threads for OpenMP and OpenBLAS")->check(CLI::PositiveNumber);
    app.add_option("--seed", a.seed, "Seed of the model and the data");
    CLI11_PARSE(app, argc, argv);
    try {
        return run(a);
    } catch (const std::exception& e) {
        fmt::print(stderr, "soak: {}\n", e.what());
        return 2;
    }
}
