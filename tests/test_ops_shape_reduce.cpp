// Shape ops for custom models (stack, split, chunk, squeeze, unsqueeze, flatten, expand) and the
// reductions var, min, argmax and logsumexp: values against closed forms, gradients against
// finite differences, f32 against f64, and the errors.
#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "helpers.hpp"
#include "op_inputs.hpp"

using namespace tg;
using namespace tg::test;

namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

// Joins pieces into one flat vector so a gradcheck weighs every element of every piece.
Tensor flat_cat(const std::vector<Tensor>& pieces) {
    std::vector<Tensor> flat;
    for (const Tensor& p : pieces) flat.push_back(flatten(p));
    return cat(flat, 0);
}

std::vector<Shape> shapes_of(const std::vector<Tensor>& pieces) {
    std::vector<Shape> s;
    for (const Tensor& p : pieces) s.push_back(p.shape());
    return s;
}

// fn on x in f32 agrees with fn on x in f64 to f32 precision (same shape, values within 1e-5).
void require_f32_matches_f64(const std::function<Tensor(const Tensor&)>& fn, const Tensor& x64) {
    const Tensor y64 = fn(x64);
    const Tensor y32 = fn(x64.to(Dtype::f32));
    REQUIRE(y32.dtype() == (y64.dtype() == Dtype::i64 ? Dtype::i64 : Dtype::f32));
    require_values(y32.to(Dtype::f64), y64.shape(), y64.to_vector<double>(), 1e-5);
}

}  // namespace

// ---- stack ----

TEST_CASE("stack joins same-shape tensors along a new dim at any position", "[ops][shape]") {
    const Tensor a = iota64({2, 3});
    const Tensor b = add(iota64({2, 3}), 10.0);
    require_values(stack({a, b}, 0), {2, 2, 3}, {0, 1, 2, 3, 4, 5, 10, 11, 12, 13, 14, 15});
    // y[i, j, k] = xs[j][i, k]
    require_values(stack({a, b}, 1), {2, 2, 3}, {0, 1, 2, 10, 11, 12, 3, 4, 5, 13, 14, 15});
    // y[i, k, j] = xs[j][i, k]
    const std::vector<double> last = {0, 10, 1, 11, 2, 12, 3, 13, 4, 14, 5, 15};
    require_values(stack({a, b}, 2), {2, 3, 2}, last);
    require_values(stack({a, b}, -1), {2, 3, 2}, last);
    require_values(stack({a, b}, -3), {2, 2, 3}, {0, 1, 2, 3, 4, 5, 10, 11, 12, 13, 14, 15});

    require_values(stack({a}, 1), {2, 1, 3}, {0, 1, 2, 3, 4, 5});
    require_values(stack({Tensor::scalar(1.0, Dtype::f64), Tensor::scalar(2.0, Dtype::f64),
                          Tensor::scalar(3.0, Dtype::f64)}, 0),
                   {3}, {1, 2, 3});
    REQUIRE(stack({zeros({0, 2}, Dtype::f64), zeros({0, 2}, Dtype::f64)}, 1).shape() == Shape{0, 2, 2});
    // i64 tensors stack too (no gradient involved).
    REQUIRE(stack({i64s({1, 2}, {2}), i64s({3, 4}, {2})}, 1).to_vector<int64_t>() == std::vector<int64_t>{1, 3, 2, 4});
}

TEST_CASE("stack backward matches finite differences along every dim", "[ops][shape]") {
    struct Case {
        Shape shape;
        int n;
    };
    uint64_t seed = 3000;
    for (const Case& c : std::vector<Case>{{{2, 3}, 3}, {{1}, 2}, {{3, 1, 2}, 2}, {{}, 3}, {{5}, 1}}) {
        const int64_t rank = static_cast<int64_t>(c.shape.size());
        for (int64_t dim = -(rank + 1); dim <= rank; ++dim) {
            INFO("stack of " << c.n << " tensors " << shape_str(c.shape) << " along " << dim);
            std::vector<Tensor> xs;
            for (int j = 0; j < c.n; ++j) xs.push_back(randn64(c.shape, seed++));
            check_grad([dim](const Xs& x) { return stack(x, dim); }, xs);
        }
    }
}

TEST_CASE("stack sends each input the slab of the gradient at its position", "[ops][shape]") {
    Tensor a = zeros({2}, Dtype::f64).requires_grad_();
    Tensor b = zeros({2}, Dtype::f64).requires_grad_();
    Tensor y = stack({a, b}, 1);  // (2, 2): y[i, j] = xs[j][i]
    CHECK(y.grad_fn_name() == "stack");
    sum(mul(y, tensor({1.0, 2.0, 3.0, 4.0}, {2, 2}))).backward();
    require_values(a.grad(), {2}, {1, 3});
    require_values(b.grad(), {2}, {2, 4});
}

