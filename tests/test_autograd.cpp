#include <memory>
#include <string>
#include <thread>

#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>

#include "core/internal/engine.hpp"
#include "helpers.hpp"

using namespace tg;
using Catch::Contains;

TEST_CASE("backward gives the derivative of a simple chain", "[autograd]") {
    Tensor x = tensor({1.0, -2.0, 0.5}, {3}).requires_grad_();
    Tensor y = sum(x * x + x * 3.0);  // dy/dx = 2x + 3
    y.backward();
    test::require_values(x.grad(), {3}, {5, -1, 4});
    CHECK(y.grad_fn_name() == "sum");
    CHECK(x.is_leaf());
    CHECK_FALSE(y.is_leaf());
}

TEST_CASE("a tensor used twice receives the sum of both paths", "[autograd]") {
    Tensor x = tensor({2.0}, {1}).requires_grad_();
    sum(x + x * x).backward();  // 1 + 2x
    test::require_values(x.grad(), {1}, {5});
    Tensor a = tensor({3.0}, {1}).requires_grad_();
    sum(a + a).backward();
    test::require_values(a.grad(), {1}, {2});
}

TEST_CASE("gradients accumulate across backward calls until reset", "[autograd]") {
    Tensor w = tensor({1.0, 2.0}, {2}).requires_grad_();
    sum(w * 3.0).backward();
    sum(w * 3.0).backward();
    test::require_values(w.grad(), {2}, {6, 6});
    w.set_grad(Tensor());
    sum(w * w).backward();
    test::require_values(w.grad(), {2}, {2, 4});
}

TEST_CASE("gradients handed to two inputs do not alias", "[autograd]") {
    Tensor a = tensor({1.0, 2.0}, {2}).requires_grad_();
    Tensor b = tensor({3.0, 4.0}, {2}).requires_grad_();
    sum(a + b).backward();  // add's backward returns one dy for both
    REQUIRE(a.grad().raw_data() != b.grad().raw_data());
    a.grad().add_(Tensor::ones({2}, Dtype::f64));
    test::require_values(b.grad(), {2}, {1, 1});

    Tensor p = Tensor::ones({2, 2}, Dtype::f64).requires_grad_();
    Tensor q = Tensor::ones({2, 2}, Dtype::f64).requires_grad_();
    sum(reshape(p, {4}) + reshape(q, {4})).backward();  // reshape shares storage
    REQUIRE(p.grad().raw_data() != q.grad().raw_data());
    sum(p * 2.0).backward();
    test::require_values(p.grad(), {2, 2}, {3, 3, 3, 3});
    test::require_values(q.grad(), {2, 2}, {1, 1, 1, 1});
}

TEST_CASE("backward takes an explicit gradient for non-scalar outputs", "[autograd]") {
    Tensor x = tensor({1.0, 2.0, 3.0}, {3}).requires_grad_();
    Tensor y = x * x;
    y.backward(tensor({1.0, 0.0, -1.0}, {3}));
    test::require_values(x.grad(), {3}, {2, 0, -6});
}

TEST_CASE("backward explains what is wrong", "[autograd]") {
    Tensor x = tensor({1.0, 2.0}, {2}).requires_grad_();
    REQUIRE_THROWS_AS((x * 2.0).backward(), ValueError);
    REQUIRE_THROWS_WITH((x * 2.0).backward(),
                        Contains("backward: without an explicit gradient the tensor must hold one "
                                 "element, got shape (2,)"));
    REQUIRE_THROWS_WITH((x * 2.0).backward(Tensor::ones({3}, Dtype::f64)),
                        Contains("backward: gradient (3,) f64 does not match tensor (2,) f64"));
    REQUIRE_THROWS_WITH(sum(Tensor::ones({2})).backward(), Contains("does not require grad"));
}

TEST_CASE("a second backward needs retain_graph", "[autograd]") {
    Tensor x = tensor({3.0}, {1}).requires_grad_();
    Tensor y = sum(x * x);
    y.backward(/*retain_graph=*/true);
    y.backward();
    test::require_values(x.grad(), {1}, {12});
    REQUIRE_THROWS_AS(y.backward(), ValueError);
    REQUIRE_THROWS_WITH(y.backward(), Contains("was already freed by an earlier backward()"));

    // A new graph built on a freed intermediate is refused too.
    Tensor h = x * 2.0;
    sum(h).backward();
    REQUIRE_THROWS_WITH(sum(h * 1.0).backward(), Contains("the graph of a 'mul' result used by 'mul'"));
}

