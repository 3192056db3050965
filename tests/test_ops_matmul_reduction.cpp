// matmul (2-d, batched, broadcast batch dims) and the reductions sum, mean and max.
#include <cmath>
#include <string>
#include <vector>

#include "helpers.hpp"
#include "op_inputs.hpp"

using namespace tg;
using namespace tg::test;

TEST_CASE("matmul of small integer matrices gives the hand-computed products", "[ops]") {
    const Tensor a = tensor({1.0, 2.0, 3.0, 4.0}, {2, 2});
    const Tensor b = tensor({5.0, 6.0, 7.0, 8.0}, {2, 2});
    require_values(matmul(a, b), {2, 2}, {19, 22, 43, 50});
    require_values(matmul(b, a), {2, 2}, {23, 34, 31, 46});

    const Tensor m23 = tensor({1.0, 2.0, 3.0, 4.0, 5.0, 6.0}, {2, 3});
    require_values(matmul(m23, tensor({1.0, 0.0, -1.0}, {3, 1})), {2, 1}, {-2, -2});
    require_values(matmul(tensor({1.0, 1.0}, {1, 2}), m23), {1, 3}, {5, 7, 9});
    // An outer product: K = 1.
    require_values(matmul(tensor({1.0, 2.0}, {2, 1}), tensor({3.0, 4.0, 5.0}, {1, 3})), {2, 3},
                   {3, 4, 5, 6, 8, 10});
}

TEST_CASE("batched matmul multiplies each batch entry and broadcasts batch dims on either side",
          "[ops]") {
    // a = [A0, I], b = [I, B1] -> [A0, B1]
    const Tensor a = tensor({1.0, 2.0, 3.0, 4.0, 1.0, 0.0, 0.0, 1.0}, {2, 2, 2});
    const Tensor b = tensor({1.0, 0.0, 0.0, 1.0, 2.0, 3.0, 4.0, 5.0}, {2, 2, 2});
    require_values(matmul(a, b), {2, 2, 2}, {1, 2, 3, 4, 2, 3, 4, 5});

    // A 2-d b is shared by every batch entry of a: swapping columns.
    const Tensor swap = tensor({0.0, 1.0, 1.0, 0.0}, {2, 2});
    require_values(matmul(a, swap), {2, 2, 2}, {2, 1, 4, 3, 0, 1, 1, 0});

    // A 2-d a is shared by every batch entry of b: [A0 I, A0 2I].
    const Tensor a0 = tensor({1.0, 2.0, 3.0, 4.0}, {2, 2});
    const Tensor scaled = tensor({1.0, 0.0, 0.0, 1.0, 2.0, 0.0, 0.0, 2.0}, {2, 2, 2});
    require_values(matmul(a0, scaled), {2, 2, 2}, {1, 2, 3, 4, 2, 4, 6, 8});

    // Batch dims (2, 1) and (3,) broadcast to (2, 3): out[i, j] = a[i] @ b[j] with 1x1 matrices.
    const Tensor x = tensor({2.0, 3.0}, {2, 1, 1, 1});
    const Tensor y = tensor({1.0, 10.0, 100.0}, {3, 1, 1});
    require_values(matmul(x, y), {2, 3, 1, 1}, {2, 20, 200, 3, 30, 300});
}

TEST_CASE("matmul with an empty inner dimension gives zeros", "[ops]") {
    require_values(matmul(zeros({2, 0}, Dtype::f64), zeros({0, 3}, Dtype::f64)), {2, 3}, {0, 0, 0, 0, 0, 0});
    REQUIRE(matmul(zeros({0, 2}, Dtype::f64), zeros({2, 3}, Dtype::f64)).shape() == Shape{0, 3});
}

