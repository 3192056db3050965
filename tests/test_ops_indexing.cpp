// The custom-model elementwise ops (silu, leaky_relu, abs, clamp, sin, cos) and the selection
// and indexing ops (where, masked_fill, gather, index_select): values against closed forms and
// torch's documented semantics, gradients against finite differences (repeated indices and
// broadcasting included), the gradients torch gives at kinks, and the errors.
#include <cmath>
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include "helpers.hpp"
#include "op_inputs.hpp"

using namespace tg;
using namespace tg::test;

namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();
const std::vector<Shape> kShapes = {{2, 3}, {}, {1}, {1, 5}, {3, 1, 2}};

/// Standard normal values, scaled, with any value nearer than gap to one of the points moved
/// to exactly gap from it (clamp's bounds are kinks; finite differences must not straddle one).
Tensor away_from(const Shape& shape, uint64_t seed, const std::vector<double>& points, double scale = 1.5,
                 double gap = 0.05) {
    std::vector<double> v = randn64(shape, seed).to_vector<double>();
    for (double& x : v) {
        x *= scale;
        for (double p : points)
            if (std::abs(x - p) < gap) x = p + std::copysign(gap, x - p);
    }
    return tensor(v, shape);
}

/// A condition or mask of the given shape and dtype cycling through -1, 0, 1 (true, false,
/// true), starting at phase.
Tensor pattern(const Shape& shape, Dtype dtype, int64_t phase = 0) {
    std::vector<double> v(static_cast<std::size_t>(shape_numel(shape)));
    for (std::size_t i = 0; i < v.size(); ++i) v[i] = static_cast<double>((static_cast<int64_t>(i) + phase) % 3 - 1);
    return to(tensor(v, shape), dtype);
}

/// Uniform i64 values in [0, high) of the given shape, seeded.
Tensor random_index(int64_t high, const Shape& shape, uint64_t seed) {
    Generator gen(seed);
    return Tensor::randint(0, high, shape, gen);
}

/// The gradient x receives from backward() of sum(fn(x)).
Tensor grad_of_sum(const Tensor& values, const std::function<Tensor(const Tensor&)>& fn) {
    Tensor x = values.detach().clone().requires_grad_();
    sum(fn(x)).backward();
    return x.grad();
}

}  // namespace

// ---- Elementwise -------------------------------------------------------------------------

TEST_CASE("silu, leaky_relu, abs, clamp, sin and cos give their closed-form values", "[ops][elementwise]") {
    require_values(silu(tensor({0.0, 1.0, -1.0, 2.0, -3.0})), {5},
                   {0.0, 0.7310585786300049, -0.2689414213699951, 1.7615941559557646, -0.14227761953270035});
    // The stable sigmoid inside: no overflow far out on either side.
    require_values(silu(tensor({-800.0, 800.0})), {2}, {0.0, 800.0});

    require_values(leaky_relu(tensor({-2.0, 0.0, 3.0, -0.5})), {4}, {-0.02, 0.0, 3.0, -0.005});
    require_values(leaky_relu(tensor({-2.0, 0.0, 3.0}), 0.2), {3}, {-0.4, 0.0, 3.0});
    require_values(leaky_relu(tensor({-2.0, 3.0}), -1.0), {2}, {2.0, 3.0});
    require_values(leaky_relu(tensor({-2.0, 3.0}), 0.0), {2}, {0.0, 3.0});

    require_values(abs(tensor({-1.5, 0.0, 2.0, -0.0, -1e300})), {5}, {1.5, 0.0, 2.0, 0.0, 1e300});

    require_values(clamp(tensor({-2.0, -0.5, 0.0, 0.5, 1.0, 2.0}), -0.5, 1.0), {6}, {-0.5, -0.5, 0.0, 0.5, 1.0, 1.0});
    require_values(clamp(tensor({-2.0, 0.25, 2.0}), 0.5, 0.5), {3}, {0.5, 0.5, 0.5});
    require_values(clamp(tensor({-2.0, 3.0}), -kInf, 0.0), {2}, {-2.0, 0.0});
    require_values(clamp(tensor({-2.0, 3.0}), 0.0, kInf), {2}, {0.0, 3.0});

    require_values(sin(tensor({0.0, M_PI / 2, M_PI / 6, -1.0})), {4}, {0.0, 1.0, 0.5, -0.8414709848078965});
    require_values(cos(tensor({0.0, M_PI, M_PI / 3, 2.0})), {4}, {1.0, -1.0, 0.5, -0.4161468365471424});
    require_values(sin(Tensor::scalar(M_PI / 2, Dtype::f64)), {}, {1.0});

    // f32 computes the same functions in f32.
    const Tensor x32 = tensor({-2.0f, -0.25f, 0.5f, 3.0f});
    const Tensor x64 = to(x32, Dtype::f64);
    const std::vector<std::pair<std::string, std::function<Tensor(const Tensor&)>>> fns = {
        {"silu", [](const Tensor& t) { return silu(t); }},
        {"leaky_relu", [](const Tensor& t) { return leaky_relu(t, 0.1); }},
        {"abs", [](const Tensor& t) { return abs(t); }},
        {"clamp", [](const Tensor& t) { return clamp(t, -1.0, 0.75); }},
        {"sin", [](const Tensor& t) { return sin(t); }},
        {"cos", [](const Tensor& t) { return cos(t); }},
    };
    for (const auto& [name, f] : fns) {
        INFO(name << " in f32");
        const Tensor y = f(x32);
        REQUIRE(y.dtype() == Dtype::f32);
        require_values(to(y, Dtype::f64), {4}, f(x64).to_vector<double>(), 1e-6);
    }
}

