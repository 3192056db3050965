// Elementwise ops: + - * / (tensor-tensor with broadcasting, tensor-scalar, the operators),
// the unary functions, and the dtype conversion and copy ops.
#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "helpers.hpp"
#include "op_inputs.hpp"

using namespace tg;
using namespace tg::test;

namespace {

struct ShapePair {
    Shape a, b;
};

// Equal shapes, broadcasting on the right, on the left and on both sides, size-1 dims, 0-d
// operands and a single row.
const std::vector<ShapePair> kBroadcastPairs = {
    {{2, 3}, {2, 3}},    {{2, 3}, {3}},    {{3}, {2, 3}},    {{2, 1, 4}, {3, 1}},
    {{1, 3}, {2, 1}},    {{}, {2, 3}},     {{2, 3}, {}},     {{}, {}},
    {{1, 5}, {1, 5}},    {{4, 1}, {1}},    {{1}, {3, 1, 2}}, {{2, 3, 1}, {2, 1, 3}},
};

}  // namespace

TEST_CASE("add, sub, mul and div give elementwise values with numpy broadcasting", "[ops]") {
    const Tensor a = tensor({1.0, 2.0, 3.0, 4.0, 5.0, 6.0}, {2, 3});
    const Tensor b = tensor({10.0, 20.0, 30.0});
    require_values(add(a, b), {2, 3}, {11, 22, 33, 14, 25, 36});
    require_values(add(b, a), {2, 3}, {11, 22, 33, 14, 25, 36});
    require_values(sub(a, b), {2, 3}, {-9, -18, -27, -6, -15, -24});
    require_values(sub(b, a), {2, 3}, {9, 18, 27, 6, 15, 24});
    require_values(mul(a, b), {2, 3}, {10, 40, 90, 40, 100, 180});
    require_values(div(a, b), {2, 3}, {0.1, 0.1, 0.1, 0.4, 0.25, 0.2});
    require_values(div(b, a), {2, 3}, {10, 10, 10, 2.5, 4, 5});

    const Tensor col = tensor({1.0, 2.0}, {2, 1});
    const Tensor row = tensor({10.0, 20.0, 30.0}, {1, 3});
    require_values(add(col, row), {2, 3}, {11, 21, 31, 12, 22, 32});
    require_values(sub(col, row), {2, 3}, {-9, -19, -29, -8, -18, -28});

    // (2, 1, 2) with (3, 1) -> (2, 3, 2): out[i, j, k] = x[i, 0, k] * y[j, 0]
    const Tensor x = tensor({1.0, 2.0, 3.0, 4.0}, {2, 1, 2});
    const Tensor y = tensor({10.0, 20.0, 30.0}, {3, 1});
    require_values(mul(x, y), {2, 3, 2}, {10, 20, 20, 40, 30, 60, 30, 40, 60, 80, 90, 120});

    const Tensor two = Tensor::scalar(2.0, Dtype::f64);
    require_values(mul(two, a), {2, 3}, {2, 4, 6, 8, 10, 12});
    require_values(div(a, two), {2, 3}, {0.5, 1, 1.5, 2, 2.5, 3});
    require_values(div(two, a), {2, 3}, {2, 1, 2.0 / 3, 0.5, 0.4, 2.0 / 6});
    require_values(sub(two, Tensor::scalar(0.5, Dtype::f64)), {}, {1.5});
}

TEST_CASE("tensor-scalar arithmetic and the operators with a double on either side give closed forms",
          "[ops]") {
    const Tensor x = tensor({1.0, 2.0, 4.0});
    require_values(add(x, 0.5), {3}, {1.5, 2.5, 4.5});
    require_values(mul(x, -2.0), {3}, {-2, -4, -8});
    require_values(x + 1.0, {3}, {2, 3, 5});
    require_values(1.0 + x, {3}, {2, 3, 5});
    require_values(x - 1.0, {3}, {0, 1, 3});
    require_values(1.0 - x, {3}, {0, -1, -3});
    require_values(x * 3.0, {3}, {3, 6, 12});
    require_values(3.0 * x, {3}, {3, 6, 12});
    require_values(x / 4.0, {3}, {0.25, 0.5, 1});
    require_values(4.0 / x, {3}, {4, 2, 1});
    require_values(-x, {3}, {-1, -2, -4});
    require_values(neg(x), {3}, {-1, -2, -4});

    const Tensor y = tensor({3.0, 5.0, 8.0});
    require_values(x + y, {3}, {4, 7, 12});
    require_values(x - y, {3}, {-2, -3, -4});
    require_values(x * y, {3}, {3, 10, 32});
    require_values(y / x, {3}, {3, 2.5, 2});
    require_values(Tensor::scalar(3.0, Dtype::f64) * 2.0, {}, {6});
}

