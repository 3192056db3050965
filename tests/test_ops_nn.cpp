// softmax, log_softmax, cross_entropy, layer_norm and dropout.
#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "helpers.hpp"
#include "op_inputs.hpp"

using namespace tg;
using namespace tg::test;

namespace {

// softmax([1, 2, 3]) and log_softmax([1, 2, 3]), from exp(k) / (e + e^2 + e^3).
const std::vector<double> kSoftmax123 = {0.09003057317038046, 0.24472847105479767, 0.6652409557748219};
const std::vector<double> kLogSoftmax123 = {-2.40760596444438, -1.4076059644443801, -0.40760596444438013};

// x shifted by offset (large offsets test the max subtraction and the two-pass variance).
Tensor shifted(const Shape& shape, uint64_t seed, double offset) { return add(randn64(shape, seed), offset); }

}  // namespace

TEST_CASE("softmax and log_softmax of [1, 2, 3] give the closed-form values", "[ops]") {
    require_values(softmax(tensor({1.0, 2.0, 3.0})), {3}, kSoftmax123);
    require_values(log_softmax(tensor({1.0, 2.0, 3.0})), {3}, kLogSoftmax123);
    // Shift invariance: the max is subtracted, so logits near 1000 neither overflow nor lose digits.
    require_values(softmax(tensor({1001.0, 1002.0, 1003.0})), {3}, kSoftmax123);
    require_values(log_softmax(tensor({-998.0, -997.0, -996.0})), {3}, kLogSoftmax123);
    require_values(softmax(tensor({1000.0, 0.0, -1000.0})), {3}, {1.0, 0.0, 0.0});
    require_values(log_softmax(tensor({-1000.0, 0.0, 1000.0})), {3}, {-2000.0, -1000.0, 0.0});
    require_values(softmax(tensor({0.5, 0.5, 0.5, 0.5})), {4}, {0.25, 0.25, 0.25, 0.25});
    require_values(softmax(tensor({7.0}, {1, 1})), {1, 1}, {1.0});
}

TEST_CASE("softmax and log_softmax normalise along the dim they are given", "[ops]") {
    // Columns of x are [1, 2, 3]; rows are constant.
    const Tensor x = tensor({1.0, 1.0, 2.0, 2.0, 3.0, 3.0}, {3, 2});
    const auto& p = kSoftmax123;
    const auto& l = kLogSoftmax123;
    require_values(softmax(x, 0), {3, 2}, {p[0], p[0], p[1], p[1], p[2], p[2]});
    require_values(softmax(x, -2), {3, 2}, {p[0], p[0], p[1], p[1], p[2], p[2]});
    require_values(log_softmax(x, 0), {3, 2}, {l[0], l[0], l[1], l[1], l[2], l[2]});
    require_values(softmax(x, 1), {3, 2}, {0.5, 0.5, 0.5, 0.5, 0.5, 0.5});
    require_values(log_softmax(x, -1), {3, 2}, std::vector<double>(6, -M_LN2));

    // The middle dim of (2, 3, 2): each (o, :, i) column is [1, 2, 3] + 10 o + i.
    std::vector<double> v, sm, lsm;
    for (int o = 0; o < 2; ++o)
        for (int d = 0; d < 3; ++d)
            for (int i = 0; i < 2; ++i) {
                v.push_back(1 + d + 10 * o + i);
                sm.push_back(p[d]);
                lsm.push_back(l[d]);
            }
    require_values(softmax(tensor(v, {2, 3, 2}), 1), {2, 3, 2}, sm);
    require_values(log_softmax(tensor(v, {2, 3, 2}), -2), {2, 3, 2}, lsm);
}