TEST_CASE("NoGradGuard records nothing and restores the mode", "[autograd]") {
    Tensor x = Tensor::ones({2}).requires_grad_();
    const int64_t before = tape_size();
    {
        NoGradGuard ng;
        CHECK_FALSE(is_grad_enabled());
        Tensor y = x * 2.0;
        CHECK_FALSE(y.requires_grad());
        CHECK(y.is_leaf());
        {
            NoGradGuard inner;
        }
        CHECK_FALSE(is_grad_enabled());
        CHECK(tape_size() == before);
    }
    CHECK(is_grad_enabled());
    CHECK((x * 2.0).requires_grad());
}

TEST_CASE("intermediate gradients are freed unless retained", "[autograd]") {
    Tensor x = tensor({1.0, 2.0}, {2}).requires_grad_();
    Tensor h = x * 3.0;
    Tensor k = x * 4.0;
    k.retain_grad();
    sum(h * h + k).backward();
    CHECK_FALSE(h.grad().defined());
    test::require_values(k.grad(), {2}, {1, 1});
    test::require_values(x.grad(), {2}, {2 * 9 * 1.0 + 4, 2 * 9 * 2.0 + 4});
}

TEST_CASE("backward releases the tape entries it used", "[autograd]") {
    const int64_t before = tape_size();
    Tensor x = Tensor::randn({4, 4}, Dtype::f64, 1).requires_grad_();
    Tensor loss = mean(tanh(matmul(x, x)));
    CHECK(tape_size() == before + 3);
    loss.backward();
    CHECK(tape_size() == before);
}

TEST_CASE("inputs that need no grad get none, and unused leaves stay undefined", "[autograd]") {
    Tensor a = Tensor::ones({2}, Dtype::f64).requires_grad_();
    Tensor b = Tensor::ones({2}, Dtype::f64);
    Tensor unused = Tensor::ones({2}, Dtype::f64).requires_grad_();
    sum(a * b).backward();
    CHECK(a.grad().defined());
    CHECK_FALSE(b.grad().defined());
    CHECK_FALSE(unused.grad().defined());
    Tensor stop = a.detach() * 5.0;
    CHECK_FALSE(stop.requires_grad());
}

TEST_CASE("a very deep chain backpropagates without recursion", "[autograd]") {
    Tensor x = Tensor::scalar(1.0, Dtype::f64).requires_grad_();
    Tensor y = x;
    const int depth = 100000;
    for (int i = 0; i < depth; ++i) y = y * 1.00001;
    y.backward();
    CHECK(x.grad().item<double>() == Approx(std::pow(1.00001, depth)).epsilon(1e-9));
}

TEST_CASE("10,000 forward passes without backward keep tape and memory bounded", "[autograd][memory]") {
    Tensor w1 = Tensor::randn({16, 32}, Dtype::f32, 1).requires_grad_();
    Tensor w2 = Tensor::randn({32, 4}, Dtype::f32, 2).requires_grad_();
    Tensor x = Tensor::randn({8, 16}, Dtype::f32, 3);
    auto forward = [&] { return mean(gelu(matmul(tanh(matmul(x, w1)), w2))); };
    forward();
    const MemoryStats base = memory_stats();  // prunes the tape
    int64_t max_raw_tape = 0;
    int64_t max_live = 0;
    for (int i = 0; i < 10000; ++i) {
        Tensor loss = forward();  // an evaluation loop that forgot NoGradGuard
        max_raw_tape = std::max(max_raw_tape, detail::raw_tape_size());
        max_live = std::max(max_live, memory_stats().live_bytes);
    }
    const MemoryStats after = memory_stats();
    CHECK(after.tape_entries == base.tape_entries);
    CHECK(after.live_bytes == base.live_bytes);
    CHECK(after.live_tensors == base.live_tensors);
    CHECK(max_raw_tape <= 2048);  // pruned whenever it passes 1024 entries
    CHECK(max_live < base.live_bytes + 4 * 1024 * 1024);
}

