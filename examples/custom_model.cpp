// How to write your own model: a Module registers its parameters and submodules once, in its
// constructor; forward is plain C++ over tapegrad ops. This one is a small residual MLP
// classifier trained on two interleaved spirals, with a checkpoint saved and reloaded.
#include <fmt/format.h>

#include <cmath>
#include <numbers>
#include <tapegrad.hpp>

using namespace tg;

struct SpiralNet : nn::Module {
    nn::Linear embed, head;
    nn::ResidualBlock res;  // pre-norm: x + mlp(LayerNorm(x))
    nn::MLP mlp;

    SpiralNet(int64_t hidden, int64_t classes)
        : embed(2, hidden, {.seed = 1}), head(hidden, classes, {.seed = 2}), res(hidden), mlp(hidden, 0.0, Dtype::f32, 3) {
        register_module("embed", embed);
        register_module("res", res);
        register_module("mlp", mlp);
        register_module("head", head);
    }
    Tensor forward(const Tensor& x) override {
        Tensor h = tanh(embed.forward(x));
        h = res.forward(h, [&](const Tensor& z) { return mlp.forward(z); });
        return head.forward(h);
    }
    std::string type_name() const override { return "SpiralNet"; }
};

int main(int argc, char** argv) try {
    const int steps = argc > 1 ? std::stoi(argv[1]) : 600;
    const int64_t N = 400;  // points, half per spiral
    std::vector<float> xs;
    std::vector<int64_t> ys;
    Generator gen(0);
    for (int64_t i = 0; i < N; ++i) {
        const int64_t cls = i % 2;
        const double t = 0.5 + 3.0 * static_cast<double>(i / 2) / (N / 2.0);  // radius and angle
        const double angle = t * 2.0 + cls * std::numbers::pi;
        xs.push_back(static_cast<float>(t * std::cos(angle) / 3.5 + 0.02 * gen.normal()));
        xs.push_back(static_cast<float>(t * std::sin(angle) / 3.5 + 0.02 * gen.normal()));
        ys.push_back(cls);
    }
    Tensor x = tensor(xs, {N, 2});
    Tensor y = tensor(ys, {N});

    SpiralNet net(32, 2);
    fmt::print("{}", net);
    const double lr = 0.2;
    for (int step = 0; step <= steps; ++step) {
        net.zero_grad();
        Tensor loss = cross_entropy(net.forward(x), y);
        loss.backward();
        {
            NoGradGuard ng;
            for (Tensor& p : net.parameters()) p.add_(p.grad(), -lr);
        }
        if (step % 100 == 0) fmt::print("step {:4d}  loss {:.4f}\n", step, loss.item<float>());
    }

    auto accuracy = [&](SpiralNet& model) {
        NoGradGuard ng;
        const auto logits = model.forward(x).to_vector<float>();
        int correct = 0;
        for (int64_t i = 0; i < N; ++i) correct += (logits[2 * i + 1] > logits[2 * i]) == (ys[i] == 1);
        return static_cast<double>(correct) / N;
    };
    const double acc = accuracy(net);
    net.save("spiral_net.safetensors");
    SpiralNet restored(32, 2);
    restored.load("spiral_net.safetensors");
    fmt::print("accuracy {:.1f}%, after save and load {:.1f}%\n", 100 * acc, 100 * accuracy(restored));
    return acc > 0.9 ? 0 : 1;
} catch (const std::exception& e) {
    fmt::print(stderr, "custom_model: {}\n", e.what());
    return 1;
}
