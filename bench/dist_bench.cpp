// tapegrad-dist-bench: times data-parallel training steps of nn::GPT. Started by mpiexec it
// trains on `world` ranks, each on its share of the global batch, and times each way of
// reducing the gradients in turn, interleaved over rounds so that all see the same machine:
//   after    all gradients reduced once backward is done (DataParallel, overlap off)
//   overlap  each bucket reduced as soon as backward has finished it (DataParallel)
//   none     no reduction at all: the ranks drift apart, but its step time is the floor the
//            other two approach (the compute of a step on a shard, with nothing to wait for)
// Started on its own it is one process training on the whole global batch (mode "single").
// Rank 0 prints `key: value` lines; per mode: ms_per_step and tokens_per_s (medians), and
// comm_ms (time in gradient reduction: packing, hooks, MPI, waiting, unpacking), wait_ms (the
// part spent blocked in MPI_Wait) and comm_share (comm_ms / ms_per_step). comm_ms and wait_ms
// are taken, step by step, from the rank that spent least on them: the one that finished
// backward last, which waits for nobody. The other ranks' figures also hold the time they
// waited for it, which is imbalance between the ranks rather than communication.
#include <CLI/CLI.hpp>
#include <tapegrad.hpp>

#include <fmt/ranges.h>

#include <map>
#include <optional>

#include "bench/bench_common.hpp"
#include "distributed/dist.hpp"

using namespace tg;

