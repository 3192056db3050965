// The b8 (bool) dtype, comparisons and logic (issue 27, item 2): values against hand-written
// truth tables, broadcasting on either side, mixed dtypes, NaN, conversions, and the ops that
// take b8 masks (where, masked_fill) gradchecked with them.
#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "helpers.hpp"
#include "op_inputs.hpp"

using namespace tg;
using namespace tg::test;

namespace {

std::vector<bool> bools(const Tensor& t) {
    REQUIRE(t.dtype() == Dtype::b8);
    return t.to_vector<bool>();
}

const double kNaN = std::numeric_limits<double>::quiet_NaN();

}  // namespace

TEST_CASE("b8 tensors are made, converted, printed and read back as truth values", "[compare]") {
    const Tensor t = tensor({true, false, true, true}, {2, 2});
    CHECK(t.dtype() == Dtype::b8);
    CHECK(dtype_size(Dtype::b8) == 1);
    CHECK(dtype_name(Dtype::b8) == "b8");
    CHECK(t.to_vector<bool>() == std::vector<bool>{true, false, true, true});
    CHECK(t.to(Dtype::f32).to_vector<float>() == std::vector<float>{1, 0, 1, 1});
    CHECK(t.to(Dtype::i64).to_vector<int64_t>() == std::vector<int64_t>{1, 0, 1, 1});
    CHECK(t.to(Dtype::bf16).to(Dtype::f64).to_vector<double>() == std::vector<double>{1, 0, 1, 1});
    // Nonzero is true, NaN included; -0.0 is zero.
    const Tensor f = tensor(std::vector<double>{0.0, -0.0, 2.5, kNaN, -1e-300});
    CHECK(bools(f.to(Dtype::b8)) == std::vector<bool>{false, false, true, true, true});
    CHECK(tensor({true}).item<bool>());
    CHECK(tensor({3.0}).item<bool>());
    CHECK(to_string(tensor({true, false})).find("[true, false]") != std::string::npos);
    CHECK(to_string(tensor({true, false})).find("dtype=b8") != std::string::npos);
    CHECK(bools(Tensor::full({3}, 2.0, Dtype::b8)) == std::vector<bool>{true, true, true});
    CHECK(bools(Tensor::zeros({2}, Dtype::b8)) == std::vector<bool>{false, false});
    REQUIRE_THROWS_WITH(tensor({true, false}, {3}), Catch::Contains("2 values do not fill shape (3,)"));
    REQUIRE_THROWS_WITH(Tensor::randn({2}, Dtype::b8), Catch::Contains("randn: b8 (bool)"));
    REQUIRE_THROWS_WITH(Tensor::arange(3, Dtype::b8), Catch::Contains("arange: b8 (bool)"));
    REQUIRE_THROWS_AS(Tensor::zeros({2}, Dtype::b8).requires_grad_(true), Error);
}

