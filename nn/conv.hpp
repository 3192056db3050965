#pragma once
/// \file
/// The layers of a small CNN: Conv1d, Conv2d, MaxPool2d, AvgPool2d and Flatten, over the ops of
/// the same names in core/ops.hpp. Shapes, defaults and initialisation follow PyTorch's nn.
#include <array>
#include <cstdint>

#include "../core/ops.hpp"
#include "../core/random.hpp"
#include "module.hpp"

namespace tg::nn {

/// The options of Conv1d, as PyTorch's nn.Conv1d keyword arguments (and a seed).
struct Conv1dOptions {
    /// \var stride
    /// The step between kernel positions.
    /// \var padding
    /// Zeros added at both ends of the length.
    /// \var dilation
    /// The spacing between kernel elements.
    /// \var groups
    /// Splits the channels into groups convolved separately; must divide in_channels and
    /// out_channels.
    int64_t stride = 1, padding = 0, dilation = 1, groups = 1;
    bool bias = true;          ///< add a learnable bias (out_channels)
    Seed seed;                 ///< weight and bias ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in)) with
                               ///< fan_in = in_channels / groups * kernel_size, as PyTorch;
                               ///< unset: drawn from the global generator (manual_seed)
    Dtype dtype = Dtype::f32;  ///< of the parameters: f32 or f64
};

/// (N, in_channels, L) -> (N, out_channels, L_out); weight (out, in / groups, kernel_size).
class Conv1d : public Module {
public:
    /// Sizes must be positive and groups divide both channel counts (else ValueError).
    Conv1d(int64_t in_channels, int64_t out_channels, int64_t kernel_size, Conv1dOptions options = {});
    /// x (N, in_channels, L) -> (N, out_channels, L_out), through conv1d.
    Tensor forward(const Tensor& x) override;
    std::string type_name() const override { return "Conv1d"; }
    std::string extra_repr() const override;

    Parameter weight;  ///< (out_channels, in_channels / groups, kernel_size)
    Parameter bias;    ///< (out_channels), undefined without bias
    Conv1dArgs args;   ///< stride, padding, dilation and groups, as given
};

/// The options of Conv2d, as PyTorch's nn.Conv2d keyword arguments (and a seed); pairs are
/// (height, width).
struct Conv2dOptions {
    /// \var stride
    /// The step between kernel positions.
    /// \var padding
    /// Zeros added on both sides of each spatial dim.
    /// \var dilation
    /// The spacing between kernel elements.
    std::array<int64_t, 2> stride{1, 1}, padding{0, 0}, dilation{1, 1};
    int64_t groups = 1;        ///< as Conv1dOptions::groups
    bool bias = true;          ///< add a learnable bias (out_channels)
    Seed seed;                 ///< as Conv1dOptions, with fan_in = in_channels / groups * kH * kW
    Dtype dtype = Dtype::f32;  ///< of the parameters: f32 or f64
};

/// (N, in_channels, H, W) -> (N, out_channels, H_out, W_out); weight (out, in / groups, kH, kW).
class Conv2d : public Module {
public:
    /// A kH x kW kernel; sizes must be positive and groups divide both channel counts (else
    /// ValueError).
    Conv2d(int64_t in_channels, int64_t out_channels, std::array<int64_t, 2> kernel_size,
           Conv2dOptions options = {});
    /// A square kernel_size x kernel_size kernel.
    Conv2d(int64_t in_channels, int64_t out_channels, int64_t kernel_size, Conv2dOptions options = {});
    /// x (N, in_channels, H, W) -> (N, out_channels, H_out, W_out), through conv2d.
    Tensor forward(const Tensor& x) override;
    std::string type_name() const override { return "Conv2d"; }
    std::string extra_repr() const override;

    Parameter weight;  ///< (out_channels, in_channels / groups, kH, kW)
    Parameter bias;    ///< (out_channels), undefined without bias
    Conv2dArgs args;   ///< stride, padding, dilation and groups, as given
};

/// Max over kernel windows of (N, C, H, W); stride 0 means the kernel size.
class MaxPool2d : public Module {
public:
    /// The window, stride and padding as max_pool2d takes them.
    explicit MaxPool2d(Pool2dArgs args);
    /// A square kernel_size window moving by stride (0: by kernel_size), padded by padding.
    explicit MaxPool2d(int64_t kernel_size, int64_t stride = 0, int64_t padding = 0);
    /// x (N, C, H, W) -> (N, C, H_out, W_out), through max_pool2d.
    Tensor forward(const Tensor& x) override;
    std::string type_name() const override { return "MaxPool2d"; }
    std::string extra_repr() const override;

    Pool2dArgs args;  ///< kernel, stride and padding
};

/// Mean over kernel windows of (N, C, H, W), padding counted in the divisor as PyTorch's default.
class AvgPool2d : public Module {
public:
    /// The window, stride and padding as avg_pool2d takes them.
    explicit AvgPool2d(Pool2dArgs args);
    /// A square kernel_size window moving by stride (0: by kernel_size), padded by padding.
    explicit AvgPool2d(int64_t kernel_size, int64_t stride = 0, int64_t padding = 0);
    /// x (N, C, H, W) -> (N, C, H_out, W_out), through avg_pool2d.
    Tensor forward(const Tensor& x) override;
    std::string type_name() const override { return "AvgPool2d"; }
    std::string extra_repr() const override;

    Pool2dArgs args;  ///< kernel, stride and padding
};

/// Merges dims start_dim..end_dim; the default keeps the batch dim: (N, C, H, W) -> (N, C*H*W).
class Flatten : public Module {
public:
    /// Dims start_dim to end_dim, both included; negative ones count from the end.
    explicit Flatten(int64_t start_dim = 1, int64_t end_dim = -1) : start_dim(start_dim), end_dim(end_dim) {}
    /// x with those dims merged into one, through flatten.
    Tensor forward(const Tensor& x) override;
    std::string type_name() const override { return "Flatten"; }
    std::string extra_repr() const override;

    /// \var start_dim
    /// The first dim merged.
    /// \var end_dim
    /// The last dim merged (-1: the last).
    int64_t start_dim, end_dim;
};

}  // namespace tg::nn