namespace {

struct Args {
    int64_t vocab = 65, context = 64, d_model = 64, layers = 2, heads = 4, batch = 16;
    int64_t steps = 20, warmup = 3, threads = 1, rounds = 3, bucket_kb = 1024;
    std::vector<std::string> modes = {"after", "overlap", "none"};
    uint64_t seed = 1;
    bool malloc_defaults = false;
};

struct Samples {
    std::vector<double> ms, comm_ms, wait_ms;
    int buckets = 0, overlapped = 0;
};

int run(const Args& a) {
    set_num_threads(static_cast<int>(a.threads));
    const int world = dist::world_size();
    if (a.batch % world != 0)
        throw ValueError(fmt::format("--batch {} does not split evenly over {} processes", a.batch, world));
    nn::GPT model(nn::GPTConfig{.vocab_size = a.vocab, .context_length = a.context, .d_model = a.d_model,
                                .n_layer = a.layers, .n_head = a.heads, .seed = a.seed});
    optim::AdamW opt(optim::weight_decay_groups(model, optim::AdamWOptions{.lr = 1e-4, .weight_decay = 0.1}));
    // Random tokens, the same global batch on every rank and every step (loading is not timed).
    Generator gen(a.seed + 1);
    const Tensor x = dist::shard(Tensor::randint(0, a.vocab, {a.batch, a.context}, gen));
    const Tensor y = dist::shard(Tensor::randint(0, a.vocab, {a.batch, a.context}, gen));
    const std::vector<std::string> modes = world == 1 ? std::vector<std::string>{"single"} : a.modes;

    std::map<std::string, Samples> samples;
    for (int64_t round = 0; round < a.rounds; ++round) {
        for (const std::string& mode : modes) {
            std::optional<dist::DataParallel> ddp;
            if (mode == "after" || mode == "overlap")
                ddp.emplace(model, dist::DataParallelOptions{.bucket_bytes = static_cast<std::size_t>(a.bucket_kb) << 10,
                                                             .overlap = mode == "overlap",
                                                             .broadcast_parameters = round == 0});
            Samples& s = samples[mode];
            for (int64_t i = 0; i < a.warmup + a.steps; ++i) {
                if (world > 1) dist::barrier();  // every rank starts the step together
                const double t0 = bench::now_ms();
                opt.zero_grad();
                model.loss(x, y).backward();
                dist::ReduceStats st;
                if (ddp) st = ddp->synchronize();
                opt.step();
                const double ms = bench::now_ms() - t0;
                if (i < a.warmup) continue;
                s.ms.push_back(ms);
                // The rank that finished backward last waits least: its figures are the cost of
                // the reduction itself, the others' also hold the time they waited for it.
                Tensor cost = tensor({st.seconds * 1e3, st.wait_seconds * 1e3}, {2});
                if (world > 1) dist::all_reduce(cost, dist::ReduceOp::min);
                s.comm_ms.push_back(cost.to_vector<double>()[0]);
                s.wait_ms.push_back(cost.to_vector<double>()[1]);
                s.buckets = st.buckets;
                s.overlapped = st.overlapped;
            }
        }
    }
    // Each rank's median per mode: the slowest rank sets the pace of the others.
    std::map<std::string, std::vector<double>> per_rank;
    for (const std::string& mode : modes) {
        Tensor mine = Tensor::zeros({world}, Dtype::f64);
        {
            NoGradGuard ng;
            mine.data<double>()[dist::rank()] = bench::median(samples[mode].ms);
        }
        if (world > 1) dist::all_reduce(mine, dist::ReduceOp::sum);
        per_rank[mode] = mine.to_vector<double>();
    }
    if (dist::rank() != 0) return 0;
    fmt::print("framework: tapegrad\n");
    fmt::print("model: V={} T={} C={} L={} H={} params={}\n", a.vocab, a.context, a.d_model, a.layers, a.heads,
               bench::count_params(model));
    fmt::print("processes: {}\nthreads_per_process: {}\n", world, a.threads);
    fmt::print("global_batch: {}\nbatch_per_process: {}\n", a.batch, a.batch / world);
    fmt::print("bucket_kb: {}\nsteps: {} x {} rounds\n", a.bucket_kb, a.steps, a.rounds);
    fmt::print("keep_freed_memory: {}\n", !a.malloc_defaults);
    fmt::print("blas: {}\n", blas_info());
    for (const std::string& mode : modes) {
        const Samples& s = samples[mode];
        const double ms = bench::median(s.ms), comm = bench::median(s.comm_ms);
        fmt::print("{}_ms_per_step: {:.3f}\n", mode, ms);
        fmt::print("{}_tokens_per_s: {:.0f}\n", mode, static_cast<double>(a.batch * a.context) / (ms / 1e3));
        fmt::print("{}_comm_ms: {:.3f}\n", mode, comm);
        fmt::print("{}_wait_ms: {:.3f}\n", mode, bench::median(s.wait_ms));
        fmt::print("{}_comm_share: {:.3f}\n", mode, comm / ms);
        fmt::print("{}_buckets: {} ({} started during backward)\n", mode, s.buckets, s.overlapped);
        fmt::print("{}_ms_per_step_by_rank: {:.3f}\n", mode, fmt::join(per_rank[mode], " "));
    }
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{"tapegrad-dist-bench: data-parallel training-step timings (run it under mpiexec, or alone)"};
    Args a;
    app.add_option("--vocab", a.vocab, "vocabulary size V")->check(CLI::Range(int64_t{2}, int64_t{1} << 20))->capture_default_str();
    app.add_option("--context", a.context, "sequence length T")->check(CLI::Range(int64_t{1}, int64_t{1} << 16))->capture_default_str();
    app.add_option("--d-model", a.d_model, "model width C")->check(CLI::Range(int64_t{1}, int64_t{1} << 16))->capture_default_str();
    app.add_option("--layers", a.layers, "transformer blocks L")->check(CLI::Range(int64_t{1}, int64_t{1024}))->capture_default_str();
    app.add_option("--heads", a.heads, "attention heads H (must divide C)")->check(CLI::Range(int64_t{1}, int64_t{1024}))->capture_default_str();
    app.add_option("--batch", a.batch, "global batch B (split over the processes)")->check(CLI::Range(int64_t{1}, int64_t{1} << 20))->capture_default_str();
    app.add_option("--steps", a.steps, "timed steps per mode and round")->check(CLI::Range(int64_t{1}, int64_t{1} << 30))->capture_default_str();
    app.add_option("--warmup", a.warmup, "untimed steps before each mode's timed ones")->check(CLI::Range(int64_t{0}, int64_t{1} << 30))->capture_default_str();
    app.add_option("--rounds", a.rounds, "rounds; each runs every mode once")->check(CLI::Range(int64_t{1}, int64_t{1000}))->capture_default_str();
    app.add_option("--threads", a.threads, "threads per process (OpenMP and BLAS)")->check(CLI::Range(int64_t{1}, int64_t{1024}))->capture_default_str();
    app.add_option("--bucket-kb", a.bucket_kb, "gradient bucket size in KiB")->check(CLI::Range(int64_t{1}, int64_t{1} << 21))->capture_default_str();
    app.add_option("--modes", a.modes, "ways to reduce, timed in turn (with more than one process)")
        ->check(CLI::IsMember({"after", "overlap", "none"}))->delimiter(',')->capture_default_str();
    app.add_option("--seed", a.seed, "seed for the weights and the tokens")->capture_default_str();
    app.add_flag("--malloc-defaults", a.malloc_defaults,
                 "leave glibc's malloc settings alone (SessionOptions::keep_freed_memory off), to measure what keeping "
                 "freed memory gains");
    CLI11_PARSE(app, argc, argv);

    std::optional<dist::Session> mpi;
    if (dist::launched_by_mpirun()) mpi.emplace(&argc, &argv, dist::SessionOptions{.keep_freed_memory = !a.malloc_defaults});
    return dist::run([&] {
        if (a.d_model % a.heads != 0)
            throw ValueError(fmt::format("--heads {} does not divide --d-model {}", a.heads, a.d_model));
        return run(a);
    });
}
