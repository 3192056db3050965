#include "helpers.hpp"

using namespace tg;
using Catch::Contains;

namespace {
// The custom module of README: about 20 lines for a two-layer perceptron.
struct TwoLayerNet : nn::Module {
    nn::Linear fc1, fc2;
    nn::Parameter scale;
    TwoLayerNet(int64_t in, int64_t hidden, int64_t out)
        : fc1(in, hidden, {.seed = 1}), fc2(hidden, out, {.seed = 2}) {
        register_module("fc1", fc1);
        register_module("fc2", fc2);
        scale = register_parameter("scale", Tensor::ones({out}));
    }
    Tensor forward(const Tensor& x) override { return fc2.forward(relu(fc1.forward(x))) * scale; }
    std::string type_name() const override { return "TwoLayerNet"; }
};
}  // namespace

TEST_CASE("modules name parameters with dotted paths, own ones first, then each child's (as PyTorch)", "[nn][module]") {
    TwoLayerNet net(3, 5, 2);
    std::vector<std::string> names;
    for (const auto& [name, p] : net.named_parameters()) names.push_back(name);
    CHECK(names == std::vector<std::string>{"scale", "fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"});
    CHECK(net.parameters().size() == 5);
    CHECK(net.num_parameters() == 5 * 3 + 5 + 2 * 5 + 2 + 2);
    CHECK(net.fc1.weight.shape() == Shape{5, 3});
    for (const Tensor& p : net.parameters()) CHECK(p.requires_grad());
    std::vector<std::string> mods;
    for (const auto& [name, m] : net.named_modules()) mods.push_back(name + ":" + m->type_name());
    CHECK(mods == std::vector<std::string>{":TwoLayerNet", "fc1:Linear", "fc2:Linear"});
}

TEST_CASE("a custom module trains through its parameters", "[nn][module]") {
    TwoLayerNet net(3, 5, 2);
    Tensor x = Tensor::randn({4, 3}, Dtype::f32, 3);
    Tensor loss = mean(net.forward(x) * net.forward(x));
    loss.backward();
    for (const auto& [name, p] : net.named_parameters()) {
        INFO(name);
        CHECK(p.grad().defined());
    }
    net.zero_grad();
    for (const Tensor& p : net.parameters()) CHECK_FALSE(p.grad().defined());
}

TEST_CASE("registration rejects bad and repeated names", "[nn][module]") {
    nn::Module m;
    m.register_parameter("w", Tensor::zeros({2}));
    REQUIRE_THROWS_WITH(m.register_parameter("w", Tensor::zeros({2})), Contains("'w' is already a parameter"));
    REQUIRE_THROWS_WITH(m.register_parameter("a.b", Tensor::zeros({2})), Contains("must be non-empty and have no dots"));
    REQUIRE_THROWS_AS(m.register_parameter("ids", tensor(std::vector<int64_t>{1})), DtypeError);
    nn::Linear child(2, 2);
    REQUIRE_THROWS_WITH(m.register_module("w", child), Contains("'w' is already a parameter"));
    REQUIRE_THROWS_WITH(m.forward(Tensor::zeros({1})), Contains("Module: this module has no single-input forward"));
}

TEST_CASE("train and eval propagate to every descendant", "[nn][module]") {
    nn::GPT gpt(nn::GPTConfig{.vocab_size = 5, .context_length = 4, .d_model = 8, .n_layer = 2, .n_head = 2});
    CHECK(gpt.is_training());
    gpt.eval();
    for (const auto& [name, m] : gpt.named_modules()) {
        INFO(name);
        CHECK_FALSE(m->is_training());
    }
    CHECK_FALSE(gpt.block(1).mlp.drop.is_training());
    CHECK_FALSE(gpt.block(0).attn.drop.is_training());
    gpt.train();
    CHECK(gpt.block(1).mlp.drop.is_training());
}

