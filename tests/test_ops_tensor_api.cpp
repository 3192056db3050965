// The tensor API a PyTorch user types without thinking: reductions over several dims, 1-d
// matmul, class losses on (N, C, d1, ...), exact gelu, norm, square, rsqrt, *_like, randint
// and item() defaults, argsort/sort/topk, cumsum, repeat, tril/triu, one_hot. Values are
// worked by hand or against a composite of ops checked elsewhere; every gradient by gradcheck.
#include <catch2/catch.hpp>

#include <cmath>
#include <limits>
#include <vector>

#include "helpers.hpp"

using namespace tg;
using namespace tg::test;
using Catch::Contains;
using Xs = std::vector<Tensor>;

namespace {
Tensor f64s(const std::vector<double>& v, const Shape& s) { return tensor(v, s); }
Tensor i64s(const std::vector<int64_t>& v, const Shape& s) { return tensor(v, s); }
}  // namespace

TEST_CASE("sum, mean, var, amax and amin over several dims", "[ops][tensor_api]") {
    const Tensor x = f64s({1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}, {2, 3, 2});
    require_values(sum(x, {0, 2}), {3}, {1 + 2 + 7 + 8, 3 + 4 + 9 + 10, 5 + 6 + 11 + 12});
    require_values(x.sum({-1, 0}, true), {1, 3, 1}, {18, 26, 34});
    require_values(mean(x, {1, 2}), {2}, {3.5, 9.5});
    require_values(sum(x, std::vector<int64_t>{}), {}, {78});
    // var over dims 1 and 2 of the first slab: values 1..6, mean 3.5, sum of squares 17.5.
    require_values(var(x, {1, 2}), {2}, {17.5 / 5, 17.5 / 5});
    require_values(var(x, {1, 2}, false, true), {2, 1, 1}, {17.5 / 6, 17.5 / 6});
    require_values(amax(x, {0, 1}), {2}, {11, 12});
    require_values(amin(x, 2, true), {2, 3, 1}, {1, 3, 5, 7, 9, 11});
    require_values(amax(x), {}, {12});
    require_values(sum(i64s({1, 2, 3, 4}, {2, 2}), {0, 1}), {}, {10});
    CHECK(std::isnan(amax(f64s({1, NAN, 3}, {3})).item()));

    for (const std::vector<int64_t>& dims : {std::vector<int64_t>{0, 2}, {1, 2}, {-1, 0, 1}}) {
        INFO("dims " << dims.size());
        check_grad([dims](const Xs& a) { return sum(a[0], dims); }, {randn64({2, 3, 4}, 1)});
        check_grad([dims](const Xs& a) { return mean(a[0], dims, true); }, {randn64({2, 3, 4}, 2)});
        check_grad([dims](const Xs& a) { return var(a[0], dims); }, {randn64({2, 3, 4}, 3)});
        check_grad([dims](const Xs& a) { return amax(a[0], dims); }, {randn64({2, 3, 4}, 4)});
        check_grad([dims](const Xs& a) { return amin(a[0], dims, true); }, {randn64({2, 3, 4}, 5)});
    }
    // Ties split the gradient evenly, as torch.amax.
    Tensor t = f64s({2, 5, 5, 1}, {4});
    t.requires_grad_();
    amax(t).backward();
    require_values(t.grad(), {4}, {0, 0.5, 0.5, 0});

    REQUIRE_THROWS_WITH(sum(x, {0, 0}), Contains("sum: dim 0 appears more than once in the dims (0, 0)"));
    REQUIRE_THROWS_WITH(sum(x, {0, -3}), Contains("sum: dim 0 appears more than once in the dims (0, -3)"));
    REQUIRE_THROWS_WITH(mean(x, {1, 3}), Contains("mean: dim 3 is out of range for a tensor with 3 dims"));
    REQUIRE_THROWS_WITH(mean(i64s({1, 2}, {2}), {0, -1}), Contains("mean: the mean of i64 values"));
    REQUIRE_THROWS_WITH(mean(Tensor::zeros({2, 0, 3}), {1, 2}), Contains("mean: mean over dims (1, 2) of shape (2, 0, 3)"));
    REQUIRE_THROWS_WITH(amax(Tensor::zeros({2, 0})), Contains("amax: dims () of shape (2, 0) hold no elements"));
}