TEST_CASE("clamp and abs keep NaN as NaN; clamp's NaN has no gradient", "[ops][elementwise]") {
    const double nan = std::nan("");
    CHECK(std::isnan(clamp(tensor({nan}), -1.0, 1.0).item<double>()));
    CHECK(std::isnan(abs(tensor({nan})).item<double>()));
    require_values(grad_of_sum(tensor({nan, 0.5}), [](const Tensor& t) { return clamp(t, -1.0, 1.0); }), {2},
                   {0.0, 1.0});
}

TEST_CASE("silu, leaky_relu, abs, clamp, sin and cos backward match finite differences", "[ops][elementwise]") {
    struct Case {
        std::string name;
        GradcheckFn fn;
        std::function<Tensor(const Shape&, uint64_t)> input;
    };
    auto wide = [](const Shape& s, uint64_t seed) { return mul(randn64(s, seed), 3.0); };
    auto nonzero = [](const Shape& s, uint64_t seed) { return away_from_zero(s, seed, 0.25); };
    auto clamp_input = [](const Shape& s, uint64_t seed) { return away_from(s, seed, {-0.5, 0.8}); };
    const std::vector<Case> cases = {
        {"silu", [](const Xs& x) { return silu(x[0]); }, wide},
        {"leaky_relu", [](const Xs& x) { return leaky_relu(x[0]); }, nonzero},
        {"leaky_relu 0.3", [](const Xs& x) { return leaky_relu(x[0], 0.3); }, nonzero},
        {"leaky_relu -0.5", [](const Xs& x) { return leaky_relu(x[0], -0.5); }, nonzero},
        {"abs", [](const Xs& x) { return abs(x[0]); }, nonzero},
        {"clamp(-0.5, 0.8)", [](const Xs& x) { return clamp(x[0], -0.5, 0.8); }, clamp_input},
        {"clamp(-inf, 0.8)", [](const Xs& x) { return clamp(x[0], -kInf, 0.8); }, clamp_input},
        {"clamp(-0.5, inf)", [](const Xs& x) { return clamp(x[0], -0.5, kInf); }, clamp_input},
        {"sin", [](const Xs& x) { return sin(x[0]); }, wide},
        {"cos", [](const Xs& x) { return cos(x[0]); }, wide},
        {"sin(x) * cos(x) + abs(x)", [](const Xs& x) { return sin(x[0]) * cos(x[0]) + abs(x[0]); }, nonzero},
    };
    uint64_t seed = 1600;
    for (const Case& c : cases)
        for (const Shape& s : kShapes) {
            INFO(c.name << " on " << shape_str(s));
            check_grad(c.fn, {c.input(s, seed++)});
        }
}

TEST_CASE("silu, sin and cos backward give their closed-form derivatives", "[ops][elementwise]") {
    // silu'(x) = s (1 + x (1 - s)), s = sigmoid(x)
    require_values(grad_of_sum(tensor({0.0, 1.0, -1.0, 2.0, -3.0}), [](const Tensor& t) { return silu(t); }), {5},
                   {0.5, 0.9276705118714869, 0.07232948812851325, 1.0907842487848955, -0.08810410601516962});
    require_values(grad_of_sum(tensor({-800.0, 800.0}), [](const Tensor& t) { return silu(t); }), {2}, {0.0, 1.0});
    require_values(grad_of_sum(tensor({0.0, M_PI / 3, M_PI}), [](const Tensor& t) { return sin(t); }), {3},
                   {1.0, 0.5, -1.0});
    require_values(grad_of_sum(tensor({0.0, M_PI / 6, M_PI / 2}), [](const Tensor& t) { return cos(t); }), {3},
                   {0.0, -0.5, -1.0});
}

TEST_CASE("abs, leaky_relu and clamp give torch's gradients at their kinks", "[ops][elementwise]") {
    // abs: sign(x), 0 at 0 (and at -0).
    require_values(grad_of_sum(tensor({0.0, -0.0, 2.0, -3.0}), [](const Tensor& t) { return abs(t); }), {4},
                   {0.0, 0.0, 1.0, -1.0});
    // leaky_relu: 1 where x > 0, else the slope; x = 0 takes the slope.
    require_values(grad_of_sum(tensor({-2.0, 0.0, 3.0}), [](const Tensor& t) { return leaky_relu(t, 0.1); }), {3},
                   {0.1, 0.1, 1.0});
    require_values(grad_of_sum(tensor({-2.0, 0.0, 3.0}), [](const Tensor& t) { return leaky_relu(t); }), {3},
                   {0.01, 0.01, 1.0});
    // clamp: passes where min <= x <= max, both bounds included.
    require_values(
        grad_of_sum(tensor({-1.0, -0.5, 0.3, 1.0, 2.0}), [](const Tensor& t) { return clamp(t, -0.5, 1.0); }), {5},
        {0.0, 1.0, 1.0, 1.0, 0.0});
    // min == max: only x == min passes.
    require_values(grad_of_sum(tensor({0.5, 0.4, 0.6}), [](const Tensor& t) { return clamp(t, 0.5, 0.5); }), {3},
                   {1.0, 0.0, 0.0});
    require_values(grad_of_sum(tensor({-1e30, 1e30}), [](const Tensor& t) { return clamp(t, -kInf, kInf); }), {2},
                   {1.0, 1.0});
    // f32: the bounds are compared in f32, as in the forward.
    const Tensor g32 = grad_of_sum(tensor({0.1f, 0.2f, 0.3f}), [](const Tensor& t) { return clamp(t, 0.1, 0.2); });
    REQUIRE(g32.dtype() == Dtype::f32);
    CHECK(g32.to_vector<float>() == std::vector<float>{1.0f, 1.0f, 0.0f});
}

