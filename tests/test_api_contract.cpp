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