TEST_CASE("stack rejects an empty list, mismatched shapes or dtypes and a bad dim", "[ops][shape]") {
    const Tensor a = zeros({2, 3}, Dtype::f64);
    REQUIRE_THROWS_AS(stack({}, 0), ValueError);
    REQUIRE_THROWS_WITH(stack({}, 0), Catch::Contains("stack: no tensors given"));
    REQUIRE_THROWS_AS(stack({a, zeros({3, 2}, Dtype::f64)}, 0), ShapeError);
    REQUIRE_THROWS_WITH(stack({a, a, zeros({3, 2}, Dtype::f64)}, 0),
                        Catch::Contains("stack: input 2 is (3, 2), input 0 is (2, 3) (all inputs must have one shape)"));
    REQUIRE_THROWS_WITH(stack({a, zeros({2, 3, 1}, Dtype::f64)}, 0),
                        Catch::Contains("stack: input 1 is (2, 3, 1), input 0 is (2, 3)"));
    REQUIRE_THROWS_AS(stack({a, zeros({2, 3}, Dtype::f32)}, 0), DtypeError);
    REQUIRE_THROWS_WITH(stack({a, zeros({2, 3}, Dtype::f32)}, 0),
                        Catch::Contains("stack: input 1 is f32, input 0 is f64"));
    REQUIRE_THROWS_AS(stack({a, a}, 3), ValueError);
    REQUIRE_THROWS_WITH(stack({a, a}, 3), Catch::Contains("stack: dim 3 is out of range for a tensor with 3 dims"));
    REQUIRE_THROWS_WITH(stack({a, a}, -4), Catch::Contains("stack: dim -4 is out of range"));
    REQUIRE_THROWS_WITH(stack({a, Tensor()}, 0), Catch::Contains("stack: an input is an undefined tensor"));
}

// ---- split and chunk ----

TEST_CASE("split cuts pieces of split_size along dim, the last one smaller", "[ops][shape]") {
    const Tensor x = iota64({5, 2});
    const std::vector<Tensor> p = split(x, 2, 0);
    REQUIRE(p.size() == 3);
    require_values(p[0], {2, 2}, {0, 1, 2, 3});
    require_values(p[1], {2, 2}, {4, 5, 6, 7});
    require_values(p[2], {1, 2}, {8, 9});

    REQUIRE(shapes_of(split(x, 5, 0)) == std::vector<Shape>{{5, 2}});
    REQUIRE(shapes_of(split(x, 7, -2)) == std::vector<Shape>{{5, 2}});
    REQUIRE(shapes_of(split(x, 1, 0)).size() == 5);

    const std::vector<Tensor> cols = split(iota64({2, 3}), 2, -1);
    REQUIRE(cols.size() == 2);
    require_values(cols[0], {2, 2}, {0, 1, 3, 4});
    require_values(cols[1], {2, 1}, {2, 5});

    // An empty dim gives one empty piece, as torch.split.
    REQUIRE(shapes_of(split(zeros({0, 3}, Dtype::f64), 2, 0)) == std::vector<Shape>{{0, 3}});
}

TEST_CASE("chunk makes ceil(size / chunks) pieces, possibly fewer than chunks", "[ops][shape]") {
    const Tensor x = iota64({5});
    REQUIRE(shapes_of(chunk(x, 3, 0)) == std::vector<Shape>{{2}, {2}, {1}});
    REQUIRE(shapes_of(chunk(x, 5, 0)) == std::vector<Shape>{{1}, {1}, {1}, {1}, {1}});
    REQUIRE(shapes_of(chunk(x, 1, -1)) == std::vector<Shape>{{5}});
    REQUIRE(shapes_of(chunk(x, 9, 0)) == std::vector<Shape>{{1}, {1}, {1}, {1}, {1}});
    REQUIRE(shapes_of(chunk(x, std::numeric_limits<int64_t>::max(), 0)).size() == 5);
    // 6 in 4 chunks: ceil(6 / 4) = 2, so only three pieces.
    REQUIRE(shapes_of(chunk(iota64({2, 6}), 4, 1)) == std::vector<Shape>{{2, 2}, {2, 2}, {2, 2}});
    const std::vector<Tensor> p = chunk(iota64({2, 3}), 2, 1);
    require_values(p[0], {2, 2}, {0, 1, 3, 4});
    require_values(p[1], {2, 1}, {2, 5});
    // An empty dim gives chunks empty pieces, as torch.chunk.
    REQUIRE(shapes_of(chunk(zeros({2, 0}, Dtype::f64), 3, 1)) == std::vector<Shape>{{2, 0}, {2, 0}, {2, 0}});
}

TEST_CASE("split and chunk backward match finite differences", "[ops][shape]") {
    struct Case {
        Shape shape;
        int64_t size, dim;
    };
    uint64_t seed = 3100;
    for (const Case& c : std::vector<Case>{{{5, 2}, 2, 0}, {{2, 7}, 3, -1}, {{3, 4, 2}, 4, 1}, {{1}, 1, 0}, {{3}, 5, 0}}) {
        INFO("split and chunk by " << c.size << " along " << c.dim << " of " << shape_str(c.shape));
        check_grad([c](const Xs& x) { return flat_cat(split(x[0], c.size, c.dim)); }, {randn64(c.shape, seed++)});
        check_grad([c](const Xs& x) { return flat_cat(chunk(x[0], c.size, c.dim)); }, {randn64(c.shape, seed++)});
    }
}

