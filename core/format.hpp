#pragma once
// fmt support: fmt::format("{}", tensor) prints values like PyTorch (long dims summarised with
// "..."), then the dtype and, where set, requires_grad or the op that made the tensor.
#include <fmt/format.h>

#include <string>

#include "tensor.hpp"

namespace tg {
std::string to_string(const Tensor& t);
}

template <>
struct fmt::formatter<tg::Tensor> : fmt::formatter<std::string_view> {
    template <class Ctx>
    auto format(const tg::Tensor& t, Ctx& ctx) const {
        return fmt::formatter<std::string_view>::format(tg::to_string(t), ctx);
    }
};

template <>
struct fmt::formatter<tg::Dtype> : fmt::formatter<std::string_view> {
    template <class Ctx>
    auto format(tg::Dtype d, Ctx& ctx) const {
        return fmt::formatter<std::string_view>::format(tg::dtype_name(d), ctx);
    }
};

/// A bfloat16 formats as its float value ("{:.3f}" and the other float specs apply).
template <>
struct fmt::formatter<tg::bfloat16> : fmt::formatter<float> {
    template <class Ctx>
    auto format(tg::bfloat16 v, Ctx& ctx) const {
        return fmt::formatter<float>::format(v.to_float(), ctx);
    }
};
