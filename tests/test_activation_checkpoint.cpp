// Activation checkpointing (tg::checkpoint, nn::checkpoint_sequential, GPTConfig::checkpoint_blocks):
// gradients bit-identical to the plain run (f64 and f32, dropout on), the memory it saves, and
// its errors.
#include "helpers.hpp"

using namespace tg;

namespace {

nn::GPTConfig tiny(Dtype dtype, bool checkpointed) {
    return {.vocab_size = 16, .context_length = 8, .d_model = 16, .n_layer = 3, .n_head = 2, .dropout = 0.2,
            .seed = 11, .dtype = dtype, .checkpoint_blocks = checkpointed};
}

// The largest absolute difference between two tensors' values (0 when bit-identical).
double max_abs_diff(const Tensor& a, const Tensor& b) {
    const Tensor x = a.to(Dtype::f64), y = b.to(Dtype::f64);
    double m = 0;
    for (int64_t i = 0; i < x.numel(); ++i) m = std::max(m, std::abs(x.data<double>()[i] - y.data<double>()[i]));
    return m;
}

}  // namespace

TEST_CASE("checkpointed GPT blocks give bit-identical loss and gradients, dropout on", "[checkpoint][nn][gpt]") {
    for (Dtype dtype : {Dtype::f64, Dtype::f32}) {
        INFO(dtype_name(dtype));
        nn::GPT plain(tiny(dtype, false)), ckpt(tiny(dtype, true));
        Generator gen(1);
        for (int step = 0; step < 2; ++step) {  // the second step checks the random streams stayed in step
            const Tensor x = Tensor::randint(0, 16, {2, 8}, gen);
            const Tensor y = Tensor::randint(0, 16, {2, 8}, gen);
            plain.zero_grad();
            ckpt.zero_grad();
            Tensor lp = plain.loss(x, y), lc = ckpt.loss(x, y);
            CHECK(lp.item<double>() == lc.item<double>());
            lp.backward();
            lc.backward();
            const auto pp = plain.named_parameters(), pc = ckpt.named_parameters();
            REQUIRE(pp.size() == pc.size());
            for (std::size_t i = 0; i < pp.size(); ++i) {
                INFO(pp[i].first);
                REQUIRE(pc[i].second.grad().defined());
                CHECK(max_abs_diff(pp[i].second.grad(), pc[i].second.grad()) == 0.0);
            }
        }
    }
}

TEST_CASE("checkpointing GPT blocks keeps a fraction of the activations on the tape", "[checkpoint][memory]") {
    nn::GPTConfig cfg = tiny(Dtype::f32, false);
    cfg.n_layer = 6;
    cfg.d_model = 32;
    cfg.context_length = 32;
    nn::GPT plain(cfg);
    cfg.checkpoint_blocks = true;
    nn::GPT ckpt(cfg);
    Generator gen(2);
    const Tensor x = Tensor::randint(0, 16, {4, 32}, gen);
    int64_t kept_plain = 0, kept_ckpt = 0;
    {
        Tensor l = plain.loss(x, x);
        kept_plain = memory_stats().saved_by_tape_bytes;
    }
    {
        Tensor l = ckpt.loss(x, x);
        kept_ckpt = memory_stats().saved_by_tape_bytes;
        l.backward();
    }
    INFO(kept_plain << " against " << kept_ckpt);
    CHECK(kept_ckpt * 4 < kept_plain);
    CHECK(memory_stats().saved_by_tape_bytes == 0);
}

TEST_CASE("checkpoint with several outputs and inputs matches the plain gradients", "[checkpoint]") {
    Tensor a = test::randn64({3, 4}, 1).requires_grad_();
    Tensor b = test::randn64({3, 4}, 2).requires_grad_();
    Tensor w = test::randn64({4, 2}, 3).requires_grad_();  // used inside, a "parameter"
    const Tensor data = test::randn64({3, 4}, 4);                 // needs no gradient
    auto fn = [w, data](const std::vector<Tensor>& in) {
        return std::vector<Tensor>{matmul(mul(in[0], in[1]), w), tanh(add(in[0], data))};
    };
    auto loss_of = [](const std::vector<Tensor>& outs) { return add(sum(square(outs[0])), sum(outs[1])); };

    loss_of(fn({a, b})).backward();
    const Tensor ga = a.grad().clone(), gb = b.grad().clone(), gw = w.grad().clone();
    a.set_grad(Tensor());
    b.set_grad(Tensor());
    w.set_grad(Tensor());
    const std::vector<Tensor> outs = checkpoint(fn, {a, b});
    REQUIRE(outs.size() == 2);
    CHECK(outs[0].shape() == Shape{3, 2});
    CHECK(outs[1].shape() == Shape{3, 4});
    loss_of(outs).backward();
    CHECK(max_abs_diff(a.grad(), ga) == 0.0);
    CHECK(max_abs_diff(b.grad(), gb) == 0.0);
    CHECK(max_abs_diff(w.grad(), gw) == 0.0);

    // Only one output used: the other's gradient is zero.
    a.set_grad(Tensor());
    sum(checkpoint(fn, {a, b})[1]).backward();
    test::require_close(a.grad(), sub(Tensor::ones({3, 4}, Dtype::f64), square(tanh(add(a, data)))).detach(), 1e-12);

    // Under NoGradGuard it is the function itself.
    NoGradGuard ng;
    CHECK(!checkpoint(fn, {a, b})[0].requires_grad());
}