TEST_CASE("split and chunk give the gradient only to the elements of the pieces used", "[ops][shape]") {
    Tensor x = zeros({5}, Dtype::f64).requires_grad_();
    const std::vector<Tensor> p = split(x, 2, 0);
    CHECK(p[1].grad_fn_name() == "split");
    sum(mul(p[1], 3.0)).backward();
    require_values(x.grad(), {5}, {0, 0, 3, 3, 0});

    Tensor y = zeros({2, 3}, Dtype::f64).requires_grad_();
    const std::vector<Tensor> q = chunk(y, 2, 1);
    CHECK(q[0].grad_fn_name() == "chunk");
    (sum(mul(q[1], 2.0)) + sum(q[0])).backward();
    require_values(y.grad(), {2, 3}, {1, 1, 2, 1, 1, 2});
}

TEST_CASE("split and chunk reject a size below 1 and a bad dim, naming themselves", "[ops][shape]") {
    const Tensor x = zeros({4, 2}, Dtype::f64);
    REQUIRE_THROWS_AS(split(x, 0, 0), ValueError);
    REQUIRE_THROWS_WITH(split(x, 0, 0), Catch::Contains("split: split_size must be at least 1, got 0"));
    REQUIRE_THROWS_WITH(split(x, 2, 2), Catch::Contains("split: dim 2 is out of range for a tensor with 2 dims"));
    REQUIRE_THROWS_WITH(split(Tensor::scalar(1.0, Dtype::f64), 1, 0),
                        Catch::Contains("split: dim 0 is out of range for a tensor with 0 dims"));
    REQUIRE_THROWS_AS(chunk(x, -1, 0), ValueError);
    REQUIRE_THROWS_WITH(chunk(x, -1, 0), Catch::Contains("chunk: chunks must be at least 1, got -1"));
    REQUIRE_THROWS_WITH(chunk(x, 2, -3), Catch::Contains("chunk: dim -3 is out of range for a tensor with 2 dims"));
    REQUIRE_THROWS_WITH(chunk(Tensor(), 2, 0), Catch::Contains("chunk: input is an undefined tensor"));
}

// ---- squeeze, unsqueeze, flatten ----

TEST_CASE("squeeze removes a size-1 dim and keeps any other shape, sharing storage", "[ops][shape]") {
    const Tensor x = iota64({2, 1, 3});
    const Tensor y = squeeze(x, 1);
    require_values(y, {2, 3}, {0, 1, 2, 3, 4, 5});
    CHECK(y.raw_data() == x.raw_data());
    REQUIRE(squeeze(x, -2).shape() == Shape{2, 3});
    REQUIRE(squeeze(x, 0).shape() == Shape{2, 1, 3});  // size 2: unchanged, as torch
    REQUIRE(squeeze(x, -1).shape() == Shape{2, 1, 3});
    REQUIRE(squeeze(iota64({1}), 0).shape() == Shape{});
    REQUIRE(squeeze(zeros({0, 1}, Dtype::f64), 1).shape() == Shape{0});
    require_values(squeeze(Tensor::scalar(7.0, Dtype::f64), 0), {}, {7});
    require_values(squeeze(Tensor::scalar(7.0, Dtype::f64), -1), {}, {7});
}

TEST_CASE("unsqueeze inserts a size-1 dim anywhere in [-(rank+1), rank], sharing storage", "[ops][shape]") {
    const Tensor x = iota64({2, 3});
    REQUIRE(unsqueeze(x, 0).shape() == Shape{1, 2, 3});
    REQUIRE(unsqueeze(x, 1).shape() == Shape{2, 1, 3});
    REQUIRE(unsqueeze(x, 2).shape() == Shape{2, 3, 1});
    REQUIRE(unsqueeze(x, -1).shape() == Shape{2, 3, 1});
    REQUIRE(unsqueeze(x, -3).shape() == Shape{1, 2, 3});
    require_values(unsqueeze(x, 1), {2, 1, 3}, {0, 1, 2, 3, 4, 5});
    CHECK(unsqueeze(x, 1).raw_data() == x.raw_data());
    require_values(unsqueeze(Tensor::scalar(4.0, Dtype::f64), 0), {1}, {4});
    REQUIRE(unsqueeze(Tensor::scalar(4.0, Dtype::f64), -1).shape() == Shape{1});
}