TEST_CASE("clamp rejects min > max and NaN bounds; leaky_relu a non-finite slope", "[ops][elementwise]") {
    const Tensor x = ones({2}, Dtype::f64);
    const double nan = std::nan("");
    REQUIRE_THROWS_AS(clamp(x, 1.0, 0.0), ValueError);
    REQUIRE_THROWS_WITH(clamp(x, 1.0, 0.0), Catch::Contains("clamp: min 1 is greater than max 0"));
    REQUIRE_THROWS_AS(clamp(x, kInf, -kInf), ValueError);
    REQUIRE_THROWS_AS(clamp(x, nan, 1.0), ValueError);
    REQUIRE_THROWS_WITH(clamp(x, nan, 1.0), Catch::Contains("clamp: bounds must not be NaN, got min nan and max 1"));
    REQUIRE_THROWS_AS(clamp(x, 0.0, nan), ValueError);
    REQUIRE_THROWS_AS(x.clamp(nan, nan), ValueError);
    REQUIRE_THROWS_AS(leaky_relu(x, nan), ValueError);
    REQUIRE_THROWS_WITH(leaky_relu(x, kInf), Catch::Contains("leaky_relu: negative_slope must be finite, got inf"));
}

TEST_CASE("silu, leaky_relu, abs, clamp, sin and cos reject integer and undefined inputs", "[ops][elementwise]") {
    const Tensor i64 = i64s({1, 2}, {2});
    const std::vector<std::pair<std::string, std::function<Tensor(const Tensor&)>>> unary = {
        {"silu", [](const Tensor& t) { return silu(t); }},
        {"leaky_relu", [](const Tensor& t) { return leaky_relu(t); }},
        {"abs", [](const Tensor& t) { return abs(t); }},
        {"clamp", [](const Tensor& t) { return clamp(t, 0.0, 1.0); }},
        {"sin", [](const Tensor& t) { return sin(t); }},
        {"cos", [](const Tensor& t) { return cos(t); }},
    };
    for (const auto& [name, f] : unary) {
        INFO(name);
        REQUIRE_THROWS_AS(f(i64), DtypeError);
        REQUIRE_THROWS_WITH(f(i64), Catch::Contains(name + ": expected a floating dtype (f32 or f64), got i64"));
        REQUIRE_THROWS_AS(f(Tensor()), ValueError);
        REQUIRE_THROWS_WITH(f(Tensor()), Catch::Contains(name + ": input is an undefined tensor"));
    }
}

TEST_CASE("the new Tensor methods are the free functions", "[ops][elementwise][indexing]") {
    const Tensor x = tensor({-1.5, 0.25, 2.0, -0.75, 1.0, 0.5}, {2, 3});
    const Tensor idx = i64s({1, 0, 1}, {3});
    const Tensor gidx = i64s({2, 0, 1, 1}, {2, 2});
    const Tensor mask = i64s({0, 1, 0}, {3});
    CHECK(x.abs().to_vector<double>() == abs(x).to_vector<double>());
    CHECK(x.sin().to_vector<double>() == sin(x).to_vector<double>());
    CHECK(x.cos().to_vector<double>() == cos(x).to_vector<double>());
    CHECK(x.silu().to_vector<double>() == silu(x).to_vector<double>());
    CHECK(x.clamp(-1.0, 1.0).to_vector<double>() == clamp(x, -1.0, 1.0).to_vector<double>());
    CHECK(x.masked_fill(mask, 7.0).to_vector<double>() == masked_fill(x, mask, 7.0).to_vector<double>());
    CHECK(x.gather(1, gidx).to_vector<double>() == gather(x, 1, gidx).to_vector<double>());
    CHECK(x.index_select(0, idx).to_vector<double>() == index_select(x, 0, idx).to_vector<double>());
    CHECK(x.abs().grad_fn_name().empty());  // x does not require grad: nothing recorded
    Tensor w = x.detach().clone().requires_grad_();
    CHECK(w.silu().grad_fn_name() == "silu");
    CHECK(w.clamp(0.0, 1.0).grad_fn_name() == "clamp");
    CHECK(leaky_relu(w).grad_fn_name() == "leaky_relu");
    CHECK(where(mask, w, w).grad_fn_name() == "where");
    CHECK(w.gather(1, gidx).grad_fn_name() == "gather");
    CHECK(w.index_select(0, idx).grad_fn_name() == "index_select");
    CHECK(w.masked_fill(mask, 0.0).grad_fn_name() == "masked_fill");
}

// ---- where -------------------------------------------------------------------------------

