// Data-parallel training over MPI: collectives on odd sizes, and the promise that N ranks with
// batch B each train exactly like one process with batch N*B.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <tapegrad.hpp>

#include "distributed/dist.hpp"

using namespace tg;

namespace {

// i-th rank's values: 1000 * rank + i, so every reduction has a known answer.
Tensor ramp(int64_t n, Dtype dt, int r) {
    std::vector<double> v(static_cast<std::size_t>(n));
    for (int64_t i = 0; i < n; ++i) v[static_cast<std::size_t>(i)] = 1000.0 * r + static_cast<double>(i);
    return to(tensor(v, {n}), dt);
}

double max_rel_diff(const Tensor& a, const Tensor& b) {
    const auto x = a.to_vector<double>(), y = b.to_vector<double>();
    double scale = 0, diff = 0;
    for (std::size_t i = 0; i < x.size(); ++i) {
        scale = std::max(scale, std::abs(y[i]));
        diff = std::max(diff, std::abs(x[i] - y[i]));
    }
    return scale > 0 ? diff / scale : diff;
}

}  // namespace

TEST_CASE("there are at least two ranks", "[dist]") {
    REQUIRE(dist::is_initialized());
    CHECK(dist::world_size() >= 2);
    CHECK(dist::rank() >= 0);
    CHECK(dist::rank() < dist::world_size());
    dist::barrier();
}

TEST_CASE("broadcast and all_reduce give exact answers on odd sizes, in f32 and f64", "[dist]") {
    const int r = dist::rank(), n = dist::world_size();
    for (Dtype dt : {Dtype::f32, Dtype::f64}) {
        for (int64_t size : {0, 1, 7, 1000, 100003}) {
            INFO(fmt::format("{} elements, {}", size, dtype_name(dt)));
            Tensor b = ramp(size, dt, r);
            dist::broadcast(b, n - 1);  // the last rank's values everywhere
            CHECK(b.to_vector<double>() == ramp(size, dt, n - 1).to_vector<double>());

            Tensor s = ramp(size, dt, r);
            dist::all_reduce(s, dist::ReduceOp::sum);
            Tensor a = ramp(size, dt, r);
            dist::all_reduce(a, dist::ReduceOp::average);
            Tensor mx = ramp(size, dt, r);
            dist::all_reduce(mx, dist::ReduceOp::max);
            const auto vs = s.to_vector<double>(), va = a.to_vector<double>(), vm = mx.to_vector<double>();
            bool ok = true;
            for (int64_t i = 0; i < size; ++i) {
                const double sum = 1000.0 * n * (n - 1) / 2 + static_cast<double>(n * i);
                ok = ok && vs[static_cast<std::size_t>(i)] == sum &&
                     std::abs(va[static_cast<std::size_t>(i)] - sum / n) <= 1e-6 * std::abs(sum / n) &&
                     vm[static_cast<std::size_t>(i)] == 1000.0 * (n - 1) + static_cast<double>(i);
            }
            CHECK(ok);
        }
    }
    Tensor ids = tensor(std::vector<int64_t>{r, 2 * r}, {2});
    dist::all_reduce(ids, dist::ReduceOp::max);
    CHECK(ids.to_vector<int64_t>() == std::vector<int64_t>{n - 1, 2 * (n - 1)});
}

TEST_CASE("collectives refuse tensors that differ between ranks, on every rank", "[dist]") {
    Tensor t = Tensor::zeros({dist::rank() == 0 ? 3 : 4}, Dtype::f64);
    REQUIRE_THROWS_WITH(dist::all_reduce(t), Catch::Contains("dist::all_reduce: the tensor differs between ranks"));
    REQUIRE_THROWS_WITH(dist::broadcast(t), Catch::Contains("dist::broadcast: the tensor differs between ranks"));
    REQUIRE_THROWS_WITH(dist::broadcast(Tensor::zeros({2}), 99), Catch::Contains("root 99 is not a rank"));
    dist::barrier();  // and nobody is left inside a collective
}

