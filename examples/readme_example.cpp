// README's example: a model of one's own, trained a few steps, its gradients checked. The tests
// build and run it, and check that the loss fell and the gradcheck passed.
#include <tapegrad.hpp>
using namespace tg;

struct TinyNet : nn::Module {  // a model: a Module that registers its layers
    nn::Linear fc1{4, 32}, fc2{32, 3};
    nn::LayerNorm ln{32};
    TinyNet() { register_module("fc1", fc1); register_module("ln", ln); register_module("fc2", fc2); }
    Tensor forward(const Tensor& x) override { return fc2(gelu(ln(fc1(x)))); }
};

int main() {
    manual_seed(0);
    TinyNet net;
    optim::AdamW opt(net.parameters(), {.lr = 1e-2});
    Tensor x = Tensor::randn({64, 4});                      // 64 points with 4 features
    Tensor y = argmax(x.matmul(Tensor::randn({4, 3})), 1);  // their classes, 3 of them
    for (int step = 0; step <= 60; ++step) {
        Tensor loss = cross_entropy(net(x), y);
        opt.zero_grad();
        loss.backward();
        opt.step();
        if (step % 20 == 0) fmt::print("step {:2d}  loss {:.4f}\n", step, loss.item<double>());
    }
    net.to(Dtype::f64);  // now check every gradient against central differences in float64
    const Tensor x64 = x.to(Dtype::f64);
    GradcheckResult r = gradcheck_tensors([&] { return cross_entropy(net(x64), y); }, net.parameters());
    fmt::print("{}{}\n", net, r.message());
    return r.ok ? 0 : 1;
}