TEST_CASE("where picks a where cond is nonzero and b elsewhere, broadcasting all three", "[ops][indexing]") {
    const Tensor a = tensor({1.0, 2.0, 3.0, 4.0, 5.0, 6.0}, {2, 3});
    const Tensor b = tensor({10.0, 20.0, 30.0, 40.0, 50.0, 60.0}, {2, 3});
    require_values(where(i64s({1, 0, 2, 0, 0, -1}, {2, 3}), a, b), {2, 3}, {1, 20, 3, 40, 50, 6});

    // cond (2, 1) i64, a (3,), b 0-d -> (2, 3)
    require_values(where(i64s({1, 0}, {2, 1}), tensor({1.0, 2.0, 3.0}), Tensor::scalar(9.0, Dtype::f64)), {2, 3},
                   {1, 2, 3, 9, 9, 9});
    // cond (3,) f32, a (2, 1), b (1, 3) -> (2, 3)
    require_values(where(tensor({0.5f, 0.0f, -2.0f}), tensor({1.0, 2.0}, {2, 1}), tensor({10.0, 20.0, 30.0}, {1, 3})),
                   {2, 3}, {1, 20, 1, 2, 20, 2});
    // cond (2, 1, 1), a (1, 2), b (3, 1) -> (2, 3, 2)
    require_values(where(i64s({0, 1}, {2, 1, 1}), tensor({1.0, 2.0}, {1, 2}), tensor({10.0, 20.0, 30.0}, {3, 1})),
                   {2, 3, 2}, {10, 10, 20, 20, 30, 30, 1, 2, 1, 2, 1, 2});
    // NaN is nonzero (true), -0.0 is zero (false), as bool() in torch.
    require_values(where(tensor({std::nan(""), -0.0, 1e-300}), tensor({1.0, 2.0, 3.0}), tensor({-1.0, -2.0, -3.0})),
                   {3}, {1, -2, 3});
    // All 0-d.
    require_values(where(Tensor::scalar(0.0, Dtype::f64), Tensor::scalar(1.0, Dtype::f64),
                         Tensor::scalar(2.0, Dtype::f64)),
                   {}, {2});
    // Empty: a 0-size dim broadcasts like any other.
    CHECK(where(i64s({}, {0, 1}), tensor({1.0, 2.0, 3.0}), Tensor::scalar(0.0, Dtype::f64)).shape() == Shape{0, 3});

    const Tensor y32 = where(i64s({1, 0}, {2}), tensor({1.0f, 2.0f}), tensor({5.0f, 6.0f}));
    REQUIRE(y32.dtype() == Dtype::f32);
    CHECK(y32.to_vector<float>() == std::vector<float>{1.0f, 6.0f});
}

TEST_CASE("where sums its gradients back to a's and b's shapes and gives cond none", "[ops][indexing]") {
    Tensor c = tensor({1.0, 0.0}, {2, 1}).requires_grad_();
    Tensor a = tensor({1.0, 2.0, 3.0}).requires_grad_();
    Tensor b = zeros({2, 3}, Dtype::f64).requires_grad_();
    Tensor w = tensor({1.0, 2.0, 3.0, 4.0, 5.0, 6.0}, {2, 3});
    sum(where(c, a, b) * w).backward();
    require_values(a.grad(), {3}, {1, 2, 3});
    require_values(b.grad(), {2, 3}, {0, 0, 0, 4, 5, 6});
    CHECK_FALSE(c.grad().defined());

    // One tensor as both branches gets all of dy.
    Tensor x = tensor({1.0, 2.0, 3.0}).requires_grad_();
    sum(where(i64s({1, 0, 1}, {3}), x, x) * tensor({2.0, 3.0, 4.0})).backward();
    require_values(x.grad(), {3}, {2, 3, 4});

    // A 0-d a collects every position where cond holds.
    Tensor s = Tensor::scalar(5.0, Dtype::f64).requires_grad_();
    sum(where(i64s({1, 0, 2, 0, 3}, {5}), s, zeros({5}, Dtype::f64))).backward();
    require_values(s.grad(), {}, {3});
}

TEST_CASE("where backward matches finite differences under broadcasting, for every cond dtype", "[ops][indexing]") {
    struct Case {
        Shape cond, a, b;
    };
    // Same shapes; cond broadcast; a and b broadcast (so each of their elements feeds several
    // outputs); all three broadcast against each other; 0-d branches.
    const std::vector<Case> cases = {
        {{2, 3}, {2, 3}, {2, 3}}, {{2, 1}, {3}, {}},      {{3, 1, 1}, {1, 4}, {2, 1}}, {{}, {2, 3}, {3}},
        {{4}, {2, 1, 4}, {3, 1}}, {{2, 3}, {}, {}},       {{1}, {1}, {1}},            {{2, 1, 3}, {1, 4, 1}, {4, 3}},
    };
    uint64_t seed = 1700;
    for (Dtype cd : {Dtype::i64, Dtype::f64, Dtype::f32})
        for (const Case& c : cases)
            for (int64_t phase : {0, 1}) {
                INFO("cond " << shape_str(c.cond) << " " << dtype_name(cd) << " (phase " << phase << "), a "
                             << shape_str(c.a) << ", b " << shape_str(c.b));
                const Tensor cond = pattern(c.cond, cd, phase);
                // a and b require grad, so a floating cond is not differentiated.
                check_grad([](const Xs& x) { return where(x[0], x[1], x[2]); },
                           {cond, randn64(c.a, seed).requires_grad_(), randn64(c.b, seed + 1).requires_grad_()});
                seed += 2;
            }
    INFO("where(c, x, x * x) with x broadcast");
    check_grad([](const Xs& x) { return where(x[0], x[1], x[1] * x[1]); },
               {pattern({3, 4}, Dtype::i64), randn64({4}, 1799).requires_grad_()});
}

TEST_CASE("where rejects mixed or integer branches, shapes that do not broadcast and undefined inputs",
          "[ops][indexing]") {
    const Tensor c = i64s({1, 0}, {2});
    const Tensor f64 = zeros({2}, Dtype::f64), f32 = zeros({2}, Dtype::f32);
    REQUIRE_THROWS_AS(where(c, f32, f64), DtypeError);
    REQUIRE_THROWS_WITH(where(c, f32, f64), Catch::Contains("where: dtypes differ: f32 and f64"));
    REQUIRE_THROWS_AS(where(c, c, c), DtypeError);
    REQUIRE_THROWS_WITH(where(c, c, c), Catch::Contains("where: expected a floating dtype (f32 or f64), got i64"));
    REQUIRE_THROWS_AS(where(c, f64, zeros({3}, Dtype::f64)), ShapeError);
    REQUIRE_THROWS_WITH(where(c, f64, zeros({3}, Dtype::f64)),
                        Catch::Contains("where: shapes (2,) (cond), (2,) (a) and (3,) (b) cannot be broadcast"));
    REQUIRE_THROWS_WITH(where(i64s({1, 0, 1}, {3}), zeros({2, 1}, Dtype::f64), f64),
                        Catch::Contains("where: shapes (3,) (cond), (2, 1) (a) and (2,) (b) cannot be broadcast"));
    REQUIRE_THROWS_AS(where(Tensor(), f64, f64), ValueError);
    REQUIRE_THROWS_WITH(where(Tensor(), f64, f64), Catch::Contains("where: cond is an undefined tensor"));
    REQUIRE_THROWS_AS(where(c, Tensor(), f64), ValueError);
    REQUIRE_THROWS_AS(where(c, f64, Tensor()), ValueError);
}