TEST_CASE("flatten merges dims start_dim..end_dim into one", "[ops][shape]") {
    const Tensor x = iota64({2, 3, 4});
    std::vector<double> all(24);
    for (int i = 0; i < 24; ++i) all[i] = i;
    require_values(flatten(x), {24}, all);
    require_values(flatten(x, 1), {2, 12}, all);
    require_values(flatten(x, 0, 1), {6, 4}, all);
    require_values(flatten(x, -2, -1), {2, 12}, all);
    require_values(flatten(x, 1, 1), {2, 3, 4}, all);
    REQUIRE(flatten(zeros({2, 0, 3}, Dtype::f64), 1).shape() == Shape{2, 0});
    CHECK(flatten(x).raw_data() == x.raw_data());
    // A 0-d tensor becomes (1,), as torch.flatten.
    require_values(flatten(Tensor::scalar(3.0, Dtype::f64)), {1}, {3});
    require_values(flatten(Tensor::scalar(3.0, Dtype::f64), -1, 0), {1}, {3});
}

TEST_CASE("squeeze, unsqueeze and flatten backward match finite differences", "[ops][shape]") {
    uint64_t seed = 3200;
    // Multiplying by a second input keeps a gradient that lands in the wrong order visible.
    auto check_view = [&seed](const Shape& s, const std::function<Tensor(const Tensor&)>& f) {
        check_grad([f](const Xs& x) { return mul(f(x[0]), f(x[1])); }, {randn64(s, seed), randn64(s, seed + 1)});
        seed += 2;
    };
    for (const Shape& s : std::vector<Shape>{{2, 1, 3}, {1}, {3, 1}, {1, 1}}) {
        const int64_t rank = static_cast<int64_t>(s.size());
        for (int64_t d = -rank; d < rank; ++d) {
            INFO("squeeze " << d << " of " << shape_str(s));
            check_view(s, [d](const Tensor& t) { return squeeze(t, d); });
        }
    }
    for (const Shape& s : std::vector<Shape>{{2, 3}, {}, {1}, {3, 1, 2}}) {
        const int64_t rank = static_cast<int64_t>(s.size());
        for (int64_t d = -(rank + 1); d <= rank; ++d) {
            INFO("unsqueeze " << d << " of " << shape_str(s));
            check_view(s, [d](const Tensor& t) { return unsqueeze(t, d); });
        }
    }
    struct Flat {
        Shape shape;
        int64_t start, end;
    };
    for (const Flat& f : std::vector<Flat>{{{2, 3, 4}, 0, -1}, {{2, 3, 4}, 1, 2}, {{2, 3, 4}, -3, -2}, {{}, 0, -1},
                                           {{1, 5}, 0, 0}, {{3, 1, 2, 1}, 1, 3}}) {
        INFO("flatten " << f.start << ".." << f.end << " of " << shape_str(f.shape));
        check_view(f.shape, [f](const Tensor& t) { return flatten(t, f.start, f.end); });
    }
}

TEST_CASE("squeeze, unsqueeze and flatten name themselves in errors and on the tape", "[ops][shape]") {
    const Tensor x = zeros({2, 1}, Dtype::f64);
    REQUIRE_THROWS_AS(squeeze(x, 2), ValueError);
    REQUIRE_THROWS_WITH(squeeze(x, 2), Catch::Contains("squeeze: dim 2 is out of range for a tensor with 2 dims"));
    REQUIRE_THROWS_WITH(squeeze(Tensor::scalar(1.0, Dtype::f64), 1),
                        Catch::Contains("squeeze: dim 1 is out of range for a 0-d tensor (0 or -1 expected)"));
    REQUIRE_THROWS_WITH(squeeze(Tensor(), 0), Catch::Contains("squeeze: input is an undefined tensor"));
    REQUIRE_THROWS_AS(unsqueeze(x, 3), ValueError);
    REQUIRE_THROWS_WITH(unsqueeze(x, 3), Catch::Contains("unsqueeze: dim 3 is out of range for a tensor with 3 dims"));
    REQUIRE_THROWS_WITH(unsqueeze(x, -4), Catch::Contains("unsqueeze: dim -4 is out of range"));
    REQUIRE_THROWS_AS(flatten(x, 1, 0), ValueError);
    REQUIRE_THROWS_WITH(flatten(x, 1, 0), Catch::Contains("flatten: start_dim 1 comes after end_dim 0 for shape (2, 1)"));
    REQUIRE_THROWS_WITH(flatten(x, 0, 2), Catch::Contains("flatten: dim 2 is out of range for a tensor with 2 dims"));
    REQUIRE_THROWS_WITH(flatten(Tensor::scalar(1.0, Dtype::f64), 0, 1),
                        Catch::Contains("flatten: dim 1 is out of range for a 0-d tensor"));

    Tensor w = zeros({2, 1}, Dtype::f64).requires_grad_();
    CHECK(squeeze(w, 1).grad_fn_name() == "squeeze");
    CHECK(unsqueeze(w, 0).grad_fn_name() == "unsqueeze");
    CHECK(flatten(w).grad_fn_name() == "flatten");
    CHECK(reshape(w, {2}).grad_fn_name() == "reshape");
}