TEST_CASE("matmul takes 1-d operands as PyTorch does", "[ops][tensor_api]") {
    const Tensor v = f64s({1, 2, 3}, {3});
    const Tensor m = f64s({1, 0, 0, 1, 1, 1}, {3, 2});
    require_values(matmul(v, v), {}, {14});
    require_values(matmul(v, m), {2}, {4, 5});
    require_values(matmul(transpose(m, 0, 1), v), {2}, {1 + 3, 2 + 3});
    require_values(matmul(v, Tensor::ones({2, 3, 2}, Dtype::f64)), {2, 2}, {6, 6, 6, 6});
    check_grad([](const Xs& a) { return matmul(a[0], a[1]); }, {randn64({4}, 1), randn64({4}, 2)});
    check_grad([](const Xs& a) { return matmul(a[0], a[1]); }, {randn64({4}, 3), randn64({2, 4, 3}, 4)});
    check_grad([](const Xs& a) { return matmul(a[0], a[1]); }, {randn64({2, 3, 4}, 5), randn64({4}, 6)});
    REQUIRE_THROWS_WITH(matmul(v, f64s({1, 2}, {2})), Contains("matmul: inner dimensions differ: (3,) @ (2,) (3 against 2)"));
}

TEST_CASE("cross_entropy and nll_loss on (N, C, d1, ...) scores", "[ops][tensor_api]") {
    const Tensor x = randn64({2, 3, 4}, 11);
    const Tensor t = i64s({0, 1, 2, 1, 2, 2, 0, 1}, {2, 4});
    // The same loss as the (N * d1, C) rows taken by hand.
    const Tensor rows = reshape(permute(x, {0, 2, 1}), {8, 3});
    const Tensor flat = reshape(t, {8});
    CHECK(cross_entropy(x, t).item() == Approx(cross_entropy(rows, flat).item()).epsilon(1e-14));
    CHECK(nll_loss(log_softmax(x, 1), t).item() == Approx(cross_entropy(rows, flat).item()).epsilon(1e-12));
    check_grad([t](const Xs& a) { return cross_entropy(a[0], t); }, {x});
    check_grad([t](const Xs& a) { return cross_entropy(a[0], t, 2, 0.1); }, {x});
    check_grad([t](const Xs& a) { return nll_loss(a[0], t); }, {x});
    check_grad([](const Xs& a) { return cross_entropy(a[0], i64s({1, 0, 2, 2, 1, 0, 0, 2}, {2, 2, 2})); },
               {randn64({2, 3, 2, 2}, 12)});
    REQUIRE_THROWS_WITH(nll_loss(x, i64s({0, 1}, {2})),
                        Contains("nll_loss: targets (2,) do not match log_probs (2, 3, 4) (for (N, C, d1, ...) scores "
                                 "the targets are (N, d1, ...): expected (2, 4))"));
}

TEST_CASE("gelu none is the exact erf form; square, rsqrt", "[ops][tensor_api]") {
    const Tensor x = f64s({-1.5, 0, 0.5, 2}, {4});
    std::vector<double> exact;
    for (double v : {-1.5, 0.0, 0.5, 2.0}) exact.push_back(0.5 * v * (1 + std::erf(v / std::sqrt(2.0))));
    require_values(gelu(x, "none"), {4}, exact, 1e-15);
    require_values(gelu(x, "tanh"), {4}, gelu(x).to_vector<double>(), 0);
    CHECK(std::abs(gelu(x, "none").to_vector<double>()[0] - gelu(x).to_vector<double>()[0]) > 1e-5);
    require_values(square(x), {4}, {2.25, 0, 0.25, 4});
    require_values(rsqrt(f64s({4, 0.25}, {2})), {2}, {0.5, 2});
    check_grad([](const Xs& a) { return gelu(a[0], "none"); }, {randn64({3, 5}, 1)});
    check_grad([](const Xs& a) { return square(a[0]); }, {randn64({3, 5}, 2)});
    check_grad([](const Xs& a) { return rsqrt(a[0]); }, {add(abs(randn64({3, 5}, 3)), 0.5)});
    REQUIRE_THROWS_WITH(gelu(x, "erf"), Contains("gelu: approximate must be \"none\" (exact) or \"tanh\", got \"erf\""));
    REQUIRE_THROWS_WITH(nn::GELU("exact"), Contains("GELU: approximate must be"));
    nn::GELU exact_layer("none");
    require_values(exact_layer(x), {4}, exact, 1e-15);
    CHECK(exact_layer.extra_repr() == "approximate='none'");
}