TEST_CASE("comparisons follow their truth tables, broadcast on either side, and carry no gradient", "[compare]") {
    const Tensor a = tensor({1.0, 2.0, 3.0, kNaN});
    const Tensor b = tensor({2.0, 2.0, 2.0, 2.0});
    CHECK(bools(eq(a, b)) == std::vector<bool>{false, true, false, false});
    CHECK(bools(ne(a, b)) == std::vector<bool>{true, false, true, true});  // NaN != anything
    CHECK(bools(lt(a, b)) == std::vector<bool>{true, false, false, false});
    CHECK(bools(le(a, b)) == std::vector<bool>{true, true, false, false});
    CHECK(bools(gt(a, b)) == std::vector<bool>{false, false, true, false});
    CHECK(bools(ge(a, b)) == std::vector<bool>{false, true, true, false});
    // Operators, and numbers on either side.
    CHECK(bools(a == b) == bools(eq(a, b)));
    CHECK(bools(a < 2.0) == std::vector<bool>{true, false, false, false});
    CHECK(bools(2.0 < a) == std::vector<bool>{false, false, true, false});
    CHECK(bools(2.0 >= a) == std::vector<bool>{true, true, false, false});
    CHECK(bools(a != 3.0) == std::vector<bool>{true, true, false, true});
    // (2, 1) against (3): a (2, 3) table.
    const Tensor col = tensor({1.0, 3.0}, {2, 1}), row = tensor({1.0, 2.0, 3.0});
    const Tensor table = col >= row;
    CHECK(table.shape() == Shape{2, 3});
    CHECK(bools(table) == std::vector<bool>{true, false, false, true, true, true});
    CHECK(bools(row <= col) == bools(table));
    // Mixed dtypes compare as double: f32 against i64, and large i64 exactly.
    const Tensor ids = tensor(std::vector<int64_t>{3, 1, 2});
    CHECK(bools(eq(ids, tensor({3.0f, 1.5f, 2.0f}))) == std::vector<bool>{true, false, true});
    const Tensor big = tensor(std::vector<int64_t>{(int64_t{1} << 52) + 1});
    CHECK(bools(big == static_cast<double>((int64_t{1} << 52) + 1)) == std::vector<bool>{true});
    CHECK(bools(big > static_cast<double>(int64_t{1} << 52)) == std::vector<bool>{true});
    // b8 against b8.
    CHECK(bools(tensor({true, false}) == tensor({true, true})) == std::vector<bool>{true, false});
    // No gradient, no tape entry, whatever the inputs.
    Tensor x = Tensor::randn({4}, Dtype::f64, 1).requires_grad_(true);
    const int64_t entries = memory_stats().tape_entries;
    const Tensor c = x > 0.0;
    CHECK_FALSE(c.requires_grad());
    CHECK(memory_stats().tape_entries == entries);
    REQUIRE_THROWS_WITH(eq(Tensor::ones({2, 3}), Tensor::ones({4})),
                        Catch::Contains("eq: shapes (2, 3) and (4,) cannot be broadcast together"));
}

TEST_CASE("logical ops, their operators, any, all, nonzero and count_nonzero", "[compare]") {
    const Tensor p = tensor({true, true, false, false}), q = tensor({true, false, true, false});
    CHECK(bools(logical_and(p, q)) == std::vector<bool>{true, false, false, false});
    CHECK(bools(logical_or(p, q)) == std::vector<bool>{true, true, true, false});
    CHECK(bools(logical_xor(p, q)) == std::vector<bool>{false, true, true, false});
    CHECK(bools(logical_not(p)) == std::vector<bool>{false, false, true, true});
    CHECK(bools(p & q) == bools(logical_and(p, q)));
    CHECK(bools(p | q) == bools(logical_or(p, q)));
    CHECK(bools(p ^ q) == bools(logical_xor(p, q)));
    CHECK(bools(~p) == bools(logical_not(p)));
    // Numbers as truth values (NaN is true), broadcasting.
    const Tensor n = tensor({0.0, 2.0, kNaN});
    CHECK(bools(logical_and(n, tensor({true}))) == std::vector<bool>{false, true, true});
    CHECK(bools(logical_not(tensor(std::vector<int64_t>{0, 5}))) == std::vector<bool>{true, false});
    REQUIRE_THROWS_WITH(Tensor::ones({2}) & Tensor::ones({2}),
                        Catch::Contains("operator&: the operators &, |, ^ and ~ take b8 (bool) tensors, got f32"));

    const Tensor m = tensor({false, true, false, false, false, false}, {2, 3});
    CHECK(any(m).item<bool>());
    CHECK_FALSE(all(m).item<bool>());
    CHECK(any(m).dim() == 0);
    CHECK(bools(any(m, 1)) == std::vector<bool>{true, false});
    CHECK(bools(all(~m, 0)) == std::vector<bool>{true, false, true});
    CHECK(any(m, 1, true).shape() == Shape{2, 1});
    CHECK(all(Tensor::zeros({0}, Dtype::b8)).item<bool>());  // vacuous truth
    CHECK_FALSE(any(Tensor::zeros({0}, Dtype::b8)).item<bool>());

    const Tensor nz = nonzero(tensor({0.0, 1.0, 0.0, 0.0, 0.0, 7.0}, {2, 3}));
    CHECK(nz.dtype() == Dtype::i64);
    CHECK(nz.shape() == Shape{2, 2});
    CHECK(nz.to_vector<int64_t>() == std::vector<int64_t>{0, 1, 1, 2});
    CHECK(nonzero(Tensor::zeros({4})).shape() == Shape{0, 1});
    CHECK(count_nonzero(m).item<int64_t>() == 1);
    CHECK(count_nonzero(n).item<int64_t>() == 2);

    CHECK(bools(isnan(tensor({1.0f, NAN, INFINITY}))) == std::vector<bool>{false, true, false});
    CHECK(bools(isinf(tensor({1.0f, NAN, -INFINITY}))) == std::vector<bool>{false, false, true});
    CHECK(bools(isfinite(tensor({1.0f, NAN, INFINITY}))) == std::vector<bool>{true, false, false});
    CHECK(bools(isfinite(tensor(std::vector<int64_t>{4}))) == std::vector<bool>{true});
}