// ---- expand ----

TEST_CASE("expand repeats size-1 dims and adds leading dims", "[ops][shape]") {
    const Tensor col = tensor({1.0, 2.0, 3.0}, {3, 1});
    require_values(expand(col, {3, 2}), {3, 2}, {1, 1, 2, 2, 3, 3});
    require_values(expand(col, {-1, 2}), {3, 2}, {1, 1, 2, 2, 3, 3});
    require_values(expand(col, {2, 3, 2}), {2, 3, 2}, {1, 1, 2, 2, 3, 3, 1, 1, 2, 2, 3, 3});
    require_values(expand(col, {3, 1}), {3, 1}, {1, 2, 3});
    require_values(expand(tensor({1.0, 2.0}, {1, 2}), {3, -1}), {3, 2}, {1, 2, 1, 2, 1, 2});
    require_values(expand(Tensor::scalar(5.0, Dtype::f64), {2, 2}), {2, 2}, {5, 5, 5, 5});
    REQUIRE(expand(col, {0, 3, 0}).shape() == Shape{0, 3, 0});
    REQUIRE(expand(i64s({4}, {1}), {3}).to_vector<int64_t>() == std::vector<int64_t>{4, 4, 4});
}

TEST_CASE("expand backward sums the gradient over the repeated and the new dims", "[ops][shape]") {
    Tensor x = zeros({3, 1}, Dtype::f64).requires_grad_();
    Tensor y = expand(x, {2, 3, 4});
    CHECK(y.grad_fn_name() == "expand");
    sum(y).backward();
    require_values(x.grad(), {3, 1}, {8, 8, 8});

    struct Case {
        Shape from, to;
    };
    uint64_t seed = 3300;
    for (const Case& c : std::vector<Case>{{{3, 1}, {3, 4}}, {{1, 3}, {2, 5, 3}}, {{}, {2, 3}}, {{1}, {4}},
                                           {{2, 1, 3}, {-1, 4, -1}}, {{2, 3}, {2, 3}}, {{1, 1}, {3, 1, 2}}}) {
        INFO("expand " << shape_str(c.from) << " to " << shape_str(c.to));
        check_grad([to = c.to](const Xs& x) { return expand(x[0], to); }, {randn64(c.from, seed++)});
    }
}

TEST_CASE("expand rejects growing a dim that is not size 1, too few dims and -1 in a new dim", "[ops][shape]") {
    const Tensor x = zeros({2, 3}, Dtype::f64);
    REQUIRE_THROWS_AS(expand(x, {2, 4}), ShapeError);
    REQUIRE_THROWS_WITH(expand(x, {2, 4}),
                        Catch::Contains("expand: cannot expand (2, 3) to (2, 4): dim 1 has size 3 (only size-1 dims can grow)"));
    REQUIRE_THROWS_WITH(expand(x, {5, 4, 3}), Catch::Contains("expand: cannot expand (2, 3) to (5, 4, 3): dim 1 has size 2"));
    REQUIRE_THROWS_AS(expand(x, {3}), ShapeError);
    REQUIRE_THROWS_WITH(expand(x, {3}), Catch::Contains("expand: target shape (3,) has fewer dims than the input (2, 3)"));
    REQUIRE_THROWS_WITH(expand(x, {-1, 2, 3}),
                        Catch::Contains("expand: size -1 is not allowed for the new leading dim 0 of (-1, 2, 3)"));
    REQUIRE_THROWS_WITH(expand(x, {2, -2}), Catch::Contains("expand: bad size -2 at dim 1 of (2, -2)"));
    REQUIRE_THROWS_WITH(expand(Tensor(), {2}), Catch::Contains("expand: input is an undefined tensor"));
}

TEST_CASE("shape ops give the same values in f32 as in f64", "[ops][shape]") {
    const Tensor x = randn64({2, 1, 3}, 3400);
    require_f32_matches_f64([](const Tensor& t) { return stack({t, mul(t, 2.0)}, 1); }, x);
    require_f32_matches_f64([](const Tensor& t) { return split(t, 2, -1)[1]; }, x);
    require_f32_matches_f64([](const Tensor& t) { return chunk(t, 2, 2)[0]; }, x);
    require_f32_matches_f64([](const Tensor& t) { return squeeze(t, 1); }, x);
    require_f32_matches_f64([](const Tensor& t) { return unsqueeze(t, 0); }, x);
    require_f32_matches_f64([](const Tensor& t) { return flatten(t, 1); }, x);
    require_f32_matches_f64([](const Tensor& t) { return expand(t, {4, 2, 5, 3}); }, x);
}

// ---- var ----