TEST_CASE("norm: p = 1, 2, 3 and infinity over dims", "[ops][tensor_api]") {
    const Tensor x = f64s({3, -4, 0, 1, 2, -2}, {2, 3});
    require_values(norm(x), {}, {std::sqrt(34.0)});
    require_values(norm(x, 2, {1}), {2}, {5, 3});
    require_values(norm(x, 1, {1}, true), {2, 1}, {7, 5});
    const double inf = std::numeric_limits<double>::infinity();
    require_values(x.norm(inf, {0}), {3}, {3, 4, 2});
    require_values(norm(x, 3, {1}), {2}, {std::cbrt(91.0), std::cbrt(17.0)}, 1e-12);
    for (double p : {1.0, 2.0, 3.0, 1.5, inf}) {
        INFO("p " << p);
        check_grad([p](const Xs& a) { return norm(a[0], p, {1}); }, {randn64({3, 4}, 7)});
        check_grad([p](const Xs& a) { return norm(a[0], p, {0, 2}, true); }, {randn64({2, 3, 2}, 8)});
    }
    // A zero norm has a zero gradient (not 0/0).
    Tensor z = Tensor::zeros({3}, Dtype::f64);
    z.requires_grad_();
    norm(z).backward();
    require_values(z.grad(), {3}, {0, 0, 0});
    REQUIRE_THROWS_WITH(norm(x, 0), Contains("norm: p must be positive (1, 2, a larger number, or infinity), got 0"));
    REQUIRE_THROWS_WITH(norm(i64s({1}, {1})), Contains("norm: expected a floating dtype"));
    REQUIRE_THROWS_WITH(norm(x, inf, {2}), Contains("norm: dim 2 is out of range for a tensor with 2 dims"));
    REQUIRE_THROWS_WITH(norm(Tensor(), inf), Contains("norm: input is an undefined tensor"));
}

TEST_CASE("cumsum, repeat, tril and triu", "[ops][tensor_api]") {
    const Tensor x = f64s({1, 2, 3, 4, 5, 6}, {2, 3});
    require_values(cumsum(x, 1), {2, 3}, {1, 3, 6, 4, 9, 15});
    require_values(x.cumsum(0), {2, 3}, {1, 2, 3, 5, 7, 9});
    const Tensor ci = cumsum(i64s({1, 1, 1}, {3}), 0);
    CHECK(ci.dtype() == Dtype::i64);
    CHECK(ci.to_vector<int64_t>() == std::vector<int64_t>{1, 2, 3});
    require_values(repeat(f64s({1, 2}, {2}), {2, 2}), {2, 4}, {1, 2, 1, 2, 1, 2, 1, 2});
    require_values(x.repeat({1, 2}), {2, 6}, {1, 2, 3, 1, 2, 3, 4, 5, 6, 4, 5, 6});
    require_values(repeat(x, {2, 1}), {4, 3}, {1, 2, 3, 4, 5, 6, 1, 2, 3, 4, 5, 6});
    const Tensor sq = f64s({1, 2, 3, 4, 5, 6, 7, 8, 9}, {3, 3});
    require_values(tril(sq), {3, 3}, {1, 0, 0, 4, 5, 0, 7, 8, 9});
    require_values(triu(sq, 1), {3, 3}, {0, 2, 3, 0, 0, 6, 0, 0, 0});
    require_values(tril(x, -1), {2, 3}, {0, 0, 0, 4, 0, 0});
    CHECK(tril(Tensor::ones({2, 2}, Dtype::b8)).to_vector<bool>() == std::vector<bool>{true, false, true, true});
    check_grad([](const Xs& a) { return cumsum(a[0], 1); }, {randn64({2, 4, 3}, 1)});
    check_grad([](const Xs& a) { return cumsum(a[0], -3); }, {randn64({2, 4, 3}, 2)});
    check_grad([](const Xs& a) { return repeat(a[0], {2, 1, 3}); }, {randn64({2, 3}, 3)});
    check_grad([](const Xs& a) { return tril(a[0], 1); }, {randn64({2, 3, 4}, 4)});
    check_grad([](const Xs& a) { return triu(a[0], -1); }, {randn64({3, 4}, 5)});
    REQUIRE_THROWS_WITH(cumsum(Tensor::ones({2}, Dtype::b8), 0), Contains("cumsum: expected f32, f64 or i64, got b8"));
    REQUIRE_THROWS_WITH(repeat(x, {2}), Contains("repeat: 1 repeats for a tensor of shape (2, 3) with 2 dims"));
    REQUIRE_THROWS_WITH(repeat(x, {1, -1}), Contains("repeat: repeats must not be negative, got -1 at dim 1"));
    REQUIRE_THROWS_WITH(triu(f64s({1, 2}, {2})), Contains("triu: expected a matrix or a batch of them (at least 2 dims), got shape (2,)"));
}