namespace {

// One configuration of the parity test: `steps` optimizer steps of a tiny GPT on a global batch
// of `global` sequences, (a) on this rank alone and (b) split over the ranks with averaged
// gradients. Returns the largest relative parameter difference (per tensor, against its
// largest value) seen after any step, and checks after every step that all ranks hold
// identical parameters.
enum class Opt { adamw, sgd };
// after_backward: all_reduce_gradients once backward is done; overlapped: a DataParallel that
// reduces buckets while backward runs.
enum class Reduce { after_backward, overlapped };
double parity(Dtype dtype, int steps, Opt which, Reduce how = Reduce::after_backward) {
    const int r = dist::rank(), n = dist::world_size();
    const int64_t per_rank = 2, global = per_rank * n, T = 8;
    const nn::GPTConfig cfg{.vocab_size = 16, .context_length = T, .d_model = 16, .n_layer = 2, .n_head = 2,
                            .seed = 7, .dtype = dtype};
    nn::GPT single(cfg), parallel(cfg);
    std::unique_ptr<dist::DataParallel> ddp;  // small buckets: several, started during backward
    if (how == Reduce::overlapped) ddp = std::make_unique<dist::DataParallel>(parallel, dist::DataParallelOptions{.bucket_bytes = 4096});
    else dist::broadcast_parameters(parallel);
    std::unique_ptr<optim::Optimizer> opt_single, opt_parallel;
    if (which == Opt::adamw) {
        const optim::AdamWOptions opts{.lr = 1e-2, .weight_decay = 0.1};
        opt_single = std::make_unique<optim::AdamW>(optim::weight_decay_groups(single, opts));
        opt_parallel = std::make_unique<optim::AdamW>(optim::weight_decay_groups(parallel, opts));
    } else {
        const optim::SGDOptions opts{.lr = 0.1, .momentum = 0.9};
        opt_single = std::make_unique<optim::SGD>(single.parameters(), opts);
        opt_parallel = std::make_unique<optim::SGD>(parallel.parameters(), opts);
    }
    Generator gen(11);  // the same global batches on every rank
    double worst = 0;
    bool identical = true;
    for (int step = 0; step < steps; ++step) {
        const Tensor x = Tensor::randint(0, cfg.vocab_size, {global, T}, gen);
        const Tensor y = Tensor::randint(0, cfg.vocab_size, {global, T}, gen);

        opt_single->zero_grad();
        single.loss(x, y).backward();
        opt_single->step();

        opt_parallel->zero_grad();
        const Tensor xs = slice(x, 0, r * per_rank, (r + 1) * per_rank);
        const Tensor ys = slice(y, 0, r * per_rank, (r + 1) * per_rank);
        parallel.loss(xs, ys).backward();
        const dist::ReduceStats st = ddp ? ddp->synchronize() : dist::all_reduce_gradients(parallel, 4096);
        CHECK(st.buckets > 1);
        CHECK(st.overlapped == (ddp ? st.buckets : 0));
        opt_parallel->step();

        const auto ps = single.parameters(), pp = parallel.parameters();
        for (std::size_t k = 0; k < ps.size(); ++k) {
            worst = std::max(worst, max_rel_diff(pp[k], ps[k]));
            Tensor root_copy = pp[k].clone().detach();
            dist::broadcast(root_copy, 0);
            identical = identical && root_copy.to_vector<double>() == pp[k].to_vector<double>();
        }
    }
    CHECK(identical);
    return worst;
}

// The parity bounds, for one way of reducing. The two runs differ only in the order the
// gradient sums are added up in. AdamW divides by the gradient's own size, so a rounding-level
// difference on a near-zero gradient becomes a step of up to lr: the 1e-12 (f64) and 1e-5 (f32)
// bounds are checked with SGD (momentum); AdamW in f64 is held to 1e-10 (measured: 6e-13 here).
void check_parity(Reduce how, const char* label) {
    const double f64_adamw = parity(Dtype::f64, 5, Opt::adamw, how);
    const double f64_sgd = parity(Dtype::f64, 5, Opt::sgd, how);
    const double f32_sgd = parity(Dtype::f32, 5, Opt::sgd, how);
    INFO(fmt::format("max relative parameter difference over 5 steps: f64 AdamW {:.2e}, f64 SGD {:.2e}, f32 SGD {:.2e}",
                     f64_adamw, f64_sgd, f32_sgd));
    CHECK(f64_adamw < 1e-10);
    CHECK(f64_sgd < 1e-12);
    CHECK(f32_sgd < 1e-5);
    if (dist::rank() == 0 && std::getenv("TG_TEST_VERBOSE"))
        std::printf("%s: f64 AdamW %.2e, f64 SGD %.2e, f32 SGD %.2e\n", label, f64_adamw, f64_sgd, f32_sgd);
}

}  // namespace

