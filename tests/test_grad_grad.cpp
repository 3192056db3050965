// Gradients of gradients (issue 28, the first ops): tg::grad's semantics, create_graph,
// gradgradcheck of every op whose backward records itself, hvp against closed forms and
// central differences of gradients, the error of an op whose backward cannot be differentiated,
// and a bounded tape over many double backwards.
#include <cmath>
#include <vector>

#include "helpers.hpp"

using namespace tg;
using namespace tg::test;
using Catch::Contains;

namespace {

Tensor leaf(const Shape& s, uint64_t seed, double scale = 1.0) { return (randn64(s, seed) * scale).requires_grad_(); }
Tensor positive(const Shape& s, uint64_t seed) { return add(abs(randn64(s, seed)), 0.5).requires_grad_(); }

void check_second(const GradcheckFn& fn, const std::vector<Tensor>& inputs) {
    const GradcheckResult r = gradgradcheck(fn, inputs, options_for({}));
    INFO(r.message());
    CHECK(r.checked > 0);
    CHECK(r.ok);
    CHECK(r.max_rel_error < 1e-6);
}

}  // namespace

TEST_CASE("grad returns gradients without touching .grad, as torch.autograd.grad", "[autograd][grad]") {
    Tensor x = tensor({1.0, 2.0, 3.0}, {3}).requires_grad_(), w = tensor({0.5, -1.0, 2.0}, {3}).requires_grad_();
    const Tensor y = sum(mul(mul(x, x), w));  // dy/dx = 2 x w, dy/dw = x^2
    const std::vector<Tensor> g = grad({y}, {x, w}, {}, {.retain_graph = true});
    require_values(g[0], {3}, {1.0, -4.0, 12.0});
    require_values(g[1], {3}, {1.0, 4.0, 9.0});
    CHECK_FALSE(x.grad().defined());
    CHECK_FALSE(w.grad().defined());
    CHECK_FALSE(g[0].requires_grad());
    // A non-leaf input: d y / d (x^2) = w.
    const Tensor x2 = mul(x, x);
    const Tensor y2 = sum(mul(x2, w));
    require_values(grad({y2}, {x2})[0], {3}, {0.5, -1.0, 2.0});
    // Several outputs with their weights: d(2 y1 + 3 y2)/dx.
    const Tensor y1 = sum(x), y3 = sum(mul(x, 2.0));
    require_values(grad({y1, y3}, {x}, {Tensor::full({}, 2.0, Dtype::f64), Tensor::full({}, 3.0, Dtype::f64)})[0], {3},
                   {8.0, 8.0, 8.0});
    // The graph is freed after a pass unless retained.
    const Tensor z = sum(exp(x));
    (void)grad({z}, {x});
    REQUIRE_THROWS_WITH(grad({z}, {x}), Contains("already freed by an earlier backward(); pass retain_graph=true"));
}

TEST_CASE("grad refuses inputs it cannot reach, unless allow_unused", "[autograd][grad][errors]") {
    Tensor x = leaf({2}, 1), u = leaf({2}, 2);
    const Tensor y = sum(exp(x));
    REQUIRE_THROWS_WITH(grad({y}, {x, u}, {}, {.retain_graph = true}),
                        Contains("grad: input 1 ((2,) f64) is not reached by the outputs' graph, so it has no gradient; "
                                 "pass allow_unused = true"));
    const std::vector<Tensor> g = grad({y}, {x, u}, {}, {.retain_graph = true, .allow_unused = true});
    CHECK(g[0].defined());
    CHECK_FALSE(g[1].defined());
    REQUIRE_THROWS_WITH(grad({y}, {randn64({2}, 3)}), Contains("grad: input 0 ((2,) f64) does not require grad"));
    REQUIRE_THROWS_WITH(grad({y}, {x}, {Tensor(), Tensor()}), Contains("grad: 2 grad_outputs for 1 outputs"));
    REQUIRE_THROWS_WITH(grad({exp(x)}, {x}), Contains("grad: without an explicit gradient the tensor must hold one element"));
    REQUIRE_THROWS_WITH(grad({}, {x}), Contains("grad: no outputs given"));
}