// ---- masked_fill -------------------------------------------------------------------------

TEST_CASE("masked_fill writes value where the broadcast mask is nonzero", "[ops][indexing]") {
    const Tensor x = tensor({1.0, 2.0, 3.0, 4.0, 5.0, 6.0}, {2, 3});
    require_values(masked_fill(x, i64s({1, 0, 0, 0, 2, 0}, {2, 3}), -1.0), {2, 3}, {-1, 2, 3, 4, -1, 6});
    require_values(masked_fill(x, tensor({0.0f, 1.0f, 0.0f}), 9.0), {2, 3}, {1, 9, 3, 4, 9, 6});
    require_values(masked_fill(x, tensor({0.0, -3.0}, {2, 1}), 0.5), {2, 3}, {1, 2, 3, 0.5, 0.5, 0.5});
    require_values(masked_fill(x, i64s({1}, {}), 0.0), {2, 3}, {0, 0, 0, 0, 0, 0});
    require_values(masked_fill(x, i64s({0}, {1, 1}), 0.0), {2, 3}, {1, 2, 3, 4, 5, 6});
    require_values(masked_fill(Tensor::scalar(3.0, Dtype::f64), i64s({1}, {}), 4.0), {}, {4});

    // -inf, the attention mask's value, and NaN are written as given.
    const std::vector<double> y = masked_fill(x, i64s({0, 1, 1}, {3}), -kInf).to_vector<double>();
    CHECK(y == std::vector<double>{1, -kInf, -kInf, 4, -kInf, -kInf});
    CHECK(std::isnan(masked_fill(x, i64s({1, 0, 0}, {3}), std::nan("")).to_vector<double>()[0]));

    const Tensor y32 = masked_fill(tensor({1.0f, 2.0f}), i64s({0, 1}, {2}), 0.25);
    REQUIRE(y32.dtype() == Dtype::f32);
    CHECK(y32.to_vector<float>() == std::vector<float>{1.0f, 0.25f});
    // x is not modified.
    require_values(x, {2, 3}, {1, 2, 3, 4, 5, 6});
}

TEST_CASE("masked_fill passes no gradient to filled positions", "[ops][indexing]") {
    Tensor x = tensor({1.0, 2.0, 3.0, 4.0, 5.0, 6.0}, {2, 3}).requires_grad_();
    const Tensor w = tensor({1.0, 2.0, 3.0, 4.0, 5.0, 6.0}, {2, 3});
    sum(masked_fill(x, i64s({1, 0, 1}, {3}), -kInf).exp() * w).backward();
    // exp(-inf) = 0 and the filled positions get exactly 0, not NaN.
    require_values(x.grad(), {2, 3}, {0, 2 * std::exp(2.0), 0, 0, 5 * std::exp(5.0), 0});

    struct Case {
        Shape x, mask;
    };
    const std::vector<Case> cases = {{{2, 3}, {2, 3}}, {{2, 3}, {3}},   {{2, 3, 4}, {3, 1}}, {{2, 3}, {}},
                                     {{4}, {1}},       {{}, {}},        {{3, 1, 2}, {1, 1, 2}}};
    uint64_t seed = 1800;
    for (Dtype md : {Dtype::i64, Dtype::f32})
        for (const Case& c : cases)
            for (int64_t phase : {0, 1}) {
                INFO("x " << shape_str(c.x) << ", mask " << shape_str(c.mask) << " " << dtype_name(md) << " (phase "
                          << phase << ")");
                const Tensor mask = pattern(c.mask, md, phase);
                check_grad([mask](const Xs& x) { return masked_fill(x[0], mask, 2.5); }, {randn64(c.x, seed++)});
            }
}

TEST_CASE("masked_fill broadcasts the mask to x, never x to the mask", "[ops][indexing]") {
    const Tensor x = zeros({2, 3}, Dtype::f64);
    REQUIRE_THROWS_AS(masked_fill(zeros({3}, Dtype::f64), i64s({0, 1, 0, 1, 0, 1}, {2, 3}), 1.0), ShapeError);
    REQUIRE_THROWS_WITH(masked_fill(zeros({3}, Dtype::f64), i64s({0, 1, 0, 1, 0, 1}, {2, 3}), 1.0),
                        Catch::Contains("masked_fill: mask of shape (2, 3) does not broadcast to the input's "
                                        "shape (3,)"));
    REQUIRE_THROWS_AS(masked_fill(x, i64s({0, 1}, {2}), 1.0), ShapeError);
    REQUIRE_THROWS_AS(masked_fill(x, i64s({0, 1, 0, 1, 0, 1}, {3, 2}), 1.0), ShapeError);
    REQUIRE_THROWS_AS(masked_fill(x, i64s({}, {0}), 1.0), ShapeError);
    REQUIRE_THROWS_AS(masked_fill(i64s({1, 2}, {2}), i64s({0, 1}, {2}), 1.0), DtypeError);
    REQUIRE_THROWS_AS(masked_fill(x, Tensor(), 1.0), ValueError);
    REQUIRE_THROWS_WITH(masked_fill(x, Tensor(), 1.0), Catch::Contains("masked_fill: mask is an undefined tensor"));
    REQUIRE_THROWS_AS(masked_fill(Tensor(), i64s({1}, {1}), 1.0), ValueError);
}