TEST_CASE("a result kept alive keeps its graph; dropping it releases the graph", "[autograd][memory]") {
    Tensor w = Tensor::randn({8, 8}, Dtype::f64, 1).requires_grad_();
    const MemoryStats base = memory_stats();
    {
        Tensor y = sum(tanh(matmul(w, w)));
        CHECK(memory_stats().tape_entries == base.tape_entries + 3);
    }
    const MemoryStats after = memory_stats();
    CHECK(after.tape_entries == base.tape_entries);
    CHECK(after.live_bytes == base.live_bytes);
}

TEST_CASE("each thread has its own tape", "[autograd][threads]") {
    auto run = [](uint64_t seed, double* out) {
        Tensor w = Tensor::randn({4, 4}, Dtype::f64, seed).requires_grad_();
        for (int step = 0; step < 200; ++step) {
            Tensor loss = mean(tanh(matmul(w, w)));
            loss.backward();
        }
        *out = sum(w.grad()).item<double>();
    };
    double serial[2], parallel[2];
    run(1, &serial[0]);
    run(2, &serial[1]);
    const int64_t main_tape = tape_size();
    std::thread t1(run, 1, &parallel[0]);
    std::thread t2(run, 2, &parallel[1]);
    t1.join();
    t2.join();
    CHECK(parallel[0] == serial[0]);
    CHECK(parallel[1] == serial[1]);
    CHECK(tape_size() == main_tape);
}

namespace {
// The example of docs/custom_ops.md, as written there.
/// y = x^3.  dx = 3 x^2 dy
Tensor cube(const Tensor& x) {
    if (x.dtype() != Dtype::f32 && x.dtype() != Dtype::f64)
        throw DtypeError(fmt::format("cube: expected f32 or f64, got {}", dtype_name(x.dtype())));
    Tensor y;
    {
        NoGradGuard forward_only;              // cube is one tape entry, not three
        y = x * x * x;                         // any forward: tapegrad ops or your own loop
    }
    return record("cube", y, {x}, [x](const Tensor& dy, const Tensor& /*y*/) {
        return Grads{dy * x * x * 3.0};
    });
}
}  // namespace

TEST_CASE("a custom op written as docs/custom_ops.md shows", "[autograd]") {
    const int64_t entries = tape_size();
    Tensor x = tensor({2.0, -1.0}, {2}).requires_grad_();
    Tensor y = cube(x);
    CHECK(y.grad_fn_name() == "cube");
    CHECK(tape_size() == entries + 1);
    sum(y).backward();
    test::require_values(x.grad(), {2}, {12, 3});
    REQUIRE_THROWS_WITH(cube(Tensor::ones({2}, Dtype::i64)), "cube: expected f32 or f64, got i64");
}

TEST_CASE("docs/custom_ops.md's gradcheck of its op passes, and its once-differentiable op refuses a second derivative", "[autograd]") {
    {
        Tensor x = Tensor::randn({3, 4}, Dtype::f64, /*seed=*/1).requires_grad_();
        GradcheckResult r = gradcheck([](const std::vector<Tensor>& in) { return cube(in[0]); }, {x});
        fmt::print("{}\n", r.message());   // r.ok, r.max_abs_error, r.max_rel_error
        REQUIRE(r.ok);
        CHECK(r.max_rel_error < 1e-7);
        Tensor g = grad({sum(cube(x))}, {x}, {}, {.create_graph = true})[0];
        REQUIRE_THROWS_WITH(sum(g).backward(), Catch::Matchers::Contains("cube"));
    }
}

namespace {
// docs/custom_ops.md's cube declared Differentiable::twice: its backward is all ops.
Tensor cube_twice(const Tensor& x) {
    Tensor y;
    {
        NoGradGuard forward_only;
        y = x * x * x;
    }
    return record("cube", y, {x}, [x](const Tensor& dy, const Tensor&) { return Grads{dy * x * x * 3.0}; },
                  BackwardReads::values, Differentiable::twice);
}
}  // namespace