TEST_CASE("var along a dim gives the closed-form unbiased and biased variance", "[ops][reduction]") {
    const Tensor x = tensor({1.0, 2.0, 3.0, 4.0});
    require_values(var(x, 0), {}, {5.0 / 3.0});
    require_values(var(x, 0, false), {}, {1.25});
    require_values(var(x, -1, true, true), {1}, {5.0 / 3.0});

    // iota (2, 3, 4): x[o, d, i] = 12 o + 4 d + i. Along d the values are c + {0, 4, 8}:
    // sum of squared deviations 32; along i they are c + {0, 1, 2, 3}: 5; along o c + {0, 12}: 72.
    const Tensor y = iota64({2, 3, 4});
    require_values(var(y, 1), {2, 4}, std::vector<double>(8, 16.0));
    require_values(var(y, 1, false, true), {2, 1, 4}, std::vector<double>(8, 32.0 / 3.0));
    require_values(var(y, -1), {2, 3}, std::vector<double>(6, 5.0 / 3.0));
    require_values(var(y, 0, true), {3, 4}, std::vector<double>(12, 72.0));
    require_values(var(y, 0, false), {3, 4}, std::vector<double>(12, 36.0));

    // Two passes: no cancellation for values far from zero.
    require_values(var(tensor({1e9 + 1, 1e9 + 2, 1e9 + 3, 1e9 + 4}), 0), {}, {5.0 / 3.0}, 1e-9);
    // One element: the biased variance is 0.
    require_values(var(tensor({3.0, 4.0}, {2, 1}), 1, false), {2}, {0, 0});
}

TEST_CASE("var of one element with Bessel's correction is NaN as in torch, value and gradient", "[ops][reduction]") {
    Tensor x = tensor({3.0, 4.0}, {2, 1}).requires_grad_();
    Tensor v = var(x, 1);
    REQUIRE(v.shape() == Shape{2});
    for (double e : v.to_vector<double>()) CHECK(std::isnan(e));
    sum(v).backward();
    for (double g : x.grad().to_vector<double>()) CHECK(std::isnan(g));
    // An empty dim gives NaN too (torch divides by max(0, D - correction)).
    for (double e : var(zeros({0, 2}, Dtype::f64), 0, false).to_vector<double>()) CHECK(std::isnan(e));
    for (double e : var(zeros({0, 2}, Dtype::f64), 0, true).to_vector<double>()) CHECK(std::isnan(e));
}

TEST_CASE("var backward is 2 (x - mean) / N and matches finite differences", "[ops][reduction]") {
    Tensor x = tensor({1.0, 2.0, 3.0, 4.0}).requires_grad_();
    var(x, 0).backward();  // 2 (x - 2.5) / 3
    require_values(x.grad(), {4}, {-1.0, -1.0 / 3.0, 1.0 / 3.0, 1.0});
    Tensor z = tensor({1.0, 2.0, 3.0, 4.0}).requires_grad_();
    var(z, 0, false).backward();  // 2 (x - 2.5) / 4
    require_values(z.grad(), {4}, {-0.75, -0.25, 0.25, 0.75});

    uint64_t seed = 3500;
    for (const Shape& s : std::vector<Shape>{{2, 3, 4}, {1, 5}, {5, 2}, {3}})
        for (int64_t dim = -static_cast<int64_t>(s.size()); dim < static_cast<int64_t>(s.size()); ++dim)
            for (bool unbiased : {true, false})
                for (bool keepdim : {false, true}) {
                    if (s[dim < 0 ? dim + s.size() : dim] == 1 && unbiased) continue;  // NaN, tested above
                    INFO("var over dim " << dim << " unbiased " << unbiased << " keepdim " << keepdim << " on "
                                         << shape_str(s));
                    check_grad([=](const Xs& t) { return var(t[0], dim, unbiased, keepdim); },
                               {randn64(s, seed++)});
                }
    // A single element, biased: the gradient is 0.
    check_grad([](const Xs& t) { return add(var(t[0], 1, false), t[0]); }, {randn64({3, 1}, seed++)});
}

// ---- min ----

TEST_CASE("min over everything and over one dim picks the smallest values", "[ops][reduction]") {
    const Tensor x = tensor({4.0, 1.0, 3.0, 2.0, 5.0, 0.0}, {2, 3});
    require_values(min(x), {}, {0});
    require_values(min(x, 0), {3}, {2, 1, 0});
    require_values(min(x, 1), {2}, {1, 0});
    require_values(min(x, -1, true), {2, 1}, {1, 0});
    const Tensor y = iota64({2, 3, 4});
    require_values(min(y), {}, {0});
    require_values(min(y, 1), {2, 4}, {0, 1, 2, 3, 12, 13, 14, 15});
    require_values(min(y, -1, true), {2, 3, 1}, {0, 4, 8, 12, 16, 20});
    require_values(min(Tensor::scalar(-2.0, Dtype::f64)), {}, {-2});
    CHECK(std::isnan(min(tensor({1.0, std::nan(""), -3.0})).item<double>()));
    const std::vector<double> m = min(tensor({1.0, std::nan(""), -3.0, 2.0}, {2, 2}), 1).to_vector<double>();
    CHECK(std::isnan(m[0]));
    CHECK(m[1] == -3.0);
}