TEST_CASE("N ranks with batch B each train like one process with batch N*B", "[dist][parity]") {
    check_parity(Reduce::after_backward, "parity");
}

TEST_CASE("DataParallel, reducing during backward, trains like one process with the whole batch", "[dist][parity]") {
    check_parity(Reduce::overlapped, "parity (overlapped)");
}

TEST_CASE("all_reduce_gradients gives every parameter a gradient, zeros where a rank had none", "[dist]") {
    nn::Linear lin(3, 2, {.bias = true, .seed = 5});
    if (dist::rank() == 0) sum(lin.forward(Tensor::ones({1, 3}))).backward();
    dist::all_reduce_gradients(lin);
    for (const Tensor& p : lin.parameters()) REQUIRE(p.grad().defined());
    // rank 0's gradient of the bias is 1 per output; averaged with the others' zeros: 1/N.
    const auto gb = lin.parameters()[1].grad().to_vector<double>();
    CHECK(gb[0] == Approx(1.0 / dist::world_size()));
}

namespace {

// Two linear layers; `use_second` decides whether the second takes part in the loss.
struct TwoLayers : nn::Module {
    nn::Linear a{3, 4, {.bias = true, .seed = 1, .dtype = Dtype::f64}};
    nn::Linear b{4, 2, {.bias = true, .seed = 2, .dtype = Dtype::f64}};
    TwoLayers() {
        register_module("a", a);
        register_module("b", b);
    }
    Tensor loss(const Tensor& x, bool use_second) {
        Tensor h = tanh(a.forward(x));
        return use_second ? sum(b.forward(h) * b.forward(h)) : sum(h * h);
    }
};

// This rank's input: different on every rank, so that the averages are not any rank's values.
Tensor rank_input(int r, int64_t rows = 2) {
    return Tensor::randn({rows, 3}, Dtype::f64, 100 + static_cast<uint64_t>(r));
}

bool same_on_every_rank(const Tensor& t) {
    Tensor root_copy = t.clone().detach();
    dist::broadcast(root_copy, 0);
    return root_copy.to_vector<double>() == t.to_vector<double>();
}

}  // namespace

TEST_CASE("DataParallel starts from rank 0's weights and reduces every bucket during backward", "[dist]") {
    const int r = dist::rank(), n = dist::world_size();
    TwoLayers m;
    {
        NoGradGuard ng;  // every rank starts somewhere else
        m.a.weight.add_(Tensor::ones(m.a.weight.shape(), Dtype::f64), r);
    }
    dist::DataParallel ddp(m, {.bucket_bytes = 64});  // 8 f64 values per bucket: one or two parameters each
    for (const Tensor& p : m.parameters()) CHECK(same_on_every_rank(p));
    // Buckets follow parameters from the last one back: b.bias (2), b.weight (8), a.bias (4), a.weight (12).
    CHECK(ddp.bucket_sizes() == std::vector<std::size_t>{1, 1, 1, 1});

    // The expected average: every rank's gradient, computed on a copy, averaged by all_reduce.
    TwoLayers ref;
    for (std::size_t k = 0; k < m.parameters().size(); ++k) {
        NoGradGuard ng;
        Tensor(ref.parameters()[k]).copy_(m.parameters()[k]);
    }
    ref.loss(rank_input(r), true).backward();
    std::vector<Tensor> want;
    for (const Tensor& p : ref.parameters()) {
        Tensor g = p.grad().clone().detach();
        dist::all_reduce(g, dist::ReduceOp::average);
        want.push_back(g);
    }

    // Watch backward: when b's gradients are complete (one linear backward gives weight and
    // bias together), a's are not yet, and b's two buckets are already being reduced.
    std::size_t started_when_b_done = 99;
    bool a_weight_done_early = true;
    HookHandle hb = m.b.bias.register_post_accumulate_grad_hook([&](const Tensor&) {
        started_when_b_done = ddp.buckets_started();
        a_weight_done_early = m.a.weight.grad().defined();
    });
    m.loss(rank_input(r), true).backward();
    hb.remove();
    CHECK(started_when_b_done == 2);
    CHECK_FALSE(a_weight_done_early);
    CHECK(ddp.buckets_started() == 4);  // all started before backward returned
    const dist::ReduceStats st = ddp.synchronize();
    CHECK(ddp.buckets_started() == 0);
    for (std::size_t k = 0; k < want.size(); ++k)
        CHECK(max_rel_diff(m.parameters()[k].grad(), want[k]) < 1e-15);
    CHECK(st.buckets == 4);
    CHECK(st.overlapped == 4);  // all four started inside backward, by the hooks
    CHECK(st.bytes == (2 + 8 + 4 + 12) * 8);
    CHECK(st.seconds >= st.wait_seconds);
    // A second synchronize() before the next backward changes nothing.
    const auto before = m.parameters()[0].grad().to_vector<double>();
    CHECK(ddp.synchronize().buckets == 4);
    CHECK(m.parameters()[0].grad().to_vector<double>() == before);
    if (n > 1) CHECK(before != ref.parameters()[0].grad().to_vector<double>());  // this rank's own gradient
}