TEST_CASE("create_graph: a gradient that can be differentiated again", "[autograd][grad]") {
    // y = x^3: dy/dx = 3 x^2 (requires grad), d2y/dx2 = 6 x.
    Tensor x = tensor({1.0, -2.0}, {2}).requires_grad_();
    const Tensor y = sum(pow(x, 3.0));
    const std::vector<Tensor> g = grad({y}, {x}, {}, {.create_graph = true});
    CHECK(g[0].requires_grad());
    require_values(g[0], {2}, {3.0, 12.0});
    require_values(grad({sum(g[0])}, {x})[0], {2}, {6.0, -12.0});
    // backward(create_graph): .grad keeps its graph, so a gradient penalty trains through it.
    Tensor w = tensor({2.0, 3.0}, {2}).requires_grad_();
    const Tensor f = sum(mul(mul(w, x), mul(w, x)));  // df/dx = 2 w^2 x
    f.backward(Tensor(), GradOptions{.create_graph = true});
    require_values(x.grad(), {2}, {8.0, -36.0});
    CHECK(x.grad().requires_grad());
    const Tensor penalty = sum(mul(x.grad(), x.grad()));  // sum (2 w^2 x)^2, d/dw = 16 w^3 x^2
    const std::vector<Tensor> dw = grad({penalty}, {w});
    require_values(dw[0], {2}, {16.0 * 8 * 1, 16.0 * 27 * 4});
}

TEST_CASE("gradgradcheck passes for every op whose backward records itself", "[autograd][grad][gradcheck]") {
    const Tensor a = leaf({2, 3}, 1), b = leaf({2, 3}, 2), row = leaf({3}, 3), col = leaf({2, 1}, 4), s = leaf({}, 5);
    const Tensor p = positive({2, 3}, 6);
    check_second([](const std::vector<Tensor>& in) { return mul(add(in[0], in[1]), sub(in[0], in[2])); }, {a, row, col});
    check_second([](const std::vector<Tensor>& in) { return div(mul(in[0], in[1]), in[2]); }, {a, b, p});
    check_second([](const std::vector<Tensor>& in) { return mul(mul(in[0], in[1]), in[0]); }, {a, s});
    check_second([](const std::vector<Tensor>& in) { return neg(mul(add(mul(in[0], in[0]), 2.0), 3.0)); }, {a});
    check_second([](const std::vector<Tensor>& in) { return exp(mul(in[0], 0.5)); }, {a});
    check_second([](const std::vector<Tensor>& in) { return log(in[0]); }, {p});
    check_second([](const std::vector<Tensor>& in) { return tanh(in[0]); }, {a});
    check_second([](const std::vector<Tensor>& in) { return sigmoid(in[0]); }, {a});
    check_second([](const std::vector<Tensor>& in) { return sqrt(in[0]); }, {p});
    check_second([](const std::vector<Tensor>& in) { return rsqrt(in[0]); }, {p});
    check_second([](const std::vector<Tensor>& in) { return square(in[0]); }, {a});
    check_second([](const std::vector<Tensor>& in) { return pow(in[0], 3.0); }, {a});
    check_second([](const std::vector<Tensor>& in) { return pow(in[0], 1.5); }, {p});
    check_second([](const std::vector<Tensor>& in) { return pow(in[0], 1.0); }, {a});
    check_second([](const std::vector<Tensor>& in) { return sin(in[0]) * cos(in[0]); }, {a});
    // relu: the second derivative is zero away from 0; the first still flows through dy.
    check_second([](const std::vector<Tensor>& in) { return mul(relu(in[0]), in[0]); }, {a});
    check_second([](const std::vector<Tensor>& in) { return mul(sum(mul(in[0], in[0])), in[0]); }, {a});
    check_second([](const std::vector<Tensor>& in) { return mul(mean(in[0], 1, true), in[0]); }, {a});
    check_second([](const std::vector<Tensor>& in) { return square(sum(in[0], 0)); }, {a});
    check_second([](const std::vector<Tensor>& in) { return square(mean(in[0])); }, {a});
    check_second([](const std::vector<Tensor>& in) { return square(sum(in[0], std::vector<int64_t>{0, 1})); }, {a});
    check_second([](const std::vector<Tensor>& in) { return square(reshape(transpose(in[0], 0, 1), {2, 3})); }, {a});
    check_second([](const std::vector<Tensor>& in) { return square(permute(unsqueeze(in[0], 0), {2, 0, 1})); }, {a});
    check_second([](const std::vector<Tensor>& in) { return square(flatten(view(in[0], {3, 2}))); }, {a});
    check_second([](const std::vector<Tensor>& in) { return mul(expand(in[0], {2, 2, 3}), squeeze(unsqueeze(in[1], 0), 0)); },
                 {row, a});
    // Products: 2-d, batched with broadcasting, 1-d operands, and linear with a bias.
    const Tensor m = leaf({3, 4}, 7), batch = leaf({2, 2, 3}, 8), v3 = leaf({3}, 9);
    check_second([](const std::vector<Tensor>& in) { return square(matmul(in[0], in[1])); }, {a, m});
    check_second([](const std::vector<Tensor>& in) { return square(matmul(in[0], in[1])); }, {batch, m});
    check_second([](const std::vector<Tensor>& in) { return square(matmul(in[0], in[1])); }, {a, v3});
    check_second([](const std::vector<Tensor>& in) { return square(matmul(in[0], in[1])); }, {v3, m});
    const Tensor w = leaf({4, 3}, 10), bias = leaf({4}, 11);
    check_second([](const std::vector<Tensor>& in) { return tanh(linear(in[0], in[1], in[2])); }, {a, w, bias});
    check_second([](const std::vector<Tensor>& in) { return square(linear(in[0], in[1], Tensor())); }, {batch, w});
}

