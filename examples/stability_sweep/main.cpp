// The gradient-stability sweep (Xiong et al. 2020, "On Layer Normalization in the Transformer
// Architecture"): the per-block gradient norms of a GPT at initialisation against depth, and a
// map of which LayerNorm placement trains at which depth and learning rate, with and without
// warmup, for two initialisations. Writes sweep.csv, init_grads.csv and report.svg to --out.
#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>
#include <tapegrad.hpp>

#include "../common/cli_checks.hpp"
#include "../train_tiny_transformer/tasks.hpp"
#include "report.hpp"
#include "stability.hpp"

using namespace tg;
using namespace example;
namespace fs = std::filesystem;

namespace {

struct Options {
    std::vector<int64_t> depths{2, 6, 12}, scaling_depths{2, 4, 8, 16, 32};
    std::vector<double> lrs{1e-3, 3e-3, 1e-2, 3e-2};
    std::vector<std::string> inits{"gpt2", "xavier"}, placements{"pre", "post", "none"};
    int64_t steps = 250, warmup_steps = -1, scaling_seeds = 3, scaling_batches = 2, evals = 4;
    double warmup_fraction = 0.1, weight_decay = 0.1;
    int64_t batch = 32, d_model = 64, heads = 4, length = 8, threads = 2;
    uint64_t seed = 1;
    std::string out = "runs/stability_sweep";
};

// The error every bad command line raises; main prints it and exits 2.
struct UsageError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

nn::Norm norm_of(const std::string& s) { return s == "post" ? nn::Norm::post : s == "none" ? nn::Norm::none : nn::Norm::pre; }
nn::Init init_of(const std::string& s) { return s == "xavier" ? nn::Init::xavier : nn::Init::gpt2; }

// Xiong et al. 2020, Theorems 1 and 2: at initialisation the last layers' gradient norm does not
// depend on depth with Post-LN and shrinks like 1/sqrt(L) with Pre-LN; no claim without norm.
std::optional<double> predicted_slope(const std::string& variant) {
    if (variant == "pre") return -0.5;
    if (variant == "post") return 0.0;
    return std::nullopt;
}

std::string clock_str(double seconds) {
    const auto s = static_cast<int64_t>(std::max(0.0, seconds));
    return fmt::format("{}:{:02d}", s / 60, s % 60);
}

double seconds_since(std::chrono::steady_clock::time_point t) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

nn::GPTConfig model_config(const Options& o, const Task& task, const std::string& variant, const std::string& init,
                           int64_t layers, uint64_t seed) {
    return {.vocab_size = task.vocab_size(), .context_length = task.context_length(), .d_model = o.d_model,
            .n_layer = layers, .n_head = o.heads, .norm = norm_of(variant), .init = init_of(init),
            .tie_embeddings = true, .dropout = 0.0, .seed = seed};
}

// Part 1: the gradient norm of every block after one backward of the training loss at
// initialisation (no optimizer step), averaged over scaling_seeds weight seeds x
// scaling_batches batches.
std::vector<InitGradRow> gradients_at_init(const Options& o, const Task& task) {
    std::vector<InitGradRow> rows;
    for (const auto& variant : o.placements)
        for (const auto& init : o.inits)
            for (int64_t L : o.scaling_depths) {
                std::vector<double> sum(static_cast<std::size_t>(L), 0.0);
                for (int64_t s = 0; s < o.scaling_seeds; ++s) {
                    nn::GPT model(model_config(o, task, variant, init, L, o.seed + static_cast<uint64_t>(s)));
                    for (int64_t k = 0; k < o.scaling_batches; ++k) {
                        model.zero_grad();
                        batch_loss(model, task.train_batch(o.batch, k)).backward();
                        const std::vector<double> norms = nn::block_grad_norms(model);
                        for (std::size_t b = 0; b < norms.size(); ++b) sum[b] += norms[b];
                    }
                }
                const auto n = static_cast<double>(o.scaling_seeds * o.scaling_batches);
                for (int64_t b = 0; b < L; ++b) rows.push_back({variant, init, L, b, sum[static_cast<std::size_t>(b)] / n});
            }
    return rows;
}

std::vector<ScalingFit> fit_scaling(const Options& o, const std::vector<InitGradRow>& rows) {
    std::vector<ScalingFit> fits;
    for (const auto& variant : o.placements)
        for (const auto& init : o.inits) {
            std::vector<double> depth, last;
            for (const auto& r : rows)
                if (r.variant == variant && r.init == init && r.block == r.layers - 1) {
                    depth.push_back(static_cast<double>(r.layers));
                    last.push_back(r.grad_norm);
                }
            const LogLogFit f = loglog_fit(depth, last);
            fits.push_back({variant, init, f.slope, f.intercept, predicted_slope(variant)});
        }
    return fits;
}

void print_scaling(const Options& o, const std::vector<InitGradRow>& rows) {
    fmt::print("\nlast block's gradient norm at initialisation (mean of {} seeds x {} batches)\n", o.scaling_seeds,
               o.scaling_batches);
    fmt::print("{:<6} {:<7}", "norm", "init");
    for (int64_t L : o.scaling_depths) fmt::print(" {:>9}", fmt::format("L={}", L));
    fmt::print("\n");
    for (const auto& variant : o.placements)
        for (const auto& init : o.inits) {
            fmt::print("{:<6} {:<7}", variant, init);
            for (int64_t L : o.scaling_depths)
                for (const auto& r : rows)
                    if (r.variant == variant && r.init == init && r.layers == L && r.block == L - 1)
                        fmt::print(" {:>9.3g}", r.grad_norm);
            fmt::print("\n");
        }
}

void print_slopes(const std::vector<ScalingFit>& fits) {
    fmt::print("slope of log(last block's gradient norm) against log(depth) at initialisation:\n");
    for (const auto& f : fits)
        fmt::print("  {:<5} {:<7} slope {:+.3f}   Xiong et al. 2020 predict {}\n", f.variant, f.init, f.slope,
                   f.predicted ? fmt::format("{:+.1f}", *f.predicted) : std::string("nothing (no norm)"));
}

// The share of held-out rows whose every answer token is the model's most likely next token,
// given the true tokens before it: one forward pass. It equals the task's accuracy() (exact
// match of the greedily generated answer), which generates the answer one token at a time: a
// greedy answer is right exactly when each of its tokens is the argmax after the right prefix.
// (Only a tie between two logits, or last-bit differences between the two forward passes, can
// tell them apart.) accuracy() costs about as much as 30-70 training steps of batch 32, this
// about 2.
double teacher_forced_exact_match(nn::GPT& model, const Batch& b) {
    NoGradGuard ng;
    const bool was_training = model.is_training();
    model.eval();
    const Tensor predicted = argmax(model.logits(b.tokens), -1);  // (B, T)
    model.train(was_training);
    const std::vector<int64_t> got = predicted.to_vector<int64_t>(), want = b.targets.to_vector<int64_t>();
    const int64_t B = b.tokens.shape()[0], T = b.tokens.shape()[1];
    int64_t correct = 0;
    for (int64_t r = 0; r < B; ++r) {
        bool same = true;
        for (int64_t t = b.loss_start; t < T; ++t) same = same && got[r * T + t] == want[r * T + t];
        correct += same;
    }
    return static_cast<double>(correct) / static_cast<double>(B);
}

struct Cell {
    std::string variant, init;
    int64_t layers;
    double lr;
    int64_t warmup;
};

// Part 2: one cell of the stability map. AdamW (betas 0.9, 0.98) with linear warmup then cosine
// decay to lr/10, no gradient clipping (it would hide the instability), the same seed and data in
// every cell. Stops at the first non-finite loss.
CellRow train_cell(const Options& o, const Task& task, const Cell& c, bool& accuracy_checked) {
    nn::GPT model(model_config(o, task, c.variant, c.init, c.layers, o.seed));
    optim::AdamW opt(optim::weight_decay_groups(
        model, optim::AdamWOptions{.lr = c.lr, .beta1 = 0.9, .beta2 = 0.98, .weight_decay = o.weight_decay}));
    optim::CosineDecay schedule(c.lr, c.warmup, o.steps, c.lr / 10);
    CellRow row{c.variant, c.init, c.layers, c.lr, c.warmup, NAN, 0.0, false, std::nullopt, 0.0};
    std::vector<double> losses;
    for (int64_t step = 0; step < o.steps; ++step) {
        schedule.apply(opt, step);
        opt.zero_grad();
        Tensor loss = batch_loss(model, task.train_batch(o.batch, step));
        loss.backward();
        losses.push_back(loss.item<double>());
        const double gn = nn::global_grad_norm(model);
        row.max_grad_norm = std::max(row.max_grad_norm, std::isfinite(gn) ? gn : INFINITY);
        if (!std::isfinite(losses.back())) break;
        opt.step();
        // Held-out accuracy at o.evals evenly spaced points, the last at the end.
        if ((step + 1) % std::max<int64_t>(1, o.steps / o.evals) == 0 || step == o.steps - 1) {
            const double acc = teacher_forced_exact_match(model, task.eval_batch());
            row.best_eval_accuracy = std::max(row.best_eval_accuracy, acc);
            // Once per sweep, at the end of the first run that got any row right, the task's
            // own accuracy() confirms that the cheap form measures the same thing.
            if (step == o.steps - 1 && acc > 0 && !accuracy_checked) {
                accuracy_checked = true;
                const double full = task.accuracy(model);
                fmt::print("accuracy check: teacher-forced exact match {:.4f}, the task's accuracy() {:.4f}: {}\n", acc, full,
                           std::abs(acc - full) <= 0.01 ? "the same" : "DIFFERENT");
            }
        }
    }
    if (std::isfinite(losses.back())) {
        NoGradGuard ng;
        row.final_loss = batch_loss(model, task.eval_batch()).item<double>();
    } else {
        row.final_loss = losses.back();
    }
    const Divergence d = classify_divergence(losses);
    row.diverged = d.diverged;
    row.diverged_step = d.step;
    return row;
}

std::vector<Cell> grid(const Options& o, int64_t warmup) {
    std::vector<Cell> cells;
    for (const auto& variant : o.placements)
        for (const auto& init : o.inits)
            for (int64_t w : {warmup, int64_t{0}})
                for (int64_t L : o.depths)
                    for (double lr : o.lrs) cells.push_back({variant, init, L, lr, w});
    return cells;
}

// The map as text: per placement, init and warmup, the held-out loss of each depth x lr cell, or
// "diverged@step".
void print_map(const Options& o, const std::vector<CellRow>& rows, int64_t warmup) {
    fmt::print("\nstability map: held-out loss after {} steps; 'div@S' = diverged at step S (best accuracy in brackets)\n",
               o.steps);
    for (const auto& variant : o.placements)
        for (const auto& init : o.inits)
            for (int64_t w : {warmup, int64_t{0}}) {
                int64_t n = 0, diverged = 0;
                for (const auto& r : rows)
                    if (r.variant == variant && r.init == init && r.warmup == w) ++n, diverged += r.diverged;
                fmt::print("{} {} warmup {}: {} of {} cells diverged\n  {:>5}", variant, init, w, diverged, n, "lr");
                for (double lr : o.lrs) fmt::print(" {:>16}", fmt::format("{}", lr));
                fmt::print("\n");
                for (int64_t L : o.depths) {
                    fmt::print("  {:>5}", fmt::format("L={}", L));
                    for (double lr : o.lrs)
                        for (const auto& r : rows)
                            if (r.variant == variant && r.init == init && r.warmup == w && r.layers == L && r.lr == lr)
                                fmt::print(" {:>16}", r.diverged ? fmt::format("div@{}", *r.diverged_step)
                                                                 : fmt::format("{:.3g} ({:.0f}%)", r.final_loss,
                                                                               100 * r.best_eval_accuracy));
                    fmt::print("\n");
                }
            }
}

int run(const Options& o) {
    set_num_threads(static_cast<int>(o.threads));
    const int64_t warmup = o.warmup_steps >= 0 ? o.warmup_steps
                                               : std::max<int64_t>(1, std::llround(o.warmup_fraction * static_cast<double>(o.steps)));
    const std::unique_ptr<Task> task = make_sequence_task("sort", o.length, o.seed);
    const fs::path dir(o.out);
    fs::create_directories(dir);
    const auto wall = std::chrono::steady_clock::now();
    fmt::print("tapegrad stability sweep: sort {} digits, d_model {}, {} heads, batch {}, {} thread(s)\n", o.length, o.d_model,
               o.heads, o.batch, o.threads);

    fmt::print("gradients at initialisation: depths {}, {} seeds x {} batches\n", fmt::join(o.scaling_depths, ","),
               o.scaling_seeds, o.scaling_batches);
    const std::vector<InitGradRow> grads = gradients_at_init(o, *task);
    const std::vector<ScalingFit> fits = fit_scaling(o, grads);
    nn::write_file_atomically((dir / "init_grads.csv").string(), init_grads_csv(grads));
    print_scaling(o, grads);
    print_slopes(fits);
    fmt::print("({})\n\n", clock_str(seconds_since(wall)));

    const std::vector<Cell> cells = grid(o, warmup);
    fmt::print("stability map: {} cells ({} steps each, warmup {} or 0 steps, AdamW betas 0.9/0.98, no clipping)\n",
               cells.size(), o.steps, warmup);
    // The ETA weighs each cell by its depth: a step costs about as much per block.
    double total_weight = 0, done_weight = 0, map_seconds = 0;
    for (const auto& c : cells) total_weight += static_cast<double>(c.layers);
    std::vector<CellRow> rows;
    bool accuracy_checked = false;
    const std::string subtitle = fmt::format("sort {} digits, d_model {}, {} heads, batch {}, {} steps per cell, seed {}",
                                             o.length, o.d_model, o.heads, o.batch, o.steps, o.seed);
    for (std::size_t i = 0; i < cells.size(); ++i) {
        const Cell& c = cells[i];
        const auto t0 = std::chrono::steady_clock::now();
        rows.push_back(train_cell(o, *task, c, accuracy_checked));
        map_seconds += seconds_since(t0);
        done_weight += static_cast<double>(c.layers);
        const CellRow& r = rows.back();
        fmt::print("cell {} of {} ({}, {}, L={}, lr {}, warmup {}): final loss {:.4g}, accuracy {:.1f}%, diverged {}, "
                   "max |g| {:.3g}, {:.1f} s, ETA {}\n",
                   i + 1, cells.size(), c.variant, c.init, c.layers, c.lr, c.warmup, r.final_loss, 100 * r.best_eval_accuracy,
                   r.diverged ? fmt::format("at step {}", *r.diverged_step) : "no", r.max_grad_norm,
                   seconds_since(t0), clock_str(map_seconds / done_weight * (total_weight - done_weight)));
        std::fflush(stdout);
        // Written after every cell, so that a sweep stopped early leaves what it had.
        nn::write_file_atomically((dir / "sweep.csv").string(), sweep_csv(rows));
    }
    nn::write_file_atomically((dir / "report.svg").string(), report_svg(rows, grads, fits, subtitle));
    print_map(o, rows, warmup);
    fmt::print("\nwrote {}/sweep.csv, init_grads.csv, report.svg (total {})\n", o.out, clock_str(seconds_since(wall)));
    print_slopes(fits);
    return 0;
}

template <class T>
void check_list(const std::vector<T>& v, const std::string& flag, const std::string& example) {
    if (v.empty()) throw UsageError(fmt::format("{} is empty: give a comma-separated list such as {}", flag, example));
    if (std::set<T>(v.begin(), v.end()).size() != v.size())
        throw UsageError(fmt::format("{} {} names a value twice", flag, fmt::join(v, ",")));
}

// The checks CLI11 cannot do alone; CLI11 checks each element's range and spelling.
void check(Options& o, bool warmup_steps_given) {
    check_list(o.depths, "--depths", "2,6,12");
    check_list(o.lrs, "--lrs", "1e-3,3e-3,1e-2");
    check_list(o.inits, "--inits", "gpt2,xavier");
    check_list(o.placements, "--placements", "pre,post,none");
    check_list(o.scaling_depths, "--scaling-depths", "2,4,8,16,32");
    if (o.scaling_depths.size() < 2)
        throw UsageError(fmt::format("--scaling-depths {}: the slope needs at least two depths", fmt::join(o.scaling_depths, ",")));
    if (o.d_model % o.heads != 0)
        throw UsageError(fmt::format("--d-model {} is not divisible by --heads {}", o.d_model, o.heads));
    if (warmup_steps_given && o.warmup_steps > o.steps)
        throw UsageError(fmt::format("--warmup-steps {} is longer than --steps {}", o.warmup_steps, o.steps));
}

// A check of one element of a comma-separated list flag (CLI11 runs it on each): a number in
// [lo, hi], integer when `integer`; the error says what to give instead.
CLI::Validator list_element(double lo, double hi, bool integer, const std::string& example) {
    return CLI::Validator(
        [=](std::string& s) -> std::string {
            if (s.empty()) return fmt::format("empty value: give a comma-separated list such as {}", example);
            std::size_t used = 0;
            double v = NAN;
            try {
                v = std::stod(s, &used);
            } catch (const std::exception&) {
            }
            if (used != s.size() || !std::isfinite(v) || (integer && v != std::floor(v)))
                return fmt::format("'{}' is not {}: give a list such as {}", s, integer ? "a whole number" : "a number", example);
            if (lo > 0 && v <= 0) return fmt::format("{} is not positive: give a list such as {}", s, example);
            if (v < lo || v > hi) return fmt::format("{} is outside [{:g}, {:g}]: give a list such as {}", s, lo, hi, example);
            return "";
        },
        "", "list_element");
}

}  // namespace

