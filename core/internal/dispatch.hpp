#pragma once
// Internal (not installed): run a generic lambda with the C++ element type of a dtype. The lambda receives a
// value of that type as a tag: [&](auto tag) { using T = decltype(tag); ... }.
#include <fmt/format.h>

#include <utility>

#include "core/dtype.hpp"
#include "core/error.hpp"

namespace tg {

/// The error every op gives a bf16 input: bf16 is stored and converted, never computed in.
[[noreturn]] inline void throw_bf16_storage(const char* op) {
    throw DtypeError(fmt::format(
        "{}: bf16 is a storage dtype; convert with .to(Dtype::f32) (products run in bf16 under tg::Autocast)", op));
}

/// The error every arithmetic op gives a b8 input: truth values are compared and combined, not
/// computed with.
[[noreturn]] inline void throw_bool_arithmetic(const char* op) {
    throw DtypeError(fmt::format(
        "{}: b8 (bool) holds truth values; convert with .to(Dtype::f32) or .to(Dtype::i64) to compute with them", op));
}

/// f32 or f64; bf16, b8 and i64 are refused with a DtypeError naming op.
template <class F>
decltype(auto) dispatch_floating(const char* op, Dtype d, F&& f) {
    switch (d) {
        case Dtype::f32: return f(float{});
        case Dtype::f64: return f(double{});
        case Dtype::bf16: throw_bf16_storage(op);
        case Dtype::b8:
        case Dtype::i64: break;
    }
    throw DtypeError(fmt::format("{}: expected a floating dtype (f32 or f64), got {}", op,
                                 dtype_name(d)));
}

/// The dtypes ops compute in: f32, f64 and i64; bf16 and b8 are refused with a DtypeError naming op.
template <class F>
decltype(auto) dispatch_numeric(const char* op, Dtype d, F&& f) {
    switch (d) {
        case Dtype::f32: return f(float{});
        case Dtype::f64: return f(double{});
        case Dtype::i64: return f(int64_t{});
        case Dtype::b8: throw_bool_arithmetic(op);
        case Dtype::bf16: break;
    }
    throw_bf16_storage(op);
}

/// What comparisons, conditions and masks read: f32, f64, i64 and b8 (as bool); bf16 is refused.
template <class F>
decltype(auto) dispatch_values(const char* op, Dtype d, F&& f) {
    if (d == Dtype::b8) return f(bool{});
    return dispatch_numeric(op, d, std::forward<F>(f));
}

/// Every dtype, bf16 included (as tg::bfloat16, which converts to float implicitly but from
/// float or double only explicitly, and has no arithmetic of its own). For moving, converting
/// and printing values; code that computes uses dispatch_numeric or dispatch_floating.
template <class F>
decltype(auto) dispatch_all(Dtype d, F&& f) {
    switch (d) {
        case Dtype::f32: return f(float{});
        case Dtype::f64: return f(double{});
        case Dtype::i64: return f(int64_t{});
        case Dtype::b8: return f(bool{});
        case Dtype::bf16: break;
    }
    return f(bfloat16{});
}

}  // namespace tg
