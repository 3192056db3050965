#pragma once
/// \file
/// xtensor interop: data that lives in an xtensor expression becomes a Tensor (a copy), and a
/// Tensor's data can be read and written through an xtensor adaptor (no copy). tapegrad's
/// tensors are dense and row-major, as xt::xarray is by default.
#include <xtensor/xadapt.hpp>
#include <xtensor/xarray.hpp>
#include <xtensor/xexpression.hpp>

#include <algorithm>
#include <cstdint>
#include <memory>
#include <type_traits>
#include <vector>

#include "check.hpp"
#include "grad_mode.hpp"
#include "tensor.hpp"

namespace tg {

namespace detail {

/// The Tensor dtype that holds values of type T: float -> f32, double -> f64, any integer or
/// bool -> i64.
template <class T>
constexpr Dtype dtype_for() {
    static_assert(std::is_same_v<T, float> || std::is_same_v<T, double> || std::is_integral_v<T>,
                  "tapegrad holds float (f32), double (f64) and integers (i64)");
    if constexpr (std::is_same_v<T, float>) return Dtype::f32;
    else if constexpr (std::is_same_v<T, double>) return Dtype::f64;
    else return Dtype::i64;
}

}  // namespace detail

/// Evaluates an xtensor expression into a new Tensor of the matching dtype (float -> f32,
/// double -> f64, integers and bool -> i64), shape for shape:
///
///     xt::xarray<double> a = {{1, 2}, {3, 4}};
///     Tensor t = tg::from_xtensor(a * 2.0);   // (2, 2) f64
template <class E>
Tensor from_xtensor(const xt::xexpression<E>& expr) {
    using V = std::decay_t<typename E::value_type>;
    constexpr Dtype dtype = detail::dtype_for<V>();
    using T = std::conditional_t<dtype == Dtype::f32, float, std::conditional_t<dtype == Dtype::f64, double, int64_t>>;
    const xt::xarray<T, xt::layout_type::row_major> values = xt::cast<T>(expr.derived_cast());
    Tensor t = Tensor::empty(Shape(values.shape().begin(), values.shape().end()), dtype);
    std::copy(values.data(), values.data() + values.size(), t.data<T>());
    return t;
}

/// A zero-copy xtensor adaptor over t's data, as T (float for f32, double for f64, int64_t for
/// i64; const T for a read-only view). The adaptor keeps the data alive on its own.
/// A writable adaptor counts as an in-place modification of t when it is made (t.version()
/// goes up, so a backward that saved t's old values refuses to run): make it, write, then use
/// t. Like every in-place write, it is refused on a leaf that requires grad unless grad mode
/// is off (NoGradGuard), and it must have the tensor's own element type.
template <class T>
auto as_xtensor(const Tensor& t) {
    using V = std::remove_const_t<T>;
    TG_CHECK(t.defined(), ValueError, "as_xtensor: the tensor is undefined");
    TG_CHECK(t.dtype() != Dtype::bf16, DtypeError,
             "as_xtensor: bf16 is a storage dtype, with no xtensor element type; convert with .to(Dtype::f32)");
    TG_CHECK(t.dtype() == detail::dtype_for<V>() && (std::is_same_v<V, float> || std::is_same_v<V, double> ||
                                                     std::is_same_v<V, int64_t>),
             DtypeError, "as_xtensor: a {} tensor cannot be viewed as {} (use {})", dtype_name(t.dtype()),
             dtype_name(detail::dtype_for<V>()),
             t.dtype() == Dtype::f32 ? "float" : t.dtype() == Dtype::f64 ? "double" : "int64_t");
    if constexpr (!std::is_const_v<T>) {
        TG_CHECK(!(t.requires_grad() && t.is_leaf() && is_grad_enabled()), ValueError,
                 "as_xtensor: a leaf tensor that requires grad ({} {}) cannot be written in place while grad "
                 "mode is on; make the writable view inside NoGradGuard, or view it as const",
                 shape_str(t.shape()), dtype_name(t.dtype()));
        Tensor(t).mark_modified();
    }
    std::vector<std::size_t> shape(t.shape().begin(), t.shape().end());
    // The adaptor owns a pointer that shares ownership of an alias of t (same storage), so the
    // data outlives t itself.
    auto keeper = std::make_shared<Tensor>(t.detach());
    return xt::adapt_smart_ptr(std::shared_ptr<T>(keeper, static_cast<T*>(t.data<V>())), shape);
}

}  // namespace tg
