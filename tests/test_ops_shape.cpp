// Shape ops (reshape and view, transpose, permute, slice, narrow, select and x[i], unbind, cat)
// and the embedding lookup.
#include <string>
#include <vector>

#include "helpers.hpp"
#include "op_inputs.hpp"

using namespace tg;
using namespace tg::test;

TEST_CASE("reshape keeps the row-major order and infers a -1 dim", "[ops]") {
    const Tensor x = iota64({2, 3});
    require_values(reshape(x, {3, 2}), {3, 2}, {0, 1, 2, 3, 4, 5});
    require_values(reshape(x, {-1}), {6}, {0, 1, 2, 3, 4, 5});
    require_values(reshape(x, {1, -1, 2}), {1, 3, 2}, {0, 1, 2, 3, 4, 5});
    REQUIRE(reshape(iota64({2, 3, 4}), {4, -1}).shape() == Shape{4, 6});
    REQUIRE(reshape(Tensor::scalar(2.0, Dtype::f64), {1, 1}).shape() == Shape{1, 1});
    require_values(reshape(tensor({5.0}), {}), {}, {5});
    REQUIRE(reshape(zeros({0, 3}, Dtype::f64), {3, -1, 2}).shape() == Shape{3, 0, 2});
}

TEST_CASE("reshape backward matches finite differences", "[ops]") {
    const std::vector<std::pair<Shape, Shape>> cases = {
        {{2, 3}, {3, 2}}, {{2, 3, 4}, {4, -1}}, {{6}, {1, -1, 1}}, {{}, {1}}, {{1}, {}}, {{1, 5}, {5}},
    };
    uint64_t seed = 700;
    for (const auto& [from, to] : cases) {
        INFO("reshape " << shape_str(from) << " to " << shape_str(to));
        // Multiplying by x keeps a reshape whose gradient lands in the wrong order visible.
        check_grad([to](const Xs& x) { return mul(reshape(x[0], to), reshape(x[1], to)); },
                   {randn64(from, seed), randn64(from, seed + 1)});
        seed += 2;
    }
}

TEST_CASE("reshape rejects shapes with a different element count or two -1 dims", "[ops]") {
    const Tensor x = zeros({2, 3}, Dtype::f64);
    REQUIRE_THROWS_AS(reshape(x, {4}), ShapeError);
    REQUIRE_THROWS_WITH(reshape(x, {4}), Catch::Contains("reshape: cannot view (2, 3) (6 elements) as (4,)"));
    REQUIRE_THROWS_WITH(reshape(x, {4, -1}),
                        Catch::Contains("reshape: cannot view (2, 3) (6 elements) as (4, -1)"));
    REQUIRE_THROWS_WITH(reshape(x, {0, -1}),
                        Catch::Contains("reshape: cannot view (2, 3) (6 elements) as (0, -1)"));
    REQUIRE_THROWS_AS(reshape(x, {-1, -1}), ShapeError);
    REQUIRE_THROWS_WITH(reshape(x, {-1, -1}),
                        Catch::Contains("reshape: only one dim may be -1, got (-1, -1)"));
    REQUIRE_THROWS_WITH(reshape(x, {-2, -3}), Catch::Contains("reshape: bad target shape (-2, -3)"));
}

