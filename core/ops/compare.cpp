// Comparisons and logic: results are b8 (bool) tensors and carry no gradient, as in PyTorch.
// Operands broadcast. Two operands of one dtype compare in it; of different dtypes (f32 against
// i64, say), or against a number, they compare as double, which holds every f32 and every i64
// up to 2^53 exactly. NaN compares false, except with ne. Logical ops and any/all read any dtype
// as "nonzero is true" (NaN is nonzero).
#include <cmath>
#include <array>
#include <functional>
#include <type_traits>

#include "core/check.hpp"
#include "core/ops/common.hpp"
#include "core/internal/profiler.hpp"

namespace tg {

namespace {

using detail::broadcast_strides;
using detail::for_each_strided;

Shape broadcast_for(const char* op, const Tensor& a, const Tensor& b) {
    detail::check_defined(op, a, "the first operand");
    detail::check_defined(op, b, "the second operand");
    try {
        return broadcast_shapes(op, a.shape(), b.shape());
    } catch (const ShapeError&) {
        throw ShapeError(fmt::format("{}: shapes {} and {} cannot be broadcast together", op, shape_str(a.shape()),
                                     shape_str(b.shape())));
    }
}

// out[i] = f(a[i], b[i]) as b8 over the broadcast shape; f is called with each operand's own
// element type.
template <class F>
Tensor broadcast_b8(const char* op, const Tensor& a, const Tensor& b, F f) {
    const Shape shape = broadcast_for(op, a, b);
    Tensor out = Tensor::empty(shape, Dtype::b8);
    bool* po = out.data<bool>();
    const std::array<Shape, 2> st = {broadcast_strides(shape, a.shape()), broadcast_strides(shape, b.shape())};
    dispatch_values(op, a.dtype(), [&](auto ta) {
        using A = decltype(ta);
        dispatch_values(op, b.dtype(), [&](auto tb) {
            using B = decltype(tb);
            const A* pa = static_cast<const A*>(a.raw_data());
            const B* pb = static_cast<const B*>(b.raw_data());
            for_each_strided<2>(shape, st, [&](int64_t i, const auto& off) { po[i] = f(pa[off[0]], pb[off[1]]); });
        });
    });
    return out;
}

// out[i] = cmp(a[i], b[i]) over the broadcast shape, in the operands' dtype when they share one,
// else in double.
template <class Cmp>
Tensor compare(const char* op, const Tensor& a, const Tensor& b, Cmp cmp) {
    const detail::OpScope scope(op);
    return broadcast_b8(op, a, b, [&](auto x, auto y) {
        if constexpr (std::is_same_v<decltype(x), decltype(y)>) return cmp(x, y);
        else return cmp(static_cast<double>(x), static_cast<double>(y));
    });
}

template <class Cmp>
Tensor compare(const char* op, const Tensor& a, double b, Cmp cmp) {
    const detail::OpScope scope(op);
    detail::check_defined(op, a, "the first operand");
    Tensor out = Tensor::empty(a.shape(), Dtype::b8);
    bool* po = out.data<bool>();
    dispatch_values(op, a.dtype(), [&](auto tag) {
        using T = decltype(tag);
        const T* pa = static_cast<const T*>(a.raw_data());
        for (int64_t i = 0; i < a.numel(); ++i) po[i] = cmp(static_cast<double>(pa[i]), b);
    });
    return out;
}

// Each value read as a truth value.
template <class T>
bool truth(T v) {
    if constexpr (std::is_same_v<T, bool>) return v;
    else return v != T(0) || v != v;
}

template <class Op>
Tensor logical(const char* op, const Tensor& a, const Tensor& b, Op f) {
    const detail::OpScope scope(op);
    return broadcast_b8(op, a, b, [&](auto x, auto y) { return f(truth(x), truth(y)); });
}

// The truth of every element of x, as bytes.
std::vector<char> truths(const char* op, const Tensor& x) {
    std::vector<char> t(static_cast<std::size_t>(x.numel()));
    dispatch_values(op, x.dtype(), [&](auto tag) {
        using T = decltype(tag);
        const T* p = static_cast<const T*>(x.raw_data());
        for (int64_t i = 0; i < x.numel(); ++i) t[static_cast<std::size_t>(i)] = truth(p[i]);
    });
    return t;
}

// any (want = true) or all (want = false) over everything or along dim.
Tensor any_all(const char* op, const Tensor& x, bool want) {
    const detail::OpScope scope(op);
    detail::check_defined(op, x, "input");
    const std::vector<char> t = truths(op, x);
    bool r = !want;
    for (const char v : t)
        if (static_cast<bool>(v) == want) {
            r = want;
            break;
        }
    Tensor out = Tensor::empty({}, Dtype::b8);
    *out.data<bool>() = r;
    return out;
}

Tensor any_all(const char* op, const Tensor& x, int64_t dim, bool keepdim, bool want) {
    const detail::OpScope scope(op);
    detail::check_defined(op, x, "input");
    dim = normalize_dim(op, dim, x.dim());
    const std::vector<char> t = truths(op, x);
    const auto sp = detail::split_at(x.shape(), dim);
    Shape shape = x.shape();
    if (keepdim) shape[dim] = 1;
    else shape.erase(shape.begin() + dim);
    Tensor out = Tensor::empty(shape, Dtype::b8);
    bool* po = out.data<bool>();
    for (int64_t o = 0; o < sp.outer; ++o)
        for (int64_t i = 0; i < sp.inner; ++i) {
            bool r = !want;
            for (int64_t d = 0; d < sp.d && r != want; ++d)
                if (static_cast<bool>(t[static_cast<std::size_t>((o * sp.d + d) * sp.inner + i)]) == want) r = want;
            po[o * sp.inner + i] = r;
        }
    return out;
}

template <class Pred>
Tensor classify(const char* op, const Tensor& x, Pred pred) {
    const detail::OpScope scope(op);
    detail::check_defined(op, x, "input");
    Tensor out = Tensor::empty(x.shape(), Dtype::b8);
    bool* po = out.data<bool>();
    if (x.dtype() == Dtype::i64 || x.dtype() == Dtype::b8) {  // integers are finite numbers
        for (int64_t i = 0; i < x.numel(); ++i) po[i] = pred(0.0);
        return out;
    }
    dispatch_floating(op, x.dtype(), [&](auto tag) {
        using T = decltype(tag);
        const T* p = x.data<T>();
        for (int64_t i = 0; i < x.numel(); ++i) po[i] = pred(static_cast<double>(p[i]));
    });
    return out;
}

void check_b8(const char* op, const Tensor& t) {
    detail::check_defined(op, t, "operand");
    TG_CHECK(t.dtype() == Dtype::b8, DtypeError,
             "{}: the operators &, |, ^ and ~ take b8 (bool) tensors, got {}; for numbers use logical_and, "
             "logical_or, logical_xor or logical_not (nonzero is true)",
             op, dtype_name(t.dtype()));
}

}  // namespace

Tensor eq(const Tensor& a, const Tensor& b) { return compare("eq", a, b, std::equal_to<>{}); }
Tensor ne(const Tensor& a, const Tensor& b) { return compare("ne", a, b, std::not_equal_to<>{}); }
Tensor lt(const Tensor& a, const Tensor& b) { return compare("lt", a, b, std::less<>{}); }
Tensor le(const Tensor& a, const Tensor& b) { return compare("le", a, b, std::less_equal<>{}); }
Tensor gt(const Tensor& a, const Tensor& b) { return compare("gt", a, b, std::greater<>{}); }
Tensor ge(const Tensor& a, const Tensor& b) { return compare("ge", a, b, std::greater_equal<>{}); }
Tensor eq(const Tensor& a, double b) { return compare("eq", a, b, std::equal_to<>{}); }
Tensor ne(const Tensor& a, double b) { return compare("ne", a, b, std::not_equal_to<>{}); }
Tensor lt(const Tensor& a, double b) { return compare("lt", a, b, std::less<>{}); }
Tensor le(const Tensor& a, double b) { return compare("le", a, b, std::less_equal<>{}); }
Tensor gt(const Tensor& a, double b) { return compare("gt", a, b, std::greater<>{}); }
Tensor ge(const Tensor& a, double b) { return compare("ge", a, b, std::greater_equal<>{}); }

Tensor operator==(const Tensor& a, const Tensor& b) { return eq(a, b); }
Tensor operator!=(const Tensor& a, const Tensor& b) { return ne(a, b); }
Tensor operator<(const Tensor& a, const Tensor& b) { return lt(a, b); }
Tensor operator<=(const Tensor& a, const Tensor& b) { return le(a, b); }
Tensor operator>(const Tensor& a, const Tensor& b) { return gt(a, b); }
Tensor operator>=(const Tensor& a, const Tensor& b) { return ge(a, b); }
Tensor operator==(const Tensor& a, double b) { return eq(a, b); }
Tensor operator!=(const Tensor& a, double b) { return ne(a, b); }
Tensor operator<(const Tensor& a, double b) { return lt(a, b); }
Tensor operator<=(const Tensor& a, double b) { return le(a, b); }
Tensor operator>(const Tensor& a, double b) { return gt(a, b); }
Tensor operator>=(const Tensor& a, double b) { return ge(a, b); }
Tensor operator==(double a, const Tensor& b) { return eq(b, a); }
Tensor operator!=(double a, const Tensor& b) { return ne(b, a); }
Tensor operator<(double a, const Tensor& b) { return gt(b, a); }
Tensor operator<=(double a, const Tensor& b) { return ge(b, a); }
Tensor operator>(double a, const Tensor& b) { return lt(b, a); }
Tensor operator>=(double a, const Tensor& b) { return le(b, a); }

Tensor logical_and(const Tensor& a, const Tensor& b) { return logical("logical_and", a, b, std::logical_and<>{}); }
Tensor logical_or(const Tensor& a, const Tensor& b) { return logical("logical_or", a, b, std::logical_or<>{}); }
Tensor logical_xor(const Tensor& a, const Tensor& b) { return logical("logical_xor", a, b, std::not_equal_to<>{}); }
Tensor logical_not(const Tensor& a) {
    const detail::OpScope scope("logical_not");
    detail::check_defined("logical_not", a, "input");
    const std::vector<char> t = truths("logical_not", a);
    Tensor out = Tensor::empty(a.shape(), Dtype::b8);
    bool* po = out.data<bool>();
    for (int64_t i = 0; i < a.numel(); ++i) po[i] = !t[static_cast<std::size_t>(i)];
    return out;
}

Tensor operator&(const Tensor& a, const Tensor& b) {
    check_b8("operator&", a);
    check_b8("operator&", b);
    return logical_and(a, b);
}
Tensor operator|(const Tensor& a, const Tensor& b) {
    check_b8("operator|", a);
    check_b8("operator|", b);
    return logical_or(a, b);
}
Tensor operator^(const Tensor& a, const Tensor& b) {
    check_b8("operator^", a);
    check_b8("operator^", b);
    return logical_xor(a, b);
}
Tensor operator~(const Tensor& a) {
    check_b8("operator~", a);
    return logical_not(a);
}

Tensor any(const Tensor& x) { return any_all("any", x, true); }
Tensor all(const Tensor& x) { return any_all("all", x, false); }
Tensor any(const Tensor& x, int64_t dim, bool keepdim) { return any_all("any", x, dim, keepdim, true); }
Tensor all(const Tensor& x, int64_t dim, bool keepdim) { return any_all("all", x, dim, keepdim, false); }

Tensor nonzero(const Tensor& x) {
    const detail::OpScope scope("nonzero");
    detail::check_defined("nonzero", x, "input");
    const std::vector<char> t = truths("nonzero", x);
    int64_t count = 0;
    for (const char v : t) count += v != 0;
    const int64_t nd = x.dim();
    Tensor out = Tensor::empty({count, nd}, Dtype::i64);
    int64_t* po = out.data<int64_t>();
    const Shape strides = contiguous_strides(x.shape());
    int64_t row = 0;
    for (int64_t i = 0; i < x.numel(); ++i) {
        if (!t[static_cast<std::size_t>(i)]) continue;
        int64_t rest = i;
        for (int64_t d = 0; d < nd; ++d) {
            po[row * nd + d] = rest / strides[d];
            rest %= strides[d];
        }
        ++row;
    }
    return out;
}

Tensor count_nonzero(const Tensor& x) {
    const detail::OpScope scope("count_nonzero");
    detail::check_defined("count_nonzero", x, "input");
    const std::vector<char> t = truths("count_nonzero", x);
    int64_t count = 0;
    for (const char v : t) count += v != 0;
    Tensor out = Tensor::empty({}, Dtype::i64);
    *out.data<int64_t>() = count;
    return out;
}

Tensor isnan(const Tensor& x) { return classify("isnan", x, [](double v) { return std::isnan(v); }); }
Tensor isinf(const Tensor& x) { return classify("isinf", x, [](double v) { return std::isinf(v); }); }
Tensor isfinite(const Tensor& x) { return classify("isfinite", x, [](double v) { return std::isfinite(v); }); }

}  // namespace tg