TEST_CASE("softmax and log_softmax backward match finite differences over last and non-last dims",
          "[ops]") {
    struct Case {
        Shape shape;
        int64_t dim;
    };
    const std::vector<Case> cases = {
        {{2, 5}, -1}, {{2, 5}, 1}, {{3, 4}, 0}, {{2, 3, 4}, 1}, {{2, 3, 4}, -2}, {{2, 3, 4}, 0},
        {{1, 5}, -1}, {{5}, 0},    {{4, 1}, 1}, {{1, 1}, 0},
    };
    uint64_t seed = 1200;
    for (const Case& c : cases) {
        INFO("softmax and log_softmax over dim " << c.dim << " of " << shape_str(c.shape));
        check_grad([dim = c.dim](const Xs& x) { return softmax(x[0], dim); }, {randn64(c.shape, seed++)});
        check_grad([dim = c.dim](const Xs& x) { return log_softmax(x[0], dim); }, {randn64(c.shape, seed++)});
    }
}

TEST_CASE("softmax and log_softmax backward match finite differences for logits near 1000", "[ops]") {
    // x - max is exact there, so the only extra noise is the rounding of x +- eps (ulp(1000) is
    // 1e-13, 1e-7 of the step).
    uint64_t seed = 1300;
    for (const Shape& s : std::vector<Shape>{{3, 5}, {1, 4}, {2, 3, 4}}) {
        INFO("softmax and log_softmax of +-1000 + randn " << shape_str(s));
        check_grad([](const Xs& x) { return softmax(x[0], -1); }, {shifted(s, seed++, 1000.0)});
        check_grad([](const Xs& x) { return log_softmax(x[0], -1); }, {shifted(s, seed++, -1000.0)});
        check_grad([](const Xs& x) { return softmax(x[0], 0); }, {shifted(s, seed++, 1000.0)});
        check_grad([](const Xs& x) { return log_softmax(x[0], 0); }, {shifted(s, seed++, 1000.0)});
    }
}

TEST_CASE("softmax and log_softmax reject bad dims and integer input", "[ops]") {
    const Tensor x = zeros({2, 3}, Dtype::f64);
    REQUIRE_THROWS_AS(softmax(x, 2), ValueError);
    REQUIRE_THROWS_WITH(softmax(x, 2),
                        Catch::Contains("softmax: dim 2 is out of range for a tensor with 2 dims"));
    REQUIRE_THROWS_WITH(log_softmax(x, -3),
                        Catch::Contains("log_softmax: dim -3 is out of range for a tensor with 2 dims"));
    REQUIRE_THROWS_AS(softmax(i64s({1, 2}, {2})), DtypeError);
    REQUIRE_THROWS_WITH(softmax(i64s({1, 2}, {2})),
                        Catch::Contains("softmax: expected a floating dtype (f32 or f64), got i64"));
    REQUIRE_THROWS_WITH(log_softmax(i64s({1, 2}, {2})),
                        Catch::Contains("log_softmax: expected a floating dtype (f32 or f64), got i64"));
}

TEST_CASE("cross_entropy of known logits gives the mean negative log-likelihood", "[ops]") {
    // -log softmax([1, 2, 3])[2] = log(e + e^2 + e^3) - 3
    require_values(cross_entropy(tensor({1.0, 2.0, 3.0}, {1, 3}), i64s({2}, {1})), {}, {-kLogSoftmax123[2]});
    require_values(cross_entropy(tensor({1.0, 2.0, 3.0, 1.0, 2.0, 3.0}, {2, 3}), i64s({0, 2}, {2})), {},
                   {-(kLogSoftmax123[0] + kLogSoftmax123[2]) / 2});
    require_values(cross_entropy(tensor({1001.0, 1002.0, 1003.0}, {1, 3}), i64s({0}, {1})), {},
                   {-kLogSoftmax123[0]}, 1e-12);
    // Uniform logits: log V whatever the targets.
    require_values(cross_entropy(zeros({2, 5}, Dtype::f64), i64s({4, 0}, {2})), {}, {std::log(5.0)});
    require_values(cross_entropy(tensor({3.0}, {1, 1}), i64s({0}, {1})), {}, {0.0});
}