// ---- gather ------------------------------------------------------------------------------

TEST_CASE("gather reads x at the index along dim, with torch.gather's shapes", "[ops][indexing]") {
    // torch.gather's documented example.
    const Tensor t = tensor({1.0, 2.0, 3.0, 4.0}, {2, 2});
    require_values(gather(t, 1, i64s({0, 0, 1, 0}, {2, 2})), {2, 2}, {1, 1, 4, 3});
    // Along dim 0 the index may be longer than x (here 3 rows for x's 2), with repeats.
    require_values(gather(t, 0, i64s({1, 0, 0, 0, 1, 1}, {3, 2})), {3, 2}, {3, 2, 1, 2, 3, 4});
    // Other dims may be shorter than x's: x (3, 4) = 4 r + c, index (2, 2) along dim 1.
    const Tensor x = iota64({3, 4});
    require_values(gather(x, 1, i64s({3, 0, 1, 1}, {2, 2})), {2, 2}, {3, 0, 5, 5});
    require_values(gather(x, -1, i64s({3, 0, 1, 1}, {2, 2})), {2, 2}, {3, 0, 5, 5});
    require_values(gather(x, 0, i64s({2, 0, 1}, {1, 3})), {1, 3}, {8, 1, 6});

    // (2, 3, 4) = 12 o + 4 d + i along each dim, index (2, 2, 3) of random values.
    const Tensor x3 = iota64({2, 3, 4});
    const Shape is = {2, 2, 3};
    for (int64_t dim = 0; dim < 3; ++dim) {
        const int64_t size = x3.shape()[dim];
        const Tensor index = random_index(size, is, 40 + dim);
        const std::vector<int64_t> iv = index.to_vector<int64_t>();
        std::vector<double> expected;
        std::size_t n = 0;
        for (int64_t a = 0; a < is[0]; ++a)
            for (int64_t b = 0; b < is[1]; ++b)
                for (int64_t c = 0; c < is[2]; ++c) {
                    int64_t p[3] = {a, b, c};
                    p[dim] = iv[n++];
                    expected.push_back(static_cast<double>(12 * p[0] + 4 * p[1] + p[2]));
                }
        INFO("dim " << dim);
        require_values(gather(x3, dim, index), is, expected);
        require_values(gather(x3, dim - 3, index), is, expected);
    }

    require_values(gather(tensor({5.0, 6.0, 7.0}), 0, i64s({2, 2, 0, 1, 2}, {5})), {5}, {7, 7, 5, 6, 7});
    CHECK(gather(x, 1, i64s({}, {3, 0})).shape() == Shape{3, 0});
    CHECK(gather(x, 0, i64s({}, {0, 4})).shape() == Shape{0, 4});
    const Tensor y32 = gather(tensor({1.0f, 2.0f, 3.0f}), 0, i64s({2, 0}, {2}));
    REQUIRE(y32.dtype() == Dtype::f32);
    CHECK(y32.to_vector<float>() == std::vector<float>{3.0f, 1.0f});
}

TEST_CASE("gather backward scatter-adds, so repeated indices accumulate", "[ops][indexing]") {
    const Tensor t = tensor({1.0, 2.0, 3.0, 4.0}, {2, 2});
    require_values(grad_of_sum(t, [](const Tensor& x) { return gather(x, 1, i64s({0, 0, 1, 0}, {2, 2})); }), {2, 2},
                   {2, 0, 1, 1});
    require_values(grad_of_sum(t, [](const Tensor& x) { return gather(x, 0, i64s({1, 0, 0, 0, 1, 1}, {3, 2})); }),
                   {2, 2}, {1, 2, 2, 1});
    // Weighted: x (3, 4), index (2, 2) along dim 1 reaches only rows 0 and 1.
    Tensor x = iota64({3, 4}).requires_grad_();
    sum(gather(x, 1, i64s({3, 3, 1, 1}, {2, 2})) * tensor({1.0, 10.0, 100.0, 1000.0}, {2, 2})).backward();
    require_values(x.grad(), {3, 4}, {0, 0, 0, 11, 0, 1100, 0, 0, 0, 0, 0, 0});

    struct Case {
        Shape x;
        int64_t dim;
        Shape index;
    };
    // Index longer than x along dim (repeats are certain), shorter elsewhere, every dim of a
    // 3-d x, negative dims, 1-d and single-element tensors.
    const std::vector<Case> cases = {
        {{3, 4}, 0, {5, 2}},    {{3, 4}, 1, {2, 6}},     {{3, 4}, -1, {3, 4}},   {{2, 3, 4}, 0, {3, 2, 4}},
        {{2, 3, 4}, 1, {2, 5, 3}}, {{2, 3, 4}, 2, {1, 3, 7}}, {{2, 3, 4}, -2, {2, 3, 4}}, {{5}, 0, {9}},
        {{1}, 0, {3}},          {{4, 1}, 1, {4, 2}},
    };
    uint64_t seed = 1900;
    for (const Case& c : cases) {
        const int64_t dim = c.dim < 0 ? c.dim + static_cast<int64_t>(c.x.size()) : c.dim;
        const Tensor index = random_index(c.x[dim], c.index, seed);
        INFO("x " << shape_str(c.x) << ", dim " << c.dim << ", index " << shape_str(c.index));
        check_grad([d = c.dim, index](const Xs& x) { return gather(x[0], d, index); }, {randn64(c.x, seed + 1)});
        seed += 2;
    }
    INFO("gather of a broadcast product: x * w with w (4,), index (3, 6) along dim 1");
    check_grad([index = random_index(4, {3, 6}, 1990)](const Xs& x) { return gather(x[0] * x[1], 1, index); },
               {randn64({3, 4}, 1991), randn64({4}, 1992)});
}

