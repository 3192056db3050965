// The main example: trains a small pre-norm GPT on a task that needs attention, then studies
// gradient stability: the same deeper model trained with pre-norm, post-norm and no norm.
// Writes metrics.csv, grad_norms.csv, report.svg and a checkpoint to --out.
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <fmt/ranges.h>
#include <algorithm>
#include <atomic>
#include <chrono>
#include <csignal>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <optional>
#include <set>
#include <nlohmann/json.hpp>
#include <sstream>
#include <tuple>
#include <tapegrad.hpp>

#ifdef TG_EXAMPLE_MPI
#include "distributed/dist.hpp"
#endif
#include "../common/cli_checks.hpp"
#include "../stability_sweep/curvature.hpp"
#include "../stability_sweep/report.hpp"
#include "../stability_sweep/stability.hpp"
#include "report.hpp"
#include "tasks.hpp"

using namespace tg;
using namespace example;
namespace fs = std::filesystem;

namespace {

std::atomic<bool> g_interrupted{false};
void on_sigint(int) { g_interrupted = true; }

// Under mpirun every rank trains on its slice of each global batch and the gradients are
// averaged before the step (tapegrad::distributed), so the ranks stay identical; rank 0 alone prints
// and writes files. Without MPI these are a world of one.
#ifdef TG_EXAMPLE_MPI
int world() { return dist::world_size(); }
bool lead() { return dist::rank() == 0; }
#else
int world() { return 1; }
bool lead() { return true; }
#endif

// The study's runs take half as many steps as the main run, at most the 300 of the documented
// study: a shortened main run (--steps 10) shortens the study with it, a longer one leaves it
// as it is. --study-steps sets them outright.
constexpr int64_t kStudySteps = 300;

struct Options {
    std::string task = "sort", text, norm = "all", out = "runs/tiny_transformer";
    std::string tokenizer = "char", tokenizer_cache;  // --text: char or bpe; bpe's cache (default: <out>/tokenizer)
    int64_t vocab = 2048;
    int64_t length = 8, layers = 2, d_model = 64, heads = 4, context = 64, batch = 64, steps = 600, warmup = 50;
    int64_t study_layers = 8, study_steps = kStudySteps, eval_every = 100, threads = 2, samples = 4, stop_after = 0;
    double lr = 3e-3, study_lr = 3e-3, weight_decay = 0.1, clip = 1.0, dropout = 0.0;
    // Curvature (0 = off): sharpness every curvature_every steps (and at 0, 1, 2, 4, ..., the end
    // of warmup and the last step) on a fixed batch of curvature_batch rows, by Lanczos with at
    // most curvature_iterations Hessian-vector products.
    int64_t curvature_every = 100, curvature_iterations = 8, curvature_batch = 16;
    uint64_t seed = 1;
    bool resume = false;
    bool study_steps_given = false;  // otherwise the study follows --steps (study_steps_for)
    std::string progress = "auto";   // auto, bar (one line rewritten in place) or plain
    std::string autocast = "off";    // off or bf16: the products' precision (tg::Autocast)
    bool bar = false;                // what auto resolved to
};

int64_t study_steps_for(const Options& o) {
    return o.study_steps_given ? o.study_steps : std::clamp<int64_t>(o.steps / 2, 1, kStudySteps);
}

struct RunResult {
    std::string variant;
    std::vector<double> layers_at_0;
    double max_grad_norm = 0, final_loss = NAN, accuracy = 0, seconds = 0;
    bool diverged = false, interrupted = false;
};

std::string read_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

std::string clock_str(double seconds) {
    const auto s = static_cast<int64_t>(std::max(0.0, seconds));
    return fmt::format("{}:{:02d}", s / 60, s % 60);
}

// Everything a run writes, kept in memory and written atomically at checkpoints and at the end.
struct Outputs {
    fs::path dir;
    std::vector<MetricRow> metrics;
    std::vector<LayerNormRow> layers;
    std::vector<std::string> variants;
    std::string accuracy_name;
    bool curvature_on = false;
    std::vector<CurvatureRow> curvature;
    std::vector<InitCurvatureRow> init_curvature;
    CurvatureClock clock;
    void flush() const {
        if (!lead()) return;
        nn::write_file_atomically((dir / "metrics.csv").string(), metrics_csv(metrics));
        nn::write_file_atomically((dir / "grad_norms.csv").string(), grad_norms_csv(layers));
        if (curvature_on) {
            nn::write_file_atomically((dir / "curvature.csv").string(), curvature_csv(curvature));
            nn::write_file_atomically((dir / "init_curvature.csv").string(), init_curvature_csv(init_curvature));
        }
        nn::write_file_atomically((dir / "report.svg").string(),
                                  report_svg(metrics, layers, variants, accuracy_name,
                                             curvature_panels(830, curvature, init_curvature)));
    }
};

nlohmann::json run_config(const Options& o) {
    nlohmann::json c{{"task", o.text.empty() ? o.task : "text:" + o.text}, {"length", o.length}, {"layers", o.layers},
                     {"d_model", o.d_model},  {"heads", o.heads},   {"batch", o.batch},   {"steps", o.steps},
                     {"lr", o.lr},            {"warmup", o.warmup}, {"weight_decay", o.weight_decay},
                     {"clip", o.clip},        {"seed", o.seed},     {"dropout", o.dropout}, {"context", o.context}};
    if (!o.text.empty() && o.tokenizer == "bpe") c["tokenizer"] = fmt::format("bpe:{}", o.vocab);
    return c;
}

struct RunSpec {
    std::string variant;
    nn::Norm norm;
    int64_t layers, steps, warmup;
    double lr, clip;
    bool checkpoints;       // the main run saves model and optimizer state
    int64_t record_every;   // per-layer gradient norms every this many steps
    bool keep_history = true;  // false: only its curvature rows reach the outputs (the warmup arm)
};

// The GPT of every run: the options' width, heads, dropout and seed, the task's vocabulary and
// context, and the run's own LayerNorm placement and depth.
nn::GPTConfig model_config(const Options& o, const Task& task, nn::Norm norm, int64_t layers) {
    return {.vocab_size = task.vocab_size(), .context_length = task.context_length(), .d_model = o.d_model,
            .n_layer = layers, .n_head = o.heads, .norm = norm, .tie_embeddings = true, .dropout = o.dropout,
            .seed = o.seed};
}

// The main run's placement: --norm, with "all" training it pre-norm.
nn::Norm main_norm(const Options& o) {
    return o.norm == "post" ? nn::Norm::post : o.norm == "none" ? nn::Norm::none : nn::Norm::pre;
}

RunResult train(const Options& o, const Task& task, const RunSpec& spec, Outputs& out, bool resume) {
    nn::GPT model(model_config(o, task, spec.norm, spec.layers));
    optim::AdamW opt(optim::weight_decay_groups(
        model, optim::AdamWOptions{.lr = spec.lr, .beta1 = 0.9, .beta2 = 0.95, .weight_decay = o.weight_decay}));
    optim::CosineDecay schedule(spec.lr, spec.warmup, spec.steps, spec.lr / 10);
    const fs::path model_path = out.dir / "model.safetensors", opt_path = out.dir / "optimizer.safetensors";
    const fs::path state_path = out.dir / "train_state.json";

    int64_t start = 0;
    if (resume) {
        const auto state = nlohmann::json::parse(read_file(state_path.string()), nullptr, false);
        if (state.is_discarded() || !state.contains("step") || state["config"] != run_config(o))
            throw ValueError(fmt::format("--resume: {} is missing or was written with other options", state_path.string()));
        model.load(model_path.string());
        opt.load(opt_path.string());
        start = state["step"].get<int64_t>();
        std::erase_if(out.metrics, [&](const MetricRow& r) { return r.variant != spec.variant || r.step >= start; });
        std::erase_if(out.layers, [&](const LayerNormRow& r) { return r.variant != spec.variant || r.step >= start; });
        std::erase_if(out.curvature, [&](const CurvatureRow& r) { return r.variant != spec.variant || r.step > start; });
        fmt::print("resuming {} at step {}\n", spec.variant, start);
    }
    auto checkpoint = [&](int64_t next_step) {
        if (!lead()) return;
        model.save(model_path.string());
        opt.save(opt_path.string());
        nn::write_file_atomically(state_path.string(), nlohmann::json{{"step", next_step}, {"config", run_config(o)}}.dump(2));
        out.flush();
    };

#ifdef TG_EXAMPLE_MPI
    // Reduces each bucket of gradients while backward is still running (starts from rank 0's weights).
    std::optional<dist::DataParallel> ddp;
    if (world() > 1) ddp.emplace(model);
#endif
    // A run whose history is not kept writes its metrics and gradient norms here instead.
    std::vector<MetricRow> own_metrics;
    std::vector<LayerNormRow> own_layers;
    std::vector<MetricRow>& metrics = spec.keep_history ? out.metrics : own_metrics;
    std::vector<LayerNormRow>& layers = spec.keep_history ? out.layers : own_layers;
    RunResult res{spec.variant, {}, 0, NAN, 0, 0, false, false};
    const bool tty = o.bar;
    const auto t_start = std::chrono::steady_clock::now();
    double first_loss = NAN, smoothed = NAN;
    const Batch cbatch = out.curvature_on ? fixed_curvature_batch(task, o.curvature_batch) : Batch{};
    auto record_curvature = [&](int64_t step) {
        out.curvature.push_back(measure_curvature({spec.variant, "gpt2", spec.layers, spec.lr, spec.warmup, step, 0, std::nullopt, 0},
                                                  model, cbatch, &opt, nullptr,
                                                  curvature_options(o.curvature_iterations, o.seed), out.clock));
    };
    int64_t step = start;
    for (; step < spec.steps; ++step) {
        const auto t0 = std::chrono::steady_clock::now();
        const double lr = schedule.apply(opt, step);
        if (out.curvature_on && step == 0) record_curvature(0);
        Batch batch = task.train_batch(o.batch, step);  // the global batch, the same on every rank
        const int64_t global_tokens = batch.tokens.numel();
        opt.zero_grad();
#ifdef TG_EXAMPLE_MPI
        if (world() > 1) {
            batch.tokens = dist::shard(batch.tokens);
            batch.targets = dist::shard(batch.targets);
        }
#endif
        Tensor loss;
        {
            std::optional<Autocast> mixed;
            if (o.autocast == "bf16") mixed.emplace(Dtype::bf16);
            loss = batch_loss(model, batch);
        }
        loss.backward();
        double l = loss.item<double>();
#ifdef TG_EXAMPLE_MPI
        if (world() > 1) {
            ddp->synchronize();  // the global batch's gradient, on every rank
            Tensor lg = tensor({l}, {1});
            dist::all_reduce(lg, dist::ReduceOp::average);  // the global batch's loss
            l = lg.item<double>();
            // Ctrl-C reaches the ranks at different moments: stop together, at the same step.
            Tensor stop = tensor(std::vector<int64_t>{g_interrupted ? 1 : 0}, {1});
            dist::all_reduce(stop, dist::ReduceOp::max);
            if (stop.item<int64_t>()) g_interrupted = true;
        }
#endif
        if (step % spec.record_every == 0 || step == spec.steps - 1) {
            const auto norms = nn::block_grad_norms(model);
            for (std::size_t i = 0; i < norms.size(); ++i)
                layers.push_back({spec.variant, step, static_cast<int64_t>(i), norms[i]});
            if (step == 0) res.layers_at_0 = norms;
        }
        const double gn = spec.clip > 0 ? optim::clip_grad_norm(model.parameters(), spec.clip) : nn::global_grad_norm(model);
        opt.step();
        const double dt = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        MetricRow row{spec.variant, step, l, {}, {}, lr, gn, static_cast<double>(global_tokens) / dt};
        if (std::isnan(first_loss)) first_loss = l;
        res.max_grad_norm = std::max(res.max_grad_norm, std::isfinite(gn) ? gn : INFINITY);
        smoothed = std::isnan(smoothed) ? l : 0.9 * smoothed + 0.1 * l;
        const bool last = step == spec.steps - 1;
        if (!std::isfinite(l)) res.diverged = true;
        if ((step + 1) % o.eval_every == 0 || last || res.diverged) {
            NoGradGuard ng;
            std::optional<Autocast> mixed;
            if (o.autocast == "bf16") mixed.emplace(Dtype::bf16);
            row.eval_loss = batch_loss(model, task.eval_batch()).item<double>();
            row.eval_accuracy = task.accuracy(model);
        }
        metrics.push_back(row);
        // After update step + 1, against the threshold of the next update's lr (as at step 0).
        if (out.curvature_on && std::isfinite(l) && is_curvature_step(step + 1, o.curvature_every, spec.warmup, spec.steps)) {
            schedule.apply(opt, step + 1);
            record_curvature(step + 1);
        }
        const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - t_start).count();
        const double eta = elapsed / static_cast<double>(step - start + 1) * static_cast<double>(spec.steps - step - 1);
        const std::string line = fmt::format("[{}] step {:>5}/{}  loss {:.4f}  lr {:.2e}  |g| {:.3f}  {:.1f}k tok/s  ETA {}",
                                             spec.variant, step + 1, spec.steps, l, lr, gn, *row.tokens_per_s / 1000, clock_str(eta));
        if (tty) fmt::print("\r{:<100}", line);
        if (row.eval_loss) {
            fmt::print("{}{}  eval loss {:.4f}  accuracy {:.1f}%\n", tty ? "\r" : "", line, *row.eval_loss, 100 * *row.eval_accuracy);
        }
        std::fflush(stdout);
        if (res.diverged) break;
        if (spec.checkpoints && ((step + 1) % o.eval_every == 0 || last)) checkpoint(step + 1);
        if (g_interrupted || (spec.checkpoints && o.stop_after > 0 && step + 1 >= o.stop_after)) {
            res.interrupted = true;
            if (spec.checkpoints) checkpoint(step + 1);
            break;
        }
    }
    if (tty) fmt::print("\n");
    res.final_loss = metrics.back().loss;
    if (!res.diverged && std::isfinite(first_loss) && smoothed > first_loss) res.diverged = true;  // loss rose above its start
    for (auto it = metrics.rbegin(); it != metrics.rend(); ++it)
        if (it->variant == spec.variant && it->eval_accuracy) {
            res.accuracy = *it->eval_accuracy;
            break;
        }
    res.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t_start).count();
    if (!res.interrupted && !res.diverged && o.samples > 0 && spec.checkpoints) {
        fmt::print("samples from the trained model:\n");
        for (std::string s : task.samples(model, o.samples, o.seed)) {
            // A sample of text spans lines: indent all of them, not only the first.
            for (std::size_t i = s.find('\n'); i != std::string::npos; i = s.find('\n', i + 3)) s.insert(i + 1, "  ");
            fmt::print("  {}\n", s);
        }
    }
    return res;
}