TEST_CASE("docs/custom_ops.md's Differentiable::twice op has a right second derivative", "[autograd]") {
    Tensor x = Tensor::randn({3, 4}, Dtype::f64, /*seed=*/2).requires_grad_();
    test::require_passed(gradgradcheck([](const std::vector<Tensor>& in) { return cube_twice(in[0]); }, {x}), {});
    // d/dx of sum(d cube / dx) = sum(3 x^2)' = 6 x
    Tensor g = grad({sum(cube_twice(x))}, {x}, {}, {.create_graph = true})[0];
    Tensor gg = grad({sum(g)}, {x})[0];
    test::require_close(gg, x * 6.0, 1e-12);
}

TEST_CASE("record keeps its own copy of an op name built at run time", "[autograd]") {
    // The name's buffer dies before the tensor does (AddressSanitizer checks the reads).
    Tensor x = Tensor::ones({2}, Dtype::f64).requires_grad_();
    std::vector<Tensor> ys;
    for (int k = 0; k < 3; ++k) {
        auto name = std::make_unique<std::string>("scale_by_" + std::to_string(k) + std::string(40, 'x'));
        ys.push_back(record(*name, (x * static_cast<double>(k)).detach(), {x},
                            [k](const Tensor& dy, const Tensor&) { return Grads{dy * static_cast<double>(k)}; }));
        name->assign(name->size(), '#');  // overwrite, then free, the caller's buffer
    }
    for (int k = 0; k < 3; ++k) CHECK(ys[k].grad_fn_name() == "scale_by_" + std::to_string(k) + std::string(40, 'x'));
    sum(ys[2]).backward();
    test::require_values(x.grad(), {2}, {2, 2});
}

TEST_CASE("a backward returning a wrong shape is reported with the op name", "[autograd]") {
    Tensor x = Tensor::ones({3}, Dtype::f64).requires_grad_();
    Tensor y = record("bad_op", x.clone().detach(), {x},
                      [](const Tensor&, const Tensor&) { return Grads{Tensor::ones({2}, Dtype::f64)}; });
    REQUIRE_THROWS_AS(sum(y).backward(), ShapeError);
    Tensor y2 = record("bad_op", x.clone().detach(), {x},
                       [](const Tensor&, const Tensor&) { return Grads{Tensor::ones({2}, Dtype::f64)}; });
    REQUIRE_THROWS_WITH(sum(y2).backward(), Contains("backward of 'bad_op': the gradient for input 0 is (2,) f64, but "
                                                     "the input is (3,) f64"));
    // The failed pass leaves nothing in flight: a fresh graph works.
    Tensor z = sum(x * 2.0);
    z.backward();
    test::require_values(x.grad(), {3}, {2, 2, 2});
}

TEST_CASE("a post-accumulate-grad hook runs once, when the leaf's gradient is complete", "[autograd][hooks]") {
    // w is used by three ops far apart on the tape; its hook must see the sum of all three.
    Tensor w = tensor({1.0, 2.0}, {2}).requires_grad_();
    Tensor x = tensor({3.0, -1.0}, {2}).requires_grad_();
    std::vector<std::vector<double>> seen;
    HookHandle h = w.register_post_accumulate_grad_hook([&](const Tensor& t) {
        CHECK(t.is_same(w));
        CHECK_FALSE(is_grad_enabled());
        seen.push_back(t.grad().to_vector<double>());
    });
    Tensor a = w * x;            // dL/dw via a: x
    Tensor b = exp(a) + w;       // via b: 1 (plus exp(a) * x through a)
    Tensor loss = sum(b * w);    // L = sum((exp(w x) + w) w)
    loss.backward();
    // dL/dw = exp(wx) + w + w (1 + x exp(wx)) = exp(wx)(1 + w x) + 2 w
    const std::vector<double> wv = {1, 2}, xv = {3, -1};
    std::vector<double> want(2);
    for (int i = 0; i < 2; ++i) want[i] = std::exp(wv[i] * xv[i]) * (1 + wv[i] * xv[i]) + 2 * wv[i];
    REQUIRE(seen.size() == 1);
    CHECK(seen[0][0] == Approx(want[0]).epsilon(1e-12));
    CHECK(seen[0][1] == Approx(want[1]).epsilon(1e-12));
    test::require_values(w.grad(), {2}, want);
    // A second pass runs it again, after accumulating into the same .grad.
    sum(w * 2.0).backward();
    REQUIRE(seen.size() == 2);
    CHECK(seen[1][0] == Approx(want[0] + 2).epsilon(1e-12));
    h.remove();
    h.remove();  // twice is harmless
    sum(w * 2.0).backward();
    CHECK(seen.size() == 2);
}

