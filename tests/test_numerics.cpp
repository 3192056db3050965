// Numerics at the edges (issue 8, item 8): huge and masked logits, degenerate LayerNorm rows,
// saturated activations, bad ids, empty tensors, and a long float32 training run.
#include <cmath>
#include <limits>

#include "core/kernels/simd.hpp"
#include "helpers.hpp"

using namespace tg;
using namespace tg::test;
using Catch::Contains;

namespace {
constexpr double kInf = std::numeric_limits<double>::infinity();

bool all_finite(const Tensor& t) {
    for (double v : t.to_vector<double>())
        if (!std::isfinite(v)) return false;
    return true;
}

// Gradient of sum(w * f(x)) with respect to x, for a fixed weighting w.
Tensor grad_of(const std::function<Tensor(const Tensor&)>& f, const Tensor& x0, const Tensor& w) {
    Tensor x = x0.detach().requires_grad_();
    sum(mul(f(x), w)).backward();
    return x.grad();
}
}  // namespace

TEST_CASE("softmax, log_softmax and cross_entropy on logits of +-1e4 are finite and exact", "[numerics]") {
    for (Dtype dt : {Dtype::f32, Dtype::f64}) {
        INFO(dtype_name(dt));
        const Tensor x = to(tensor({1e4, -1e4, 0.0, 1e4 - 1.0}, {1, 4}), dt);
        const double e = std::exp(-1.0);
        require_values(softmax(x), {1, 4}, {1 / (1 + e), 0, 0, e / (1 + e)}, 1e-6);
        require_values(log_softmax(x), {1, 4}, {-std::log1p(e), -2e4 - std::log1p(e), -1e4 - std::log1p(e), -1 - std::log1p(e)},
                       dt == Dtype::f32 ? 2e-3 : 1e-9);
        const Tensor w = to(tensor({0.3, -0.2, 0.5, 0.1}, {1, 4}), dt);
        CHECK(all_finite(grad_of([](const Tensor& t) { return softmax(t); }, x, w)));
        CHECK(all_finite(grad_of([](const Tensor& t) { return log_softmax(t); }, x, w)));
        const Tensor targets = tensor(std::vector<int64_t>{1}, {1});
        Tensor xl = x.detach().requires_grad_();
        const Tensor loss = cross_entropy(xl, targets);  // target 1 sits 2e4 below the max
        CHECK(loss.item<double>() == Approx(2e4 + std::log1p(e)).epsilon(1e-6));
        loss.backward();
        require_values(xl.grad(), {1, 4}, {1 / (1 + e), -1, 0, e / (1 + e)}, 1e-6);
    }
}

TEST_CASE("masked (-inf) logits get probability 0 and finite gradients", "[numerics]") {
    for (Dtype dt : {Dtype::f32, Dtype::f64}) {
        INFO(dtype_name(dt));
        const Tensor x = to(tensor({-kInf, 0.0, std::log(3.0), -kInf}, {1, 4}), dt);
        require_values(softmax(x), {1, 4}, {0, 0.25, 0.75, 0}, 1e-6);
        const Tensor ls = log_softmax(x);
        const auto v = ls.to_vector<double>();
        CHECK(v[0] == -kInf);  // the exact value: log 0
        CHECK(v[1] == Approx(std::log(0.25)));
        const Tensor w = to(tensor({0.3, -0.2, 0.5, 0.1}, {1, 4}), dt);
        const Tensor gs = grad_of([](const Tensor& t) { return softmax(t); }, x, w);
        CHECK(all_finite(gs));
        CHECK(gs.to_vector<double>()[0] == 0.0);
        const Tensor gl = grad_of([](const Tensor& t) { return log_softmax(t); }, x, w);
        CHECK(all_finite(gl));
        Tensor xl = x.detach().requires_grad_();
        const Tensor loss = cross_entropy(xl, tensor(std::vector<int64_t>{2}, {1}));
        CHECK(loss.item<double>() == Approx(-std::log(0.75)).epsilon(1e-6));
        loss.backward();
        require_values(xl.grad(), {1, 4}, {0, 0.25, -0.25, 0}, 1e-6);
    }
}