TEST_CASE("transpose and permute move elements to the permuted positions", "[ops]") {
    const Tensor x = iota64({2, 3});
    require_values(transpose(x, 0, 1), {3, 2}, {0, 3, 1, 4, 2, 5});
    require_values(transpose(x, -1, -2), {3, 2}, {0, 3, 1, 4, 2, 5});
    require_values(transpose(x, 1, 1), {2, 3}, {0, 1, 2, 3, 4, 5});

    // y[i, j, k] = x[j, k, i] = 12 j + 4 k + i
    const Tensor y = permute(iota64({2, 3, 4}), {2, 0, 1});
    std::vector<double> expected;
    for (int i = 0; i < 4; ++i)
        for (int j = 0; j < 2; ++j)
            for (int k = 0; k < 3; ++k) expected.push_back(12 * j + 4 * k + i);
    require_values(y, {4, 2, 3}, expected);
    require_values(permute(iota64({2, 3, 4}), {-1, 0, -2}), {4, 2, 3}, expected);

    // transpose(0, 2) of (2, 3, 4): z[i, d, o] = 12 o + 4 d + i
    expected.clear();
    for (int i = 0; i < 4; ++i)
        for (int d = 0; d < 3; ++d)
            for (int o = 0; o < 2; ++o) expected.push_back(12 * o + 4 * d + i);
    require_values(transpose(iota64({2, 3, 4}), 0, 2), {4, 3, 2}, expected);
    require_values(permute(Tensor::scalar(4.0, Dtype::f64), {}), {}, {4});
}

TEST_CASE("transpose and permute backward match finite differences", "[ops]") {
    struct Case {
        std::string name;
        Shape shape;
        GradcheckFn fn;
    };
    const std::vector<Case> cases = {
        {"transpose(0, 1)", {2, 3}, [](const Xs& x) { return transpose(x[0], 0, 1); }},
        {"transpose(0, 2)", {2, 3, 4}, [](const Xs& x) { return transpose(x[0], 0, 2); }},
        {"transpose(-1, -2)", {2, 3, 4}, [](const Xs& x) { return transpose(x[0], -1, -2); }},
        {"transpose(0, 1) with size-1 dims", {1, 4, 1}, [](const Xs& x) { return transpose(x[0], 0, 1); }},
        {"permute(2, 0, 1)", {2, 3, 4}, [](const Xs& x) { return permute(x[0], {2, 0, 1}); }},
        {"permute(1, -1, 0)", {2, 3, 4}, [](const Xs& x) { return permute(x[0], {1, -1, 0}); }},
        {"permute(3, 1, 0, 2)", {2, 1, 3, 2}, [](const Xs& x) { return permute(x[0], {3, 1, 0, 2}); }},
        {"permute() of a 0-d tensor", {}, [](const Xs& x) { return permute(x[0], {}); }},
    };
    uint64_t seed = 800;
    for (const Case& c : cases) {
        INFO(c.name << " on " << shape_str(c.shape));
        check_grad(c.fn, {randn64(c.shape, seed++)});
    }
}

TEST_CASE("transpose and permute reject bad dims", "[ops]") {
    const Tensor x = zeros({2, 3, 4}, Dtype::f64);
    REQUIRE_THROWS_AS(transpose(x, 0, 3), ValueError);
    REQUIRE_THROWS_WITH(transpose(x, 0, 3),
                        Catch::Contains("transpose: dim 3 is out of range for a tensor with 3 dims"));
    REQUIRE_THROWS_WITH(transpose(x, -4, 0),
                        Catch::Contains("transpose: dim -4 is out of range for a tensor with 3 dims"));
    REQUIRE_THROWS_AS(permute(x, {0, 1}), ShapeError);
    REQUIRE_THROWS_WITH(permute(x, {0, 1}),
                        Catch::Contains("permute: 2 dims given for a tensor of shape (2, 3, 4)"));
    REQUIRE_THROWS_AS(permute(x, {0, -3, 1}), ValueError);
    REQUIRE_THROWS_WITH(permute(x, {0, -3, 1}),
                        Catch::Contains("permute: dim 0 appears twice in (0, -3, 1)"));
    REQUIRE_THROWS_WITH(permute(x, {0, 1, 3}),
                        Catch::Contains("permute: dim 3 is out of range for a tensor with 3 dims"));
}