TEST_CASE("add, sub, mul and div backward match finite differences under broadcasting on either side",
          "[ops]") {
    const std::vector<std::pair<std::string, GradcheckFn>> ops = {
        {"add", [](const Xs& x) { return add(x[0], x[1]); }},
        {"sub", [](const Xs& x) { return sub(x[0], x[1]); }},
        {"mul", [](const Xs& x) { return mul(x[0], x[1]); }},
        {"div", [](const Xs& x) { return div(x[0], x[1]); }},
        {"operator+", [](const Xs& x) { return x[0] + x[1]; }},
        {"operator-", [](const Xs& x) { return x[0] - x[1]; }},
        {"operator*", [](const Xs& x) { return x[0] * x[1]; }},
        {"operator/", [](const Xs& x) { return x[0] / x[1]; }},
    };
    uint64_t seed = 1;
    for (const auto& [name, fn] : ops)
        for (const ShapePair& p : kBroadcastPairs) {
            INFO(name << " " << shape_str(p.a) << " with " << shape_str(p.b));
            // b stays at least 0.5 away from zero so 1/b and a/b^2 are tame.
            check_grad(fn, {randn64(p.a, seed), away_from_zero(p.b, seed + 1, 0.5)});
            seed += 2;
        }
}

TEST_CASE("an operand used twice in one op receives both gradients", "[ops]") {
    Tensor x = tensor({1.0, -2.0, 3.0}).requires_grad_();
    sum(mul(x, x)).backward();
    require_values(x.grad(), {3}, {2, -4, 6});

    Tensor z = tensor({1.0, -2.0, 3.0}).requires_grad_();
    sum(add(z, z)).backward();
    require_values(z.grad(), {3}, {2, 2, 2});

    INFO("x * x / (x + 3)");
    check_grad([](const Xs& x) { return div(mul(x[0], x[0]), x[0] + 3.0); },
               {uniform64({2, 3}, 5, 0.5, 2.0)});
}

TEST_CASE("the gradient of a broadcast operand is summed over the dims it was stretched along",
          "[ops]") {
    Tensor a = tensor({1.0, 2.0, 3.0, 4.0, 5.0, 6.0}, {2, 3}).requires_grad_();
    Tensor b = tensor({10.0, 20.0, 30.0}).requires_grad_();
    Tensor c = Tensor::scalar(2.0, Dtype::f64).requires_grad_();
    sum(mul(add(a, b), c)).backward();
    require_values(a.grad(), {2, 3}, {2, 2, 2, 2, 2, 2});
    require_values(b.grad(), {3}, {4, 4, 4});
    require_values(c.grad(), {}, {21 + 120});
}

TEST_CASE("tensor-scalar arithmetic and the double operators backward match finite differences",
          "[ops]") {
    const std::vector<std::pair<std::string, GradcheckFn>> ops = {
        {"add(x, 2.5)", [](const Xs& x) { return add(x[0], 2.5); }},
        {"mul(x, -1.5)", [](const Xs& x) { return mul(x[0], -1.5); }},
        {"x + 2", [](const Xs& x) { return x[0] + 2.0; }},
        {"2 + x", [](const Xs& x) { return 2.0 + x[0]; }},
        {"x - 2", [](const Xs& x) { return x[0] - 2.0; }},
        {"2 - x", [](const Xs& x) { return 2.0 - x[0]; }},
        {"x * 3", [](const Xs& x) { return x[0] * 3.0; }},
        {"3 * x", [](const Xs& x) { return 3.0 * x[0]; }},
        {"x / 4", [](const Xs& x) { return x[0] / 4.0; }},
        {"4 / x", [](const Xs& x) { return 4.0 / x[0]; }},
        {"-x", [](const Xs& x) { return -x[0]; }},
        {"neg(x)", [](const Xs& x) { return neg(x[0]); }},
    };
    const std::vector<Shape> shapes = {{2, 3}, {}, {1}, {1, 4}, {3, 1, 2}};
    uint64_t seed = 100;
    for (const auto& [name, fn] : ops)
        for (const Shape& s : shapes) {
            INFO(name << " on " << shape_str(s));
            check_grad(fn, {away_from_zero(s, seed++, 0.5)});
        }
}

