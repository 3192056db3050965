// Layers against closed forms, and their gradients (parameters and inputs) in float64.
#include "helpers.hpp"

using namespace tg;
using Catch::Contains;
using test::check_grad;
using test::check_module_grad;
using test::randn64;

namespace {
Tensor leaf64(const Shape& s, uint64_t seed) { return randn64(s, seed).requires_grad_(); }
}  // namespace

TEST_CASE("linear matches x W^T + b and its gradients match finite differences", "[nn][layers]") {
    Tensor x = tensor({1.0, 2.0, 3.0, 4.0}, {2, 2});
    Tensor w = tensor({1.0, 0.0, 1.0, 1.0, -1.0, 2.0}, {3, 2});
    Tensor b = tensor({0.5, 0.0, -1.0}, {3});
    test::require_values(linear(x, w, b), {2, 3}, {1.5, 3, 2, 3.5, 7, 4});
    test::require_values(linear(x, w, Tensor()), {2, 3}, {1, 3, 3, 3, 7, 5});
    check_grad([](const auto& in) { return linear(in[0], in[1], in[2]); }, {randn64({2, 3, 4}, 1), randn64({5, 4}, 2), randn64({5}, 3)});
    check_grad([](const auto& in) { return linear(in[0], in[1], Tensor()); }, {randn64({1, 4}, 4), randn64({2, 4}, 5)});
    check_grad([](const auto& in) { return linear(in[0], in[1], in[2]); }, {randn64({4}, 6), randn64({3, 4}, 7), randn64({3}, 8)});
    REQUIRE_THROWS_AS(linear(randn64({2, 3}, 1), randn64({4, 2}, 2), Tensor()), ShapeError);
    REQUIRE_THROWS_WITH(linear(randn64({2, 3}, 1), randn64({4, 3}, 2), randn64({3}, 3)),
                        Contains("linear: x (2, 3) does not fit weight (4, 3) (out, in) and bias (3,)"));
}

TEST_CASE("Linear module gradients match finite differences", "[nn][layers]") {
    nn::Linear lin(4, 3, {.seed = 1, .dtype = Dtype::f64});
    Tensor x = leaf64({2, 4}, 2);
    check_module_grad(lin, [&] { return lin.forward(x); }, {x});
}

TEST_CASE("LayerNorm module: forward normalises, gradients match finite differences", "[nn][layers]") {
    nn::LayerNorm ln(4, 1e-5, Dtype::f64);
    Tensor x = tensor({1.0, 2.0, 3.0, 4.0, -1.0, -1.0, 1.0, 1.0}, {2, 4});
    // Row 1: mean 2.5, var 1.25; row 2: mean 0, var 1.
    const double r1 = 1 / std::sqrt(1.25 + 1e-5), r2 = 1 / std::sqrt(1 + 1e-5);
    test::require_values(ln.forward(x), {2, 4}, {-1.5 * r1, -0.5 * r1, 0.5 * r1, 1.5 * r1, -r2, -r2, r2, r2}, 1e-12);
    // Non-trivial weight and bias, so every term of the backward matters.
    Generator gen(3);
    nn::init::normal_(ln.weight, 1.0, 0.5, gen);
    nn::init::normal_(ln.bias, 0.0, 0.5, gen);
    Tensor xin = leaf64({3, 5, 4}, 1);
    check_module_grad(ln, [&] { return ln.forward(xin); }, {xin});
}

TEST_CASE("ResidualBlock adds, applies the pre-norm pattern and checks shapes", "[nn][layers]") {
    nn::ResidualBlock res(4, 1e-5, Dtype::f64);
    Tensor x = tensor({1.0, 2.0, 3.0, 4.0}, {1, 4});
    Tensor s = tensor({0.5, 0.5, -1.0, 0.0}, {1, 4});
    test::require_values(res.forward(x, s), {1, 4}, {1.5, 2.5, 2, 4});
    test::require_values(nn::apply_residual_connection(x, s), {1, 4}, {1.5, 2.5, 2, 4});
    // Pre-norm with the identity as sublayer: x + LayerNorm(x).
    const double r = 1 / std::sqrt(1.25 + 1e-5);
    test::require_values(res.forward(x, [](const Tensor& h) { return h; }), {1, 4},
                         {1 - 1.5 * r, 2 - 0.5 * r, 3 + 0.5 * r, 4 + 1.5 * r}, 1e-12);
    REQUIRE_THROWS_AS(res.forward(x, Tensor::ones({4}, Dtype::f64)), ShapeError);
    REQUIRE_THROWS_WITH(nn::apply_residual_connection(x, Tensor::ones({2, 4}, Dtype::f64)),
                        Contains("apply_residual_connection: input (1, 4) and sublayer output (2, 4) must have the same shape"));
    CHECK(res.named_parameters().size() == 2);
    CHECK(res.named_parameters()[0].first == "ln.weight");

    nn::Linear sub(4, 4, {.seed = 5, .dtype = Dtype::f64});
    Generator gen(4);
    nn::init::normal_(res.ln.weight, 1.0, 0.3, gen);
    Tensor xin = leaf64({2, 3, 4}, 6);
    std::vector<Tensor> extra = sub.parameters();
    extra.push_back(xin);
    check_module_grad(res, [&] { return res.forward(xin, [&](const Tensor& h) { return tanh(sub.forward(h)); }); }, extra);
}

