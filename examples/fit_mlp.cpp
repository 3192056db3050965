// A first training run with nothing but core tensors: a two-layer tanh MLP fitted to
// y = sin(2 x0) * cos(x1) on points generated from a seed, with plain gradient descent.
// (Until the transformer example lands, scripts/train runs this.)
#include <fmt/format.h>

#include <cmath>
#include <tapegrad.hpp>

using namespace tg;

int main(int argc, char** argv) try {
    const int steps = argc > 1 ? std::stoi(argv[1]) : 2000;
    const int64_t N = 256, D = 2, H = 32;  // points, inputs, hidden units
    const double lr = 0.1;

    Tensor x = Tensor::rand({N, D}, Dtype::f32, /*seed=*/1) * 4.0 - 2.0;
    std::vector<float> yv(N);
    const auto xv = x.to_vector<float>();
    for (int64_t n = 0; n < N; ++n) yv[n] = std::sin(2 * xv[n * D]) * std::cos(xv[n * D + 1]);
    Tensor y = tensor(yv, {N, 1});

    Generator gen(2);
    Tensor w1 = (Tensor::randn({D, H}, Dtype::f32, gen) * (1.0 / std::sqrt(D))).detach().requires_grad_();
    Tensor b1 = Tensor::zeros({H}).requires_grad_();
    Tensor w2 = (Tensor::randn({H, 1}, Dtype::f32, gen) * (1.0 / std::sqrt(H))).detach().requires_grad_();
    Tensor b2 = Tensor::zeros({1}).requires_grad_();
    std::vector<Tensor> params{w1, b1, w2, b2};

    double first = 0, last = 0;
    for (int step = 0; step <= steps; ++step) {
        Tensor pred = matmul(tanh(matmul(x, w1) + b1), w2) + b2;  // (N, 1)
        Tensor diff = pred - y;
        Tensor loss = mean(diff * diff);
        for (Tensor& p : params) p.set_grad(Tensor());
        loss.backward();
        {
            NoGradGuard ng;
            for (Tensor& p : params) p.add_(p.grad(), -lr);
        }
        last = loss.item<double>();
        if (step == 0) first = last;
        if (step % 250 == 0) fmt::print("step {:5d}  mse {:.6f}\n", step, last);
    }
    fmt::print("mse fell from {:.4f} to {:.4f} in {} steps\n", first, last, steps);
    return last < first ? 0 : 1;
} catch (const std::exception& e) {
    fmt::print(stderr, "fit_mlp: {}\n", e.what());
    return 1;
}