TEST_CASE("hooks of leaves used late in the forward pass run before backward ends", "[autograd][hooks]") {
    // Like a network's last layer: `last` is complete after the first entry walked, while
    // `first` still waits for the rest of the walk.
    Tensor first = tensor({0.5, -0.5}, {2}).requires_grad_();
    Tensor last = tensor({2.0, 3.0}, {2}).requires_grad_();
    std::vector<std::string> order;
    bool first_had_grad_when_last_ran = true;
    HookHandle h1 = first.register_post_accumulate_grad_hook([&](const Tensor&) { order.push_back("first"); });
    HookHandle h2 = last.register_post_accumulate_grad_hook([&](const Tensor&) {
        order.push_back("last");
        first_had_grad_when_last_ran = first.grad().defined();
    });
    Tensor hidden = tanh(tanh(first * 2.0) * 3.0);
    sum(hidden * last).backward();
    CHECK(order == std::vector<std::string>{"last", "first"});
    CHECK_FALSE(first_had_grad_when_last_ran);
    h1.remove();
    h2.remove();
}

TEST_CASE("a hook does not run for a leaf that receives no gradient", "[autograd][hooks]") {
    Tensor used = tensor({1.0}, {1}).requires_grad_();
    Tensor unused = tensor({1.0}, {1}).requires_grad_();
    int runs_used = 0, runs_unused = 0;
    HookHandle a = used.register_post_accumulate_grad_hook([&](const Tensor&) { ++runs_used; });
    HookHandle b = unused.register_post_accumulate_grad_hook([&](const Tensor&) { ++runs_unused; });
    Tensor other = unused * 5.0;  // recorded, alive, but not part of the loss
    sum(used * 2.0).backward();
    CHECK(runs_used == 1);
    CHECK(runs_unused == 0);
    CHECK_FALSE(unused.grad().defined());
    // A leaf backward is called on directly: its own hook runs.
    used.backward(tensor({1.0}, {1}));
    CHECK(runs_used == 2);
    a.remove();
    b.remove();
}

TEST_CASE("removed hooks and hooks of dead tensors are no longer counted", "[autograd][hooks]") {
    const int64_t before = detail::live_hooks();
    {
        Tensor t = tensor({1.0}, {1}).requires_grad_();
        (void)t.register_post_accumulate_grad_hook([](const Tensor&) {});  // dropped handle: the hook stays
        HookHandle h = t.register_post_accumulate_grad_hook([](const Tensor&) {});
        CHECK(detail::live_hooks() == before + 2);
        h.remove();
        CHECK(detail::live_hooks() == before + 1);
    }
    CHECK(detail::live_hooks() == before);  // the tensor died with its last hook
}

TEST_CASE("hooks are refused on results and on tensors without requires_grad", "[autograd][hooks]") {
    Tensor x = tensor({1.0}, {1}).requires_grad_();
    Tensor y = x * 2.0;
    REQUIRE_THROWS_WITH((void)y.register_post_accumulate_grad_hook([](const Tensor&) {}),
                        Contains("the tensor is the result of 'mul'; hooks can only be registered on leaves"));
    Tensor c = tensor({1.0}, {1});
    REQUIRE_THROWS_WITH((void)c.register_post_accumulate_grad_hook([](const Tensor&) {}),
                        Contains("does not require grad"));
    REQUIRE_THROWS_WITH((void)x.register_post_accumulate_grad_hook(nullptr), Contains("the hook is empty"));
}