TEST_CASE("layer_norm on a constant row, on values near 1e6 and on denormals", "[numerics]") {
    const Tensor w = tensor({1.5, -2.0, 0.5}, {3}), b = tensor({0.1, 0.2, 0.3}, {3});
    // Constant row: variance 0, xhat 0, output = bias; gradients finite.
    const Tensor c = tensor({7.0, 7.0, 7.0}, {1, 3});
    require_values(layer_norm(c, w, b), {1, 3}, {0.1, 0.2, 0.3}, 1e-12);
    CHECK(all_finite(grad_of([&](const Tensor& t) { return layer_norm(t, w, b); }, c, tensor({1.0, 2.0, 3.0}, {1, 3}))));
    // Around 1e6: the same result as the row shifted to 0 (two-pass statistics).
    const Tensor big = tensor({1e6 + 1, 1e6 + 2, 1e6 + 4}, {1, 3});
    const Tensor small = tensor({1.0, 2.0, 4.0}, {1, 3});
    require_values(layer_norm(big, w, b), {1, 3}, layer_norm(small, w, b).to_vector<double>(), 1e-9);
    check_grad([&](const std::vector<Tensor>& x) { return layer_norm(x[0], w, b); }, {big}, Tol{.max_rel = 1e-6, .eps = 1e-3});
    // Denormal inputs (f64 below 2.2e-308): finite output, finite gradient.
    const Tensor den = tensor({1e-310, 3e-310, -2e-310}, {1, 3});
    CHECK(all_finite(layer_norm(den, w, b)));
    CHECK(all_finite(grad_of([&](const Tensor& t) { return layer_norm(t, w, b); }, den, tensor({1.0, 1.0, 1.0}, {1, 3}))));
    const Tensor den32 = tensor({1e-40f, 3e-40f, -2e-40f}, {1, 3});
    CHECK(all_finite(layer_norm(den32, to(w, Dtype::f32), to(b, Dtype::f32))));
}

TEST_CASE("gelu and tanh saturate cleanly at +-50", "[numerics]") {
    for (Dtype dt : {Dtype::f32, Dtype::f64}) {
        INFO(dtype_name(dt));
        const Tensor x = to(tensor({-50.0, 50.0}, {2}), dt);
        require_values(gelu(x), {2}, {0, 50}, 1e-6);
        require_values(tanh(x), {2}, {-1, 1}, 1e-12);
        const Tensor ones = to(tensor({1.0, 1.0}, {2}), dt);
        require_values(grad_of([](const Tensor& t) { return gelu(t); }, x, ones), {2}, {0, 1}, 1e-6);
        require_values(grad_of([](const Tensor& t) { return tanh(t); }, x, ones), {2}, {0, 0}, 1e-12);
    }
}

TEST_CASE("embedding ids out of range or negative are errors", "[numerics]") {
    const Tensor weight = Tensor::randn({5, 3}, Dtype::f64, 1);
    REQUIRE_THROWS_AS(embedding(weight, tensor(std::vector<int64_t>{0, 5}, {2})), ValueError);
    REQUIRE_THROWS_WITH(embedding(weight, tensor(std::vector<int64_t>{0, 5}, {2})), Contains("embedding"));
    REQUIRE_THROWS_AS(embedding(weight, tensor(std::vector<int64_t>{-1}, {1})), ValueError);
    REQUIRE_THROWS_WITH(embedding(weight, tensor(std::vector<int64_t>{-1}, {1})), Contains("-1"));
}

TEST_CASE("empty tensors pass through the ops that allow them", "[numerics]") {
    const Tensor e = Tensor::zeros({0, 4}, Dtype::f64);
    CHECK(add(e, e).shape() == Shape{0, 4});
    CHECK(gelu(e).shape() == Shape{0, 4});
    CHECK(softmax(e).shape() == Shape{0, 4});
    CHECK(layer_norm(e, Tensor::ones({4}, Dtype::f64), Tensor::zeros({4}, Dtype::f64)).shape() == Shape{0, 4});
    CHECK(sum(e).item<double>() == 0.0);
    CHECK(matmul(e, Tensor::zeros({4, 2}, Dtype::f64)).shape() == Shape{0, 2});
    require_values(matmul(Tensor::ones({2, 0}, Dtype::f64), Tensor::ones({0, 3}, Dtype::f64)), {2, 3}, {0, 0, 0, 0, 0, 0});
    Tensor x = Tensor::zeros({0, 4}, Dtype::f64).requires_grad_();
    sum(gelu(x)).backward();
    CHECK(x.grad().shape() == Shape{0, 4});
}

