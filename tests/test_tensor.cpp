#include <cmath>
#include <cstdint>
#include <limits>

#include "helpers.hpp"

using namespace tg;
using Catch::Contains;

TEST_CASE("tensor takes its dtype from the element type", "[tensor]") {
    Tensor a = tensor({1.f, 2.f, 3.f, 4.f}, {2, 2});
    Tensor b = tensor({1.0, 2.0}, {2});
    Tensor ids = tensor(std::vector<int64_t>{3, 1}, {2});
    CHECK(a.dtype() == Dtype::f32);
    CHECK(b.dtype() == Dtype::f64);
    CHECK(ids.dtype() == Dtype::i64);
    CHECK(a.shape() == Shape{2, 2});
    CHECK(a.numel() == 4);
    CHECK(a.dim() == 2);
    CHECK(a.size(-1) == 2);
    CHECK(a.to_vector<float>() == std::vector<float>{1, 2, 3, 4});
    CHECK(ids.to_vector<int64_t>() == std::vector<int64_t>{3, 1});
}

TEST_CASE("tensor rejects values that do not fill the shape", "[tensor]") {
    REQUIRE_THROWS_AS(tensor({1.f, 2.f, 3.f}, {2, 2}), ShapeError);
    REQUIRE_THROWS_WITH(tensor({1.f, 2.f, 3.f}, {2, 2}),
                        Contains("tensor: 3 values do not fill shape (2, 2) (4 elements)"));
    REQUIRE_THROWS_AS(Tensor::zeros({2, -1}), ShapeError);
}

TEST_CASE("a 0-d tensor is a scalar with one element", "[tensor]") {
    Tensor s = Tensor::scalar(2.5, Dtype::f64);
    CHECK(s.dim() == 0);
    CHECK(s.numel() == 1);
    CHECK(s.item<double>() == 2.5);
    Tensor t = tensor({7.f}, {});
    CHECK(t.shape().empty());
    CHECK(t.item<int64_t>() == 7);
}

TEST_CASE("item needs exactly one element", "[tensor]") {
    REQUIRE_THROWS_AS(Tensor::zeros({2}).item<float>(), ValueError);
    REQUIRE_THROWS_WITH(Tensor::zeros({2, 3}).item<float>(), Contains("item: tensor of shape (2, 3)"));
}

TEST_CASE("factories fill with the expected values", "[tensor]") {
    test::require_values(Tensor::zeros({2, 3}), {2, 3}, {0, 0, 0, 0, 0, 0});
    test::require_values(Tensor::ones({3}, Dtype::f64), {3}, {1, 1, 1});
    test::require_values(Tensor::full({2}, -1.5), {2}, {-1.5, -1.5});
    test::require_values(Tensor::arange(4), {4}, {0, 1, 2, 3});
    test::require_values(Tensor::arange(1.0, 2.0, 0.25, Dtype::f64), {4}, {1, 1.25, 1.5, 1.75});
    test::require_values(Tensor::arange(5.0, 0.0, -2.0, Dtype::i64), {3}, {5, 3, 1});
    CHECK(Tensor::arange(3.0, 1.0).numel() == 0);
    REQUIRE_THROWS_WITH(Tensor::arange(0.0, 1.0, 0.0), Contains("arange: bad range"));
    CHECK(zeros_like(Tensor::ones({2, 2}, Dtype::f64)).dtype() == Dtype::f64);
}

TEST_CASE("random factories are reproducible from the seed", "[tensor]") {
    Tensor a = Tensor::randn({1000}, Dtype::f64, 42);
    Tensor b = Tensor::randn({1000}, Dtype::f64, 42);
    Tensor c = Tensor::randn({1000}, Dtype::f64, 43);
    CHECK(a.to_vector<double>() == b.to_vector<double>());
    CHECK(a.to_vector<double>() != c.to_vector<double>());
    // f32 draws are the f64 draws rounded.
    CHECK(Tensor::randn({1000}, Dtype::f32, 42).to_vector<float>() == a.to(Dtype::f32).to_vector<float>());

    Generator g1(7), g2(7);
    Tensor x = Tensor::rand({10}, Dtype::f32, g1);
    Tensor y = Tensor::rand({10}, Dtype::f32, g1);  // the generator advances
    CHECK(x.to_vector<float>() != y.to_vector<float>());
    CHECK(Tensor::rand({10}, Dtype::f32, g2).to_vector<float>() == x.to_vector<float>());
}