TEST_CASE("matmul backward matches finite differences for 2-d, batched and broadcast operands",
          "[ops]") {
    const std::vector<std::pair<Shape, Shape>> pairs = {
        {{3, 4}, {4, 2}},          // 2-d
        {{1, 1}, {1, 1}},          // size-1 everywhere
        {{1, 4}, {4, 3}},          // a single row
        {{3, 1}, {1, 2}},          // K = 1, an outer product
        {{2, 3, 4}, {2, 4, 5}},    // batched
        {{2, 3, 4}, {4, 5}},       // b 2-d with a batched (the folded GEMM)
        {{3, 4}, {2, 4, 5}},       // a 2-d with b batched
        {{1, 3, 4}, {2, 4, 5}},    // a's batch of 1 broadcasts
        {{2, 3, 4}, {1, 4, 5}},    // b's batch of 1 broadcasts
        {{2, 1, 3, 4}, {5, 4, 2}}, // batch (2, 1) with (5,): both sides broadcast
        {{2, 1, 2, 3}, {1, 3, 3, 2}},
    };
    uint64_t seed = 400;
    for (const auto& [sa, sb] : pairs) {
        INFO("matmul " << shape_str(sa) << " @ " << shape_str(sb));
        check_grad([](const Xs& x) { return matmul(x[0], x[1]); },
                   {randn64(sa, seed), randn64(sb, seed + 1)});
        seed += 2;
    }
}

TEST_CASE("matmul backward gives the gradient only to operands that require it", "[ops]") {
    Tensor a = tensor({1.0, 2.0, 3.0, 4.0}, {2, 2}).requires_grad_();
    const Tensor b = tensor({5.0, 6.0, 7.0, 8.0}, {2, 2});
    sum(matmul(a, b)).backward();
    // dA = ones @ B^T: every row holds the row sums of B.
    require_values(a.grad(), {2, 2}, {11, 15, 11, 15});
    CHECK_FALSE(b.grad().defined());
}

TEST_CASE("matmul rejects operands whose shapes or dtypes do not fit", "[ops]") {
    const Tensor a = zeros({2, 3}, Dtype::f64), b = zeros({4, 5}, Dtype::f64);
    REQUIRE_THROWS_AS(matmul(a, b), ShapeError);
    REQUIRE_THROWS_WITH(matmul(a, b), Catch::Contains("matmul: inner dimensions differ: (2, 3) @ (4, 5)"));
    REQUIRE_THROWS_WITH(matmul(zeros({2, 2, 3}, Dtype::f64), zeros({2, 2, 3}, Dtype::f64)),
                        Catch::Contains("matmul: inner dimensions differ: (2, 2, 3) @ (2, 2, 3)"));
    REQUIRE_THROWS_AS(matmul(zeros({4}, Dtype::f64), zeros({3, 2}, Dtype::f64)), ShapeError);
    REQUIRE_THROWS_WITH(matmul(zeros({4}, Dtype::f64), zeros({3, 2}, Dtype::f64)),
                        Catch::Contains("matmul: inner dimensions differ: (4,) @ (3, 2) (4 against 3)"));
    REQUIRE_THROWS_WITH(matmul(zeros({2, 3}, Dtype::f64), Tensor::scalar(1.0, Dtype::f64)),
                        Catch::Contains("matmul: both operands need at least 1 dim, got (2, 3) @ () (for a 0-d operand use mul)"));
    REQUIRE_THROWS_AS(matmul(zeros({2, 2, 3}, Dtype::f64), zeros({3, 3, 4}, Dtype::f64)), ShapeError);
    REQUIRE_THROWS_WITH(matmul(zeros({2, 2, 3}, Dtype::f64), zeros({3, 3, 4}, Dtype::f64)),
                        Catch::Contains("matmul: shapes (2,) and (3,) cannot be broadcast together"));
    REQUIRE_THROWS_AS(matmul(zeros({2, 2}, Dtype::f32), zeros({2, 2}, Dtype::f64)), DtypeError);
    REQUIRE_THROWS_WITH(matmul(zeros({2, 2}, Dtype::f32), zeros({2, 2}, Dtype::f64)),
                        Catch::Contains("matmul: dtypes differ: f32 and f64"));
    REQUIRE_THROWS_AS(matmul(i64s({1, 2, 3, 4}, {2, 2}), i64s({1, 2, 3, 4}, {2, 2})), DtypeError);
    REQUIRE_THROWS_WITH(matmul(i64s({1, 2, 3, 4}, {2, 2}), i64s({1, 2, 3, 4}, {2, 2})),
                        Catch::Contains("matmul: expected a floating dtype (f32 or f64), got i64"));
}

