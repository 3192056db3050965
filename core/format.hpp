#pragma once
/// \file
/// fmt support: fmt::format("{}", tensor) and fmt::print print a Tensor's values like PyTorch
/// (long dims summarised with "..."), then its shape, its dtype and, where set, requires_grad or
/// the op that made the tensor (to_string() gives the same text). A Dtype prints as its name
/// ("f32"), a bfloat16 as its float value ("{:.3f}" and the other float specs apply).
#include <fmt/format.h>

#include <string>

#include "tensor.hpp"

namespace tg {
/// What fmt::format("{}", t) gives: e.g. "tensor([[1.0000, 2.0000]], shape=(1, 2), dtype=f32,
/// requires_grad=true)". Floating values show 4 decimals. Above 1000 elements, a dim longer
/// than 6 shows only its first and last 3 entries, with "..." between. An undefined tensor
/// gives "tensor(undefined)".
std::string to_string(const Tensor& t);
}

/// \cond
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

// A bfloat16 formats as its float value ("{:.3f}" and the other float specs apply).
template <>
struct fmt::formatter<tg::bfloat16> : fmt::formatter<float> {
    template <class Ctx>
    auto format(tg::bfloat16 v, Ctx& ctx) const {
        return fmt::formatter<float>::format(v.to_float(), ctx);
    }
};
/// \endcond