TEST_CASE("slice picks start, start + step, ... below end with Python's clamping", "[ops]") {
    const Tensor x = arange(10, Dtype::f64);
    require_values(slice(x, 0, 2, 8, 3), {2}, {2, 5});
    require_values(slice(x, 0, 2, 9, 3), {3}, {2, 5, 8});
    require_values(slice(x, 0, -3, 100), {3}, {7, 8, 9});
    require_values(slice(x, 0, -100, 2), {2}, {0, 1});
    require_values(slice(x, 0, 1, -6, 2), {2}, {1, 3});
    require_values(slice(x, 0, 0, 10, 20), {1}, {0});
    REQUIRE(slice(x, 0, 5, 2).shape() == Shape{0});
    REQUIRE(slice(x, 0, 12, 20).shape() == Shape{0});

    // Along the last dim of (3, 5), given as -1: columns 1 and 3.
    const Tensor m = iota64({3, 5});
    require_values(slice(m, -1, 1, 5, 2), {3, 2}, {1, 3, 6, 8, 11, 13});
    require_values(slice(m, 0, 1, 3), {2, 5}, {5, 6, 7, 8, 9, 10, 11, 12, 13, 14});
    require_values(slice(iota64({2, 3, 4}), 1, -1, 3), {2, 1, 4}, {8, 9, 10, 11, 20, 21, 22, 23});
}

TEST_CASE("slice backward matches finite differences and scatters zeros elsewhere", "[ops]") {
    struct Case {
        std::string name;
        Shape shape;
        GradcheckFn fn;
    };
    const std::vector<Case> cases = {
        {"slice(1, -5, 100, 2)", {4, 6}, [](const Xs& x) { return slice(x[0], 1, -5, 100, 2); }},
        {"slice(0, 0, 4, 3)", {4, 6}, [](const Xs& x) { return slice(x[0], 0, 0, 4, 3); }},
        {"slice(-2, 1, 2)", {2, 3, 4}, [](const Xs& x) { return slice(x[0], -2, 1, 2); }},
        {"slice(2, -100, -1)", {2, 3, 4}, [](const Xs& x) { return slice(x[0], 2, -100, -1); }},
        {"slice(0, 0, 1)", {1, 5}, [](const Xs& x) { return slice(x[0], 0, 0, 1); }},
        {"slice(0, 3, 1), empty", {5}, [](const Xs& x) { return slice(x[0], 0, 3, 1); }},
    };
    uint64_t seed = 900;
    for (const Case& c : cases) {
        INFO(c.name << " on " << shape_str(c.shape));
        check_grad(c.fn, {randn64(c.shape, seed++)});
    }

    Tensor x = arange(6, Dtype::f64).requires_grad_();
    sum(mul(slice(x, 0, 1, 6, 2), tensor({10.0, 20.0, 30.0}))).backward();
    require_values(x.grad(), {6}, {0, 10, 0, 20, 0, 30});
}

TEST_CASE("slice rejects a step below 1 and a bad dim", "[ops]") {
    const Tensor x = zeros({4}, Dtype::f64);
    REQUIRE_THROWS_AS(slice(x, 0, 0, 4, 0), ValueError);
    REQUIRE_THROWS_WITH(slice(x, 0, 0, 4, 0), Catch::Contains("slice: step must be at least 1, got 0"));
    REQUIRE_THROWS_WITH(slice(x, 0, 0, 4, -1), Catch::Contains("slice: step must be at least 1, got -1"));
    REQUIRE_THROWS_AS(slice(x, 1, 0, 4), ValueError);
    REQUIRE_THROWS_WITH(slice(x, 1, 0, 4),
                        Catch::Contains("slice: dim 1 is out of range for a tensor with 1 dims"));
}

// ---- select, x[i], narrow, unbind, view -------------------------------------------------

