#pragma once
// The example's CNN, also timed by bench/ (tapegrad-bench cnn, against the same model in
// libtorch: torch-bench cnn).
#include <tapegrad.hpp>

namespace example {

/// Two blocks of 3x3 conv (no bias: batch norm follows), batch norm, ReLU and 2x2 max pooling,
/// then dropout and two linear layers. Written as a user writes their own model: modules
/// registered in the constructor, forward composing them.
class FashionCNN : public tg::nn::Module {
public:
    FashionCNN(int64_t width, double dropout_p, int64_t num_classes = 10)
        : conv1(1, width, 3, {.padding = {1, 1}, .bias = false}),
          bn1(width),
          conv2(width, 2 * width, 3, {.padding = {1, 1}, .bias = false}),
          bn2(2 * width),
          pool(2),
          drop(dropout_p),
          fc1(2 * width * 7 * 7, 128),
          fc2(128, num_classes) {
        register_module("conv1", conv1);
        register_module("bn1", bn1);
        register_module("conv2", conv2);
        register_module("bn2", bn2);
        register_module("pool", pool);
        register_module("drop", drop);
        register_module("fc1", fc1);
        register_module("fc2", fc2);
    }

    /// (N, 1, 28, 28) normalised images -> (N, num_classes) logits.
    tg::Tensor forward(const tg::Tensor& x) override {
        tg::Tensor h = pool.forward(tg::relu(bn1.forward(conv1.forward(x))));  // (N, width, 14, 14)
        h = pool.forward(tg::relu(bn2.forward(conv2.forward(h))));             // (N, 2 width, 7, 7)
        h = drop.forward(tg::flatten(h, 1));
        return fc2.forward(tg::relu(fc1.forward(h)));
    }
    std::string type_name() const override { return "FashionCNN"; }

    tg::nn::Conv2d conv1;
    tg::nn::BatchNorm2d bn1;
    tg::nn::Conv2d conv2;
    tg::nn::BatchNorm2d bn2;
    tg::nn::MaxPool2d pool;
    tg::nn::Dropout drop;
    tg::nn::Linear fc1, fc2;
};

}  // namespace example
