// The core part of DESIGN.md's API contract, written as it appears there.
#include "helpers.hpp"

using namespace tg;

TEST_CASE("the core API of the design contract compiles and runs as written", "[contract]") {
    Tensor a = tensor({1.f, 2.f, 3.f, 4.f}, {2, 2});
    Tensor ids = tensor(std::vector<int64_t>{3, 1}, {2});
    Tensor b = Tensor::randn({2, 2}, Dtype::f64, /*seed=*/7);
    Tensor w = Tensor::ones({2});
    Tensor bias = Tensor::zeros({2});
    a.requires_grad_(true);
    CHECK(a.shape() == Shape{2, 2});
    CHECK(a.numel() == 4);
    CHECK(a.dtype() == Dtype::f32);
    CHECK(a.to_vector<float>() == std::vector<float>{1, 2, 3, 4});
    CHECK(a.to(Dtype::f64).dtype() == Dtype::f64);
    CHECK(sum(a).item<double>() == 10.0);
    CHECK(ids.dtype() == Dtype::i64);
    CHECK(b.dtype() == Dtype::f64);

    Tensor y = layer_norm(matmul(a, a), w, bias, 1e-5);
    Tensor loss = mean(y * y);
    loss.backward();
    CHECK(a.grad().defined());
    CHECK(a.grad().shape() == a.shape());
    {
        NoGradGuard ng;
        CHECK_FALSE((a * a).requires_grad());
    }
    Tensor x = Tensor::randn({3, 2}, Dtype::f64, 1);
    Tensor w2 = Tensor::randn({2, 2}, Dtype::f64, 2);
    auto fn = [](const std::vector<Tensor>& in) { return matmul(in[0], in[1]); };
    GradcheckResult r = gradcheck(fn, {x, w2});
    CHECK(r.ok);
}

TEST_CASE("the nn part of the design contract compiles and runs as written", "[contract]") {
    Tensor x = Tensor::randn({2, 3, 64}, Dtype::f32, 1);
    Tensor sublayer_out = Tensor::randn({2, 3, 64}, Dtype::f32, 2);
    nn::LayerNorm ln(64);            // weight = ones, bias = zeros, eps = 1e-5 (members weight, bias, eps)
    nn::ResidualBlock res(64);       // member ln; res.forward(x, sublayer_out) == x + sublayer_out
    Tensor z = nn::apply_residual_connection(x, sublayer_out);
    CHECK(ln.eps == 1e-5);
    CHECK(res.ln.weight.shape() == Shape{64});
    CHECK(res.forward(x, sublayer_out).to_vector<float>() == z.to_vector<float>());
    CHECK(ln.forward(x).shape() == x.shape());
    nn::GPT model(nn::GPTConfig{.vocab_size = 65, .context_length = 64, .d_model = 64,
                                .n_layer = 2, .n_head = 4, .norm = nn::Norm::pre,  // pre|post|none
                                .tie_embeddings = true, .dropout = 0.0});
    std::vector<std::pair<std::string, Tensor>> named = model.named_parameters();
    CHECK(named.front().first == "wte.weight");
    const std::string path = "contract_model.safetensors";
    model.save(path);  model.load(path);
    std::remove(path.c_str());
    model.to(Dtype::f64);
    CHECK(model.wte.weight.dtype() == Dtype::f64);
}
