#pragma once
/// \file
/// One-line argument checks, in the spirit of PyTorch's TORCH_CHECK, and the validations that
/// several ops and layers share. The message is built only when the check fails.
#include <fmt/format.h>

#include <string_view>

#include "error.hpp"

/// Throws tg::ErrorType(fmt::format(...)) unless cond holds:
///
///     TG_CHECK(a.dim() == 2, ShapeError, "mm: expected a 2-d tensor, got {}",
///              shape_str(a.shape()));
#define TG_CHECK(cond, ErrorType, ...)                                \
    do {                                                              \
        if (!(cond)) [[unlikely]]                                     \
            throw ::tg::ErrorType(::fmt::format(__VA_ARGS__));        \
    } while (false)

namespace tg {

/// A normalisation's eps: finite and >= 0 ("<what>: eps must be finite and >= 0, got v").
void check_eps(std::string_view what, double eps);
/// A dropout probability: in [0, 1] ("<what>: probability must be in [0, 1], got p").
void check_probability(std::string_view what, double p);

}  // namespace tg