TEST_CASE("the unary functions give their closed-form values", "[ops]") {
    require_values(exp(tensor({0.0, 1.0, -1.0})), {3}, {1.0, M_E, 1.0 / M_E});
    require_values(log(tensor({1.0, M_E, 0.5})), {3}, {0.0, 1.0, -M_LN2});
    require_values(tanh(tensor({0.0, 0.5, -0.5})), {3}, {0.0, 0.46211715726000974, -0.46211715726000974});
    require_values(sqrt(tensor({4.0, 2.0, 0.0})), {3}, {2.0, M_SQRT2, 0.0});
    require_values(pow(tensor({2.0, -3.0, 0.5}), 3.0), {3}, {8.0, -27.0, 0.125});
    require_values(pow(tensor({4.0, 2.0}), 0.5), {2}, {2.0, M_SQRT2});
    require_values(pow(tensor({4.0, -0.5}), -1.0), {2}, {0.25, -2.0});
    require_values(pow(tensor({7.0, -3.0}), 0.0), {2}, {1.0, 1.0});
    require_values(relu(tensor({-1.0, 0.0, 2.5, -0.0})), {4}, {0.0, 0.0, 2.5, 0.0});
    require_values(sigmoid(tensor({0.0, 2.0, -2.0})), {3}, {0.5, 0.8807970779778823, 0.11920292202211755});
    // GPT-2's tanh form: gelu(x) = x/2 (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))
    require_values(gelu(tensor({1.0, -1.0, 2.0, 0.0, -3.0})), {5},
                   {0.8411919906082768, -0.15880800939172324, 1.954597694087775, 0.0,
                    -0.0036373920817729943});
    require_values(exp(Tensor::scalar(2.0, Dtype::f64)), {}, {std::exp(2.0)});
}

TEST_CASE("sigmoid stays finite and exact at large magnitudes", "[ops]") {
    const std::vector<double> y = sigmoid(tensor({-800.0, 800.0, -40.0, 40.0})).to_vector<double>();
    CHECK(y[0] == 0.0);
    CHECK(y[1] == 1.0);
    CHECK(y[2] == Approx(4.248354255291589e-18).epsilon(1e-12));
    CHECK(y[3] == 1.0);
    const std::vector<float> y32 = sigmoid(tensor({-200.0f, 200.0f})).to_vector<float>();
    CHECK(y32[0] == 0.0f);
    CHECK(y32[1] == 1.0f);
}

TEST_CASE("the unary functions backward match finite differences", "[ops]") {
    struct Case {
        std::string name;
        GradcheckFn fn;
        Tensor (*input)(const Shape&, uint64_t);
    };
    auto normal = [](const Shape& s, uint64_t seed) { return randn64(s, seed); };
    auto wide = [](const Shape& s, uint64_t seed) { return mul(randn64(s, seed), 3.0); };
    auto positive = [](const Shape& s, uint64_t seed) { return uniform64(s, seed, 0.2, 3.0); };
    auto nonzero = [](const Shape& s, uint64_t seed) { return away_from_zero(s, seed, 0.25); };
    // gelu' vanishes near x = -0.75 and in the far negative tail; stay where it is >= 0.13.
    auto gelu_input = [](const Shape& s, uint64_t seed) { return uniform64(s, seed, -0.5, 2.5); };
    const std::vector<Case> cases = {
        {"exp", [](const Xs& x) { return exp(x[0]); }, normal},
        {"log", [](const Xs& x) { return log(x[0]); }, positive},
        {"tanh", [](const Xs& x) { return tanh(x[0]); }, normal},
        {"sqrt", [](const Xs& x) { return sqrt(x[0]); }, positive},
        {"pow 2", [](const Xs& x) { return pow(x[0], 2.0); }, normal},
        {"pow 3", [](const Xs& x) { return pow(x[0], 3.0); }, normal},
        {"pow 1", [](const Xs& x) { return pow(x[0], 1.0); }, normal},
        {"pow 0", [](const Xs& x) { return pow(x[0], 0.0); }, nonzero},
        {"pow -1", [](const Xs& x) { return pow(x[0], -1.0); }, nonzero},
        {"pow -2", [](const Xs& x) { return pow(x[0], -2.0); }, nonzero},
        {"pow 0.5", [](const Xs& x) { return pow(x[0], 0.5); }, positive},
        {"pow -1.5", [](const Xs& x) { return pow(x[0], -1.5); }, positive},
        {"pow 2.7", [](const Xs& x) { return pow(x[0], 2.7); }, positive},
        {"relu", [](const Xs& x) { return relu(x[0]); }, nonzero},
        {"sigmoid", [](const Xs& x) { return sigmoid(x[0]); }, wide},
        {"gelu", [](const Xs& x) { return gelu(x[0]); }, gelu_input},
    };
    const std::vector<Shape> shapes = {{2, 3}, {}, {1}, {1, 5}, {3, 1, 2}};
    uint64_t seed = 200;
    for (const Case& c : cases)
        for (const Shape& s : shapes) {
            INFO(c.name << " on " << shape_str(s));
            check_grad(c.fn, {c.input(s, seed++)});
        }
}