TEST_CASE("DataParallel reduces parameters that got no gradient, as zeros, in synchronize", "[dist]") {
    const int r = dist::rank(), n = dist::world_size();
    TwoLayers m;
    dist::DataParallel ddp(m, {.bucket_bytes = 64});
    // Rank 0 leaves out the second layer; the others use it. b's buckets are the first to be
    // reduced, so on rank 0 nothing can start during backward, while the others start all four.
    Tensor loss = m.loss(rank_input(r), r != 0);
    loss.backward();
    // Other collectives between backward and synchronize do not get mixed up with the buckets.
    Tensor l = loss.detach();
    dist::all_reduce(l, dist::ReduceOp::average);
    dist::barrier();
    const dist::ReduceStats st = ddp.synchronize();
    CHECK(st.buckets == 4);
    CHECK(st.overlapped == (r == 0 ? 0 : 4));
    for (const Tensor& p : m.parameters()) {
        REQUIRE(p.grad().defined());
        CHECK(same_on_every_rank(p.grad()));
    }
    // b's gradient is the others' sum over n ranks (rank 0 counts as zeros).
    TwoLayers ref;
    Tensor b_sum = Tensor::zeros(ref.b.weight.shape(), Dtype::f64);
    if (r != 0) {
        ref.loss(rank_input(r), true).backward();
        b_sum = ref.b.weight.grad().clone().detach();
    }
    dist::all_reduce(b_sum, dist::ReduceOp::sum);
    CHECK(max_rel_diff(m.b.weight.grad(), b_sum * (1.0 / n)) < 1e-15);
}

TEST_CASE("DataParallel under no_sync accumulates micro-batches and reduces their sum once", "[dist]") {
    const int r = dist::rank();
    TwoLayers m, plain;
    dist::DataParallel ddp(m);
    for (std::size_t k = 0; k < m.parameters().size(); ++k) {
        NoGradGuard ng;
        Tensor(plain.parameters()[k]).copy_(m.parameters()[k]);
    }
    const Tensor x1 = rank_input(r), x2 = rank_input(r + 50);
    // The reference: both micro-batches accumulated locally, then one all_reduce_gradients.
    plain.loss(x1, true).backward();
    plain.loss(x2, true).backward();
    dist::all_reduce_gradients(plain);

    SECTION("the last micro-batch outside no_sync") {
        {
            auto guard = ddp.no_sync();
            m.loss(x1, true).backward();
        }
        m.loss(x2, true).backward();
        CHECK(ddp.synchronize().overlapped == 1);  // the default 1 MiB bucket holds all four
    }
    SECTION("every micro-batch inside no_sync, then synchronize") {
        {
            auto guard = ddp.no_sync();
            m.loss(x1, true).backward();
            m.loss(x2, true).backward();
        }
        CHECK(ddp.synchronize().overlapped == 0);
    }
    for (std::size_t k = 0; k < m.parameters().size(); ++k)
        CHECK(max_rel_diff(m.parameters()[k].grad(), plain.parameters()[k].grad()) < 1e-14);
}