TEST_CASE("argsort, sort and topk: stable, NaN largest, values differentiable", "[ops][tensor_api]") {
    const Tensor x = f64s({3, 1, 2, 1, NAN, 0}, {2, 3});
    CHECK(argsort(x).to_vector<int64_t>() == std::vector<int64_t>{1, 2, 0, 2, 0, 1});
    CHECK(argsort(x, -1, true).to_vector<int64_t>() == std::vector<int64_t>{0, 2, 1, 1, 0, 2});
    CHECK(argsort(x, 0).to_vector<int64_t>() == std::vector<int64_t>{1, 0, 1, 0, 1, 0});
    CHECK(argsort(i64s({2, 2, 1}, {3})).to_vector<int64_t>() == std::vector<int64_t>{2, 0, 1});  // stable
    const auto [v, i] = topk(f64s({5, 9, 1, 9, 3}, {5}), 3);
    require_values(v, {3}, {9, 9, 5});
    CHECK(i.to_vector<int64_t>() == std::vector<int64_t>{1, 3, 0});
    const auto low = f64s({5, 9, 1, 9, 3}, {5}).topk(2, -1, false);
    require_values(low.values, {2}, {1, 3});
    const auto s = sort(f64s({2, -1, 0.5}, {3}), 0, true);
    require_values(s.values, {3}, {2, 0.5, -1});
    check_grad([](const Xs& a) { return topk(a[0], 2, 1).values; }, {randn64({3, 5}, 1)});
    check_grad([](const Xs& a) { return sort(a[0], 0).values; }, {randn64({4, 3}, 2)});
    REQUIRE_THROWS_WITH(topk(x, 4), Contains("topk: k 4 is out of range for dim 1 of size 3 in shape (2, 3) (0 to 3)"));
    REQUIRE_THROWS_WITH(argsort(Tensor::scalar(1.0)), Contains("argsort: cannot sort a 0-d tensor"));
    REQUIRE_THROWS_WITH(sort(Tensor::ones({2}, Dtype::b8)), Contains("sort: expected f32, f64 or i64, got b8"));
}

TEST_CASE("one_hot, the *_like constructors, randint from the global seed, item() as double", "[ops][tensor_api]") {
    const Tensor oh = one_hot(i64s({2, 0, 1}, {3}));
    CHECK(oh.dtype() == Dtype::i64);
    CHECK(oh.shape() == Shape{3, 3});
    CHECK(oh.to_vector<int64_t>() == std::vector<int64_t>{0, 0, 1, 1, 0, 0, 0, 1, 0});
    CHECK(one_hot(i64s({1, 0}, {2, 1}), 4).shape() == Shape{2, 1, 4});
    REQUIRE_THROWS_WITH(one_hot(i64s({3}, {1}), 3), Contains("one_hot: label 3 is out of range for 3 classes (labels are 0 to 2)"));
    REQUIRE_THROWS_WITH(one_hot(i64s({-1}, {1})), Contains("one_hot: label -1 at position 0 is negative"));
    REQUIRE_THROWS_WITH(one_hot(Tensor::zeros({2})), Contains("one_hot: labels must be i64 class indices, got f32"));

    Tensor x = Tensor::randn({2, 3}, Dtype::f64, 1);
    x.requires_grad_();
    for (const Tensor& t : {zeros_like(x), ones_like(x), full_like(x, 7.0), empty_like(x), rand_like(x), randn_like(x)}) {
        CHECK(t.shape() == x.shape());
        CHECK(t.dtype() == Dtype::f64);
        CHECK_FALSE(t.requires_grad());
    }
    require_values(full_like(x, 7.0, Dtype::f32), {2, 3}, {7, 7, 7, 7, 7, 7});
    CHECK(zeros_like(x, Dtype::i64).dtype() == Dtype::i64);
    const std::vector<double> r = rand_like(x).to_vector<double>();
    for (double u : r) CHECK((u >= 0 && u < 1));
    REQUIRE_THROWS_WITH(zeros_like(Tensor()), Contains("zeros_like: the tensor given is undefined"));

    manual_seed(42);
    const Tensor a = randint(0, 10, {50});
    manual_seed(42);
    const Tensor b = Tensor::randint(0, 10, {50});
    CHECK(a.to_vector<int64_t>() == b.to_vector<int64_t>());
    for (int64_t k : a.to_vector<int64_t>()) CHECK((k >= 0 && k < 10));
    CHECK(randint(0, 10, {50}).to_vector<int64_t>() != a.to_vector<int64_t>());  // the global stream moves on

    const double d = Tensor::scalar(0.1, Dtype::f64).item();
    CHECK(d == 0.1);
    CHECK(Tensor::scalar(2.5).item() == 2.5);
    REQUIRE_THROWS_WITH(Tensor::zeros({2}).item(), Contains("item: tensor of shape (2,) has 2 elements, item() needs exactly one"));
    REQUIRE_THROWS_WITH(Tensor::zeros({0}).item(), Contains("has 0 elements"));
}