int main(int argc, char** argv) {
    Options o;
    CLI::App app{"Gradient-stability sweep of a tiny GPT (Xiong et al. 2020): gradient norms at initialisation against "
                 "depth, and which LayerNorm placement trains at which depth and learning rate, with and without warmup."};
    app.add_option("--depths", o.depths, "blocks of the trained models, comma-separated (the map's rows)")
        ->delimiter(',')->check(list_element(1, 64, true, "2,6,12"))->capture_default_str();
    app.add_option("--lrs", o.lrs, "peak learning rates, comma-separated (the map's columns)")
        ->delimiter(',')->check(list_element(1e-8, 10, false, "1e-3,3e-3,1e-2,3e-2"))->capture_default_str();
    auto* warmup_steps = app.add_option("--warmup-steps", o.warmup_steps, "warmup steps of the runs with warmup (the others run without)");
    warmup_steps->check(CLI::Range(int64_t{1}, int64_t{100000000}));
    app.add_option("--warmup-fraction", o.warmup_fraction, "warmup of the runs with warmup, as a fraction of --steps (rounded, at least 1 step)")
        ->check(in_range(0.0, 1.0))->excludes(warmup_steps)->capture_default_str();
    app.add_option("--steps", o.steps, "training steps per cell")->check(CLI::Range(1, 100000000))->capture_default_str();
    app.add_option("--evals", o.evals, "held-out accuracy evaluations per cell (evenly spaced, the last at the end)")
        ->check(CLI::Range(1, 1000))->capture_default_str();
    app.add_option("--inits", o.inits, "initialisations: gpt2, xavier")
        ->delimiter(',')->check(CLI::IsMember({"gpt2", "xavier"}))->capture_default_str();
    app.add_option("--placements", o.placements, "LayerNorm placements: pre, post, none")
        ->delimiter(',')->check(CLI::IsMember({"pre", "post", "none"}))->capture_default_str();
    app.add_option("--scaling-depths", o.scaling_depths, "depths of the gradient-at-initialisation study")
        ->delimiter(',')->check(list_element(1, 256, true, "2,4,8,16,32"))->capture_default_str();
    app.add_option("--scaling-seeds", o.scaling_seeds, "weight seeds averaged at each depth")->check(CLI::Range(1, 1000))->capture_default_str();
    app.add_option("--scaling-batches", o.scaling_batches, "batches averaged per seed")->check(CLI::Range(1, 1000))->capture_default_str();
    app.add_option("--batch", o.batch, "sequences per step")->check(CLI::Range(1, 65536))->capture_default_str();
    app.add_option("--d-model", o.d_model, "embedding width")->check(CLI::Range(4, 4096))->capture_default_str();
    app.add_option("--heads", o.heads, "attention heads (must divide --d-model)")->check(CLI::Range(1, 64))->capture_default_str();
    app.add_option("--length", o.length, "digits per row of the sort task")->check(CLI::Range(2, 32))->capture_default_str();
    app.add_option("--threads", o.threads, "threads for BLAS and OpenMP together")->check(CLI::Range(1, 256))->capture_default_str();
    app.add_option("--seed", o.seed, "seed of the weights and the data (the scaling study adds 0, 1, ... for its seeds)")
        ->capture_default_str();
    app.add_option("--out", o.out, "output folder")->capture_default_str();
    bool quick = false;
    app.add_flag("--quick", quick,
                 "a reduced sweep in under 3 minutes: depths 1,2,3, lrs 1e-3,1e-2,3e-2, 30 steps, scaling depths 2,4,8 "
                 "with 1 seed (flags given explicitly still win)");
    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        const int code = app.exit(e);
        return code == 0 ? 0 : 2;
    }
    if (quick) {
        auto unless_given = [&](const char* flag, auto& field, auto value) {
            if (app.get_option(flag)->count() == 0) field = value;
        };
        unless_given("--depths", o.depths, std::vector<int64_t>{1, 2, 3});
        unless_given("--lrs", o.lrs, std::vector<double>{1e-3, 1e-2, 3e-2});
        unless_given("--steps", o.steps, int64_t{30});
        unless_given("--scaling-depths", o.scaling_depths, std::vector<int64_t>{2, 4, 8});
        unless_given("--scaling-seeds", o.scaling_seeds, int64_t{1});
    }
    try {
        check(o, warmup_steps->count() > 0);
    } catch (const UsageError& e) {
        fmt::print(stderr, "stability_sweep: {}\n", e.what());
        return 2;
    }
    try {
        return run(o);
    } catch (const std::exception& e) {
        fmt::print(stderr, "\nstability_sweep: {}\n", e.what());
        return 1;
    }
}
