#include <tapegrad.hpp>
#include <tapegrad/nn/layers.hpp>  // the parts are reachable under tapegrad/ too

int main() {
    tg::Tensor w = tg::Tensor::ones({2, 2}).requires_grad_();
    tg::Tensor loss = tg::sum(tg::matmul(w, w));
    loss.backward();
    // d sum(W W) / dW = 1 W^T + W^T 1 = 4 for an all-ones 2x2 W.
    for (float g : w.grad().to_vector<float>())
        if (g != 4.0f) return 1;
    fmt::print("consumer ok: {}\n", w.grad());
    return 0;
}