void print_study_table(const std::vector<RunResult>& runs) {
    fmt::print("\nGradient stability ({} blocks; per-block gradient L2 norm at step 0, block 0 nearest the input)\n",
               runs.empty() ? 0 : runs[0].layers_at_0.size());
    fmt::print("{:<8} {:<60} {:>9} {:>10} {:>10} {:>9} {:>9}\n", "variant", "grad norm per block at step 0", "max/min",
               "max |g|", "final loss", "accuracy", "diverged");
    for (const auto& r : runs) {
        std::string per;
        double lo = INFINITY, hi = 0;
        for (double v : r.layers_at_0) {
            per += fmt::format("{:.1e} ", v);
            lo = std::min(lo, v);
            hi = std::max(hi, v);
        }
        fmt::print("{:<8} {:<60} {:>9.1f} {:>10.3g} {:>10.4f} {:>8.1f}% {:>9}\n", r.variant, per, hi / lo, r.max_grad_norm,
                   r.final_loss, 100 * r.accuracy, r.diverged ? "yes" : "no");
    }
}

// The study's curvature at initialisation: the whole model's sharpness at 2, 4 and the study's
// depth for each placement (curvature.csv rows at step 0 for the depths the study does not
// train, init_curvature.csv rows for all), and each block's at the study's depth.
void study_curvature_at_init(const Options& o, const Task& task, Outputs& out) {
    const Batch batch = fixed_curvature_batch(task, o.curvature_batch);
    const nn::HessianOptions options = curvature_options(o.curvature_iterations, o.seed);
    std::set<int64_t> depths{2, 4, o.study_layers};
    for (auto [name, norm] : {std::pair{"pre", nn::Norm::pre}, {"post", nn::Norm::post}, {"none", nn::Norm::none}})
        for (int64_t L : depths) {
            nn::GPT model(model_config(o, task, norm, L));
            const auto loss = [&] { return batch_loss(model, batch); };
            const double whole = model_sharpness(loss, model, options, out.clock);
            out.init_curvature.push_back({name, "gpt2", L, std::nullopt, whole});
            if (L != o.study_layers) {
                const optim::AdamW opt(model.parameters(), optim::AdamWOptions{.lr = o.study_lr, .beta1 = 0.9});
                out.curvature.push_back({name, "gpt2", L, o.study_lr, 0, 0, whole, std::nullopt,
                                         optim::stability_threshold(opt)});
            }
            else {
                const std::vector<double> blocks = blocks_sharpness(loss, model, options, out.clock);
                for (std::size_t b = 0; b < blocks.size(); ++b)
                    out.init_curvature.push_back({name, "gpt2", L, static_cast<int64_t>(b), blocks[b]});
            }
        }
}