TEST_CASE("hvp matches closed forms and central differences of gradients, in f64 and f32", "[autograd][grad]") {
    // f(x) = sum(x^3): H = diag(6 x).
    const Tensor x = tensor({1.0, -2.0, 0.5}, {3}), v = tensor({1.0, 2.0, -1.0}, {3});
    const std::vector<Tensor> hv = hvp([](const std::vector<Tensor>& in) { return sum(pow(in[0], 3.0)); }, {x}, {v});
    require_values(hv[0], {3}, {6.0, -24.0, -3.0});
    CHECK_FALSE(x.requires_grad());

    // A two-layer tanh network's loss in (W1, W2): H v against (g(p + e v) - g(p - e v)) / 2e.
    const Tensor in = randn64({5, 3}, 1), target = randn64({5, 2}, 2);
    auto loss = [&](const std::vector<Tensor>& p) {
        const Tensor h = tanh(linear(in.to(p[0].dtype()), p[0], p[1]));
        return mean(square(sub(linear(h, p[2], Tensor()), target.to(p[0].dtype()))));
    };
    const std::vector<Tensor> params = {randn64({4, 3}, 3) * 0.5, randn64({4}, 4) * 0.5, randn64({2, 4}, 5) * 0.5};
    const std::vector<Tensor> dirs = {randn64({4, 3}, 6), randn64({4}, 7), randn64({2, 4}, 8)};
    const std::vector<Tensor> analytic = hvp(loss, params, dirs);
    auto gradient = [&](double e) {
        std::vector<Tensor> p;
        for (std::size_t i = 0; i < params.size(); ++i) p.push_back(add(params[i], mul(dirs[i], e)).requires_grad_());
        return grad({loss(p)}, p);
    };
    const double eps = 1e-5;
    const std::vector<Tensor> plus = gradient(eps), minus = gradient(-eps);
    for (std::size_t i = 0; i < params.size(); ++i) {
        INFO("parameter " << i);
        const Tensor numeric = div(sub(plus[i], minus[i]), Tensor::full({}, 2 * eps, Dtype::f64));
        CHECK(max_rel_diff(analytic[i], numeric) < 1e-6);
    }
    // The same in f32, against the f64 result.
    std::vector<Tensor> p32, d32;
    for (std::size_t i = 0; i < params.size(); ++i) {
        p32.push_back(params[i].to(Dtype::f32));
        d32.push_back(dirs[i].to(Dtype::f32));
    }
    const std::vector<Tensor> h32 = hvp(loss, p32, d32);
    for (std::size_t i = 0; i < params.size(); ++i) {
        CHECK(h32[i].dtype() == Dtype::f32);
        CHECK(max_rel_diff(h32[i].to(Dtype::f64), analytic[i]) < 1e-4);
    }
    REQUIRE_THROWS_WITH(hvp(loss, params, {dirs[0]}), Contains("hvp: 1 vectors v for 3 inputs"));
    REQUIRE_THROWS_WITH(hvp(loss, params, {dirs[1], dirs[1], dirs[2]}), Contains("hvp: v[0] must match input 0 ((4, 3) f64)"));
    REQUIRE_THROWS_WITH(hvp([](const std::vector<Tensor>& p) { return p[0]; }, {x}, {v}),
                        Contains("hvp: fn must return one element"));
}

