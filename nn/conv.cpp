#include "nn/conv.hpp"

#include <fmt/format.h>

#include <cmath>

#include "core/check.hpp"
#include "nn/init.hpp"

namespace tg::nn {

namespace {

void check_positive(const char* layer, const char* what, int64_t v) {
    TG_CHECK(v > 0, ValueError, "{}: {} must be positive, got {}", layer, what, v);
}

// PyTorch's reset_parameters for convolutions: kaiming_uniform_(a = sqrt(5)) on the weight is
// U(-b, b) with b = sqrt(6 / ((1 + 5) fan_in)) = 1 / sqrt(fan_in), and the bias uses the same b.
void init_conv(Tensor& w, Tensor& b, int64_t fan_in, const Seed& seed) {
    Generator gen(resolve_seed(seed));
    const double bound = 1.0 / std::sqrt(static_cast<double>(fan_in));
    init::uniform_(w, -bound, bound, gen);
    if (b.defined()) init::uniform_(b, -bound, bound, gen);
}

std::string pair_str(const std::array<int64_t, 2>& a) { return fmt::format("({}, {})", a[0], a[1]); }

}  // namespace

Conv1d::Conv1d(int64_t in, int64_t out, int64_t k, Conv1dOptions opt)
    : args{opt.stride, opt.padding, opt.dilation, opt.groups} {
    check_positive("Conv1d", "in_channels", in);
    check_positive("Conv1d", "out_channels", out);
    check_positive("Conv1d", "kernel_size", k);
    check_positive("Conv1d", "groups", opt.groups);
    TG_CHECK(in % opt.groups == 0 && out % opt.groups == 0, ValueError,
             "Conv1d: in_channels ({}) and out_channels ({}) must both be divisible by groups ({})", in, out,
             opt.groups);
    Tensor w = Tensor::empty({out, in / opt.groups, k}, opt.dtype);
    Tensor b = opt.bias ? Tensor::empty({out}, opt.dtype) : Tensor();
    init_conv(w, b, in / opt.groups * k, opt.seed);
    weight = register_parameter("weight", w);
    if (b.defined()) bias = register_parameter("bias", b);
}

Tensor Conv1d::forward(const Tensor& x) { return conv1d(x, weight, bias, args); }

std::string Conv1d::extra_repr() const {
    std::string s = fmt::format("{}, {}, kernel_size={}, stride={}", weight.shape()[1] * args.groups,
                                weight.shape()[0], weight.shape()[2], args.stride);
    if (args.padding != 0) s += fmt::format(", padding={}", args.padding);
    if (args.dilation != 1) s += fmt::format(", dilation={}", args.dilation);
    if (args.groups != 1) s += fmt::format(", groups={}", args.groups);
    if (!bias.defined()) s += ", bias=false";
    return s;
}

Conv2d::Conv2d(int64_t in, int64_t out, std::array<int64_t, 2> k, Conv2dOptions opt)
    : args{opt.stride, opt.padding, opt.dilation, opt.groups} {
    check_positive("Conv2d", "in_channels", in);
    check_positive("Conv2d", "out_channels", out);
    check_positive("Conv2d", "kernel_size[0]", k[0]);
    check_positive("Conv2d", "kernel_size[1]", k[1]);
    check_positive("Conv2d", "groups", opt.groups);
    TG_CHECK(in % opt.groups == 0 && out % opt.groups == 0, ValueError,
             "Conv2d: in_channels ({}) and out_channels ({}) must both be divisible by groups ({})", in, out,
             opt.groups);
    Tensor w = Tensor::empty({out, in / opt.groups, k[0], k[1]}, opt.dtype);
    Tensor b = opt.bias ? Tensor::empty({out}, opt.dtype) : Tensor();
    init_conv(w, b, in / opt.groups * k[0] * k[1], opt.seed);
    weight = register_parameter("weight", w);
    if (b.defined()) bias = register_parameter("bias", b);
}

Conv2d::Conv2d(int64_t in, int64_t out, int64_t k, Conv2dOptions opt) : Conv2d(in, out, {k, k}, opt) {}

Tensor Conv2d::forward(const Tensor& x) { return conv2d(x, weight, bias, args); }

std::string Conv2d::extra_repr() const {
    std::string s = fmt::format("{}, {}, kernel_size=({}, {}), stride={}", weight.shape()[1] * args.groups,
                                weight.shape()[0], weight.shape()[2], weight.shape()[3], pair_str(args.stride));
    if (args.padding != std::array<int64_t, 2>{0, 0}) s += ", padding=" + pair_str(args.padding);
    if (args.dilation != std::array<int64_t, 2>{1, 1}) s += ", dilation=" + pair_str(args.dilation);
    if (args.groups != 1) s += fmt::format(", groups={}", args.groups);
    if (!bias.defined()) s += ", bias=false";
    return s;
}

namespace {

Pool2dArgs square_pool(const char* layer, int64_t k, int64_t stride, int64_t padding) {
    check_positive(layer, "kernel_size", k);
    TG_CHECK(stride >= 0, ValueError, "{}: stride must be positive (or 0 for the kernel size), got {}", layer,
             stride);
    TG_CHECK(padding >= 0, ValueError, "{}: padding must be non-negative, got {}", layer, padding);
    return Pool2dArgs{{k, k}, {stride, stride}, {padding, padding}};
}

std::string pool_repr(const Pool2dArgs& a) {
    const std::array<int64_t, 2> stride{a.stride[0] == 0 ? a.kernel[0] : a.stride[0],
                                        a.stride[1] == 0 ? a.kernel[1] : a.stride[1]};
    return fmt::format("kernel_size={}, stride={}, padding={}", pair_str(a.kernel), pair_str(stride),
                       pair_str(a.padding));
}

}  // namespace

MaxPool2d::MaxPool2d(Pool2dArgs a) : args(a) {}
MaxPool2d::MaxPool2d(int64_t k, int64_t stride, int64_t padding)
    : args(square_pool("MaxPool2d", k, stride, padding)) {}
Tensor MaxPool2d::forward(const Tensor& x) { return max_pool2d(x, args); }
std::string MaxPool2d::extra_repr() const { return pool_repr(args); }

AvgPool2d::AvgPool2d(Pool2dArgs a) : args(a) {}
AvgPool2d::AvgPool2d(int64_t k, int64_t stride, int64_t padding)
    : args(square_pool("AvgPool2d", k, stride, padding)) {}
Tensor AvgPool2d::forward(const Tensor& x) { return avg_pool2d(x, args); }
std::string AvgPool2d::extra_repr() const { return pool_repr(args); }

Tensor Flatten::forward(const Tensor& x) { return flatten(x, start_dim, end_dim); }
std::string Flatten::extra_repr() const { return fmt::format("start_dim={}, end_dim={}", start_dim, end_dim); }

}  // namespace tg::nn