// What the curvature says: per run (placement and warmup), the sharpness and AdamW's
// preconditioned sharpness against its threshold; the sharpness at initialisation against
// depth, with the fitted slope.
void print_curvature(const Options& o, const Outputs& out, int64_t study_steps) {
    fmt::print("\nCurvature (on a fixed batch of {} rows; the preconditioned sharpness against AdamW's threshold 38/lr)\n",
               o.curvature_batch);
    fmt::print("{:<9} {:>7} {:>12} {:>14} {:>16} {:>13} {:>13}\n", "variant", "warmup", "sharp. @ 0", "sharp. @ end",
               "max precond.", "thresh. @ end", "crossed at");
    // The runs in the order they were trained: a run's rows are those of its depth (the
    // step-0 rows of other depths are the study at initialisation).
    std::vector<std::tuple<std::string, int64_t, int64_t>> runs;
    for (const auto& r : out.curvature)
        if (r.step > 0 && std::find(runs.begin(), runs.end(), std::tuple{r.variant, r.warmup, r.layers}) == runs.end())
            runs.emplace_back(r.variant, r.warmup, r.layers);
    for (const auto& [v, w, depth] : runs) {
        double first = NAN, last = NAN, peak = 0, threshold = NAN;
        std::optional<int64_t> crossed;
        for (const auto& r : out.curvature) {
            if (r.variant != v || r.warmup != w || r.layers != depth) continue;
            if (r.step == 0) first = r.sharpness;
            last = r.sharpness;
            if (r.preconditioned_sharpness && std::isfinite(*r.preconditioned_sharpness)) {
                peak = std::max(peak, *r.preconditioned_sharpness / r.threshold);
                if (!crossed && *r.preconditioned_sharpness > r.threshold) crossed = r.step;
            }
            threshold = r.threshold;
        }
        fmt::print("{:<9} {:>7} {:>12.3g} {:>14.3g} {:>13.2f} x {:>13.3g} {:>13}\n", v, w, first, last, peak, threshold,
                   crossed ? fmt::format("step {}", *crossed) : "never");
    }
    fmt::print("sharpness at initialisation against depth:");
    for (const char* v : {"pre", "post", "none"}) {
        std::vector<double> x, y;
        for (const auto& r : out.init_curvature)
            if (!r.block && r.variant == v) x.push_back(static_cast<double>(r.layers)), y.push_back(r.sharpness);
        std::string per;
        for (std::size_t i = 0; i < x.size(); ++i) per += fmt::format(" L={:g}: {:.3g}", x[i], y[i]);
        try {
            fmt::print("\n  {:<5}{}  (log-log slope {:+.2f})", v, per, loglog_fit(x, y).slope);
        } catch (const tg::Error&) {
            fmt::print("\n  {:<5}{}", v, per);
        }
    }
    fmt::print("\ncurvature measurements: {} in {:.1f} s (every {} steps and at 0, 1, 2, 4, ...; study runs of {} steps); {}\n",
               out.clock.measurements, out.clock.seconds, o.curvature_every, study_steps, out.clock.quality());
}