TEST_CASE("cross_entropy backward is (softmax - onehot) / N", "[ops]") {
    Tensor x = tensor({1.0, 2.0, 3.0, 3.0, 2.0, 1.0}, {2, 3}).requires_grad_();
    cross_entropy(x, i64s({2, 1}, {2})).backward();
    const auto& p = kSoftmax123;
    require_values(x.grad(), {2, 3},
                   {p[0] / 2, p[1] / 2, (p[2] - 1) / 2, p[2] / 2, (p[1] - 1) / 2, p[0] / 2});

    const std::vector<std::pair<Shape, std::vector<int64_t>>> cases = {
        {{4, 6}, {0, 5, 2, 2}},
        {{1, 3}, {1}},
        {{3, 1}, {0, 0, 0}},
        {{5, 2}, {1, 0, 1, 1, 0}},
    };
    uint64_t seed = 1400;
    for (const auto& [shape, targets] : cases) {
        INFO("cross_entropy of " << shape_str(shape));
        check_grad([](const Xs& x) { return cross_entropy(x[0], x[1]); },
                   {mul(randn64(shape, seed++), 2.0), i64s(targets, {shape[0]})});
    }
}

TEST_CASE("cross_entropy backward matches finite differences for logits near 1000", "[ops]") {
    {
        INFO("cross_entropy of 1000 + randn (4, 5)");
        check_grad([](const Xs& x) { return cross_entropy(x[0], x[1]); },
                   {shifted({4, 5}, 1500, 1000.0), i64s({0, 4, 2, 2}, {4})});
    }
    {
        INFO("cross_entropy of -1000 + 3 randn (2, 3)");
        check_grad([](const Xs& x) { return cross_entropy(x[0], x[1]); },
                   {add(mul(randn64({2, 3}, 1501), 3.0), -1000.0), i64s({1, 0}, {2})});
    }
}

TEST_CASE("cross_entropy rejects bad targets and logits that are not 2-d", "[ops]") {
    const Tensor logits = zeros({2, 5}, Dtype::f64);
    REQUIRE_THROWS_AS(cross_entropy(logits, i64s({0, 5}, {2})), ValueError);
    REQUIRE_THROWS_WITH(
        cross_entropy(logits, i64s({0, 5}, {2})),
        Catch::Contains("cross_entropy: target 5 at position 1 is out of range for 5 classes"));
    REQUIRE_THROWS_WITH(
        cross_entropy(logits, i64s({-1, 0}, {2})),
        Catch::Contains("cross_entropy: target -1 at position 0 is out of range for 5 classes"));
    REQUIRE_THROWS_AS(cross_entropy(logits, i64s({0, 1, 2}, {3})), ShapeError);
    REQUIRE_THROWS_WITH(
        cross_entropy(logits, i64s({0, 1, 2}, {3})),
        Catch::Contains("cross_entropy: targets (3,) do not match logits (2, 5) (expected (2,))"));
    REQUIRE_THROWS_WITH(
        cross_entropy(logits, i64s({0, 1}, {2, 1})),
        Catch::Contains("cross_entropy: targets (2, 1) do not match logits (2, 5) (expected (2,))"));
    REQUIRE_THROWS_AS(cross_entropy(logits, zeros({2}, Dtype::f64)), DtypeError);
    REQUIRE_THROWS_WITH(cross_entropy(logits, zeros({2}, Dtype::f64)),
                        Catch::Contains("cross_entropy: targets must be i64, got f64"));
    REQUIRE_THROWS_AS(cross_entropy(zeros({5}, Dtype::f64), i64s({0}, {1})), ShapeError);
    REQUIRE_THROWS_WITH(cross_entropy(zeros({5}, Dtype::f64), i64s({0}, {1})),
                        Catch::Contains("cross_entropy: logits must be (N, V) or (N, V, d1, ...), got (5,)"));
    REQUIRE_THROWS_AS(cross_entropy(zeros({0, 5}, Dtype::f64), i64s({}, {0})), ValueError);
    REQUIRE_THROWS_WITH(cross_entropy(zeros({0, 5}, Dtype::f64), i64s({}, {0})),
                        Catch::Contains("cross_entropy: empty batch, logits (0, 5)"));
    REQUIRE_THROWS_WITH(cross_entropy(i64s({0, 1}, {1, 2}), i64s({0}, {1})),
                        Catch::Contains("cross_entropy: expected a floating dtype (f32 or f64), got i64"));
}