TEST_CASE("select and x[i] take one slab and drop its dim; negative indices count from the end", "[ops][indexing]") {
    const Tensor m = iota64({3, 4});
    require_values(select(m, 0, 1), {4}, {4, 5, 6, 7});
    require_values(select(m, 1, 2), {3}, {2, 6, 10});
    require_values(select(m, -1, -1), {3}, {3, 7, 11});
    require_values(m[2], {4}, {8, 9, 10, 11});
    require_values(m[-3], {4}, {0, 1, 2, 3});
    require_values(m[1][3], {}, {7});
    CHECK(m[1][3].item<double>() == 7.0);
    require_values(m.select(1, 0), {3}, {0, 4, 8});
    const Tensor t = iota64({2, 3, 2});
    require_values(select(t, 1, 1), {2, 2}, {2, 3, 8, 9});
    // Any dtype: labels, masks.
    const Tensor labels = tensor(std::vector<int64_t>{4, 1, 7, 0, 2, 9}, {2, 3});
    CHECK(labels[1].dtype() == Dtype::i64);
    CHECK(labels[1].to_vector<int64_t>() == std::vector<int64_t>{0, 2, 9});
    CHECK(select(tensor({true, false, true, true}, {2, 2}), 1, 1).to_vector<bool>() == std::vector<bool>{false, true});
    CHECK(select(zeros({3, 0}, Dtype::f64), 0, 2).shape() == Shape{0});
}

TEST_CASE("narrow takes length elements from start and refuses a range outside the dim", "[ops][indexing]") {
    const Tensor m = iota64({3, 4});
    require_values(narrow(m, 1, 1, 2), {3, 2}, {1, 2, 5, 6, 9, 10});
    require_values(narrow(m, 0, -2, 2), {2, 4}, {4, 5, 6, 7, 8, 9, 10, 11});
    require_values(m.narrow(-1, 3, 1), {3, 1}, {3, 7, 11});
    CHECK(narrow(m, 1, 4, 0).shape() == Shape{3, 0});
    REQUIRE_THROWS_AS(narrow(m, 1, 2, 3), ValueError);
    REQUIRE_THROWS_WITH(narrow(m, 1, 2, 3), Catch::Contains("narrow: start 2 and length 3 exceed dim 1 of size 4 "
                                                            "in shape (3, 4) (length must be 0 to 2)"));
    REQUIRE_THROWS_WITH(narrow(m, 1, 0, -1), Catch::Contains("narrow: start 0 and length -1 exceed dim 1"));
    REQUIRE_THROWS_WITH(narrow(m, 0, 4, 0), Catch::Contains("narrow: start 4 is out of range for dim 0 of size 3"));
    REQUIRE_THROWS_WITH(narrow(m, 0, -4, 1), Catch::Contains("(valid: -3 to 3)"));
    REQUIRE_THROWS_WITH(narrow(m, 2, 0, 1), Catch::Contains("narrow: dim 2 is out of range"));
    REQUIRE_THROWS_WITH(narrow(Tensor::scalar(1.0), 0, 0, 1), Catch::Contains("narrow: cannot narrow a 0-d tensor"));
}

TEST_CASE("unbind gives every slab along dim, each without it", "[ops][indexing]") {
    const Tensor m = iota64({2, 3});
    const std::vector<Tensor> rows = unbind(m);
    REQUIRE(rows.size() == 2);
    require_values(rows[0], {3}, {0, 1, 2});
    require_values(rows[1], {3}, {3, 4, 5});
    const std::vector<Tensor> cols = m.unbind(-1);
    REQUIRE(cols.size() == 3);
    require_values(cols[2], {2}, {2, 5});
    CHECK(cols[2].grad_fn_name().empty());
    CHECK(unbind(zeros({0, 2}, Dtype::f64), 0).empty());
    REQUIRE_THROWS_WITH(unbind(Tensor::scalar(1.0)), Catch::Contains("unbind: cannot unbind a 0-d tensor"));
    REQUIRE_THROWS_WITH(unbind(m, 2), Catch::Contains("unbind: dim 2 is out of range"));
}

