// The gradient-stability sweep (Xiong et al. 2020, "On Layer Normalization in the Transformer
// Architecture"): the per-block gradient norms of a GPT at initialisation against depth, and a
// map of which LayerNorm placement trains at which depth and learning rate, with and without
// warmup, for two initialisations; and the loss curvature behind it (Cohen et al. 2021, 2022;
// Gilmer et al. 2022): the sharpness of each cell through training against the optimiser's
// stability threshold, and at initialisation against depth and per block. Writes sweep.csv,
// init_grads.csv, curvature.csv, init_curvature.csv and report.svg to --out.
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
#include "curvature.hpp"
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
    std::string optimizer = "adamw";
    // Curvature: measured in the cells of these inits, at step 0 and every curvature_every
    // steps (and at the end), on one fixed batch of curvature_batch rows, by Lanczos with
    // curvature_iterations Hessian-vector products (or fewer, at tolerance 1e-3).
    std::vector<std::string> curvature_inits{"gpt2"};
    int64_t curvature_every = 25, curvature_iterations = 12, curvature_batch = 16;  // --quick: 10, 8, 16
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

nn::HessianOptions hessian_options(const Options& o) { return curvature_options(o.curvature_iterations, o.seed); }

// The fixed batch every curvature measurement uses: rows the training batches of the first
// steps do not start from (a batch index past any run's last step).
Batch curvature_batch(const Options& o, const Task& task) { return fixed_curvature_batch(task, o.curvature_batch); }

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