TEST_CASE("a hook that throws ends backward and leaves nothing in flight", "[autograd][hooks]") {
    Tensor w = tensor({1.0, 2.0}, {2}).requires_grad_();
    bool fail = true;
    HookHandle h = w.register_post_accumulate_grad_hook([&](const Tensor&) {
        if (fail) throw ValueError("hook refused");
    });
    REQUIRE_THROWS_WITH(sum(w * w).backward(), Contains("hook refused"));
    fail = false;
    w.set_grad(Tensor());
    sum(w * 3.0).backward();
    test::require_values(w.grad(), {2}, {3, 3});
    // A hook may remove itself while it runs.
    HookHandle self;
    int runs = 0;
    self = w.register_post_accumulate_grad_hook([&](const Tensor&) {
        ++runs;
        self.remove();
    });
    sum(w * 3.0).backward();
    sum(w * 3.0).backward();
    CHECK(runs == 1);
    h.remove();
}

TEST_CASE("every hook of a leaf runs when an earlier one removes itself", "[autograd][hooks]") {
    Tensor w = tensor({1.0}, {1}).requires_grad_();
    std::vector<std::string> ran;
    HookHandle once;
    once = w.register_post_accumulate_grad_hook([&](const Tensor&) {
        ran.push_back("once");
        once.remove();
    });
    HookHandle always = w.register_post_accumulate_grad_hook([&](const Tensor&) { ran.push_back("always"); });
    sum(w * 2.0).backward();
    sum(w * 2.0).backward();
    CHECK(ran == std::vector<std::string>{"once", "always", "always"});
    always.remove();
}

TEST_CASE("hooks cannot disturb the tape backward is walking", "[autograd][hooks]") {
    Tensor w = tensor({1.0, 2.0}, {2}).requires_grad_();
    Tensor late = tensor({3.0, 4.0}, {2}).requires_grad_();
    // A hook that reads memory_stats (which prunes the tape elsewhere) while dead entries
    // exist: the walk still gives the right gradients.
    for (int i = 0; i < 50; ++i) (void)(w * 3.0);  // recorded, then dropped at once
    int64_t tape_seen = -1;
    HookHandle stats = late.register_post_accumulate_grad_hook([&](const Tensor&) { tape_seen = memory_stats().tape_entries; });
    sum(exp(w) * late).backward();
    CHECK(tape_seen >= 0);
    test::require_values(late.grad(), {2}, {std::exp(1.0), std::exp(2.0)});
    test::require_values(w.grad(), {2}, {3 * std::exp(1.0), 4 * std::exp(2.0)});
    stats.remove();

    // backward() from a hook, and recording from a hook that turned grad mode back on, are refused.
    Tensor other = tensor({1.0}, {1}).requires_grad_();
    Tensor built_before = sum(other * 2.0);
    HookHandle nested = late.register_post_accumulate_grad_hook([&](const Tensor&) { built_before.backward(); });
    REQUIRE_THROWS_WITH(sum(w * late).backward(), Contains("backward: called from inside a gradient hook"));
    nested.remove();
    HookHandle records = late.register_post_accumulate_grad_hook([&](const Tensor&) {
        set_grad_enabled(true);
        Tensor y;
        try {
            y = other * 2.0;
        } catch (...) {
            set_grad_enabled(false);
            throw;
        }
    });
    REQUIRE_THROWS_WITH(sum(w * late).backward(), Contains("mul: recorded from inside a gradient hook"));
    records.remove();
    CHECK(is_grad_enabled());  // backward restored grad mode on the way out
    // The tape is usable afterwards.
    late.set_grad(Tensor());
    sum(late * 2.0).backward();
    test::require_values(late.grad(), {2}, {2, 2});
}

