#pragma once
// The layers of a small CNN: Conv1d, Conv2d, MaxPool2d, AvgPool2d and Flatten, over the ops of
// the same names in core/ops.hpp. Shapes, defaults and initialisation follow PyTorch's nn.
#include <array>
#include <cstdint>

#include "../core/ops.hpp"
#include "../core/random.hpp"
#include "module.hpp"

namespace tg::nn {

struct Conv1dOptions {
    int64_t stride = 1, padding = 0, dilation = 1, groups = 1;
    bool bias = true;
    Seed seed;                 // weight and bias ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in)) with
                               // fan_in = in_channels / groups * kernel_size, as PyTorch;
                               // unset: drawn from the global generator (manual_seed)
    Dtype dtype = Dtype::f32;
};

/// (N, in_channels, L) -> (N, out_channels, L_out); weight (out, in / groups, kernel_size).
class Conv1d : public Module {
public:
    Conv1d(int64_t in_channels, int64_t out_channels, int64_t kernel_size, Conv1dOptions options = {});
    Tensor forward(const Tensor& x) override;
    std::string type_name() const override { return "Conv1d"; }
    std::string extra_repr() const override;

    Parameter weight;  // (out_channels, in_channels / groups, kernel_size)
    Parameter bias;    // (out_channels), undefined without bias
    Conv1dArgs args;
};

struct Conv2dOptions {
    std::array<int64_t, 2> stride{1, 1}, padding{0, 0}, dilation{1, 1};
    int64_t groups = 1;
    bool bias = true;
    Seed seed;                 // as Conv1dOptions, with fan_in = in_channels / groups * kH * kW
    Dtype dtype = Dtype::f32;
};

/// (N, in_channels, H, W) -> (N, out_channels, H_out, W_out); weight (out, in / groups, kH, kW).
class Conv2d : public Module {
public:
    Conv2d(int64_t in_channels, int64_t out_channels, std::array<int64_t, 2> kernel_size,
           Conv2dOptions options = {});
    /// A square kernel_size x kernel_size kernel.
    Conv2d(int64_t in_channels, int64_t out_channels, int64_t kernel_size, Conv2dOptions options = {});
    Tensor forward(const Tensor& x) override;
    std::string type_name() const override { return "Conv2d"; }
    std::string extra_repr() const override;

    Parameter weight;  // (out_channels, in_channels / groups, kH, kW)
    Parameter bias;    // (out_channels), undefined without bias
    Conv2dArgs args;
};

/// Max over kernel windows of (N, C, H, W); stride 0 means the kernel size.
class MaxPool2d : public Module {
public:
    explicit MaxPool2d(Pool2dArgs args);
    /// A square kernel_size window moving by stride (0: by kernel_size), padded by padding.
    explicit MaxPool2d(int64_t kernel_size, int64_t stride = 0, int64_t padding = 0);
    Tensor forward(const Tensor& x) override;
    std::string type_name() const override { return "MaxPool2d"; }
    std::string extra_repr() const override;

    Pool2dArgs args;
};

/// Mean over kernel windows of (N, C, H, W), padding counted in the divisor as PyTorch's default.
class AvgPool2d : public Module {
public:
    explicit AvgPool2d(Pool2dArgs args);
    explicit AvgPool2d(int64_t kernel_size, int64_t stride = 0, int64_t padding = 0);
    Tensor forward(const Tensor& x) override;
    std::string type_name() const override { return "AvgPool2d"; }
    std::string extra_repr() const override;

    Pool2dArgs args;
};

/// Merges dims start_dim..end_dim; the default keeps the batch dim: (N, C, H, W) -> (N, C*H*W).
class Flatten : public Module {
public:
    explicit Flatten(int64_t start_dim = 1, int64_t end_dim = -1) : start_dim(start_dim), end_dim(end_dim) {}
    Tensor forward(const Tensor& x) override;
    std::string type_name() const override { return "Flatten"; }
    std::string extra_repr() const override;

    int64_t start_dim, end_dim;
};

}  // namespace tg::nn