TEST_CASE("checkpoint_sequential gives the plain gradients and checks its segments", "[checkpoint][nn]") {
    nn::Sequential net{std::make_shared<nn::Linear>(4, 8, nn::LinearOptions{.seed = 1, .dtype = Dtype::f64}),
                       std::make_shared<nn::GELU>(),
                       std::make_shared<nn::Linear>(8, 8, nn::LinearOptions{.seed = 2, .dtype = Dtype::f64}),
                       std::make_shared<nn::GELU>(),
                       std::make_shared<nn::Linear>(8, 2, nn::LinearOptions{.seed = 3, .dtype = Dtype::f64})};
    Tensor x = test::randn64({5, 4}, 7).requires_grad_();
    sum(net(x)).backward();
    std::vector<Tensor> plain;
    for (const Tensor& p : net.parameters()) plain.push_back(p.grad().clone());
    const Tensor gx = x.grad().clone();
    for (int64_t segments : {1, 2, 3, 5}) {
        INFO(segments);
        net.zero_grad();
        x.set_grad(Tensor());
        sum(nn::checkpoint_sequential(net, segments, x)).backward();
        const auto params = net.parameters();
        for (std::size_t i = 0; i < params.size(); ++i) CHECK(max_abs_diff(params[i].grad(), plain[i]) == 0.0);
        CHECK(max_abs_diff(x.grad(), gx) == 0.0);
    }
    CHECK_THROWS_WITH(nn::checkpoint_sequential(net, 0, x), Catch::Contains("segments must be in [1, 5]"));
    CHECK_THROWS_WITH(nn::checkpoint_sequential(net, 6, x), Catch::Contains("segments must be in [1, 5]"));
}

TEST_CASE("checkpoint refuses what it cannot differentiate correctly", "[checkpoint][bad_input]") {
    Tensor a = test::randn64({3}, 1).requires_grad_();
    auto twice = [](const std::vector<Tensor>& in) { return std::vector<Tensor>{mul(in[0], 2.0)}; };

    // An input modified in place between the call and backward.
    Tensor x = mul(a, 1.0);
    Tensor out = checkpoint(twice, {x})[0];
    x.detach().fill_(1.0);
    CHECK_THROWS_WITH(sum(out).backward(), Catch::Contains("of 'checkpoint'") && Catch::Contains("modified in place"));

    // Outputs that do not depend on the inputs.
    Tensor w = test::randn64({3}, 2).requires_grad_();
    Tensor y = checkpoint([w](const std::vector<Tensor>&) { return std::vector<Tensor>{mul(w, 3.0)}; }, {a})[0];
    CHECK_THROWS_WITH(sum(y).backward(), Catch::Contains("do not depend on its inputs"));

    // No input requires grad: backward would never reach the function.
    CHECK_THROWS_WITH(checkpoint(twice, {test::randn64({3}, 3)}), Catch::Contains("requires grad"));
    // A function that computes something else when run again.
    int calls = 0;
    Tensor z = checkpoint([&calls](const std::vector<Tensor>& in) {
        return std::vector<Tensor>{++calls == 1 ? mul(in[0], 2.0) : reshape(in[0], {1, 3})};
    }, {a})[0];
    CHECK_THROWS_WITH(sum(z).backward(), Catch::Contains("when run again in backward"));
    CHECK_THROWS_WITH(checkpoint(CheckpointFn(), {a}), Catch::Contains("the function is empty"));
    CHECK_THROWS_WITH(checkpoint([](const std::vector<Tensor>&) { return std::vector<Tensor>{}; }, {a}),
                      Catch::Contains("returned no tensors"));
    // grad() through a checkpoint.
    Tensor g = checkpoint(twice, {a})[0];
    CHECK_THROWS_WITH(grad({sum(g)}, {a}), Catch::Contains("grad() cannot differentiate through a checkpoint"));
    // After every error the tape still works.
    Tensor ok = checkpoint(twice, {a})[0];
    a.set_grad(Tensor());
    sum(ok).backward();
    test::require_close(a.grad(), Tensor::full({3}, 2.0, Dtype::f64), 0);
}

TEST_CASE("the profiler shows a checkpoint as one op, its recomputation as backward time", "[checkpoint][profiler]") {
    nn::GPT model(tiny(Dtype::f32, true));
    Generator gen(3);
    const Tensor x = Tensor::randint(0, 16, {2, 8}, gen);
    Profiler prof;
    model.loss(x, x).backward();
    prof.stop();
    const std::string table = prof.table({.sort_by = "name", .rows = 0});
    INFO(table);
    CHECK(table.find("checkpoint ") != std::string::npos);
    // The blocks ran once in forward (under the checkpoint), once more in backward, not counted.
    const std::string modules = prof.table({.group_by = "module", .rows = 0});
    INFO(modules);
    CHECK(modules.find("h.2.attn ") != std::string::npos);
}