TEST_CASE("select, narrow and unbind backward match finite differences", "[ops][indexing]") {
    uint64_t seed = 1200;
    const std::vector<std::pair<std::string, GradcheckFn>> cases = {
        {"select(0, 1)", [](const Xs& x) { return select(x[0], 0, 1); }},
        {"select(1, -1)", [](const Xs& x) { return select(x[0], 1, -1); }},
        {"x[2][0]", [](const Xs& x) { return x[0][2][0]; }},
        {"narrow(2, 1, 2)", [](const Xs& x) { return narrow(x[0], 2, 1, 2); }},
        {"narrow(0, -1, 1)", [](const Xs& x) { return narrow(x[0], 0, -1, 1); }},
        {"unbind(1), weighted", [](const Xs& x) {
             const std::vector<Tensor> p = unbind(x[0], 1);
             return p[0] * 2.0 + p[1] * p[2] - p[0] * p[1];
         }},
    };
    for (const auto& [name, fn] : cases) {
        INFO(name);
        check_grad(fn, {randn64({3, 3, 4}, seed++)});
    }
    // The gradient lands in the selected slab only.
    Tensor x = iota64({3, 2}).requires_grad_();
    sum(x[1] * tensor({10.0, 20.0})).backward();
    require_values(x.grad(), {3, 2}, {0, 0, 10, 20, 0, 0});
    CHECK(select(x, 0, 0).grad_fn_name() == "select");
    CHECK(narrow(x, 0, 0, 1).grad_fn_name() == "narrow");
    CHECK(unbind(x)[0].grad_fn_name() == "unbind");
}

TEST_CASE("select rejects an index outside the dim and a 0-d tensor, naming the valid range", "[ops][indexing]") {
    const Tensor m = iota64({3, 4});
    REQUIRE_THROWS_AS(select(m, 0, 3), ValueError);
    REQUIRE_THROWS_WITH(select(m, 0, 3), Catch::Contains("select: index 3 is out of range for dim 0 of size 3 in "
                                                         "shape (3, 4) (valid: -3 to 2)"));
    REQUIRE_THROWS_WITH(m[-4], Catch::Contains("select: index -4 is out of range"));
    REQUIRE_THROWS_WITH(m[1][4], Catch::Contains("valid: -4 to 3"));
    REQUIRE_THROWS_WITH(m[0][0][0], Catch::Contains("select: cannot select from a 0-d tensor"));
    REQUIRE_THROWS_WITH(select(m, -3, 0), Catch::Contains("select: dim -3 is out of range"));
    REQUIRE_THROWS_WITH(select(Tensor(), 0, 0), Catch::Contains("select"));
}

TEST_CASE("view is reshape under torch's name: same storage, the same checks", "[ops]") {
    Tensor x = iota64({2, 3}).requires_grad_();
    const Tensor v = x.view({3, -1});
    require_values(v, {3, 2}, {0, 1, 2, 3, 4, 5});
    CHECK(v.raw_data() == x.raw_data());
    CHECK(v.grad_fn_name() == "view");
    check_grad([](const Xs& t) { return view(t[0], {6}) * view(t[1], {-1}); }, {randn64({2, 3}, 5), randn64({3, 2}, 6)});
    REQUIRE_THROWS_AS(view(x, {4}), ShapeError);
    REQUIRE_THROWS_WITH(view(x, {4}), Catch::Contains("view: cannot view (2, 3) (6 elements) as (4,)"));
    REQUIRE_THROWS_WITH(view(x, {-1, -1}), Catch::Contains("view: only one dim may be -1"));
}

TEST_CASE("cat joins tensors along any dim", "[ops]") {
    const Tensor a = tensor({1.0, 2.0, 3.0, 4.0}, {2, 2});
    const Tensor b = tensor({5.0, 6.0}, {1, 2});
    const Tensor c = tensor({7.0, 8.0}, {2, 1});
    require_values(cat({a, b}, 0), {3, 2}, {1, 2, 3, 4, 5, 6});
    require_values(cat({b, a, b}, -2), {4, 2}, {5, 6, 1, 2, 3, 4, 5, 6});
    require_values(cat({a, c}, 1), {2, 3}, {1, 2, 7, 3, 4, 8});
    require_values(cat({c, a, c}, -1), {2, 4}, {7, 1, 2, 7, 8, 3, 4, 8});
    require_values(cat({a}, 0), {2, 2}, {1, 2, 3, 4});

    // Along the middle dim of 3-d tensors: (2, 1, 2) and (2, 2, 2) -> (2, 3, 2).
    const Tensor x = tensor({0.0, 1.0, 2.0, 3.0}, {2, 1, 2});
    const Tensor y = tensor({10.0, 11.0, 12.0, 13.0, 14.0, 15.0, 16.0, 17.0}, {2, 2, 2});
    require_values(cat({x, y}, 1), {2, 3, 2}, {0, 1, 10, 11, 12, 13, 2, 3, 14, 15, 16, 17});
    require_values(cat({x, zeros({2, 0, 2}, Dtype::f64)}, 1), {2, 1, 2}, {0, 1, 2, 3});
}