TEST_CASE("layer_norm of [1, 2, 3] normalises to zero mean and unit variance", "[ops]") {
    const Tensor ones3 = ones({3}, Dtype::f64), zeros3 = zeros({3}, Dtype::f64);
    // var = 2/3: (x - 2) / sqrt(2/3 + eps)
    const double r = 1.0 / std::sqrt(2.0 / 3.0 + 1e-5);
    require_values(layer_norm(tensor({1.0, 2.0, 3.0}), ones3, zeros3), {3}, {-r, 0.0, r});
    require_values(layer_norm(tensor({1.0, 2.0, 3.0}), ones3, zeros3, 0.0), {3},
                   {-std::sqrt(1.5), 0.0, std::sqrt(1.5)});
    const Tensor w = tensor({2.0, 3.0, 4.0}), b = tensor({1.0, -1.0, 0.5});
    require_values(layer_norm(tensor({1.0, 2.0, 3.0}), w, b, 0.0), {3},
                   {1 - 2 * std::sqrt(1.5), -1.0, 0.5 + 4 * std::sqrt(1.5)});
    // Each row separately; scaling a row by 10 does not change it (eps 0).
    require_values(layer_norm(tensor({1.0, 2.0, 3.0, 30.0, 20.0, 10.0}, {2, 3}), ones3, zeros3, 0.0), {2, 3},
                   {-std::sqrt(1.5), 0.0, std::sqrt(1.5), std::sqrt(1.5), 0.0, -std::sqrt(1.5)});
    // An offset of 1e4 does not cancel the variance away.
    require_values(layer_norm(tensor({1e4 + 1, 1e4 + 2, 1e4 + 3}), ones3, zeros3, 0.0), {3},
                   {-std::sqrt(1.5), 0.0, std::sqrt(1.5)}, 1e-9);
    // A constant row has xhat = 0, so y = bias.
    require_values(layer_norm(tensor({5.0, 5.0, 5.0}), ones3, tensor({1.0, 2.0, 3.0})), {3}, {1.0, 2.0, 3.0});
}

TEST_CASE("layer_norm backward matches finite differences for x, weight and bias", "[ops]") {
    const std::vector<Shape> shapes = {{2, 3, 4}, {1, 5}, {5}, {4, 3}, {2, 1, 7}};
    uint64_t seed = 1600;
    for (const Shape& s : shapes) {
        INFO("layer_norm of " << shape_str(s));
        const int64_t C = s.back();
        check_grad([](const Xs& x) { return layer_norm(x[0], x[1], x[2]); },
                   {randn64(s, seed), randn64({C}, seed + 1), randn64({C}, seed + 2)});
        seed += 3;
    }
}

TEST_CASE("layer_norm over a single channel passes no gradient to x", "[ops]") {
    // With C = 1, x - mean is 0 whatever x is: y = bias, dx = 0 (up to rounding, as rstd is
    // 1/sqrt(eps)), dw = 0, db = dy.
    Tensor x = randn64({4, 1}, 1650).requires_grad_();
    Tensor w = tensor({1.5}).requires_grad_(), b = tensor({0.25}).requires_grad_();
    const Tensor y = layer_norm(x, w, b);
    require_values(y, {4, 1}, {0.25, 0.25, 0.25, 0.25});
    y.backward(tensor({1.0, 2.0, 3.0, 4.0}, {4, 1}));
    require_values(x.grad(), {4, 1}, {0, 0, 0, 0}, 1e-10);
    require_values(w.grad(), {1}, {0});
    require_values(b.grad(), {1}, {10});
    INFO("layer_norm of (4, 1) with respect to weight and bias");
    check_grad([](const Xs& x) { return layer_norm(x[0], x[1], x[2]); },
               {randn64({4, 1}, 1651), randn64({1}, 1652).requires_grad_(),
                randn64({1}, 1653).requires_grad_()});
}