TEST_CASE("randn and rand have the right moments", "[tensor]") {
    const auto n = Tensor::randn({200000}, Dtype::f64, 1).to_vector<double>();
    double m = 0, m2 = 0;
    for (double v : n) m += v;
    m /= static_cast<double>(n.size());
    for (double v : n) m2 += (v - m) * (v - m);
    const double sd = std::sqrt(m2 / static_cast<double>(n.size()));
    CHECK(std::abs(m) < 0.01);
    CHECK(std::abs(sd - 1) < 0.01);

    const auto u = Tensor::rand({200000}, Dtype::f64, 2).to_vector<double>();
    double lo = 1, hi = 0, mu = 0;
    for (double v : u) lo = std::min(lo, v), hi = std::max(hi, v), mu += v;
    CHECK(lo >= 0.0);
    CHECK(hi < 1.0);
    CHECK(std::abs(mu / static_cast<double>(u.size()) - 0.5) < 0.01);

    Generator g(3);
    Tensor r = Tensor::randint(-2, 3, {10000}, g);
    const auto rv = r.to_vector<int64_t>();
    CHECK(*std::min_element(rv.begin(), rv.end()) == -2);
    CHECK(*std::max_element(rv.begin(), rv.end()) == 2);
    REQUIRE_THROWS_WITH(Tensor::randint(3, 3, {1}, g), Contains("randint: empty range [3, 3)"));
}

TEST_CASE("storage is 64-byte aligned", "[tensor]") {
    for (int64_t n : {1, 3, 17, 1000}) {
        Tensor t = Tensor::empty({n});
        CHECK(reinterpret_cast<std::uintptr_t>(t.raw_data()) % 64 == 0);
    }
}

TEST_CASE("data access checks the dtype", "[tensor]") {
    Tensor t = Tensor::zeros({2});
    CHECK(t.data<float>() != nullptr);
    REQUIRE_THROWS_AS(t.data<double>(), DtypeError);
    REQUIRE_THROWS_WITH(t.data<double>(), Contains("tensor has dtype f32, accessed as f64"));
}

TEST_CASE("to converts between dtypes", "[tensor]") {
    Tensor a = tensor({1.5f, -2.5f}, {2});
    Tensor d = a.to(Dtype::f64);
    CHECK(d.dtype() == Dtype::f64);
    CHECK(d.to_vector<double>() == std::vector<double>{1.5, -2.5});
    CHECK(a.to(Dtype::i64).to_vector<int64_t>() == std::vector<int64_t>{1, -2});
    CHECK(a.to(Dtype::f32).is_same(a));
    // A float without an i64 value is an error, not whatever the cast happens to give.
    REQUIRE_THROWS_WITH(tensor({1.0f, NAN}).to(Dtype::i64),
                        Contains("to(i64): f32 value nan at flat position 1 has no i64 value"));
    REQUIRE_THROWS_AS(tensor({1e19}).item<int64_t>(), ValueError);
    REQUIRE_THROWS_AS(tensor({-INFINITY}).to_vector<int64_t>(), ValueError);
    CHECK(tensor({-0x1p63}).item<int64_t>() == std::numeric_limits<int64_t>::min());
}

TEST_CASE("detach shares data and drops history, clone copies", "[tensor]") {
    Tensor x = tensor({1.0, 2.0}, {2}).requires_grad_();
    Tensor y = x * 2.0;
    Tensor d = y.detach();
    CHECK_FALSE(d.requires_grad());
    CHECK(d.is_leaf());
    CHECK(d.raw_data() == y.raw_data());
    Tensor c = x.clone();
    CHECK(c.raw_data() != x.raw_data());
    CHECK(c.to_vector<double>() == x.to_vector<double>());
    CHECK(c.grad_fn_name() == "clone");
}

TEST_CASE("requires_grad_ is refused for integer tensors and op results", "[tensor]") {
    REQUIRE_THROWS_AS(tensor(std::vector<int64_t>{1}, {1}).requires_grad_(), DtypeError);
    Tensor x = Tensor::ones({2}).requires_grad_();
    Tensor y = x * 3.0;
    REQUIRE_THROWS_WITH(y.requires_grad_(false), Contains("requires_grad_: cannot turn off grad"));
}

TEST_CASE("in-place writes change values and bump the version", "[tensor]") {
    Tensor t = tensor({1.0, 2.0, 3.0}, {3});
    const auto v0 = t.version();
    t.add_(tensor({1.0, 1.0, 1.0}, {3}), 2.0);
    test::require_values(t, {3}, {3, 4, 5});
    t.mul_(0.5);
    test::require_values(t, {3}, {1.5, 2, 2.5});
    t.copy_(tensor({1.f, 2.f, 3.f}, {3}));
    test::require_values(t, {3}, {1, 2, 3});
    t.fill_(9).zero_();
    test::require_values(t, {3}, {0, 0, 0});
    CHECK(t.version() == v0 + 5);
    REQUIRE_THROWS_WITH(t.add_(Tensor::ones({2}, Dtype::f64)), Contains("add_: (3,) f64 += (2,) f64"));
    REQUIRE_THROWS_AS(t.copy_(Tensor::ones({4})), ShapeError);
}