TEST_CASE("cat backward matches finite differences along several dims", "[ops]") {
    struct Case {
        int64_t dim;
        std::vector<Shape> shapes;
    };
    const std::vector<Case> cases = {
        {0, {{2, 3}, {1, 3}, {4, 3}}},
        {1, {{2, 3}, {2, 1}}},
        {-1, {{2, 3, 1}, {2, 3, 2}, {2, 3, 1}}},
        {1, {{2, 1, 4}, {2, 2, 4}}},
        {-3, {{1, 2, 2}, {2, 2, 2}}},
        {0, {{1}, {1}}},
    };
    uint64_t seed = 1000;
    for (const Case& c : cases) {
        INFO("cat along " << c.dim << " of " << c.shapes.size() << " tensors, the first "
                          << shape_str(c.shapes[0]));
        std::vector<Tensor> inputs;
        for (const Shape& s : c.shapes) inputs.push_back(randn64(s, seed++));
        check_grad([dim = c.dim](const Xs& x) { return cat(x, dim); }, inputs);
    }
}

TEST_CASE("cat rejects mismatched shapes and dtypes, 0-d tensors and an empty list", "[ops]") {
    const Tensor a = zeros({3, 3}, Dtype::f64), b = zeros({2, 4}, Dtype::f64);
    REQUIRE_THROWS_AS(cat({a, b}, 0), ShapeError);
    REQUIRE_THROWS_WITH(cat({a, b}, 0),
                        Catch::Contains("cat: input 1 is (2, 4), input 0 is (3, 3) (all dims but 0 must match)"));
    REQUIRE_THROWS_WITH(cat({a, a, zeros({3}, Dtype::f64)}, 1),
                        Catch::Contains("cat: input 2 is (3,), input 0 is (3, 3)"));
    REQUIRE_THROWS_AS(cat({a, zeros({3, 3}, Dtype::f32)}, 0), DtypeError);
    REQUIRE_THROWS_WITH(cat({a, zeros({3, 3}, Dtype::f32)}, 0),
                        Catch::Contains("cat: input 1 is f32, input 0 is f64"));
    REQUIRE_THROWS_AS(cat({a, b}, 2), ValueError);
    REQUIRE_THROWS_WITH(cat({a, b}, 2),
                        Catch::Contains("cat: dim 2 is out of range for a tensor with 2 dims"));
    REQUIRE_THROWS_WITH(cat({Tensor::scalar(1.0, Dtype::f64)}, 0),
                        Catch::Contains("cat: dim 0 is out of range for a tensor with 0 dims"));
    REQUIRE_THROWS_AS(cat({}, 0), ValueError);
    REQUIRE_THROWS_WITH(cat({}, 0), Catch::Contains("cat: no tensors given"));
}

TEST_CASE("embedding picks rows by id for ids of any shape", "[ops]") {
    const Tensor w = tensor({0.0, 1.0, 10.0, 11.0, 20.0, 21.0, 30.0, 31.0}, {4, 2});
    require_values(embedding(w, i64s({3, 0, 3}, {3})), {3, 2}, {30, 31, 0, 1, 30, 31});
    require_values(embedding(w, i64s({1, 2, 2, 0}, {2, 2})), {2, 2, 2}, {10, 11, 20, 21, 20, 21, 0, 1});
    require_values(embedding(w, i64s({2}, {})), {2}, {20, 21});
    REQUIRE(embedding(w, i64s({}, {0})).shape() == Shape{0, 2});
}

