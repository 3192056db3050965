#pragma once
// Internal (not installed): run a generic lambda with the C++ element type of a dtype. The lambda receives a
// value of that type as a tag: [&](auto tag) { using T = decltype(tag); ... }.
#include <fmt/format.h>

#include "core/dtype.hpp"
#include "core/error.hpp"

namespace tg {

template <class F>
decltype(auto) dispatch_floating(const char* op, Dtype d, F&& f) {
    switch (d) {
        case Dtype::f32: return f(float{});
        case Dtype::f64: return f(double{});
        default: break;
    }
    throw DtypeError(fmt::format("{}: expected a floating dtype (f32 or f64), got {}", op,
                                 dtype_name(d)));
}

template <class F>
decltype(auto) dispatch_all(Dtype d, F&& f) {
    switch (d) {
        case Dtype::f32: return f(float{});
        case Dtype::f64: return f(double{});
        case Dtype::i64: break;
    }
    return f(int64_t{});
}

}  // namespace tg