TEST_CASE("gather rejects a non-i64 index, a rank or size mismatch and indices out of range", "[ops][indexing]") {
    const Tensor x = zeros({3, 4}, Dtype::f64);
    REQUIRE_THROWS_AS(gather(x, 0, zeros({2, 2}, Dtype::f64)), DtypeError);
    REQUIRE_THROWS_WITH(gather(x, 0, zeros({2, 2}, Dtype::f64)), Catch::Contains("gather: index must be i64, got f64"));
    REQUIRE_THROWS_AS(gather(x, 0, i64s({0, 1}, {2})), ShapeError);
    REQUIRE_THROWS_WITH(gather(x, 0, i64s({0, 1}, {2})),
                        Catch::Contains("gather: index of shape (2,) must have as many dims as the input (3, 4)"));
    REQUIRE_THROWS_AS(gather(x, 0, i64s({0, 0, 0, 0, 0}, {1, 5})), ShapeError);
    REQUIRE_THROWS_WITH(gather(x, 0, i64s({0, 0, 0, 0, 0}, {1, 5})),
                        Catch::Contains("gather: index of shape (1, 5) is larger than the input (3, 4) in dim 1"));
    REQUIRE_THROWS_AS(gather(x, 1, i64s({0, 0, 0, 0}, {4, 1})), ShapeError);
    REQUIRE_THROWS_AS(gather(x, 1, i64s({0, 4}, {1, 2})), ValueError);
    REQUIRE_THROWS_WITH(gather(x, 1, i64s({0, 4}, {1, 2})),
                        Catch::Contains("gather: index 4 at flat position 1 is out of range for dim 1 of size 4"));
    REQUIRE_THROWS_AS(gather(x, 0, i64s({-1}, {1, 1})), ValueError);  // no wrap-around, as torch
    REQUIRE_THROWS_AS(gather(x, 2, i64s({0}, {1, 1})), ValueError);
    REQUIRE_THROWS_WITH(gather(x, -3, i64s({0}, {1, 1})),
                        Catch::Contains("gather: dim -3 is out of range for a tensor with 2 dims"));
    REQUIRE_THROWS_AS(gather(x, 0, Tensor()), ValueError);
    REQUIRE_THROWS_WITH(gather(x, 0, Tensor()), Catch::Contains("gather: index is an undefined tensor"));
    REQUIRE_THROWS_AS(gather(Tensor(), 0, i64s({0}, {1})), ValueError);
}

// ---- index_select ------------------------------------------------------------------------

TEST_CASE("index_select picks slices along dim, repeats and all", "[ops][indexing]") {
    const Tensor x = iota64({3, 4});  // 4 r + c
    require_values(index_select(x, 0, i64s({2, 0, 2}, {3})), {3, 4}, {8, 9, 10, 11, 0, 1, 2, 3, 8, 9, 10, 11});
    require_values(index_select(x, 1, i64s({3, 1}, {2})), {3, 2}, {3, 1, 7, 5, 11, 9});
    require_values(index_select(x, -1, i64s({0, 0, 0, 3, 3}, {5})), {3, 5},
                   {0, 0, 0, 3, 3, 4, 4, 4, 7, 7, 8, 8, 8, 11, 11});
    // The middle dim of (2, 3, 2) = 6 o + 2 d + i.
    require_values(index_select(iota64({2, 3, 2}), 1, i64s({1, 1}, {2})), {2, 2, 2}, {2, 3, 2, 3, 8, 9, 8, 9});
    require_values(index_select(tensor({5.0, 6.0, 7.0}), 0, i64s({2, 1}, {2})), {2}, {7, 6});
    CHECK(index_select(x, 0, i64s({}, {0})).shape() == Shape{0, 4});
    CHECK(index_select(x, 1, i64s({}, {0})).shape() == Shape{3, 0});
    CHECK(index_select(zeros({0, 3}, Dtype::f64), 1, i64s({2, 2}, {2})).shape() == Shape{0, 2});
    const Tensor y32 = index_select(tensor({1.0f, 2.0f, 3.0f, 4.0f}, {2, 2}), 1, i64s({1}, {1}));
    REQUIRE(y32.dtype() == Dtype::f32);
    CHECK(y32.to_vector<float>() == std::vector<float>{2.0f, 4.0f});
}

TEST_CASE("index_select backward index-adds, so repeated indices accumulate", "[ops][indexing]") {
    const Tensor x = iota64({3, 4});
    require_values(grad_of_sum(x, [](const Tensor& t) { return index_select(t, 0, i64s({2, 0, 2}, {3})); }), {3, 4},
                   {1, 1, 1, 1, 0, 0, 0, 0, 2, 2, 2, 2});
    require_values(grad_of_sum(x, [](const Tensor& t) { return index_select(t, 1, i64s({3, 3, 3, 0}, {4})); }),
                   {3, 4}, {1, 0, 0, 3, 1, 0, 0, 3, 1, 0, 0, 3});
    require_values(grad_of_sum(x, [](const Tensor& t) { return index_select(t, 1, i64s({}, {0})); }), {3, 4},
                   std::vector<double>(12, 0.0));

    struct Case {
        Shape x;
        int64_t dim, k;
    };
    const std::vector<Case> cases = {
        {{3, 4}, 0, 5},    {{3, 4}, 1, 7},    {{3, 4}, -1, 2}, {{2, 3, 4}, 0, 3}, {{2, 3, 4}, 1, 6},
        {{2, 3, 4}, 2, 9}, {{2, 3, 4}, -2, 1}, {{5}, 0, 8},    {{1, 3}, 0, 4},    {{2, 1, 3}, 1, 3},
    };
    uint64_t seed = 2000;
    for (const Case& c : cases) {
        const int64_t dim = c.dim < 0 ? c.dim + static_cast<int64_t>(c.x.size()) : c.dim;
        const Tensor index = random_index(c.x[dim], {c.k}, seed);
        INFO("x " << shape_str(c.x) << ", dim " << c.dim << ", index of " << c.k);
        check_grad([d = c.dim, index](const Xs& x) { return index_select(x[0], d, index); }, {randn64(c.x, seed + 1)});
        seed += 2;
    }
    INFO("index_select then a broadcast multiply by a (3, 1) column");
    check_grad([](const Xs& x) { return index_select(x[0], 1, i64s({1, 1, 0, 2, 1}, {5})) * x[1]; },
               {randn64({3, 3}, 2090), randn64({3, 1}, 2091)});
}