TEST_CASE("relu passes no gradient at zero and pow with exponent 0 has a zero gradient at zero",
          "[ops]") {
    Tensor x = tensor({-1.0, 0.0, 2.0}).requires_grad_();
    sum(relu(x)).backward();
    require_values(x.grad(), {3}, {0.0, 0.0, 1.0});

    // d/dx x^0 = 0 everywhere, as in PyTorch; 0 * 0^-1 must not turn it into NaN.
    Tensor z = tensor({0.0, 2.0, -3.0}).requires_grad_();
    sum(pow(z, 0.0)).backward();
    require_values(z.grad(), {3}, {0.0, 0.0, 0.0});

    // d/dx x^2 = 2x and d/dx x^1 = 1 hold at zero too.
    Tensor w = tensor({0.0, 1.5}).requires_grad_();
    sum(add(pow(w, 2.0), pow(w, 1.0))).backward();
    require_values(w.grad(), {2}, {1.0, 4.0});
}

TEST_CASE("gelu backward matches finite differences on its negative branch", "[ops]") {
    // Left of gelu's minimum (x near -0.75) the slope is negative; these points keep |gelu'| >= 0.08.
    INFO("gelu on its negative branch");
    check_grad([](const Xs& x) { return gelu(x[0]); },
               {tensor({-2.0, -1.6, -1.2, -1.0, -0.4, 0.3}, {2, 3})});
}

TEST_CASE("to converts values between dtypes and returns the input for its own dtype", "[ops]") {
    const Tensor x = tensor({0.1, -2.5, 3.75});
    const Tensor y = to(x, Dtype::f32);
    REQUIRE(y.dtype() == Dtype::f32);
    REQUIRE(y.shape() == Shape{3});
    CHECK(y.to_vector<float>() == std::vector<float>{0.1f, -2.5f, 3.75f});
    CHECK(to(x, Dtype::f64).is_same(x));
    CHECK(x.to(Dtype::f32).to_vector<float>() == y.to_vector<float>());

    // Float to integer truncates toward zero, as static_cast and PyTorch do.
    const Tensor i = to(tensor({2.7, -2.7, 3.0}), Dtype::i64);
    REQUIRE(i.dtype() == Dtype::i64);
    CHECK(i.to_vector<int64_t>() == std::vector<int64_t>{2, -2, 3});
    const Tensor back = to(i, Dtype::f64);
    require_values(back, {3}, {2.0, -2.0, 3.0});

    const Tensor s = to(Tensor::scalar(1.5, Dtype::f64), Dtype::f32);
    REQUIRE(s.shape() == Shape{});
    CHECK(s.item<float>() == 1.5f);
}

TEST_CASE("to passes the gradient back in the source dtype and none into i64", "[ops]") {
    Tensor x = tensor({0.5, -1.25, 3.0}).requires_grad_();
    const Tensor w = tensor({1.0f, 2.0f, -3.0f});
    sum(mul(to(x, Dtype::f32), w)).backward();
    REQUIRE(x.grad().dtype() == Dtype::f64);
    require_values(x.grad(), {3}, {1.0, 2.0, -3.0});

    Tensor z = tensor({0.5, 1.5}).requires_grad_();
    const Tensor as_int = to(z, Dtype::i64);
    CHECK_FALSE(as_int.requires_grad());

    // The values and the steps x +- 2^-10 are exact in f32, so the round trip through f32 is
    // exactly linear and finite differences see the true gradient.
    INFO("f64 -> f32 -> f64");
    check_grad([](const Xs& x) { return to(mul(to(x[0], Dtype::f32), 3.0), Dtype::f64); },
               {tensor({0.5, -1.25, 3.0, 7.875, -0.125, 2.0}, {2, 3})}, Tol{.eps = 0x1p-10});
}