TEST_CASE("tensors print through fmt", "[tensor]") {
    CHECK(fmt::format("{}", tensor({1.f, 2.f, 3.f, 4.f}, {2, 2})) ==
          "tensor([[1.0000, 2.0000],\n        [3.0000, 4.0000]], shape=(2, 2), dtype=f32)");
    CHECK(fmt::format("{}", tensor(std::vector<int64_t>{3, 1})) == "tensor([3, 1], shape=(2,), dtype=i64)");
    CHECK(fmt::format("{}", Tensor::scalar(0.5, Dtype::f64).requires_grad_()) ==
          "tensor(0.5000, shape=(), dtype=f64, requires_grad=true)");
    Tensor x = Tensor::ones({2}).requires_grad_();
    CHECK(fmt::format("{}", x * 2.0) == "tensor([2.0000, 2.0000], shape=(2,), dtype=f32, grad_fn=mul)");
    const std::string big = fmt::format("{}", Tensor::arange(2000));
    CHECK(big == "tensor([0.0000, 1.0000, 2.0000, ..., 1997.0000, 1998.0000, 1999.0000], shape=(2000,), dtype=f32)");
    CHECK(fmt::format("{}", Tensor()) == "tensor(undefined)");
    CHECK(fmt::format("{}", Dtype::f64) == "f64");
}

TEST_CASE("an undefined tensor is an error, not a crash", "[tensor]") {
    Tensor t;
    CHECK_FALSE(t.defined());
    REQUIRE_THROWS_AS(t.shape(), ValueError);
    REQUIRE_THROWS_AS(t + t, ValueError);
}

TEST_CASE("memory_stats follows allocations", "[tensor]") {
    const MemoryStats before = memory_stats();
    {
        Tensor t = Tensor::zeros({1000}, Dtype::f64);
        const MemoryStats during = memory_stats();
        CHECK(during.live_bytes - before.live_bytes == 8000);
        CHECK(during.live_tensors - before.live_tensors == 1);
        CHECK(during.peak_bytes >= during.live_bytes);
    }
    const MemoryStats after = memory_stats();
    CHECK(after.live_bytes == before.live_bytes);
    CHECK(after.live_tensors == before.live_tensors);
}

TEST_CASE("the op methods give what the free functions give, gradients included", "[tensor]") {
    const Tensor a = test::randn64({2, 3}, 5), b = test::randn64({3, 4}, 6);
    const Tensor pos = Tensor::rand({2, 3}, Dtype::f64, 7) + 0.5;
    auto same = [](const Tensor& method, const Tensor& free) {
        CHECK(method.shape() == free.shape());
        CHECK(method.to_vector<double>() == free.to_vector<double>());
        CHECK(method.grad_fn_name() == free.grad_fn_name());
    };
    same(a.sum(), sum(a));
    same(a.sum(1, true), sum(a, 1, true));
    same(a.mean(), mean(a));
    same(a.mean(-1), mean(a, -1));
    same(a.max(), max(a));
    same(a.max(0, true), max(a, 0, true));
    same(a.reshape({3, -1}), reshape(a, {3, -1}));
    same(a.transpose(0, 1), transpose(a, 0, 1));
    same(a.permute({1, 0}), permute(a, {1, 0}));
    same(a.slice(1, 0, 3, 2), slice(a, 1, 0, 3, 2));
    same(a.matmul(b), matmul(a, b));
    same(a.neg(), neg(a));
    same(a.exp(), exp(a));
    same(pos.log(), log(pos));
    same(a.tanh(), tanh(a));
    same(pos.sqrt(), sqrt(pos));
    same(a.pow(3.0), pow(a, 3.0));
    same(a.relu(), relu(a));
    same(a.sigmoid(), sigmoid(a));
    same(a.gelu(), gelu(a));
    same(a.softmax(), softmax(a, -1));
    same(a.log_softmax(0), log_softmax(a, 0));
    // They record like the free functions: x.matmul(w).relu().sum() backpropagates.
    Tensor w = b.detach().requires_grad_();
    a.matmul(w).relu().sum().backward();
    Tensor w2 = b.detach().requires_grad_();
    sum(relu(matmul(a, w2))).backward();
    CHECK(w.grad().to_vector<double>() == w2.grad().to_vector<double>());
}