TEST_CASE("layer_norm backward matches finite differences for rows offset by 1e4", "[ops]") {
    {
        // The row mean carries a rounding error of about ulp(1e4) = 2e-12, which finite differences
        // with eps 1e-6 turn into 1e-6 of noise; a step of 2^-13 (exact at 1e4) brings the noise
        // to 1e-8 while the truncation error stays near 1e-8.
        INFO("layer_norm of 1e4 + randn (3, 6)");
        check_grad([](const Xs& x) { return layer_norm(x[0], x[1], x[2]); },
                   {shifted({3, 6}, 1700, 1e4), randn64({6}, 1701), randn64({6}, 1702)}, Tol{.eps = 0x1p-13});
    }
    {
        INFO("layer_norm of 100 * randn (2, 4)");
        check_grad([](const Xs& x) { return layer_norm(x[0], x[1], x[2]); },
                   {mul(randn64({2, 4}, 1703), 100.0), randn64({4}, 1704), randn64({4}, 1705)});
    }
}

TEST_CASE("layer_norm rejects a weight or bias that does not match the last dim", "[ops]") {
    const Tensor x = zeros({2, 3}, Dtype::f64);
    const Tensor w3 = ones({3}, Dtype::f64), b3 = zeros({3}, Dtype::f64);
    REQUIRE_THROWS_AS(layer_norm(x, ones({4}, Dtype::f64), b3), ShapeError);
    REQUIRE_THROWS_WITH(layer_norm(x, ones({4}, Dtype::f64), b3),
                        Catch::Contains("layer_norm: weight (4,) and bias (3,) must both be (C,) with C the "
                                        "last dim of x (2, 3)"));
    REQUIRE_THROWS_WITH(layer_norm(x, w3, zeros({1, 3}, Dtype::f64)),
                        Catch::Contains("layer_norm: weight (3,) and bias (1, 3) must both be (C,)"));
    REQUIRE_THROWS_WITH(layer_norm(Tensor::scalar(1.0, Dtype::f64), w3, b3),
                        Catch::Contains("layer_norm: weight (3,) and bias (3,) must both be (C,) with C the "
                                        "last dim of x ()"));
    REQUIRE_THROWS_AS(layer_norm(x, ones({3}, Dtype::f32), b3), DtypeError);
    REQUIRE_THROWS_WITH(layer_norm(x, ones({3}, Dtype::f32), b3),
                        Catch::Contains("layer_norm: dtypes differ: f64 and f32"));
    REQUIRE_THROWS_AS(layer_norm(x, w3, b3, -1.0), ValueError);
    REQUIRE_THROWS_WITH(layer_norm(x, w3, b3, -1.0),
                        Catch::Contains("layer_norm: eps must be finite and >= 0, got -1"));
    REQUIRE_THROWS_WITH(layer_norm(x, w3, b3, std::numeric_limits<double>::infinity()),
                        Catch::Contains("layer_norm: eps must be finite and >= 0, got inf"));
}

TEST_CASE("dropout zeroes about p of the elements and scales the survivors by 1 / (1 - p)", "[ops]") {
    const Tensor x = add(arange(4000, Dtype::f64), 1.0);
    Generator gen(7);
    const std::vector<double> y = dropout(x, 0.25, true, gen).to_vector<double>();
    const std::vector<double> xv = x.to_vector<double>();
    int64_t zeros_seen = 0;
    for (std::size_t i = 0; i < y.size(); ++i) {
        if (y[i] == 0.0) ++zeros_seen;
        else REQUIRE(y[i] == Approx(xv[i] / 0.75).epsilon(1e-15));
    }
    // Binomial(4000, 0.25): mean 1000, sd 27.
    CHECK(zeros_seen > 900);
    CHECK(zeros_seen < 1100);
}