TEST_CASE("an op whose backward cannot be differentiated says so on the second differentiation",
          "[autograd][grad][errors]") {
    // A custom op recorded without Differentiable::twice (every built-in op's backward records
    // itself, so only a user's op can be like this).
    auto cube = [](const Tensor& t) {
        Tensor out = mul(mul(t.detach(), t.detach()), t.detach());
        return record("my_cube", out, {t}, [t](const Tensor& dy, const Tensor&) {
            return Grads{mul(dy, mul(mul(t, t), 3.0))};
        });
    };
    Tensor z = leaf({3}, 2);
    const Tensor y = sum(square(cube(z)));
    // The first derivative is right either way.
    const Tensor plain = grad({y}, {z}, {}, {.retain_graph = true})[0];
    const std::vector<Tensor> g = grad({y}, {z}, {}, {.create_graph = true});
    CHECK(max_rel_diff(g[0], plain) < 1e-12);
    REQUIRE(g[0].requires_grad());
    REQUIRE_THROWS_WITH(grad({sum(g[0])}, {z}),
                        Contains("the gradient of 'my_cube' was computed by a backward that cannot be differentiated"));
    const Tensor gz = grad({sum(cube(z))}, {z}, {}, {.create_graph = true})[0];
    REQUIRE_THROWS_WITH(grad({sum(gz)}, {z}), Contains("'my_cube'") && Contains("Differentiable::twice"));
    // Recorded with Differentiable::twice, its backward (written with ops) differentiates: 6 z.
    auto cube2 = [](const Tensor& t) {
        Tensor out = mul(mul(t.detach(), t.detach()), t.detach());
        return record("my_cube", out, {t}, [t](const Tensor& dy, const Tensor&) {
            return Grads{mul(dy, mul(mul(t, t), 3.0))};
        }, BackwardReads::values, Differentiable::twice);
    };
    const Tensor gz2 = grad({sum(cube2(z))}, {z}, {}, {.create_graph = true})[0];
    CHECK(max_rel_diff(grad({sum(gz2)}, {z})[0], mul(z.detach(), 6.0)) < 1e-12);
}

TEST_CASE("a loop of double backwards keeps the tape and memory bounded", "[autograd][grad][memory]") {
    Tensor w = leaf({8, 8}, 1, 0.3);
    const Tensor x = randn64({4, 8}, 2);
    auto step = [&] {
        const Tensor loss = mean(square(tanh(matmul(x, w))));
        const Tensor g = grad({loss}, {w}, {}, {.create_graph = true})[0];
        const Tensor penalty = sum(square(g));
        return grad({penalty}, {w})[0];
    };
    (void)step();
    const int64_t tape = tape_size();
    const int64_t live = memory_stats().live_tensors;
    for (int i = 0; i < 1000; ++i) (void)step();
    CHECK(tape_size() <= tape + 64);
    CHECK(memory_stats().live_tensors <= live + 16);
}

TEST_CASE("gradgradcheck catches a backward whose own derivative is wrong", "[autograd][grad][gradcheck]") {
    // x^3 recorded as twice-differentiable, but its backward detaches x: the first derivative
    // is right (gradcheck passes), the second is zero instead of 6 x.
    auto cube = [](const Tensor& t) {
        Tensor out = mul(mul(t.detach(), t.detach()), t.detach());
        return record("wrong_cube", out, {t}, [t](const Tensor& dy, const Tensor&) {
            return Grads{mul(dy, mul(mul(t.detach(), t.detach()), 3.0))};
        }, BackwardReads::values, Differentiable::twice);
    };
    const Tensor x = leaf({4}, 3);
    CHECK(gradcheck([&](const std::vector<Tensor>& in) { return cube(in[0]); }, {x}, options_for({})).ok);
    const GradcheckResult r = gradgradcheck([&](const std::vector<Tensor>& in) { return cube(in[0]); }, {x}, options_for({}));
    CHECK_FALSE(r.ok);
    CHECK(r.numeric != 0);
    CHECK(r.analytic == 0);
}