TEST_CASE("sum counts b8 and adds i64 as i64; mean of either says to convert", "[compare]") {
    const Tensor m = tensor({true, false, true, true, true, false}, {2, 3});
    const Tensor total = sum(m);
    CHECK(total.dtype() == Dtype::i64);
    CHECK(total.item<int64_t>() == 4);
    CHECK(sum(m, 0).to_vector<int64_t>() == std::vector<int64_t>{2, 1, 1});
    CHECK(sum(m, -1, true).shape() == Shape{2, 1});
    CHECK(m.sum(1).to_vector<int64_t>() == std::vector<int64_t>{2, 2});
    const Tensor ids = tensor(std::vector<int64_t>{5, -2, 7, 1}, {2, 2});
    CHECK(sum(ids).item<int64_t>() == 11);
    CHECK(sum(ids, 1).to_vector<int64_t>() == std::vector<int64_t>{3, 8});
    REQUIRE_THROWS_WITH(mean(m), Catch::Contains("mean: the mean of b8 values is not an b8 value"));
    REQUIRE_THROWS_WITH(mean(ids, 0), Catch::Contains("x.to(Dtype::f32).mean()"));
    // The accuracy of a classifier, as a PyTorch user writes it.
    const Tensor logits = tensor({0.1, 2.0, 0.3, 1.5, -1.0, 0.0, 0.2, 0.1, 3.0}, {3, 3});
    const Tensor labels = tensor(std::vector<int64_t>{1, 0, 1});
    CHECK((argmax(logits, 1) == labels).sum().item<int64_t>() == 2);  // rows 0 and 1 right
    // Arithmetic refuses b8, saying how to convert.
    REQUIRE_THROWS_WITH(exp(m), Catch::Contains("exp: b8 (bool) holds truth values; convert with .to(Dtype::f32)"));
}

TEST_CASE("where and masked_fill take b8 masks: values and gradients", "[compare]") {
    const Tensor mask = tensor({true, false, true, false, false, true}, {2, 3});
    const Tensor a = Tensor::randn({2, 3}, Dtype::f64, 3), b = Tensor::randn({3}, Dtype::f64, 4);
    const Tensor y = where(mask, a, b);
    const std::vector<double> va = a.to_vector<double>(), vb = b.to_vector<double>(), vy = y.to_vector<double>();
    const std::vector<bool> vm = mask.to_vector<bool>();
    for (std::size_t i = 0; i < 6; ++i) CHECK(vy[i] == (vm[i] ? va[i] : vb[i % 3]));
    check_grad([mask](const Xs& x) { return where(mask, x[0], x[1]); }, {randn64({2, 3}, 5), randn64({3}, 6)});
    check_grad([](const Xs& x) { return where(x[0] > 0.0, x[0], x[0] * 2.0); }, {randn64({7}, 7)});
    const Tensor filled = masked_fill(a, mask, -1.0);
    const std::vector<double> vf = filled.to_vector<double>();
    for (std::size_t i = 0; i < 6; ++i) CHECK(vf[i] == (vm[i] ? -1.0 : va[i]));
    check_grad([](const Xs& x) { return masked_fill(x[0], tensor({true, false, true}), 0.5); }, {randn64({2, 3}, 8)});
}

TEST_CASE("b8 tensors round-trip through safetensors as BOOL", "[compare]") {
    const TempDir dir;
    const std::string path = dir.file("mask.safetensors");
    const Tensor m = tensor({true, false, false, true, true}, {5});
    nn::save_safetensors(path, {{"mask", m}});
    const nn::SafetensorsFile f = nn::load_safetensors(path);
    REQUIRE(f.tensors.size() == 1);
    CHECK(f.tensors[0].second.dtype() == Dtype::b8);
    CHECK(f.tensors[0].second.to_vector<bool>() == m.to_vector<bool>());
}