TEST_CASE("sum and mean over everything and over one dim give closed-form values", "[ops]") {
    const Tensor x = tensor({1.0, 2.0, 3.0, 4.0, 5.0, 6.0}, {2, 3});
    require_values(sum(x), {}, {21});
    require_values(mean(x), {}, {3.5});
    require_values(sum(x, 0), {3}, {5, 7, 9});
    require_values(sum(x, 1), {2}, {6, 15});
    require_values(sum(x, -1, true), {2, 1}, {6, 15});
    require_values(sum(x, -2, true), {1, 3}, {5, 7, 9});
    require_values(mean(x, 0), {3}, {2.5, 3.5, 4.5});
    require_values(mean(x, -1, true), {2, 1}, {2, 5});

    // x[o, d, i] = 12 o + 4 d + i
    const Tensor y = iota64({2, 3, 4});
    require_values(sum(y), {}, {276});
    require_values(mean(y), {}, {11.5});
    // sum_d = 36 o + 12 + 3 i
    require_values(sum(y, 1), {2, 4}, {12, 15, 18, 21, 48, 51, 54, 57});
    require_values(sum(y, -2, true), {2, 1, 4}, {12, 15, 18, 21, 48, 51, 54, 57});
    // sum_o = 12 + 8 d + 2 i
    require_values(sum(y, 0), {3, 4}, {12, 14, 16, 18, 20, 22, 24, 26, 28, 30, 32, 34});
    require_values(sum(y, -3, true), {1, 3, 4}, {12, 14, 16, 18, 20, 22, 24, 26, 28, 30, 32, 34});
    // sum_i = 48 o + 16 d + 6
    require_values(sum(y, 2), {2, 3}, {6, 22, 38, 54, 70, 86});
    require_values(mean(y, 1), {2, 4}, {4, 5, 6, 7, 16, 17, 18, 19});
    require_values(mean(y, -1, true), {2, 3, 1}, {1.5, 5.5, 9.5, 13.5, 17.5, 21.5});

    const Tensor s = Tensor::scalar(3.0, Dtype::f64);
    require_values(sum(s), {}, {3});
    require_values(mean(s), {}, {3});
    require_values(sum(zeros({0, 3}, Dtype::f64)), {}, {0});
    require_values(sum(zeros({0, 3}, Dtype::f64), 0), {3}, {0, 0, 0});
}

TEST_CASE("max over everything and over one dim picks the largest values", "[ops]") {
    const Tensor x = tensor({1.0, 5.0, 3.0, 4.0, 2.0, 6.0}, {2, 3});
    require_values(max(x), {}, {6});
    require_values(max(x, 0), {3}, {4, 5, 6});
    require_values(max(x, 1), {2}, {5, 6});
    require_values(max(x, -1, true), {2, 1}, {5, 6});
    require_values(max(tensor({-3.0, -1.0, -2.0})), {}, {-1});

    const Tensor y = iota64({2, 3, 4});
    require_values(max(y), {}, {23});
    require_values(max(y, 1), {2, 4}, {8, 9, 10, 11, 20, 21, 22, 23});
    require_values(max(y, -1, true), {2, 3, 1}, {3, 7, 11, 15, 19, 23});
    require_values(max(y, 0), {3, 4}, {12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23});
    require_values(max(Tensor::scalar(-2.0, Dtype::f64)), {}, {-2});

    CHECK(std::isnan(max(tensor({1.0, std::nan(""), 3.0})).item<double>()));
}

TEST_CASE("max sends the gradient to the first position holding the largest value", "[ops]") {
    Tensor x = tensor({2.0, 5.0, 5.0, 1.0}).requires_grad_();
    max(x).backward();
    require_values(x.grad(), {4}, {0, 1, 0, 0});

    Tensor y = tensor({3.0, 3.0, 1.0, 7.0, 2.0, 7.0}, {2, 3}).requires_grad_();
    sum(mul(max(y, 1), tensor({10.0, 20.0}))).backward();
    require_values(y.grad(), {2, 3}, {10, 0, 0, 20, 0, 0});
}