TEST_CASE("min sends the gradient to the first position holding the smallest value", "[ops][reduction]") {
    Tensor x = tensor({2.0, -1.0, -1.0, 4.0}).requires_grad_();
    CHECK(min(x).grad_fn_name() == "min");
    min(x).backward();
    require_values(x.grad(), {4}, {0, 1, 0, 0});

    Tensor y = tensor({1.0, 1.0, 3.0, 7.0, 2.0, 2.0}, {2, 3}).requires_grad_();
    sum(mul(min(y, 1), tensor({10.0, 20.0}))).backward();
    require_values(y.grad(), {2, 3}, {10, 0, 0, 0, 20, 0});
}

TEST_CASE("min backward matches finite differences away from ties", "[ops][reduction]") {
    uint64_t seed = 3600;
    for (const Shape& s : std::vector<Shape>{{2, 3, 4}, {}, {1}, {1, 5}}) {
        INFO("min of everything on " << shape_str(s));
        check_grad([](const Xs& x) { return min(x[0]); }, {distinct64(s, seed++)});
    }
    for (const Shape& s : std::vector<Shape>{{2, 3, 4}, {1, 5}, {5, 1}, {3}})
        for (int64_t dim = -static_cast<int64_t>(s.size()); dim < static_cast<int64_t>(s.size()); ++dim)
            for (bool keepdim : {false, true}) {
                INFO("min over dim " << dim << " keepdim " << keepdim << " on " << shape_str(s));
                check_grad([dim, keepdim](const Xs& x) { return min(x[0], dim, keepdim); }, {distinct64(s, seed++)});
            }
}

// ---- argmax ----

TEST_CASE("argmax gives the first position of the largest value as i64, never requiring grad", "[ops][reduction]") {
    const Tensor x = tensor({1.0, 5.0, 5.0, 7.0, 2.0, 7.0}, {2, 3});
    Tensor a = argmax(x, 1);
    REQUIRE(a.dtype() == Dtype::i64);
    REQUIRE(a.shape() == Shape{2});
    CHECK(a.to_vector<int64_t>() == std::vector<int64_t>{1, 0});
    CHECK(argmax(x, 0).to_vector<int64_t>() == std::vector<int64_t>{1, 0, 1});
    CHECK(argmax(x, -1, true).shape() == Shape{2, 1});
    CHECK(argmax(iota64({2, 3, 4}), 1).to_vector<int64_t>() == std::vector<int64_t>(8, 2));
    CHECK(argmax(iota64({2, 3, 4}), 0, true).shape() == Shape{1, 3, 4});
    CHECK(argmax(tensor({4.0, std::nan(""), 9.0, std::nan("")}), 0).item<int64_t>() == 1);  // NaN is largest
    CHECK(argmax(x.to(Dtype::f32), 1).to_vector<int64_t>() == std::vector<int64_t>{1, 0});
    CHECK(argmax(i64s({3, -1, 8, 8}, {4}), 0).item<int64_t>() == 2);

    Tensor w = x.clone().requires_grad_();
    const int64_t before = tape_size();
    Tensor aw = argmax(w, 1);
    CHECK_FALSE(aw.requires_grad());
    CHECK(aw.grad_fn_name().empty());
    CHECK(tape_size() == before);
}

// ---- logsumexp ----

TEST_CASE("logsumexp is log of the sum of exps and stays finite for large inputs", "[ops][reduction]") {
    const double l2 = std::log(2.0), l5 = std::log(5.0);
    require_values(logsumexp(tensor({0.0, l2, l5}), 0), {}, {std::log(8.0)});
    require_values(logsumexp(tensor({0.0, l2, l5, 0.0, 0.0, 0.0}, {2, 3}), 1), {2}, {std::log(8.0), std::log(3.0)});
    require_values(logsumexp(tensor({0.0, l2, l5, 0.0}, {2, 2}), 0, true), {1, 2}, {std::log(6.0), std::log(3.0)});
    require_values(logsumexp(tensor({1000.0, 1000.0}), 0), {}, {1000 + l2});
    require_values(logsumexp(tensor({-1000.0, -1000.0}), 0), {}, {-1000 + l2});
    require_values(logsumexp(tensor({-kInf, std::log(3.0)}), 0), {}, {std::log(3.0)});
    CHECK(logsumexp(tensor({-kInf, -kInf}), 0).item<double>() == -kInf);
    CHECK(logsumexp(tensor({1.0, kInf}), 0).item<double>() == kInf);
    CHECK(std::isnan(logsumexp(tensor({1.0, std::nan("")}), 0).item<double>()));
    // An empty dim is log(0) = -inf, as torch.
    CHECK(logsumexp(zeros({2, 0}, Dtype::f64), 1).to_vector<double>() == std::vector<double>{-kInf, -kInf});
    // f32 without overflow: exp(100) alone would overflow float's range.
    CHECK(logsumexp(tensor({100.f, 100.f}), 0).item<float>() == Approx(100 + l2).epsilon(1e-6));
}