TEST_CASE("CausalSelfAttention gradients match finite differences", "[nn][layers]") {
    nn::CausalSelfAttention attn(8, 2, 0.0, Dtype::f64, 3);
    Tensor x = leaf64({2, 5, 8}, 7);
    check_module_grad(attn, [&] { return attn.forward(x); }, {x});
    REQUIRE_THROWS_WITH(attn.forward(randn64({2, 5, 6}, 1)), Contains("CausalSelfAttention: expected input (B, T, 8), got (2, 5, 6)"));
}

TEST_CASE("attention output at position t depends only on positions up to t", "[nn][layers]") {
    nn::CausalSelfAttention attn(8, 2, 0.0, Dtype::f64, 3);
    Tensor x = randn64({1, 6, 8}, 1);
    Tensor y1 = attn.forward(x);
    Tensor x2 = x.clone();
    x2.data<double>()[5 * 8 + 3] += 10.0;  // change only the last position
    Tensor y2 = attn.forward(x2);
    const auto a = y1.to_vector<double>(), b = y2.to_vector<double>();
    for (int i = 0; i < 5 * 8; ++i) CHECK(a[i] == b[i]);
    CHECK(a[5 * 8] != b[5 * 8]);
}

TEST_CASE("TransformerBlock gradients match finite differences in every norm placement", "[nn][layers]") {
    for (nn::Norm norm : {nn::Norm::pre, nn::Norm::post, nn::Norm::none}) {
        INFO(nn::norm_name(norm));
        nn::TransformerBlock block(8, 2, {.norm = norm, .causal = true, .dtype = Dtype::f64, .seed = 11});
        Tensor x = leaf64({2, 4, 8}, 12);
        check_module_grad(block, [&] { return block.forward(x); }, {x});
        const std::size_t expected = norm == nn::Norm::none ? 8 : 12;
        CHECK(block.named_parameters().size() == expected);
    }
}

TEST_CASE("post-norm blocks end with a normalised output, pre-norm blocks do not", "[nn][layers]") {
    Tensor x = randn64({1, 4, 8}, 1) * 3.0;
    nn::TransformerBlock post(8, 2, {.norm = nn::Norm::post, .causal = true, .dtype = Dtype::f64, .seed = 1});
    Tensor y = post.forward(x);
    Tensor m = mean(y, -1);
    for (double v : m.to_vector<double>()) CHECK(std::abs(v) < 1e-12);
    nn::TransformerBlock pre(8, 2, {.norm = nn::Norm::pre, .causal = true, .dtype = Dtype::f64, .seed = 1});
    double total = 0;
    for (double v : mean(pre.forward(x), -1).to_vector<double>()) total += std::abs(v);
    CHECK(total > 1e-3);
}

TEST_CASE("layers without a seed draw distinct weights from the global generator, reproducible from manual_seed", "[nn]") {
    auto build = [] {
        nn::Linear a(16, 16), b(16, 16), c(16, 16);
        nn::MLP m1(8), m2(8);
        return std::vector<std::vector<float>>{a.weight.to_vector<float>(), b.weight.to_vector<float>(),
                                               c.weight.to_vector<float>(), m1.c_fc.weight.to_vector<float>(),
                                               m2.c_fc.weight.to_vector<float>(), m1.c_proj.weight.to_vector<float>()};
    };
    manual_seed(123);
    const auto first = build();
    CHECK(first[0] != first[1]);
    CHECK(first[1] != first[2]);
    CHECK(first[3] != first[4]);
    manual_seed(123);
    CHECK(build() == first);  // one seed reproduces the whole program
    manual_seed(124);
    CHECK(build()[0] != first[0]);
    // An explicit seed wins over the global generator, in any program state.
    manual_seed(1);
    const auto w1 = nn::Linear(4, 4, {.seed = 7}).weight.to_vector<float>();
    manual_seed(2);
    CHECK(nn::Linear(4, 4, {.seed = 7}).weight.to_vector<float>() == w1);
    CHECK(nn::MLP(8, 0.0, Dtype::f32, 3).c_fc.weight.to_vector<float>() ==
          nn::Linear(8, 32, {.seed = 3}).weight.to_vector<float>());
    // Tensor::randn/rand without a seed draw from it too.
    manual_seed(9);
    const auto r = Tensor::randn({5}).to_vector<float>();
    CHECK(Tensor::randn({5}).to_vector<float>() != r);
    manual_seed(9);
    CHECK(Tensor::randn({5}).to_vector<float>() == r);
    CHECK(Tensor::rand({3}, Dtype::f64).dtype() == Dtype::f64);
}