TEST_CASE("sum and mean backward match finite differences over every dim, with and without keepdim",
          "[ops]") {
    uint64_t seed = 500;
    for (const Shape& s : std::vector<Shape>{{2, 3, 4}, {}, {1}, {1, 5}}) {
        INFO("sum and mean of everything on " << shape_str(s));
        check_grad([](const Xs& x) { return sum(x[0]); }, {randn64(s, seed++)});
        check_grad([](const Xs& x) { return mean(x[0]); }, {randn64(s, seed++)});
    }
    const std::vector<Shape> shapes = {{2, 3, 4}, {1, 5}, {5, 1}, {3}};
    for (const Shape& s : shapes)
        for (int64_t dim = -static_cast<int64_t>(s.size()); dim < static_cast<int64_t>(s.size()); ++dim)
            for (bool keepdim : {false, true}) {
                INFO("sum and mean over dim " << dim << " keepdim " << keepdim << " on " << shape_str(s));
                check_grad([dim, keepdim](const Xs& x) { return sum(x[0], dim, keepdim); },
                           {randn64(s, seed++)});
                check_grad([dim, keepdim](const Xs& x) { return mean(x[0], dim, keepdim); },
                           {randn64(s, seed++)});
            }
}

TEST_CASE("max backward matches finite differences away from ties", "[ops]") {
    uint64_t seed = 600;
    for (const Shape& s : std::vector<Shape>{{2, 3, 4}, {}, {1}, {1, 5}}) {
        INFO("max of everything on " << shape_str(s));
        check_grad([](const Xs& x) { return max(x[0]); }, {distinct64(s, seed++)});
    }
    for (const Shape& s : std::vector<Shape>{{2, 3, 4}, {1, 5}, {5, 1}, {3}})
        for (int64_t dim = -static_cast<int64_t>(s.size()); dim < static_cast<int64_t>(s.size()); ++dim)
            for (bool keepdim : {false, true}) {
                INFO("max over dim " << dim << " keepdim " << keepdim << " on " << shape_str(s));
                check_grad([dim, keepdim](const Xs& x) { return max(x[0], dim, keepdim); },
                           {distinct64(s, seed++)});
            }
}

TEST_CASE("reductions reject bad dims, empty inputs and integer tensors", "[ops]") {
    const Tensor x = zeros({2, 3}, Dtype::f64);
    REQUIRE_THROWS_AS(sum(x, 2), ValueError);
    REQUIRE_THROWS_WITH(sum(x, 2), Catch::Contains("sum: dim 2 is out of range for a tensor with 2 dims"));
    REQUIRE_THROWS_WITH(mean(x, -3),
                        Catch::Contains("mean: dim -3 is out of range for a tensor with 2 dims"));
    REQUIRE_THROWS_AS(max(x, 5, true), ValueError);
    REQUIRE_THROWS_WITH(max(x, 5, true),
                        Catch::Contains("max: dim 5 is out of range for a tensor with 2 dims"));
    REQUIRE_THROWS_WITH(sum(Tensor::scalar(1.0, Dtype::f64), 0),
                        Catch::Contains("sum: dim 0 is out of range for a tensor with 0 dims"));

    REQUIRE_THROWS_AS(mean(zeros({0}, Dtype::f64)), ValueError);
    REQUIRE_THROWS_WITH(mean(zeros({0}, Dtype::f64)),
                        Catch::Contains("mean: mean of an empty tensor of shape (0,)"));
    REQUIRE_THROWS_WITH(mean(zeros({2, 0}, Dtype::f64), 1),
                        Catch::Contains("mean: mean over dim 1 of size 0 in shape (2, 0)"));
    REQUIRE_THROWS_AS(max(zeros({0, 2}, Dtype::f64)), ValueError);
    REQUIRE_THROWS_WITH(max(zeros({0, 2}, Dtype::f64)),
                        Catch::Contains("max: the tensor is empty, shape (0, 2)"));
    REQUIRE_THROWS_WITH(max(zeros({3, 0}, Dtype::f64), -1),
                        Catch::Contains("max: dim 1 of shape (3, 0) is empty"));

    const Tensor i = i64s({1, 2}, {2});
    CHECK(sum(i).item<int64_t>() == 3);  // an i64 total, as torch.sum of an int64 tensor
    REQUIRE_THROWS_AS(mean(i, 0), DtypeError);
    REQUIRE_THROWS_WITH(mean(i, 0), Catch::Contains("mean: the mean of i64 values is not an i64 value"));
    REQUIRE_THROWS_WITH(max(i), Catch::Contains("max: expected a floating dtype (f32 or f64), got i64"));
}