TEST_CASE("logsumexp backward is dy times softmax and matches finite differences", "[ops][reduction]") {
    Tensor x = tensor({0.0, std::log(2.0), std::log(5.0)}).requires_grad_();
    logsumexp(x, 0).backward();
    require_values(x.grad(), {3}, {1.0 / 8, 2.0 / 8, 5.0 / 8});

    // A -inf element gets gradient 0; an all -inf row gets NaN (-inf - -inf), as torch.
    Tensor y = tensor({-kInf, 0.0, -kInf, -kInf}, {2, 2}).requires_grad_();
    sum(logsumexp(y, 1)).backward();
    const std::vector<double> g = y.grad().to_vector<double>();
    CHECK(g[0] == 0.0);
    CHECK(g[1] == 1.0);
    CHECK(std::isnan(g[2]));
    CHECK(std::isnan(g[3]));

    uint64_t seed = 3700;
    for (const Shape& s : std::vector<Shape>{{2, 3, 4}, {1, 5}, {5, 1}, {3}})
        for (int64_t dim = -static_cast<int64_t>(s.size()); dim < static_cast<int64_t>(s.size()); ++dim)
            for (bool keepdim : {false, true}) {
                INFO("logsumexp over dim " << dim << " keepdim " << keepdim << " on " << shape_str(s));
                check_grad([dim, keepdim](const Xs& t) { return logsumexp(t[0], dim, keepdim); },
                           {randn64(s, seed++)});
            }
    // Large magnitudes: the shift keeps the gradient finite.
    check_grad([](const Xs& t) { return logsumexp(add(t[0], 500.0), 1); }, {randn64({2, 3}, seed++)});
}

// ---- shared ----

TEST_CASE("var, min, argmax and logsumexp reject bad dims, empty dims and wrong dtypes", "[ops][reduction]") {
    const Tensor x = zeros({2, 3}, Dtype::f64);
    REQUIRE_THROWS_AS(var(x, 2), ValueError);
    REQUIRE_THROWS_WITH(var(x, 2), Catch::Contains("var: dim 2 is out of range for a tensor with 2 dims"));
    REQUIRE_THROWS_WITH(min(x, -3), Catch::Contains("min: dim -3 is out of range for a tensor with 2 dims"));
    REQUIRE_THROWS_WITH(argmax(x, 2, true), Catch::Contains("argmax: dim 2 is out of range for a tensor with 2 dims"));
    REQUIRE_THROWS_WITH(logsumexp(x, 5), Catch::Contains("logsumexp: dim 5 is out of range for a tensor with 2 dims"));

    REQUIRE_THROWS_AS(min(zeros({0, 2}, Dtype::f64)), ValueError);
    REQUIRE_THROWS_WITH(min(zeros({0, 2}, Dtype::f64)), Catch::Contains("min: the tensor is empty, shape (0, 2)"));
    REQUIRE_THROWS_WITH(min(zeros({3, 0}, Dtype::f64), 1), Catch::Contains("min: dim 1 of shape (3, 0) is empty"));
    REQUIRE_THROWS_AS(argmax(zeros({3, 0}, Dtype::f64), -1), ValueError);
    REQUIRE_THROWS_WITH(argmax(zeros({3, 0}, Dtype::f64), -1), Catch::Contains("argmax: dim 1 of shape (3, 0) is empty"));

    const Tensor i = i64s({1, 2}, {2});
    REQUIRE_THROWS_AS(var(i, 0), DtypeError);
    REQUIRE_THROWS_WITH(var(i, 0), Catch::Contains("var: expected a floating dtype (f32 or f64), got i64"));
    REQUIRE_THROWS_WITH(min(i), Catch::Contains("min: expected a floating dtype (f32 or f64), got i64"));
    REQUIRE_THROWS_WITH(logsumexp(i, 0), Catch::Contains("logsumexp: expected a floating dtype (f32 or f64), got i64"));
    REQUIRE_THROWS_WITH(argmax(Tensor(), 0), Catch::Contains("argmax: input is an undefined tensor"));
    REQUIRE_THROWS_WITH(var(Tensor(), 0), Catch::Contains("var: input is an undefined tensor"));
}

TEST_CASE("var, min, argmax and logsumexp give the same values in f32 as in f64", "[ops][reduction]") {
    const Tensor x = randn64({3, 4, 5}, 3800);
    require_f32_matches_f64([](const Tensor& t) { return var(t, 1); }, x);
    require_f32_matches_f64([](const Tensor& t) { return var(t, -1, false, true); }, x);
    require_f32_matches_f64([](const Tensor& t) { return min(t); }, x);
    require_f32_matches_f64([](const Tensor& t) { return min(t, 0); }, x);
    require_f32_matches_f64([](const Tensor& t) { return argmax(t, 2); }, x);
    require_f32_matches_f64([](const Tensor& t) { return logsumexp(t, 1, true); }, x);
}