TEST_CASE("to converts every parameter in place", "[nn][module]") {
    TwoLayerNet net(3, 4, 2);
    Tensor handle = net.fc1.weight;
    const std::vector<float> before = handle.to_vector<float>();
    sum(net.forward(Tensor::ones({1, 3}))).backward();
    net.to(Dtype::f64);
    for (const Tensor& p : net.parameters()) {
        CHECK(p.dtype() == Dtype::f64);
        CHECK_FALSE(p.grad().defined());
        CHECK(p.requires_grad());
    }
    CHECK(handle.dtype() == Dtype::f64);  // the member and any other handle see it
    const std::vector<double> after = handle.to_vector<double>();
    for (std::size_t i = 0; i < before.size(); ++i) CHECK(after[i] == static_cast<double>(before[i]));
    CHECK(net.forward(Tensor::ones({1, 3}, Dtype::f64)).dtype() == Dtype::f64);
    REQUIRE_THROWS_AS(net.to(Dtype::i64), DtypeError);
}

TEST_CASE("to converts floating buffers, bf16 ones too, and leaves integer buffers", "[nn][module][bf16]") {
    nn::Module m;
    m.register_parameter("w", Tensor::ones({2}));
    Tensor table = m.register_buffer("table", tensor({1.0f, -2.5f, 3.0f}, {3}).to(Dtype::bf16));
    Tensor scale = m.register_buffer("scale", tensor({0.5f}, {1}));
    Tensor count = m.register_buffer("count", Tensor::zeros({1}, Dtype::i64));
    m.to(Dtype::f64);
    CHECK(table.dtype() == Dtype::f64);
    CHECK(table.to_vector<double>() == std::vector<double>{1.0, -2.5, 3.0});
    CHECK(scale.dtype() == Dtype::f64);
    CHECK(count.dtype() == Dtype::i64);
    CHECK(mul(table, sum(m.parameters()[0])).to_vector<double>() == std::vector<double>{2.0, -5.0, 6.0});
    m.to(Dtype::f32);
    CHECK(table.dtype() == Dtype::f32);
    CHECK(count.dtype() == Dtype::i64);
}

TEST_CASE("parameters are never bf16: Module::to and register_parameter refuse it", "[nn][module][bf16]") {
    TwoLayerNet net(3, 4, 2);
    const std::vector<float> before = net.fc1.weight.to_vector<float>();
    REQUIRE_THROWS_WITH(net.to(Dtype::bf16),
                        Contains("Module::to: parameters stay f32 or f64 (training keeps f32 master weights); bf16 "
                                 "is a storage dtype"));
    for (const Tensor& p : net.parameters()) CHECK(p.dtype() == Dtype::f32);  // nothing converted
    CHECK(net.fc1.weight.to_vector<float>() == before);
    nn::Module m;
    REQUIRE_THROWS_WITH(m.register_parameter("w", Tensor::zeros({2}, Dtype::bf16)),
                        Contains("register_parameter: 'w' has dtype bf16; parameters are f32 or f64"));
    // Layers asked for bf16 parameters refuse at construction.
    REQUIRE_THROWS_WITH(nn::Linear(2, 2, {.dtype = Dtype::bf16}), Contains("uniform_: bf16 is a storage dtype"));
    REQUIRE_THROWS_WITH(nn::Embedding(4, 2, {.dtype = Dtype::bf16}), Contains("normal_: bf16 is a storage dtype"));
    REQUIRE_THROWS_WITH(nn::LayerNorm(2, 1e-5, Dtype::bf16), Contains("register_parameter: 'weight' has dtype bf16"));
    REQUIRE_THROWS_WITH(nn::BatchNorm1d(2, {.dtype = Dtype::bf16}), Contains("dtype must be f32 or f64, got bf16"));
}

TEST_CASE("a module prints as a tree with shapes and counts", "[nn][module]") {
    TwoLayerNet net(3, 5, 2);
    const std::string s = fmt::format("{}", net);
    CHECK(s ==
          "TwoLayerNet (34 parameters)\n"
          "  scale (2,) f32\n"
          "  fc1: Linear(in=3, out=5, bias=true) (20 parameters)\n"
          "    weight (5, 3) f32\n"
          "    bias (5,) f32\n"
          "  fc2: Linear(in=5, out=2, bias=true) (12 parameters)\n"
          "    weight (2, 5) f32\n"
          "    bias (2,) f32\n");
}