// The held-out loss of the checkpointed main model (the text tasks), printed and written to
// held_out.json; none for the sequence tasks.
std::optional<HeldOut> held_out_of(const Task& task, const Options& o, const fs::path& dir) {
    if (o.text.empty()) return std::nullopt;
    nn::GPT model(model_config(o, task, main_norm(o), o.layers));
    model.load((dir / "model.safetensors").string());
    const auto t0 = std::chrono::steady_clock::now();
    std::optional<HeldOut> h = task.held_out(model);
    if (!h) return h;
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    fmt::print("held-out loss of the whole held-out text: {:.4f} nats per token over {} tokens ({} bytes, {:.3f} bytes per "
               "token), {:.1f} s\n", h->nats_per_token, h->tokens, h->bytes,
               static_cast<double>(h->bytes) / static_cast<double>(h->tokens), seconds);
    if (lead())
        nn::write_file_atomically((dir / "held_out.json").string(),
                                  nlohmann::json{{"nats_per_token", h->nats_per_token}, {"bits_per_byte", h->bits_per_byte},
                                                 {"tokens", h->tokens}, {"bytes", h->bytes}, {"tokenizer", task.config()},
                                                 {"vocab_size", task.vocab_size()}}.dump(2));
    return h;
}

int run(const Options& o) {
    set_num_threads(static_cast<int>(o.threads));
    if (o.batch % world() != 0)
        throw ValueError(fmt::format("--batch {} does not split evenly over {} processes", o.batch, world()));
    if (!lead()) std::freopen("/dev/null", "w", stdout);  // progress comes from rank 0 alone
    if (world() > 1) fmt::print("tapegrad: {} processes, {} sequences each per step\n", world(), o.batch / world());
    const TextOptions text_options{o.tokenizer, o.vocab,
                                   o.tokenizer_cache.empty() ? (fs::path(o.out) / "tokenizer").string() : o.tokenizer_cache};
    std::unique_ptr<Task> task = o.text.empty() ? make_sequence_task(o.task, o.length, o.seed)
                                                : make_text_task(o.text, o.context, o.seed, text_options);
    Outputs out{fs::path(o.out), {}, {}, {}, task->accuracy_name()};
    out.curvature_on = o.curvature_every > 0;
    if (o.resume) {
        std::vector<std::string> missing;
        for (const char* f : {"train_state.json", "model.safetensors", "optimizer.safetensors", "metrics.csv", "grad_norms.csv"})
            if (!fs::exists(out.dir / f)) missing.push_back(f);
        if (!missing.empty())
            throw ValueError(fmt::format("--resume: {} holds no checkpoint to continue ({} missing); run without --resume "
                                         "to start there, or give the --out of an earlier run",
                                         o.out, fmt::join(missing, ", ")));
        out.metrics = parse_metrics_csv(read_file((out.dir / "metrics.csv").string()));
        out.layers = parse_grad_norms_csv(read_file((out.dir / "grad_norms.csv").string()));
        if (out.curvature_on && fs::exists(out.dir / "curvature.csv"))
            out.curvature = parse_curvature_csv(read_file((out.dir / "curvature.csv").string()));
    }
    fs::create_directories(out.dir);
    const std::string main_variant = fmt::format("main-{}", o.norm == "all" ? "pre" : o.norm);
    out.variants.push_back(main_variant);
    const auto wall = std::chrono::steady_clock::now();
    if (o.autocast == "bf16") fmt::print("tapegrad: --autocast bf16: {}\n", autocast_info());
    fmt::print("tapegrad: training a {}-layer {}-norm GPT (d_model {}, {} heads) on '{}', {} steps, batch {}\n", o.layers,
               o.norm == "all" ? "pre" : o.norm, o.d_model, o.heads, task->name(), o.steps, o.batch);
    RunResult main_run = train(o, *task, {main_variant, main_norm(o), o.layers, o.steps, o.warmup, o.lr, o.clip, true, 50}, out,
                               o.resume);
    out.flush();
    if (main_run.interrupted) {
        fmt::print("interrupted: checkpoint saved in {}; continue with --resume\n", o.out);
        return 130;
    }
    fmt::print("{}: final loss {:.4f}, held-out accuracy {:.1f}% in {}\n", main_variant, main_run.final_loss,
               100 * main_run.accuracy, clock_str(main_run.seconds));
    // Text: the main model's loss on all of the held-out text, the run's last line.
    std::optional<HeldOut> held_out;
    if (!main_run.diverged) held_out = held_out_of(*task, o, out.dir);

    if (o.norm == "all") {
        const int64_t study_steps = study_steps_for(o);
        fmt::print("\ngradient-stability study: {} layers, {} steps, lr {}, no warmup, no clipping, same seed and data\n",
                   o.study_layers, study_steps, o.study_lr);
        if (study_steps < kStudySteps && !o.study_steps_given)
            fmt::print("(shortened with the main run: {} steps is half of --steps {}; --study-steps N sets them, "
                       "--norm pre skips the study)\n", study_steps, o.steps);
        std::vector<RunResult> study;
        for (auto [name, norm] : {std::pair{"pre", nn::Norm::pre}, {"post", nn::Norm::post}, {"none", nn::Norm::none}}) {
            out.variants.push_back(name);
            study.push_back(train(o, *task, {name, norm, o.study_layers, study_steps, 0, o.study_lr, 0.0, false,
                                             std::max<int64_t>(1, study_steps / 10)},
                                  out, false));
            out.flush();
            if (study.back().interrupted) return 130;
        }
        print_study_table(study);
        if (out.curvature_on) {
            // The warmup arm: the same runs with a linear warmup over the first sixth of the
            // steps, kept for their curvature only (what warmup does to the sharpness).
            const int64_t warmup = std::max<int64_t>(1, study_steps / 6);
            fmt::print("\nwarmup arm of the curvature study: the same runs with {} warmup steps (curvature only)\n", warmup);
            for (auto [name, norm] : {std::pair{"pre", nn::Norm::pre}, {"post", nn::Norm::post}, {"none", nn::Norm::none}}) {
                RunSpec spec{name, norm, o.study_layers, study_steps, warmup, o.study_lr, 0.0, false, study_steps};
                spec.keep_history = false;
                const RunResult r = train(o, *task, spec, out, false);
                fmt::print("{} with warmup {}: final loss {:.4f}{}\n", name, warmup, r.final_loss, r.diverged ? ", diverged" : "");
                out.flush();
                if (r.interrupted) return 130;
            }
            study_curvature_at_init(o, *task, out);
            out.flush();
            print_curvature(o, out, study_steps);
        }
    }
    fmt::print("\nwrote {}/metrics.csv, grad_norms.csv{}, report.svg, model.safetensors, optimizer.safetensors{} "
               "(total {})\n", o.out, out.curvature_on ? ", curvature.csv, init_curvature.csv" : "",
               held_out ? ", held_out.json" : "",
               clock_str(std::chrono::duration<double>(std::chrono::steady_clock::now() - wall).count()));
    if (held_out) fmt::print("held-out bits per byte: {:.3f}\n", held_out->bits_per_byte);
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
#ifdef TG_EXAMPLE_MPI
    std::optional<dist::Session> mpi;  // MPI only when started by mpirun; on its own, a world of one
    if (dist::launched_by_mpirun()) mpi.emplace(&argc, &argv);
#endif
    Options o;
    CLI::App app{"Train a tiny GPT with tapegrad and compare gradient stability of pre-norm, post-norm and no norm."};
    // An option given twice takes its last value, so that scripts/train text's defaults can be
    // overridden by the arguments after them.
    app.option_defaults()->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
    app.add_option("--task", o.task, "synthetic task: sort or reverse a row of digits")->check(CLI::IsMember({"sort", "reverse"}))->capture_default_str();
    app.add_option("--length", o.length, "digits per row of the synthetic task")->check(CLI::Range(2, 32))->capture_default_str();
    app.add_option("--text", o.text,
                   "train a character-level model on this text file instead; the last 10% of the file is held out, and the "
                   "accuracy reported is next-character accuracy (the likeliest next character is right) on 64 windows of "
                   "--context characters spread over it")
        ->check(CLI::ExistingFile);
    app.add_option("--tokenizer", o.tokenizer,
                   "--text: char (one token per distinct byte) or bpe (a byte-level BPE vocabulary of --vocab tokens "
                   "trained on the training part, cached with the token files in --tokenizer-cache)")
        ->check(CLI::IsMember({"char", "bpe"}))->capture_default_str();
    app.add_option("--vocab", o.vocab, "--tokenizer bpe: vocabulary size")->check(CLI::Range(int64_t{256}, int64_t{65536}))->capture_default_str();
    app.add_option("--tokenizer-cache", o.tokenizer_cache, "--tokenizer bpe: folder of the vocabulary and token files (default: <out>/tokenizer)");
    app.add_option("--layers", o.layers, "transformer blocks of the main model")->check(CLI::Range(1, 64))->capture_default_str();
    app.add_option("--d-model", o.d_model, "embedding width")->check(CLI::Range(4, 4096))->capture_default_str();
    app.add_option("--heads", o.heads, "attention heads (must divide --d-model)")->check(CLI::Range(1, 64))->capture_default_str();
    app.add_option("--context", o.context, "context length for --text")->check(CLI::Range(2, 4096))->capture_default_str();
    app.add_option("--batch", o.batch, "sequences per step")->check(CLI::Range(1, 65536))->capture_default_str();
    app.add_option("--steps", o.steps, "training steps of the main model")->check(CLI::Range(1, 100000000))->capture_default_str();
    app.add_option("--lr", o.lr, "peak learning rate (AdamW)")->check(in_range(0.0, 10.0))->capture_default_str();
    auto* warmup = app.add_option("--warmup", o.warmup,
                                  "linear warmup steps before the cosine decay; when not given, 50, or a tenth of --steps "
                                  "if that is less; a warmup longer than --steps is cut to --steps")
                       ->check(CLI::Range(0, 100000000))->capture_default_str();
    app.add_option("--weight-decay", o.weight_decay, "AdamW weight decay (not on biases and LayerNorm)")->check(in_range(0.0, 1.0))->capture_default_str();
    app.add_option("--clip", o.clip, "clip the global gradient norm to this (0: off)")->check(in_range(0.0, 1e9))->capture_default_str();
    app.add_option("--dropout", o.dropout, "dropout probability")->check(in_range(0.0, 0.9))->capture_default_str();
    app.add_option("--norm", o.norm, "LayerNorm placement of the main model; 'all' trains it pre-norm, then runs the pre/post/none study")
        ->check(CLI::IsMember({"pre", "post", "none", "all"}))->capture_default_str();
    app.add_option("--study-layers", o.study_layers, "blocks of the study's deeper model")->check(CLI::Range(1, 64))->capture_default_str();
    auto* study_steps = app.add_option("--study-steps", o.study_steps,
                                       "steps of each study run; when not given, half of --steps, at most 300 (300 for the "
                                       "default --steps 600, 5 for --steps 10)")
                            ->check(CLI::Range(1, 100000000));
    app.add_option("--study-lr", o.study_lr, "learning rate of the study runs")->check(in_range(0.0, 10.0))->capture_default_str();
    app.add_option("--curvature-every", o.curvature_every,
                   "steps between sharpness measurements of the main and study runs (also at steps 0, 1, 2, 4, ..., the "
                   "end of warmup and the last step); 0 turns curvature off")
        ->check(CLI::Range(int64_t{0}, int64_t{100000000}))->capture_default_str();
    app.add_option("--curvature-iterations", o.curvature_iterations, "most Hessian-vector products per sharpness (Lanczos)")
        ->check(CLI::Range(int64_t{1}, int64_t{1000}))->capture_default_str();
    app.add_option("--curvature-batch", o.curvature_batch, "rows of the fixed batch the curvature is measured on")
        ->check(CLI::Range(int64_t{1}, int64_t{65536}))->capture_default_str();
    app.add_option("--seed", o.seed, "seed for weights and data")->capture_default_str();
    app.add_option("--threads", o.threads, "threads for BLAS and OpenMP together")->check(CLI::Range(1, 256))->capture_default_str();
    app.add_option("--eval-every", o.eval_every, "evaluate and checkpoint every this many steps")->check(CLI::Range(1, 100000000))->capture_default_str();
    app.add_option("--samples", o.samples,
                   "samples of the trained model shown at the end: rows it sorts or reverses, or with --text pieces of "
                   "generated text (0: none)")->check(CLI::Range(0, 100))->capture_default_str();
    app.add_option("--out", o.out, "output folder")->capture_default_str();
    app.add_option("--stop-after", o.stop_after, "stop the main run after this step as Ctrl-C would (checkpoint, exit 130)")
        ->check(CLI::Range(0, 100000000));
    app.add_option("--autocast", o.autocast,
                   "precision of matrix products: off (float32) or bf16 (bf16 products with float32 accumulation "
                   "where the CPU has bf16 units; float32 otherwise, and the run says so)")
        ->check(CLI::IsMember({"off", "bf16"}))
        ->capture_default_str();
    app.add_flag("--resume", o.resume, "continue the main run from the checkpoint in --out");
    app.add_option("--progress", o.progress,
                   "progress display: 'bar' rewrites one line in place, 'plain' prints only whole lines (for logs); "
                   "'auto' is bar on a terminal, plain otherwise and under mpirun (whose launcher relays rank 0's output)")
        ->check(CLI::IsMember({"auto", "bar", "plain"}))->capture_default_str();
    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        const int code = app.exit(e);
        return code == 0 ? 0 : 2;
    }
    o.study_steps_given = study_steps->count() > 0;
    if (warmup->count() == 0) o.warmup = std::min(o.warmup, o.steps / 10);  // --steps 10 warms up 1 step, not 50
    if (o.warmup > o.steps) {
        fmt::print("note: --warmup {} is longer than the run; warming up over all {} steps\n", o.warmup, o.steps);
        o.warmup = o.steps;
    }
    bool under_mpirun = false;
#ifdef TG_EXAMPLE_MPI
    under_mpirun = dist::launched_by_mpirun();
#endif
    o.bar = o.progress == "bar" || (o.progress == "auto" && isatty(STDOUT_FILENO) && !under_mpirun);
    if (o.d_model % o.heads != 0) {
        fmt::print(stderr, "train_tiny_transformer: --d-model {} is not divisible by --heads {}\n", o.d_model, o.heads);
        return 2;
    }
    std::signal(SIGINT, on_sigint);
    try {
        return run(o);
    } catch (const std::exception& e) {
#ifdef TG_EXAMPLE_MPI
        if (world() > 1) dist::abort(fmt::format("train_tiny_transformer: {}", e.what()));  // stops every rank
#endif
        fmt::print(stderr, "\ntrain_tiny_transformer: {}\n", e.what());
        return 1;
    }
}