TEST_CASE("clone copies the values into a new buffer and passes the gradient through", "[ops]") {
    Tensor x = tensor({1.0, 2.0, 3.0}, {3, 1});
    Tensor c = clone(x);
    require_values(c, {3, 1}, {1, 2, 3});
    c.fill_(7.0);
    require_values(x, {3, 1}, {1, 2, 3});
    CHECK(clone(i64s({4, 5}, {2})).to_vector<int64_t>() == std::vector<int64_t>{4, 5});

    for (const Shape& s : std::vector<Shape>{{2, 3}, {}, {1}, {1, 4, 1}}) {
        INFO("clone on " << shape_str(s));
        check_grad([](const Xs& x) { return mul(clone(x[0]), x[0]); }, {randn64(s, 300)});
    }
}

TEST_CASE("elementwise ops reject shapes that do not broadcast", "[ops]") {
    const Tensor a = zeros({2, 3}, Dtype::f64), b = zeros({4}, Dtype::f64);
    REQUIRE_THROWS_AS(add(a, b), ShapeError);
    REQUIRE_THROWS_WITH(add(a, b),
                        Catch::Contains("add: shapes (2, 3) and (4,) cannot be broadcast together"));
    REQUIRE_THROWS_WITH(sub(b, a),
                        Catch::Contains("sub: shapes (4,) and (2, 3) cannot be broadcast together"));
    REQUIRE_THROWS_WITH(mul(a, zeros({3, 1, 2}, Dtype::f64)),
                        Catch::Contains("mul: shapes (2, 3) and (3, 1, 2) cannot be broadcast together"));
    REQUIRE_THROWS_AS(a / b, ShapeError);
    REQUIRE_THROWS_WITH(a / b, Catch::Contains("div: shapes (2, 3) and (4,) cannot be broadcast together"));
}

TEST_CASE("elementwise ops reject mixed dtypes and integer inputs", "[ops]") {
    const Tensor f32 = zeros({2}, Dtype::f32), f64 = zeros({2}, Dtype::f64);
    const Tensor i64 = i64s({1, 2}, {2});
    REQUIRE_THROWS_AS(add(f32, f64), DtypeError);
    REQUIRE_THROWS_WITH(add(f32, f64), Catch::Contains("add: dtypes differ: f32 and f64"));
    REQUIRE_THROWS_WITH(mul(f64, f32), Catch::Contains("mul: dtypes differ: f64 and f32"));
    REQUIRE_THROWS_AS(div(i64, i64), DtypeError);
    REQUIRE_THROWS_WITH(div(i64, i64),
                        Catch::Contains("div: expected a floating dtype (f32 or f64), got i64"));
    REQUIRE_THROWS_WITH(add(i64, 1.0),
                        Catch::Contains("add: expected a floating dtype (f32 or f64), got i64"));
    REQUIRE_THROWS_WITH(i64 * 2.0, Catch::Contains("mul: expected a floating dtype (f32 or f64), got i64"));
    REQUIRE_THROWS_WITH(-i64, Catch::Contains("neg: expected a floating dtype (f32 or f64), got i64"));

    const std::vector<std::pair<std::string, std::function<Tensor(const Tensor&)>>> unary = {
        {"exp", [](const Tensor& t) { return exp(t); }},
        {"log", [](const Tensor& t) { return log(t); }},
        {"tanh", [](const Tensor& t) { return tanh(t); }},
        {"sqrt", [](const Tensor& t) { return sqrt(t); }},
        {"pow", [](const Tensor& t) { return pow(t, 2.0); }},
        {"relu", [](const Tensor& t) { return relu(t); }},
        {"sigmoid", [](const Tensor& t) { return sigmoid(t); }},
        {"gelu", [](const Tensor& t) { return gelu(t); }},
    };
    for (const auto& [name, f] : unary) {
        INFO(name);
        REQUIRE_THROWS_AS(f(i64), DtypeError);
        REQUIRE_THROWS_WITH(f(i64),
                            Catch::Contains(name + ": expected a floating dtype (f32 or f64), got i64"));
        REQUIRE_THROWS_AS(f(Tensor()), ValueError);
        REQUIRE_THROWS_WITH(f(Tensor()), Catch::Contains(name + ": input is an undefined tensor"));
    }
}

TEST_CASE("pow rejects a non-finite exponent", "[ops]") {
    const Tensor x = ones({2}, Dtype::f64);
    REQUIRE_THROWS_AS(pow(x, std::numeric_limits<double>::infinity()), ValueError);
    REQUIRE_THROWS_WITH(pow(x, std::numeric_limits<double>::infinity()),
                        Catch::Contains("pow: exponent must be finite, got inf"));
    REQUIRE_THROWS_WITH(pow(x, std::nan("")), Catch::Contains("pow: exponent must be finite, got nan"));
}
