// Selection and indexing: where, masked_fill, gather, index_select. Conditions and masks may
// have any dtype (nonzero is true), gather and index_select move values of any dtype (a
// gradient needs f32 or f64); indices are i64 and must lie in [0, size) as in torch (no
// wrap-around for negative values). Each backward routes dy back to the positions the forward
// read; gather and index_select add where an index repeats.
#include <algorithm>
#include <array>
#include <cstring>
#include <vector>

#include "core/check.hpp"
#include "core/ops/common.hpp"
#include "core/internal/profiler.hpp"

namespace tg {

namespace {

using detail::broadcast_strides;
using detail::for_each_strided;

/// 1 where t (f32, f64, i64 or b8) is nonzero, for every position of out's shape, t broadcast to it.
std::vector<char> nonzero_mask(const char* op, const Tensor& t, const Shape& out) {
    std::vector<char> m(static_cast<std::size_t>(shape_numel(out)));
    dispatch_values(op, t.dtype(), [&](auto tag) {
        using C = decltype(tag);
        const C* p = static_cast<const C*>(t.raw_data());
        for_each_strided<1>(out, {broadcast_strides(out, t.shape())},
                            [&](int64_t i, const auto& off) { m[i] = p[off[0]] != C(0); });
    });
    return m;
}

/// A tensor of shape out holding dy where keep[i] == want, 0 elsewhere.
Tensor select_grad(const char* op, const Tensor& dy, const std::vector<char>& keep, char want) {
    Tensor g = Tensor::empty(dy.shape(), dy.dtype());
    dispatch_floating(op, dy.dtype(), [&](auto tag) {
        using T = decltype(tag);
        const T* pd = dy.data<T>();
        T* pg = g.data<T>();
        for (int64_t i = 0; i < dy.numel(); ++i) pg[i] = keep[i] == want ? pd[i] : T(0);
    });
    return g;
}

/// Checks that every value of a 1-d view of an i64 index lies in [0, size).
void check_index_range(const char* op, const Tensor& index, int64_t dim, int64_t size) {
    const int64_t* p = index.data<int64_t>();
    for (int64_t i = 0; i < index.numel(); ++i)
        TG_CHECK(p[i] >= 0 && p[i] < size, ValueError,
                 "{}: index {} at flat position {} is out of range for dim {} of size {}", op, p[i], i, dim, size);
}

/// Indexing moves values of any dtype; only a gradient needs f32 or f64.
void check_source(const char* op, const Tensor& x) {
    detail::check_defined(op, x, "input");
    if (needs_grad({&x})) detail::check_floating(op, x);
}

void check_index_dtype(const char* op, const Tensor& index) {
    detail::check_defined(op, index, "index");
    TG_CHECK(index.dtype() == Dtype::i64, DtypeError, "{}: index must be i64, got {}", op, dtype_name(index.dtype()));
}

}  // namespace

/// y = a where cond != 0, else b, all three broadcast to one shape.
/// da = sum_to(dy where cond), db = sum_to(dy where !cond)
Tensor where(const Tensor& cond, const Tensor& a, const Tensor& b) {
    const detail::OpScope scope("where");
    detail::check_defined("where", cond, "cond");
    detail::check_same_floating("where", a, b);
    Shape shape;
    try {
        shape = broadcast_shapes("where", broadcast_shapes("where", cond.shape(), a.shape()), b.shape());
    } catch (const ShapeError&) {
        throw ShapeError(fmt::format("where: shapes {} (cond), {} (a) and {} (b) cannot be broadcast together",
                                     shape_str(cond.shape()), shape_str(a.shape()), shape_str(b.shape())));
    }
    Tensor y = Tensor::empty(shape, a.dtype());
    dispatch_floating("where", a.dtype(), [&](auto tag) {
        using T = decltype(tag);
        const T* pa = a.data<T>();
        const T* pb = b.data<T>();
        T* py = y.data<T>();
        dispatch_values("where", cond.dtype(), [&](auto ctag) {
            using C = decltype(ctag);
            const C* pc = static_cast<const C*>(cond.raw_data());
            const std::array<Shape, 3> st = {broadcast_strides(shape, cond.shape()),
                                             broadcast_strides(shape, a.shape()),
                                             broadcast_strides(shape, b.shape())};
            for_each_strided<3>(shape, st, [&](int64_t i, const auto& off) {
                py[i] = pc[off[0]] != C(0) ? pa[off[1]] : pb[off[2]];
            });
        });
    });
    return record("where", y, {cond, a, b}, [cond, a, b](const Tensor& dy, const Tensor&) {
        if (is_grad_enabled()) {  // creating a graph: the same routing as recorded wheres
            const Tensor zero = Tensor::zeros({}, dy.dtype());
            return Grads{Tensor(), a.requires_grad() ? detail::sum_to(where(cond, dy, zero), a.shape()) : Tensor(),
                         b.requires_grad() ? detail::sum_to(where(cond, zero, dy), b.shape()) : Tensor()};
        }
        const std::vector<char> keep = nonzero_mask("where", cond, dy.shape());
        return Grads{Tensor(),
                     a.requires_grad() ? detail::sum_to(select_grad("where", dy, keep, 1), a.shape()) : Tensor(),
                     b.requires_grad() ? detail::sum_to(select_grad("where", dy, keep, 0), b.shape()) : Tensor()};
    }, BackwardReads::values, Differentiable::twice);
}

/// y = value where mask (broadcast to x's shape) != 0, else x.  dx = dy where !mask, else 0
Tensor masked_fill(const Tensor& x, const Tensor& mask, double value) {
    const detail::OpScope scope("masked_fill");
    detail::check_floating("masked_fill", x);
    detail::check_defined("masked_fill", mask, "mask");
    const Shape& xs = x.shape();
    const Shape& ms = mask.shape();
    bool fits = ms.size() <= xs.size();
    for (std::size_t k = 0; fits && k < ms.size(); ++k) {
        const int64_t d = ms[ms.size() - 1 - k];
        fits = d == 1 || d == xs[xs.size() - 1 - k];
    }
    TG_CHECK(fits, ShapeError, "masked_fill: mask of shape {} does not broadcast to the input's shape {}",
             shape_str(ms), shape_str(xs));
    const std::vector<char> fill = nonzero_mask("masked_fill", mask, xs);
    Tensor y = Tensor::empty(xs, x.dtype());
    dispatch_floating("masked_fill", x.dtype(), [&](auto tag) {
        using T = decltype(tag);
        const T* px = x.data<T>();
        T* py = y.data<T>();
        const T v = static_cast<T>(value);
        for (int64_t i = 0; i < x.numel(); ++i) py[i] = fill[i] ? v : px[i];
    });
    // The backward zeroes the filled positions of dy: masked_fill itself, recorded when a graph
    // is being created.
    return record("masked_fill", y, {x, mask}, [mask](const Tensor& dy, const Tensor&) {
        return Grads{masked_fill(dy, mask, 0.0), Tensor()};
    }, BackwardReads::values, Differentiable::twice);
}

namespace {
/// The adjoint of gather (its backward): zeros of x_shape with y[p] added at p with p[dim]
/// replaced by index[p]. Its own backward is gather, so the pair differentiates any number of times.
Tensor gather_adjoint(const Tensor& y, int64_t dim, const Tensor& index, const Shape& x_shape) {
    const Shape xstr = contiguous_strides(x_shape);
    Shape pos_strides = xstr;
    pos_strides[dim] = 0;
    const int64_t dim_stride = xstr[dim];
    Tensor x = Tensor::zeros(x_shape, y.dtype());
    const int64_t* p = index.data<int64_t>();
    dispatch_floating("gather", y.dtype(), [&](auto tag) {
        using T = decltype(tag);
        const T* g = y.data<T>();
        T* d = x.data<T>();
        for_each_strided<1>(y.shape(), {pos_strides}, [&](int64_t i, const auto& off) {
            d[off[0] + p[i] * dim_stride] += g[i];
        });
    });
    return detail::record_linear("gather", x, y, [dim, index](const Tensor& dx, const Tensor&) {
        return Grads{gather(dx, dim, index)};
    });
}
}  // namespace

/// y[p] = x[p with p[dim] replaced by index[p]] for every position p of index.
/// dx[p with p[dim] = index[p]] += dy[p]
Tensor gather(const Tensor& x, int64_t dim, const Tensor& index) {
    const detail::OpScope scope("gather");
    check_source("gather", x);
    check_index_dtype("gather", index);
    const int64_t nd = x.dim();
    dim = normalize_dim("gather", dim, nd);
    TG_CHECK(index.dim() == nd, ShapeError, "gather: index of shape {} must have as many dims as the input {}",
             shape_str(index.shape()), shape_str(x.shape()));
    for (int64_t d = 0; d < nd; ++d)
        TG_CHECK(d == dim || index.shape()[d] <= x.shape()[d], ShapeError,
                 "gather: index of shape {} is larger than the input {} in dim {} (only dim {} may be larger)",
                 shape_str(index.shape()), shape_str(x.shape()), d, dim);
    check_index_range("gather", index, dim, x.shape()[dim]);

    // Offsets into x: index's position p reads x at sum_{d != dim} p_d xstride_d + index[p] xstride_dim.
    const Shape xstr = contiguous_strides(x.shape());
    Shape pos_strides = xstr;
    pos_strides[dim] = 0;
    const int64_t dim_stride = xstr[dim];
    const Shape out_shape = index.shape();
    Tensor y = Tensor::empty(out_shape, x.dtype());
    const int64_t* pi = index.data<int64_t>();
    dispatch_all(x.dtype(), [&](auto tag) {
        using T = decltype(tag);
        const T* px = static_cast<const T*>(x.raw_data());
        T* py = static_cast<T*>(y.raw_data());
        for_each_strided<1>(out_shape, {pos_strides}, [&](int64_t i, const auto& off) {
            py[i] = px[off[0] + pi[i] * dim_stride];
        });
    });
    return record("gather", y, {x, index}, [index, xshape = x.shape(), dim](const Tensor& dy, const Tensor&) {
        return Grads{gather_adjoint(dy, dim, index, xshape), Tensor()};
    }, BackwardReads::values, Differentiable::twice);
}

namespace {
/// The adjoint of index_select (its backward): zeros of x_shape with y[o, k, i] added at
/// [o, index[k], i]. Its own backward is index_select.
Tensor index_select_adjoint(const Tensor& y, int64_t dim, const Tensor& index, const Shape& x_shape) {
    const auto sp = detail::split_at(x_shape, dim);
    Tensor x = Tensor::zeros(x_shape, y.dtype());
    const int64_t* p = index.data<int64_t>();
    const int64_t K = index.numel();
    dispatch_floating("index_select", y.dtype(), [&](auto tag) {
        using T = decltype(tag);
        const T* g = y.data<T>();
        T* d = x.data<T>();
        for (int64_t o = 0; o < sp.outer; ++o)
            for (int64_t k = 0; k < K; ++k) {
                const T* src = g + (o * K + k) * sp.inner;
                T* dst = d + (o * sp.d + p[k]) * sp.inner;
                for (int64_t i = 0; i < sp.inner; ++i) dst[i] += src[i];
            }
    });
    return detail::record_linear("index_select", x, y, [dim, index](const Tensor& dx, const Tensor&) {
        return Grads{index_select(dx, dim, index)};
    });
}
}  // namespace

/// y[o, k, i] = x[o, index[k], i], viewing x as (outer, D, inner) around dim.
/// dx[o, index[k], i] += dy[o, k, i]
Tensor index_select(const Tensor& x, int64_t dim, const Tensor& index) {
    const detail::OpScope scope("index_select");
    check_source("index_select", x);
    check_index_dtype("index_select", index);
    dim = normalize_dim("index_select", dim, x.dim());
    TG_CHECK(index.dim() == 1, ShapeError, "index_select: index must be 1-d, got shape {}", shape_str(index.shape()));
    const auto sp = detail::split_at(x.shape(), dim);
    check_index_range("index_select", index, dim, sp.d);
    const int64_t K = index.numel();
    Shape out_shape = x.shape();
    out_shape[dim] = K;
    Tensor y = Tensor::empty(out_shape, x.dtype());
    const int64_t* pi = index.data<int64_t>();
    const std::size_t row_bytes = static_cast<std::size_t>(sp.inner) * dtype_size(x.dtype());
    const auto* px = static_cast<const char*>(x.raw_data());
    auto* py = static_cast<char*>(y.raw_data());
    if (row_bytes > 0)
        for (int64_t o = 0; o < sp.outer; ++o)
            for (int64_t k = 0; k < K; ++k)
                std::memcpy(py + (o * K + k) * row_bytes, px + (o * sp.d + pi[k]) * row_bytes, row_bytes);
    return record("index_select", y, {x, index}, [index, xshape = x.shape(), dim](const Tensor& dy, const Tensor&) {
        return Grads{index_select_adjoint(dy, dim, index, xshape), Tensor()};
    }, BackwardReads::values, Differentiable::twice);
}

/// y[..., c] = 1 where c == labels[...], else 0: i64 of shape labels.shape + (num_classes),
/// as torch.nn.functional.one_hot; num_classes -1 takes the largest label + 1. Not
/// differentiable (labels are integers).
Tensor one_hot(const Tensor& labels, int64_t num_classes) {
    const detail::OpScope scope("one_hot");
    detail::check_defined("one_hot", labels, "labels");
    TG_CHECK(labels.dtype() == Dtype::i64, DtypeError, "one_hot: labels must be i64 class indices, got {}{}",
             dtype_name(labels.dtype()), labels.dtype() == Dtype::b8 ? "" : " (convert with .to(Dtype::i64))");
    const int64_t* pl = labels.data<int64_t>();
    const int64_t n = labels.numel();
    int64_t largest = -1;
    for (int64_t i = 0; i < n; ++i) {
        TG_CHECK(pl[i] >= 0, ValueError, "one_hot: label {} at position {} is negative (labels are 0 to C - 1)", pl[i],
                 i);
        largest = std::max(largest, pl[i]);
    }
    if (num_classes == -1) {
        TG_CHECK(n > 0, ValueError, "one_hot: num_classes -1 takes the largest label + 1, but labels of shape {} are "
                                    "empty; give num_classes",
                 shape_str(labels.shape()));
        num_classes = largest + 1;
    }
    TG_CHECK(num_classes >= 0, ValueError, "one_hot: num_classes must be -1 (from the labels) or at least 0, got {}",
             num_classes);
    TG_CHECK(largest < num_classes, ValueError, "one_hot: label {} is out of range for {} classes (labels are 0 to {})",
             largest, num_classes, num_classes - 1);
    Shape shape = labels.shape();
    shape.push_back(num_classes);
    Tensor y = Tensor::zeros(shape, Dtype::i64);
    int64_t* py = y.data<int64_t>();
    for (int64_t i = 0; i < n; ++i) py[i * num_classes + pl[i]] = 1;
    return y;
}

}  // namespace tg