TEST_CASE("dropout is the identity when not training or when p is 0, and zeroes all when p is 1",
          "[ops]") {
    const Tensor x = randn64({3, 4}, 1800);
    Generator gen(1);
    CHECK(dropout(x, 0.5, false, gen).is_same(x));
    CHECK(dropout(x, 0.0, true, gen).is_same(x));
    require_values(dropout(x, 1.0, true, gen), {3, 4}, std::vector<double>(12, 0.0));
}

TEST_CASE("dropout draws the same mask from the same seed and a new one as the generator advances",
          "[ops]") {
    const Tensor x = ones({64}, Dtype::f64);
    Generator a(11), b(11);
    const auto ya = dropout(x, 0.5, true, a).to_vector<double>();
    CHECK(ya == dropout(x, 0.5, true, b).to_vector<double>());
    CHECK(ya != dropout(x, 0.5, true, a).to_vector<double>());
}

TEST_CASE("dropout backward multiplies the gradient by the mask", "[ops]") {
    Tensor x = away_from_zero({5, 4}, 1900).requires_grad_();
    Generator gen(3);
    const Tensor y = dropout(x, 0.4, true, gen);
    sum(y).backward();
    const auto yv = y.to_vector<double>(), gv = x.grad().to_vector<double>();
    int64_t kept = 0;
    for (std::size_t i = 0; i < yv.size(); ++i) {
        INFO("element " << i);
        if (yv[i] == 0.0) CHECK(gv[i] == 0.0);
        else CHECK(gv[i] == Approx(1.0 / 0.6).epsilon(1e-15));
        kept += yv[i] != 0.0;
    }
    CHECK(kept > 0);
    CHECK(kept < 20);

    // A fresh generator with the same seed in every call gives every evaluation the same mask.
    const GradcheckFn train = [](const Xs& x) {
        Generator g(123);
        return dropout(x[0], 0.3, true, g);
    };
    for (const Shape& s : std::vector<Shape>{{5, 4}, {}, {1, 7}}) {
        INFO("dropout p = 0.3 on " << shape_str(s));
        check_grad(train, {randn64(s, 1901)});
    }
    // Eval mode is the identity; the product with x makes the output an op result.
    const GradcheckFn eval = [](const Xs& x) {
        Generator g(123);
        return mul(dropout(x[0], 0.3, false, g), x[0]);
    };
    INFO("dropout in eval mode");
    check_grad(eval, {randn64({2, 3}, 1902)});
}

TEST_CASE("dropout rejects a probability outside [0, 1] and integer input", "[ops]") {
    const Tensor x = ones({3}, Dtype::f64);
    Generator gen(0);
    REQUIRE_THROWS_AS(dropout(x, 1.5, true, gen), ValueError);
    REQUIRE_THROWS_WITH(dropout(x, 1.5, true, gen),
                        Catch::Contains("dropout: probability must be in [0, 1], got 1.5"));
    REQUIRE_THROWS_WITH(dropout(x, -0.1, false, gen),
                        Catch::Contains("dropout: probability must be in [0, 1], got -0.1"));
    REQUIRE_THROWS_WITH(dropout(x, std::nan(""), true, gen),
                        Catch::Contains("dropout: probability must be in [0, 1], got nan"));
    REQUIRE_THROWS_AS(dropout(i64s({1}, {1}), 0.5, true, gen), DtypeError);
    REQUIRE_THROWS_WITH(dropout(i64s({1}, {1}), 0.5, true, gen),
                        Catch::Contains("dropout: expected a floating dtype (f32 or f64), got i64"));
}