TEST_CASE("a parameter no rank has a gradient for keeps none after DataParallel", "[dist]") {
    const int r = dist::rank();
    TwoLayers m, ref;
    dist::DataParallel ddp(m, {.bucket_bytes = 64});
    m.loss(rank_input(r), false).backward();  // nobody uses b
    ddp.synchronize();
    CHECK_FALSE(m.b.weight.grad().defined());
    CHECK_FALSE(m.b.bias.grad().defined());
    REQUIRE(m.a.weight.grad().defined());
    CHECK(same_on_every_rank(m.a.weight.grad()));
    // all_reduce_gradients does the same.
    ref.loss(rank_input(r), false).backward();
    dist::all_reduce_gradients(ref);
    CHECK_FALSE(ref.b.weight.grad().defined());
    CHECK(max_rel_diff(ref.a.weight.grad(), m.a.weight.grad()) < 1e-15);
}

TEST_CASE("DataParallel refuses a second backward before synchronize, and recovers", "[dist]") {
    const int r = dist::rank();
    TwoLayers m;
    dist::DataParallel ddp(m, {.bucket_bytes = 64});
    m.loss(rank_input(r), true).backward();
    REQUIRE_THROWS_WITH(m.loss(rank_input(r), false).backward(),
                        Catch::Contains("dist::DataParallel: backward() ran again before synchronize()"));
    const dist::ReduceStats st = ddp.synchronize();  // completes the first pass on every rank
    CHECK(st.buckets == 4);
    for (const Tensor& p : m.parameters()) CHECK(same_on_every_rank(p.grad()));
    for (const Tensor& p : m.parameters()) Tensor(p).set_grad(Tensor());
    m.loss(rank_input(r), true).backward();
    CHECK(ddp.synchronize().overlapped == 4);
}

TEST_CASE("DataParallel refuses models that differ between ranks", "[dist]") {
    nn::Linear lin(3, dist::rank() == 0 ? 2 : 5, {.bias = true, .seed = 5});
    REQUIRE_THROWS_WITH(dist::DataParallel(lin), Catch::Contains("dist::DataParallel: the model differs between ranks"));
    // The same number of parameters and of elements, in other shapes.
    nn::Linear other(dist::rank() == 0 ? 2 : 3, dist::rank() == 0 ? 6 : 4, {.bias = false, .seed = 5});
    REQUIRE_THROWS_WITH(dist::DataParallel(other), Catch::Contains("shapes, dtypes and requires_grad must match"));
    REQUIRE_THROWS_WITH(dist::DataParallel(lin, {.bucket_bytes = 0}), Catch::Contains("bucket_bytes must be positive"));
    dist::barrier();
}

TEST_CASE("shard gives each rank its own equal slice of the global batch", "[dist][data]") {
    const int r = dist::rank(), n = dist::world_size();
    const Tensor global = reshape(arange(n * 2 * 3, Dtype::f64), {n * 2, 3});
    const Tensor mine = dist::shard(global);
    REQUIRE(mine.shape() == Shape{2, 3});
    CHECK(mine.to_vector<double>() == slice(global, 0, 2 * r, 2 * r + 2).to_vector<double>());
    REQUIRE_THROWS_WITH(dist::shard(Tensor::zeros({n * 2 + 1, 3})), Catch::Contains("does not split evenly"));
}

TEST_CASE("the sharded sampler covers every example once per epoch, split over the ranks", "[dist][data]") {
    const int n = dist::world_size();
    const int64_t size = 24, global = 2 * n;  // a 24-example dataset, 2 examples per rank per step
    dist::ShardedSampler sampler(size, global, 5);
    CHECK(sampler.local_batch() == 2);
    const int64_t steps_per_epoch = size / global;
    for (int64_t epoch = 0; epoch < 2; ++epoch) {
        Tensor seen = Tensor::zeros({size}, Dtype::f64);
        for (int64_t s = 0; s < steps_per_epoch; ++s)
            for (int64_t i : sampler.indices(epoch * steps_per_epoch + s)) {
                NoGradGuard ng;
                seen.data<double>()[i] += 1;
            }
        dist::all_reduce(seen, dist::ReduceOp::sum);
        CHECK(seen.to_vector<double>() == std::vector<double>(size, 1.0));  // each example exactly once
    }
    // A fresh sampler (a resumed run) picks the same examples for the same step.
    dist::ShardedSampler again(size, global, 5);
    CHECK(again.indices(7) == sampler.indices(7));
    CHECK(dist::ShardedSampler(size, global, 6).indices(0) != sampler.indices(0));
}

TEST_CASE("a process started by mpiexec knows it", "[dist]") {
    CHECK(dist::launched_by_mpirun());
}