TEST_CASE("backward on a result computed inside a NoGradGuard says grad mode was off", "[autograd][messages]") {
    Tensor w = tensor({1.0, 2.0}, {2}).requires_grad_();
    Tensor loss;
    {
        NoGradGuard no_grad;
        Tensor hidden = w * 3.0;  // inputs require grad, but nothing is recorded
        loss = sum(hidden);
        REQUIRE_THROWS_WITH(loss.backward(),
                            Contains("backward: this () tensor was computed with grad mode off (inside a NoGradGuard), "
                                     "so no graph was recorded for it, although its inputs require grad (grad mode is "
                                     "still off here); compute it with grad mode on"));
        REQUIRE_THROWS_WITH(sum(Tensor::ones({2})).backward(),
                            Contains("backward: the tensor does not require grad, and grad mode is off (inside a "
                                     "NoGradGuard)"));
    }
    // Outside the guard the tensor made inside it still has no graph, and the message says why.
    REQUIRE_THROWS_WITH(loss.backward(), Contains("was computed with grad mode off (inside a NoGradGuard), so no "
                                                  "graph was recorded for it, although its inputs require grad; "));
    // A graph built with grad mode on can still be differentiated inside a guard, as in PyTorch.
    Tensor built = sum(w * 3.0);
    {
        NoGradGuard no_grad;
        built.backward();
    }
    test::require_values(w.grad(), {2}, {3, 3});
    // Tensors that need no gradient keep the plain message.
    REQUIRE_THROWS_WITH(sum(Tensor::ones({2}) * 2.0).backward(),
                        Contains("backward: the tensor does not require grad (no input of its graph has requires_grad "
                                 "set)"));
}

namespace {
// A custom op whose backward (wrongly) turns grad mode on and records an op.
Tensor records_in_backward(const Tensor& x) {
    Tensor y;
    {
        NoGradGuard forward_only;
        y = x * 2.0;
    }
    return record("doubler", y, {x}, [x](const Tensor& dy, const Tensor&) {
        set_grad_enabled(true);
        Tensor g;
        try {
            g = dy * (x * 0.0 + 2.0);
        } catch (...) {
            set_grad_enabled(false);
            throw;
        }
        set_grad_enabled(false);
        return Grads{g};
    });
}
}  // namespace

TEST_CASE("an op recorded inside a custom op's backward names that op, not a hook", "[autograd][messages]") {
    Tensor x = tensor({1.0, 2.0}, {2}).requires_grad_();
    REQUIRE_THROWS_WITH(sum(records_in_backward(x)).backward(),
                        Contains("mul: recorded while the backward of 'doubler' runs, with grad mode turned back on; "
                                 "backward functions run with grad mode off"));
    CHECK(is_grad_enabled());
    // The tape is usable afterwards, and hooks keep their own message (tested above).
    Tensor y = x * 3.0;
    sum(y).backward();
    test::require_values(x.grad(), {2}, {3, 3});
}

namespace {
// What fn() printed to stderr.
template <class F>
std::string captured_stderr(F fn) {
    std::fflush(stderr);
    char path[] = "/tmp/tapegrad-stderr-XXXXXX";
    const int fd = mkstemp(path);
    REQUIRE(fd >= 0);
    const int saved = dup(2);
    dup2(fd, 2);
    fn();
    std::fflush(stderr);
    dup2(saved, 2);
    close(saved);
    std::string text;
    char buf[4096];
    lseek(fd, 0, SEEK_SET);
    for (ssize_t n; (n = read(fd, buf, sizeof buf)) > 0;) text.append(buf, static_cast<std::size_t>(n));
    close(fd);
    unlink(path);
    return text;
}
}  // namespace

TEST_CASE(".grad() of a non-leaf warns once and points at retain_grad", "[autograd][messages]") {
    detail::reset_non_leaf_grad_warning();
    Tensor x = tensor({1.0, 2.0}, {2}).requires_grad_();
    Tensor h = x * 2.0;
    sum(h * h).backward();
    Tensor g;
    const std::string first = captured_stderr([&] { g = h.grad(); });
    CHECK_FALSE(g.defined());
    CHECK_THAT(first, Contains("tapegrad: warning: .grad() of a non-leaf tensor (made by 'mul', shape (2,)) is "
                               "undefined: backward() keeps the gradients of leaves only. Call retain_grad() on it "
                               "before backward() to keep its gradient"));
    CHECK(captured_stderr([&] { (void)h.grad(); }).empty());  // once
    // Leaves and retain_grad() tensors never warn; retain_grad keeps the gradient.
    detail::reset_non_leaf_grad_warning();
    Tensor k = x * 2.0;
    k.retain_grad();
    sum(k * k).backward();
    CHECK(captured_stderr([&] {
              (void)x.grad();
              test::require_values(k.grad(), {2}, {4, 8});
          }).empty());
    detail::reset_non_leaf_grad_warning();
}