TEST_CASE("float32 training of a tiny GPT stays finite over 2,000 steps at lr 3e-3", "[numerics]") {
    nn::GPT model(nn::GPTConfig{.vocab_size = 16, .context_length = 16, .d_model = 32, .n_layer = 2, .n_head = 4, .seed = 9});
    optim::AdamW opt(optim::weight_decay_groups(model, optim::AdamWOptions{.lr = 3e-3, .weight_decay = 0.1}));
    Generator gen(10);
    double last = 0;
    bool finite = true;
    for (int step = 0; step < 2000 && finite; ++step) {
        const Tensor x = Tensor::randint(0, 16, {4, 16}, gen);
        opt.zero_grad();
        Tensor loss = model.loss(x, x);  // learn to copy the input: reachable through attention
        loss.backward();
        opt.step();
        last = loss.item<double>();
        finite = std::isfinite(last);
    }
    REQUIRE(finite);
    for (const Tensor& p : model.parameters()) REQUIRE(all_finite(p));
    CHECK(last < 0.5);
}

// Found by tests/fuzz/ops_fuzz under clang's UBSan: xsimd's exp and tanh convert x * log2(e)
// to an integer before their range checks, undefined for infinities and NaN (masked attention
// rows hold -inf). kernels::exp and kernels::tanh give those lanes their exact answers.
template <class T>
void check_exp_tanh_edges() {
    using V = kernels::Vec<T>;
    const T inf = std::numeric_limits<T>::infinity(), nan = std::numeric_limits<T>::quiet_NaN();
    const std::vector<T> xs = {-inf, T(-1e30), T(-800), T(-105), T(-50), T(-1), T(0), T(0.5), T(3),
                               T(50), T(88), T(100), T(800), T(1e30), inf, nan};
    for (T x : xs) {
        alignas(64) T e[V::size], t[V::size];
        kernels::exp<T>(V(x)).store_aligned(e);
        kernels::tanh<T>(V(x)).store_aligned(t);
        INFO(fmt::format("x = {}", x));
        if (std::isnan(x)) {
            CHECK(std::isnan(e[0]));
            CHECK(std::isnan(t[0]));
            continue;
        }
        const T want_e = std::exp(x), want_t = std::tanh(x);
        if (std::isinf(want_e) || want_e == 0) CHECK(e[0] == want_e);
        else CHECK(e[0] == Approx(want_e).epsilon(4 * std::numeric_limits<T>::epsilon()));
        CHECK(t[0] == Approx(want_t).epsilon(4 * std::numeric_limits<T>::epsilon()).margin(1e-30));
    }
}

TEST_CASE("the vector exp and tanh give exact answers for infinities, NaN and huge inputs", "[numerics]") {
    check_exp_tanh_edges<float>();
    check_exp_tanh_edges<double>();
    // Through the ops: a row that is entirely masked in f64 softmax, and gelu/tanh at +-inf.
    const double inf = std::numeric_limits<double>::infinity();
    require_values(softmax(tensor({-inf, 0.0, -inf}, {1, 3})), {1, 3}, {0, 1, 0});
    require_values(tanh(tensor({-inf, inf})), {2}, {-1, 1});
    CHECK(gelu(tensor({inf})).item<double>() == inf);
}

TEST_CASE("shapes whose element count overflows are errors, not wrapped sizes", "[numerics]") {
    const int64_t big = int64_t{1} << 40;
    REQUIRE_THROWS_AS(Tensor::zeros({big, big}, Dtype::f32), ShapeError);
    REQUIRE_THROWS_WITH(Tensor::zeros({big, big}, Dtype::f32), Contains("more than 2^60 elements"));
    // With a zero dim the shape is empty, however large the others: no overflow on the way.
    CHECK(Tensor::zeros({big, big, 0}, Dtype::f32).numel() == 0);
    CHECK(Tensor::zeros({0, big, big}, Dtype::f32).numel() == 0);
    REQUIRE_THROWS_AS(Tensor::zeros({0, -1}, Dtype::f32), ShapeError);
}