TEST_CASE("embedding backward adds the gradient of every repeated id into its row", "[ops]") {
    Tensor w = zeros({4, 2}, Dtype::f64).requires_grad_();
    const Tensor dy = tensor({1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0}, {4, 2});
    embedding(w, i64s({1, 3, 1, 1}, {4})).backward(dy);
    // Row 1 collects positions 0, 2 and 3; row 3 position 1; rows 0 and 2 nothing.
    require_values(w.grad(), {4, 2}, {0, 0, 1 + 5 + 7, 2 + 6 + 8, 0, 0, 3, 4});

    const std::vector<std::pair<Shape, std::vector<int64_t>>> cases = {
        {{4}, {1, 3, 1, 1}},
        {{2, 3}, {0, 4, 4, 2, 0, 4}},
        {{}, {2}},
        {{1}, {4}},
    };
    uint64_t seed = 1100;
    for (const auto& [shape, values] : cases) {
        INFO("embedding (5, 3) with ids of shape " << shape_str(shape));
        check_grad([](const Xs& x) { return embedding(x[0], x[1]); },
                   {randn64({5, 3}, seed++), i64s(values, shape)});
    }
    INFO("embedding (1, 1) with a repeated id");
    check_grad([](const Xs& x) { return embedding(x[0], x[1]); },
               {randn64({1, 1}, seed), i64s({0, 0, 0}, {3})});
}

TEST_CASE("embedding rejects out-of-range ids, non-i64 ids and a weight that is not 2-d", "[ops]") {
    const Tensor w = zeros({5, 3}, Dtype::f64);
    REQUIRE_THROWS_AS(embedding(w, i64s({0, 1, 5}, {3})), ValueError);
    REQUIRE_THROWS_WITH(
        embedding(w, i64s({0, 1, 5}, {3})),
        Catch::Contains("embedding: id 5 at position 2 is out of range for a table of 5 rows"));
    REQUIRE_THROWS_WITH(
        embedding(w, i64s({0, -1}, {1, 2})),
        Catch::Contains("embedding: id -1 at position 1 is out of range for a table of 5 rows"));
    REQUIRE_THROWS_AS(embedding(w, zeros({2}, Dtype::f32)), DtypeError);
    REQUIRE_THROWS_WITH(embedding(w, zeros({2}, Dtype::f32)),
                        Catch::Contains("embedding: ids must be i64, got f32"));
    REQUIRE_THROWS_AS(embedding(zeros({5}, Dtype::f64), i64s({0}, {1})), ShapeError);
    REQUIRE_THROWS_WITH(embedding(zeros({5}, Dtype::f64), i64s({0}, {1})),
                        Catch::Contains("embedding: weight must be 2-d (V, C), got (5,)"));
}

TEST_CASE("embedding looks up a table of any dtype that needs no gradient", "[ops]") {
    const Tensor table = tensor(std::vector<int64_t>{10, 11, 20, 21, 30, 31}, {3, 2});
    const Tensor y = embedding(table, i64s({2, 0, 2}, {3}));
    CHECK(y.dtype() == Dtype::i64);
    CHECK(y.shape() == Shape{3, 2});
    CHECK(y.to_vector<int64_t>() == std::vector<int64_t>{30, 31, 10, 11, 30, 31});
    const Tensor flags = embedding(tensor({true, false, false, true}, {2, 2}), i64s({1}, {1, 1}));
    CHECK(flags.shape() == Shape{1, 1, 2});
    CHECK(flags.to_vector<bool>() == std::vector<bool>{false, true});
    const Tensor half = embedding(Tensor::ones({4, 3}, Dtype::bf16), i64s({3}, {1}));
    CHECK(half.dtype() == Dtype::bf16);
    CHECK(half.to_vector<float>() == std::vector<float>{1, 1, 1});
}