TEST_CASE("Sequential chains single-input modules", "[nn][module]") {
    nn::Sequential seq{std::make_shared<nn::Linear>(4, 8, nn::LinearOptions{.seed = 1}),
                       std::make_shared<nn::GELU>(),
                       std::make_shared<nn::LayerNorm>(8),
                       std::make_shared<nn::Linear>(8, 2, nn::LinearOptions{.bias = false, .seed = 2})};
    CHECK(seq.size() == 4);
    Tensor y = seq.forward(Tensor::randn({3, 4}, Dtype::f32, 1));
    CHECK(y.shape() == Shape{3, 2});
    std::vector<std::string> names;
    for (const auto& [name, p] : seq.named_parameters()) names.push_back(name);
    CHECK(names == std::vector<std::string>{"0.weight", "0.bias", "2.weight", "2.bias", "3.weight"});
}

TEST_CASE("layers are initialised like PyTorch's and check their sizes", "[nn][module]") {
    nn::Linear lin(16, 4, {.seed = 3});
    const double bound = 1.0 / 4.0;
    for (float v : lin.weight.to_vector<float>()) CHECK(std::abs(v) <= bound);
    nn::LayerNorm ln(6);
    CHECK(ln.weight.to_vector<float>() == std::vector<float>(6, 1.f));
    CHECK(ln.bias.to_vector<float>() == std::vector<float>(6, 0.f));
    CHECK(ln.eps == 1e-5);
    REQUIRE_THROWS_WITH(nn::Linear(0, 3), Contains("Linear: in_features must be positive, got 0"));
    REQUIRE_THROWS_WITH(nn::Dropout(1.5), Contains("Dropout: probability must be in [0, 1], got 1.5"));
    REQUIRE_THROWS_WITH(nn::CausalSelfAttention(10, 3), Contains("d_model 10 is not divisible into 3 heads"));
}

TEST_CASE("Dropout is the identity in eval mode and seeded in training", "[nn][module]") {
    Tensor x = Tensor::ones({1000}, Dtype::f64);
    nn::Dropout a(0.25, 7), b(0.25, 7);
    const auto ya = a.forward(x).to_vector<double>();
    CHECK(ya == b.forward(x).to_vector<double>());
    int zeros = 0;
    for (double v : ya) {
        CHECK((v == 0.0 || v == Approx(1.0 / 0.75)));
        zeros += v == 0.0;
    }
    CHECK(zeros > 200);
    CHECK(zeros < 300);
    a.eval();
    CHECK(a.forward(x).is_same(x));
}

namespace {
struct Unnamed : nn::Module {
    nn::Linear fc;
    Unnamed() : fc(2, 2, {.seed = 5}) { register_module("fc", fc); }
    Tensor forward(const Tensor& x) override { return fc(x) * 2.0; }  // a child called as PyTorch does
};
template <class T>
struct Templated : nn::Module {};
namespace deeper {
struct Inner : nn::Module {};
}  // namespace deeper
}  // namespace

TEST_CASE("modules are called like functions and print their own class name by default", "[nn][module]") {
    Unnamed net;
    Tensor x = Tensor::randn({3, 2}, Dtype::f32, 9);
    test::require_close(net(x), net.forward(x), 0.0);
    CHECK(net.type_name() == "Unnamed");
    CHECK_THAT(net.summary(), Contains("Unnamed"));
    CHECK_THAT(net.summary(), Contains("fc: Linear"));
    CHECK(Templated<std::pair<int, float>>().type_name() == "Templated<std::pair<int, float> >");
    CHECK(deeper::Inner().type_name() == "Inner");
    CHECK(nn::Module().type_name() == "Module");
    // Multi-input forwards have a matching operator() (and keep the single-input one).
    nn::TransformerBlock block(8, 2, {.seed = 3});
    Tensor h = Tensor::randn({2, 4, 8}, Dtype::f32, 4);
    Tensor pad = tensor(std::vector<bool>{false, false, false, true, false, false, true, true}, {2, 4});
    test::require_close(block(h, Tensor(), pad), block.forward(h, Tensor(), pad), 0.0);
    test::require_close(block(h), block.forward(h), 0.0);
    nn::MultiheadAttention mha(8, 2, {.seed = 6});
    test::require_close(mha(h, h, h).output, mha.forward(h, h, h).output, 0.0);
}