// Part 1b: the sharpness at initialisation of each placement's model at every scaling depth
// (seed o.seed, the curvature batch), and per block at every trained depth.
std::vector<InitCurvatureRow> curvature_at_init(const Options& o, const Task& task, CurvatureClock& clock) {
    std::vector<InitCurvatureRow> rows;
    const Batch batch = curvature_batch(o, task);
    for (const auto& variant : o.placements)
        for (const auto& init : o.curvature_inits) {
            std::set<int64_t> depths(o.scaling_depths.begin(), o.scaling_depths.end());
            depths.insert(o.depths.begin(), o.depths.end());
            for (int64_t L : depths) {
                nn::GPT model(model_config(o, task, variant, init, L, o.seed));
                const auto loss = [&] { return batch_loss(model, batch); };
                const bool scaling = std::find(o.scaling_depths.begin(), o.scaling_depths.end(), L) != o.scaling_depths.end();
                if (scaling) rows.push_back({variant, init, L, std::nullopt, model_sharpness(loss, model, hessian_options(o), clock)});
                if (std::find(o.depths.begin(), o.depths.end(), L) == o.depths.end()) continue;
                const std::vector<double> blocks = blocks_sharpness(loss, model, hessian_options(o), clock);
                for (std::size_t b = 0; b < blocks.size(); ++b)
                    rows.push_back({variant, init, L, static_cast<int64_t>(b), blocks[b]});
            }
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
// With --optimizer sgd: plain SGD at the constant lr (no schedule, no warmup, no weight decay),
// the setting of Cohen et al. 2021.
// Curvature is also measured after update `mark` (the sweep's warmup length) in every cell, so
// runs with and without warmup compare at the end of warmup.
CellRow train_cell(const Options& o, const Task& task, const Cell& c, int64_t mark, bool& accuracy_checked,
                   std::vector<CurvatureRow>& curvature, CurvatureClock& clock) {
    nn::GPT model(model_config(o, task, c.variant, c.init, c.layers, o.seed));
    const bool sgd = o.optimizer == "sgd";
    std::unique_ptr<optim::AdamW> adamw;
    std::unique_ptr<optim::SGD> plain;
    if (sgd)
        plain = std::make_unique<optim::SGD>(model.parameters(), optim::SGDOptions{.lr = c.lr});
    else
        adamw = std::make_unique<optim::AdamW>(optim::weight_decay_groups(
            model, optim::AdamWOptions{.lr = c.lr, .beta1 = 0.9, .beta2 = 0.98, .weight_decay = o.weight_decay}));
    optim::Optimizer& opt = sgd ? static_cast<optim::Optimizer&>(*plain) : *adamw;
    optim::CosineDecay schedule(c.lr, c.warmup, o.steps, c.lr / 10);
    CellRow row{c.variant, c.init, c.layers, c.lr, c.warmup, NAN, 0.0, false, std::nullopt, 0.0};
    std::vector<double> losses;

    const bool measure = std::find(o.curvature_inits.begin(), o.curvature_inits.end(), c.init) != o.curvature_inits.end();
    const Batch cbatch = measure ? curvature_batch(o, task) : Batch{};
    auto record_curvature = [&](int64_t step) {
        curvature.push_back(measure_curvature({c.variant, c.init, c.layers, c.lr, c.warmup, step, 0, std::nullopt, 0}, model,
                                              cbatch, adamw.get(), plain.get(), hessian_options(o), clock));
    };
    for (int64_t step = 0; step < o.steps; ++step) {
        if (!sgd) schedule.apply(opt, step);
        if (measure && step == 0) record_curvature(0);
        opt.zero_grad();
        Tensor loss = batch_loss(model, task.train_batch(o.batch, step));
        loss.backward();
        losses.push_back(loss.item<double>());
        const double gn = nn::global_grad_norm(model);
        row.max_grad_norm = std::max(row.max_grad_norm, std::isfinite(gn) ? gn : INFINITY);
        if (!std::isfinite(losses.back())) break;
        opt.step();
        // After update step + 1, against the threshold of the lr the next update will use (the
        // schedule's lr at step + 1, its floor after the last step), as at step 0.
        if (measure && is_curvature_step(step + 1, o.curvature_every, mark, o.steps)) {
            if (!sgd) schedule.apply(opt, step + 1);
            record_curvature(step + 1);
        }
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
            for (int64_t w : {warmup, int64_t{0}}) {
                if (o.optimizer == "sgd" && w > 0) continue;  // SGD runs at a constant lr
                for (int64_t L : o.depths)
                    for (double lr : o.lrs) cells.push_back({variant, init, L, lr, w});
            }
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
                if (o.optimizer == "sgd" && w > 0) continue;
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

// The sharpness the threshold applies to: preconditioned for AdamW, plain for SGD.
std::optional<double> compared(const CurvatureRow& r, bool sgd) {
    if (sgd) return r.sharpness;
    return r.preconditioned_sharpness;
}

double median_of(std::vector<double> v) {
    if (v.empty()) return NAN;
    std::sort(v.begin(), v.end());
    const std::size_t n = v.size();
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

// Answers the sweep's curvature questions from what it measured.
void print_curvature_summary(const Options& o, const std::vector<CellRow>& cells, const std::vector<CurvatureRow>& curv,
                             const std::vector<InitCurvatureRow>& init, int64_t warmup, const CurvatureClock& clock,
                             double total_seconds) {
    const bool sgd = o.optimizer == "sgd";
    auto rows_of = [&](const CellRow& c) {
        std::vector<CurvatureRow> out;
        for (const auto& r : curv)
            if (r.variant == c.variant && r.init == c.init && r.layers == c.layers && r.lr == c.lr && r.warmup == c.warmup)
                out.push_back(r);
        return out;
    };
    const char* what = sgd ? "sharpness" : "preconditioned sharpness";
    fmt::print("\ncurvature: {} against the threshold {} ({} measurements: at steps 0, 1, 2, 4, ... below {}, every {} "
               "steps, after step {} and at the end)\n",
               what, sgd ? "2/lr" : "38/lr (AdamW, beta1 0.9)", clock.measurements, o.curvature_every, o.curvature_every,
               warmup);

    // 1. Did the diverged cells cross the threshold first?
    int64_t diverged = 0, crossed = 0;
    std::vector<double> leads, diverged_peaks;
    for (const auto& c : cells) {
        if (!c.diverged) continue;
        const std::vector<CurvatureRow> rs = rows_of(c);
        if (rs.empty()) continue;
        ++diverged;
        std::optional<int64_t> first;
        double worst = 0;
        for (const auto& r : rs) {
            const std::optional<double> v = compared(r, sgd);
            if (!v || !std::isfinite(*v) || r.step > *c.diverged_step) continue;
            worst = std::max(worst, *v / r.threshold);
            if (!first && *v > r.threshold && r.step <= *c.diverged_step) first = r.step;
        }
        if (first) {
            ++crossed;
            leads.push_back(static_cast<double>(*c.diverged_step - *first));
        }
        diverged_peaks.push_back(worst);
        fmt::print("  diverged {} {} L={} lr {} warmup {} at step {}: {}\n", c.variant, c.init, c.layers, c.lr, c.warmup,
                   *c.diverged_step,
                   first ? fmt::format("crossed the threshold at step {}, {} steps before", *first, *c.diverged_step - *first)
                         : worst > 0 ? fmt::format("did not cross the threshold before (at most {:.2g} of it)", worst)
                                     : std::string("no measurement before it"));
    }
    // The control: a crossing means little if the runs that trained crossed as well.
    int64_t stable = 0, stable_crossed = 0;
    std::vector<double> stable_peaks;
    for (const auto& c : cells) {
        if (c.diverged) continue;
        const std::vector<CurvatureRow> rs = rows_of(c);
        if (rs.empty()) continue;
        ++stable;
        double peak = 0;
        for (const auto& r : rs)
            if (const std::optional<double> v = compared(r, sgd); v && std::isfinite(*v)) peak = std::max(peak, *v / r.threshold);
        stable_crossed += peak > 1;
        stable_peaks.push_back(peak);
    }
    if (diverged > 0)
        fmt::print("  {} of {} diverged cells crossed the threshold before diverging (median lead {:.0f} steps, to the "
                   "resolution of the measured steps)\n",
                   crossed, diverged, median_of(leads));
    else
        fmt::print("  no cell with curvature measurements diverged\n");
    fmt::print("  control: {} of {} cells that did not diverge crossed it at some measured step too; the largest ratio "
               "to the threshold was {:.3g} on median in those, {:.3g} in the diverged cells (before diverging)\n",
               stable_crossed, stable, median_of(stable_peaks), median_of(diverged_peaks));

    // 2. Warmup: does the sharpness fall while the lr is small (Gilmer et al. 2022)?
    if (!sgd && warmup > 0) {
        int64_t fell = 0, n = 0;
        std::vector<double> with_ratio, without_ratio;
        for (const auto& c : cells) {
            const std::vector<CurvatureRow> rs = rows_of(c);
            const auto at = [&](int64_t step) -> std::optional<double> {
                for (const auto& r : rs)
                    if (r.step == step && std::isfinite(r.sharpness)) return r.sharpness;
                return std::nullopt;
            };
            const std::optional<double> s0 = at(0), sw = at(warmup);
            if (!s0 || !sw || *s0 <= 0) continue;
            (c.warmup > 0 ? with_ratio : without_ratio).push_back(*sw / *s0);
            if (c.warmup > 0) ++n, fell += *sw < *s0;
        }
        fmt::print("  warmup: the sharpness after the {} warmup steps was below its value at initialisation in {} of {} "
                   "cells (median ratio {:.3g}; without warmup, at the same step, {:.3g})\n",
                   warmup, fell, n, median_of(with_ratio), median_of(without_ratio));
    }

    // 3. Sharpness at initialisation against depth.
    std::vector<int64_t> depths;
    for (const auto& r : init)
        if (!r.block && std::find(depths.begin(), depths.end(), r.layers) == depths.end()) depths.push_back(r.layers);
    std::sort(depths.begin(), depths.end());
    fmt::print("sharpness at initialisation (whole model, fixed batch, seed {})\n{:<6} {:<7}", o.seed, "norm", "init");
    for (int64_t L : depths) fmt::print(" {:>9}", fmt::format("L={}", L));
    fmt::print("  slope (log-log)\n");
    for (const auto& variant : o.placements)
        for (const auto& in : o.curvature_inits) {
            std::vector<double> x, y;
            fmt::print("{:<6} {:<7}", variant, in);
            for (int64_t L : depths)
                for (const auto& r : init)
                    if (!r.block && r.variant == variant && r.init == in && r.layers == L) {
                        fmt::print(" {:>9.3g}", r.sharpness);
                        x.push_back(static_cast<double>(L)), y.push_back(r.sharpness);
                    }
            try {
                fmt::print("  {:+.3f}\n", loglog_fit(x, y).slope);
            } catch (const tg::Error&) {
                fmt::print("  (too few points)\n");
            }
        }

    // 4. SGD: does the sharpness rise to 2/lr and hover there (Cohen et al. 2021)?
    if (sgd)
        for (const auto& c : cells) {
            const std::vector<CurvatureRow> rs = rows_of(c);
            if (rs.empty()) continue;
            double peak = 0;
            std::optional<int64_t> reached;
            std::vector<double> after;
            for (const auto& r : rs) {
                if (!std::isfinite(r.sharpness)) continue;
                const double ratio = r.sharpness / r.threshold;
                peak = std::max(peak, ratio);
                if (!reached && ratio >= 0.9) reached = r.step;
                if (reached) after.push_back(ratio);
            }
            fmt::print("  SGD {} L={} lr {}: sharpness {:.3g} at init, at most {:.2f} x 2/lr; {}\n", c.variant, c.layers, c.lr,
                       rs.front().sharpness, peak,
                       reached ? fmt::format("reached 0.9 x 2/lr at step {}, then {:.2f} x 2/lr on median", *reached, median_of(after))
                               : "never came within 10% of 2/lr");
        }
    fmt::print("curvature measurements took {:.1f} s of the sweep's {:.1f} s ({:.0f}%); {}\n", clock.seconds, total_seconds,
               100 * clock.seconds / std::max(total_seconds, 1e-9), clock.quality());
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
    CurvatureClock clock;
    std::vector<InitCurvatureRow> init_curvature;
    if (!o.curvature_inits.empty()) {
        fmt::print("sharpness at initialisation: depths {}, per block at depths {}\n", fmt::join(o.scaling_depths, ","),
                   fmt::join(o.depths, ","));
        init_curvature = curvature_at_init(o, *task, clock);
        nn::write_file_atomically((dir / "init_curvature.csv").string(), init_curvature_csv(init_curvature));
    }
    fmt::print("({})\n\n", clock_str(seconds_since(wall)));

    const std::vector<Cell> cells = grid(o, warmup);
    if (o.optimizer == "sgd")
        fmt::print("stability map: {} cells ({} steps each, plain SGD at a constant lr, no clipping)\n", cells.size(), o.steps);
    else
        fmt::print("stability map: {} cells ({} steps each, warmup {} or 0 steps, AdamW betas 0.9/0.98, no clipping)\n",
                   cells.size(), o.steps, warmup);
    // The ETA weighs each cell by its depth: a step costs about as much per block.
    double total_weight = 0, done_weight = 0, map_seconds = 0;
    for (const auto& c : cells) total_weight += static_cast<double>(c.layers);
    std::vector<CellRow> rows;
    std::vector<CurvatureRow> curvature;
    bool accuracy_checked = false;
    const std::string subtitle = fmt::format("sort {} digits, d_model {}, {} heads, batch {}, {} steps per cell, seed {}",
                                             o.length, o.d_model, o.heads, o.batch, o.steps, o.seed);
    for (std::size_t i = 0; i < cells.size(); ++i) {
        const Cell& c = cells[i];
        const auto t0 = std::chrono::steady_clock::now();
        // SGD runs have no warmup, so no end of warmup to mark (0: step 0 is measured anyway).
        rows.push_back(train_cell(o, *task, c, o.optimizer == "sgd" ? 0 : warmup, accuracy_checked, curvature, clock));
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
        if (!o.curvature_inits.empty()) nn::write_file_atomically((dir / "curvature.csv").string(), curvature_csv(curvature));
    }
    nn::write_file_atomically((dir / "report.svg").string(),
                              report_svg(rows, grads, fits, subtitle, curvature, init_curvature));
    print_map(o, rows, warmup);
    if (!o.curvature_inits.empty())
        print_curvature_summary(o, rows, curvature, init_curvature, warmup, clock, seconds_since(wall));
    fmt::print("\nwrote {}/sweep.csv, init_grads.csv{}, report.svg (total {})\n", o.out,
               o.curvature_inits.empty() ? "" : ", curvature.csv, init_curvature.csv", clock_str(seconds_since(wall)));
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
    for (const auto& i : o.curvature_inits)
        if (std::find(o.inits.begin(), o.inits.end(), i) == o.inits.end())
            throw UsageError(fmt::format("--curvature-inits names {}, which --inits ({}) does not train; give a subset of "
                                         "--inits, or none",
                                         i, fmt::join(o.inits, ",")));
    if (o.optimizer == "sgd" && o.placements.size() != 1)
        throw UsageError(fmt::format("--optimizer sgd runs one placement at a time; got --placements {}: give one of "
                                     "pre, post, none",
                                     fmt::join(o.placements, ",")));
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
    app.add_option("--optimizer", o.optimizer,
                   "adamw (with the warmup and cosine schedule) or sgd (plain SGD at a constant lr, no warmup; needs "
                   "one --placements value)")
        ->check(CLI::IsMember({"adamw", "sgd"}))->capture_default_str();
    std::vector<std::string> curvature_inits;
    auto* cinits = app.add_option("--curvature-inits", curvature_inits,
                                  "inits whose cells measure curvature (default gpt2; 'none' for no curvature)")
                       ->delimiter(',')->check(CLI::IsMember({"gpt2", "xavier", "none"}));
    app.add_option("--curvature-every", o.curvature_every,
                   "steps between curvature measurements (also at step 0, at the powers of two below it, after warmup and at "
                   "the end)")
        ->check(CLI::Range(int64_t{1}, int64_t{100000000}))->capture_default_str();
    app.add_option("--curvature-iterations", o.curvature_iterations,
                   "most Hessian-vector products per sharpness (Lanczos, tolerance 1e-3)")
        ->check(CLI::Range(int64_t{1}, int64_t{1000}))->capture_default_str();
    app.add_option("--curvature-batch", o.curvature_batch, "rows of the fixed batch the curvature is measured on")
        ->check(CLI::Range(int64_t{1}, int64_t{65536}))->capture_default_str();
    bool quick = false;
    app.add_flag("--quick", quick,
                 "a reduced sweep in under 3 minutes: depths 1,2,3, lrs 1e-3,1e-2,3e-2, 30 steps, scaling depths 2,4,8 "
                 "with 1 seed, curvature every 10 steps with at most 8 Hessian-vector products each (flags given "
                 "explicitly still win)");
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
        unless_given("--curvature-every", o.curvature_every, int64_t{10});
        unless_given("--curvature-iterations", o.curvature_iterations, int64_t{8});
    }
    if (cinits->count() > 0) {
        o.curvature_inits = curvature_inits;
        std::erase(o.curvature_inits, std::string("none"));
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