TEST_CASE("README's gradients-of-gradients example runs as written", "[autograd][grad]") {
    tg::nn::Linear net(3, 1, {.seed = 1, .dtype = tg::Dtype::f64});
    tg::Tensor x = tg::Tensor::randn({8, 3}, tg::Dtype::f64, 2).requires_grad_();
    // A gradient penalty (as WGAN-GP, R1): the input gradient's norm, trained through.
    tg::Tensor out = tg::tanh(net(x)).sum();
    tg::Tensor gx = tg::grad({out}, {x}, {}, {.create_graph = true})[0];
    tg::Tensor penalty = (gx * gx).sum();
    penalty.backward();                               // net.weight.grad() = d penalty / d weight
    // A Hessian-vector product of a loss in the parameters.
    auto loss = [&](const std::vector<tg::Tensor>& p) { return tg::tanh(tg::linear(x.detach(), p[0], p[1])).pow(2.0).mean(); };
    std::vector<tg::Tensor> hv = tg::hvp(loss, {net.weight, net.bias}, {tg::ones_like(net.weight), tg::ones_like(net.bias)});
    CHECK(net.weight.grad().defined());
    CHECK(hv[0].shape() == tg::Shape{1, 3});
    // The penalty's gradient by central differences of the penalty itself.
    const GradcheckResult r = gradcheck_tensors([&] {
        const tg::Tensor o = tg::tanh(net(x)).sum();
        const tg::Tensor g = tg::grad({o}, {x}, {}, {.create_graph = true})[0];
        return (g * g).sum();
    }, {net.weight, net.bias}, options_for({}));
    INFO(r.message());
    CHECK(r.ok);
}

TEST_CASE("create_graph with hooks, anomaly mode, NoGradGuard and in-place checks", "[autograd][grad]") {
    // Hooks: after backward(create_graph) writes .grad, the hook sees the graph-carrying
    // gradient, with grad mode off; grad() writes no .grad and runs no hook.
    Tensor x = tensor({1.0, -2.0}, {2}).requires_grad_();
    int calls = 0;
    bool saw_graph = false, grad_mode_in_hook = true;
    HookHandle h = x.register_post_accumulate_grad_hook([&](const Tensor& t) {
        ++calls;
        saw_graph = t.grad().requires_grad();
        grad_mode_in_hook = is_grad_enabled();
    });
    sum(pow(x, 3.0)).backward(Tensor(), GradOptions{.create_graph = true});
    CHECK(calls == 1);
    CHECK(saw_graph);
    CHECK_FALSE(grad_mode_in_hook);
    (void)grad({sum(pow(x, 3.0))}, {x}, {}, {.create_graph = true});
    CHECK(calls == 1);
    h.remove();

    // NoGradGuard around the call: create_graph still records the backward's ops (the engine
    // runs them in grad mode, as PyTorch's), so the result can be differentiated after the guard.
    Tensor y = sum(pow(x, 3.0));
    Tensor g;
    {
        NoGradGuard off;
        g = grad({y}, {x}, {}, {.create_graph = true})[0];
    }
    CHECK(g.requires_grad());
    require_values(grad({sum(g)}, {x})[0], {2}, {6.0, -12.0});

    // Anomaly mode scans the second backward as any other: log at 0 gives -inf there.
    Tensor z = tensor({0.0, 1.0}, {2}).requires_grad_();
    const Tensor gz = grad({sum(mul(z, z))}, {z}, {}, {.create_graph = true})[0];  // 2 z
    {
        AnomalyGuard on;
        REQUIRE_THROWS_AS(grad({sum(log(gz))}, {z}), AnomalyError);
    }

    // The ops the backward recorded are version-checked like any op: changing a value they
    // saved (w, read by the recorded 2 a * w) in place before the second differentiation is
    // refused, not silently wrong.
    Tensor w = tensor({1.0, 2.0}, {2}).requires_grad_();
    const Tensor a = tensor({3.0, 4.0}, {2});
    const Tensor gw = grad({sum(mul(mul(w, w), a))}, {w}, {}, {.create_graph = true})[0];  // 2 w a
    {
        NoGradGuard off;
        w.mul_(2.0);
    }
    REQUIRE_THROWS_WITH(grad({sum(gw)}, {w}), Catch::Contains("was modified in place"));
}