TEST_CASE("index_select rejects a non-1-d or non-i64 index and indices out of range", "[ops][indexing]") {
    const Tensor x = zeros({3, 4}, Dtype::f64);
    REQUIRE_THROWS_AS(index_select(x, 0, i64s({0, 1}, {1, 2})), ShapeError);
    REQUIRE_THROWS_WITH(index_select(x, 0, i64s({0, 1}, {1, 2})),
                        Catch::Contains("index_select: index must be 1-d, got shape (1, 2)"));
    REQUIRE_THROWS_AS(index_select(x, 0, i64s({0}, {})), ShapeError);
    REQUIRE_THROWS_AS(index_select(x, 0, tensor({0.0})), DtypeError);
    REQUIRE_THROWS_WITH(index_select(x, 0, tensor({0.0})), Catch::Contains("index_select: index must be i64, got f64"));
    REQUIRE_THROWS_AS(index_select(x, 0, i64s({0, 3}, {2})), ValueError);
    REQUIRE_THROWS_WITH(index_select(x, 0, i64s({0, 3}, {2})),
                        Catch::Contains("index_select: index 3 at flat position 1 is out of range for dim 0 of "
                                        "size 3"));
    REQUIRE_THROWS_AS(index_select(x, 1, i64s({-1}, {1})), ValueError);
    REQUIRE_THROWS_AS(index_select(x, 2, i64s({0}, {1})), ValueError);
    REQUIRE_THROWS_AS(index_select(Tensor::scalar(1.0, Dtype::f64), 0, i64s({0}, {1})), ValueError);
    REQUIRE_THROWS_AS(index_select(x, 0, Tensor()), ValueError);
}

TEST_CASE("gather and index_select move i64, b8 and bf16 values that need no gradient", "[ops][indexing]") {
    // Labels picked by a permutation, as a data pipeline does (PyTorch allows any dtype here).
    const Tensor labels = i64s({7, 3, 9, 1}, {4});
    const Tensor picked = index_select(labels, 0, i64s({3, 0, 0}, {3}));
    CHECK(picked.dtype() == Dtype::i64);
    CHECK(picked.to_vector<int64_t>() == std::vector<int64_t>{1, 7, 7});
    CHECK(labels.index_select(0, i64s({2}, {1})).to_vector<int64_t>() == std::vector<int64_t>{9});
    const Tensor g = gather(i64s({1, 2, 3, 4, 5, 6}, {2, 3}), 1, i64s({2, 0, 1, 1}, {2, 2}));
    CHECK(g.dtype() == Dtype::i64);
    CHECK(g.to_vector<int64_t>() == std::vector<int64_t>{3, 1, 5, 5});
    const Tensor m = tensor({true, false, false, true, true, false}, {3, 2});
    CHECK(index_select(m, 0, i64s({2, 1}, {2})).to_vector<bool>() == std::vector<bool>{true, false, false, true});
    CHECK(gather(m, 0, i64s({1, 0}, {1, 2})).to_vector<bool>() == std::vector<bool>{false, false});
    const Tensor h = to(tensor({0.5f, 1.5f, 2.5f, 3.5f}, {2, 2}), Dtype::bf16);
    CHECK(gather(h, 1, i64s({1, 0}, {2, 1})).to_vector<float>() == std::vector<float>{1.5f, 2.5f});
    CHECK(index_select(h, 1, i64s({1}, {1})).to_vector<float>() == std::vector<float>{1.5f, 3.5f});
    // The checks of the index stay.
    REQUIRE_THROWS_WITH(index_select(labels, 0, i64s({4}, {1})),
                        Catch::Contains("index_select: index 4 at flat position 0 is out of range for dim 0 of size 4"));
}

TEST_CASE("changing an index, mask or cond in place after the op makes backward refuse", "[ops][indexing]") {
    const std::vector<std::pair<std::string, std::function<Tensor(const Tensor&, Tensor&)>>> ops = {
        {"gather", [](const Tensor& x, Tensor& i) { return gather(x, 0, i = i64s({0, 1, 1}, {1, 3})); }},
        {"index_select", [](const Tensor& x, Tensor& i) { return index_select(x, 1, i = i64s({2, 0}, {2})); }},
        {"masked_fill", [](const Tensor& x, Tensor& m) { return masked_fill(x, m = i64s({1, 0, 0}, {3}), 0.0); }},
        {"where", [](const Tensor& x, Tensor& c) { return where(c = i64s({1, 0, 0}, {3}), x, x * 2.0); }},
    };
    for (const auto& [name, op] : ops) {
        INFO(name);
        Tensor x = iota64({2, 3}).requires_grad_();
        Tensor aux;
        Tensor y = op(x, aux);
        aux.data<int64_t>()[0] = 1 - aux.data<int64_t>()[0];
        aux.mark_modified();
        REQUIRE_THROWS_AS(sum(y).backward(), ValueError);
        REQUIRE_THROWS_WITH(sum(y).backward(), Catch::Contains("modified in place"));
    }
}
