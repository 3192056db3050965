// docs/autograd.md's first example: ops, backward() and a gradcheck; the tests build and run it.
#include <fmt/format.h>

#include <tapegrad.hpp>

int main() {
    using namespace tg;
    Tensor x = Tensor::randn({4, 8}, Dtype::f32, /*seed=*/1);
    Tensor w = Tensor::randn({8, 8}, Dtype::f32, /*seed=*/2).requires_grad_();
    Tensor gamma = Tensor::ones({8}).requires_grad_();
    Tensor beta = Tensor::zeros({8}).requires_grad_();

    Tensor h = layer_norm(matmul(x, w), gamma, beta, 1e-5);  // (4, 8)
    Tensor loss = mean(gelu(h) * gelu(h));
    loss.backward();  // w.grad(), gamma.grad(), beta.grad() now hold dloss/d...

    fmt::print("loss = {:.6f}\n", loss.item<float>());
    fmt::print("dloss/dgamma = {}\n", gamma.grad());

    // Every gradient can be checked against finite differences in float64.
    GradcheckResult r = gradcheck(
        [](const std::vector<Tensor>& in) { return layer_norm(matmul(in[0], in[1]), in[2], in[3]); },
        {x, w, gamma, beta});
    fmt::print("{}\n", r.message());
    return r.ok ? 0 : 1;
}
