#include "core/ops/common.hpp"

#include <algorithm>
#include <cstring>
#include <type_traits>

#include "core/check.hpp"

namespace tg::detail {

void check_defined(const char* op, const Tensor& t, const char* what) {
    TG_CHECK(t.defined(), ValueError, "{}: {} is an undefined tensor", op, what);
}

void check_floating(const char* op, const Tensor& t) {
    check_defined(op, t, "input");
    if (t.dtype() == Dtype::bf16) throw_bf16_storage(op);
    if (t.dtype() == Dtype::b8) throw_bool_arithmetic(op);
    TG_CHECK(is_floating(t.dtype()), DtypeError, "{}: expected a floating dtype (f32 or f64), got {}", op,
             dtype_name(t.dtype()));
}

void check_same_floating(const char* op, const Tensor& a, const Tensor& b) {
    check_floating(op, a);
    check_floating(op, b);
    TG_CHECK(a.dtype() == b.dtype(), DtypeError, "{}: dtypes differ: {} and {}", op, dtype_name(a.dtype()),
             dtype_name(b.dtype()));
}

DimSplit split_at(const Shape& shape, int64_t dim) {
    DimSplit s;
    for (int64_t i = 0; i < static_cast<int64_t>(shape.size()); ++i) {
        if (i < dim) s.outer *= shape[i];
        else if (i == dim) s.d = shape[i];
        else s.inner *= shape[i];
    }
    return s;
}

std::vector<int64_t> broadcast_index_map(const Shape& out_batch, const Shape& in_batch) {
    const int64_t n = shape_numel(out_batch);
    const std::size_t nd = out_batch.size(), off = nd - in_batch.size();
    // Strides of in_batch expressed on out_batch's dims; 0 where in_batch repeats.
    Shape in_strides(nd, 0);
    int64_t stride = 1;
    for (int64_t k = static_cast<int64_t>(nd) - 1; k >= static_cast<int64_t>(off); --k) {
        const int64_t d = in_batch[k - off];
        in_strides[k] = d == 1 ? 0 : stride;
        stride *= d;
    }
    std::vector<int64_t> map(static_cast<std::size_t>(n));
    Shape idx(nd, 0);
    for (int64_t i = 0; i < n; ++i) {
        int64_t lin = 0;
        for (std::size_t k = 0; k < nd; ++k) lin += idx[k] * in_strides[k];
        map[i] = lin;
        for (int64_t k = static_cast<int64_t>(nd) - 1; k >= 0; --k) {
            if (++idx[k] < out_batch[k]) break;
            idx[k] = 0;
        }
    }
    return map;
}

namespace {

// Calls f(src_offset, dst_offset) for every index of the first `dims` dims of shape, in
// row-major order.
template <class F>
void for_each_outer(const Shape& shape, std::size_t dims, const Shape& src_strides, const Shape& dst_strides, F f) {
    int64_t count = 1;
    for (std::size_t k = 0; k < dims; ++k) count *= shape[k];
    Shape idx(dims, 0);
    for (int64_t r = 0; r < count; ++r) {
        int64_t so = 0, dof = 0;
        for (std::size_t k = 0; k < dims; ++k) {
            so += idx[k] * src_strides[k];
            dof += idx[k] * dst_strides[k];
        }
        f(so, dof);
        for (int64_t k = static_cast<int64_t>(dims) - 1; k >= 0; --k) {
            if (++idx[k] < shape[k]) break;
            idx[k] = 0;
        }
    }
}

// strided_copy for element type T: with Add, dst += src (gradients), else dst = src.
template <class T, bool Add>
void strided_copy_as(T* d, const Shape& dst_strides, const T* s, const Shape& src_strides, const Shape& shape) {
    if (shape.empty()) {
        if constexpr (Add) *d += *s;
        else *d = *s;
        return;
    }
    const std::size_t nd = shape.size();
    const int64_t last = shape[nd - 1], ss = src_strides[nd - 1], ds = dst_strides[nd - 1];
    if constexpr (!Add) {
        // A transpose of the last two dims into a contiguous dst (transpose, permute(..., -1, -2)):
        // copied in square tiles, so that the strided reads stay in cache.
        if (nd >= 2 && ds == 1 && ss != 1 && src_strides[nd - 2] == 1 && dst_strides[nd - 2] == last && last > 1) {
            constexpr int64_t kTile = 32;
            const int64_t R = shape[nd - 2];
            for_each_outer(shape, nd - 2, src_strides, dst_strides, [&](int64_t so, int64_t dof) {
                for (int64_t i0 = 0; i0 < R; i0 += kTile)
                    for (int64_t j0 = 0; j0 < last; j0 += kTile)
                        for (int64_t i = i0; i < std::min(i0 + kTile, R); ++i)
                            for (int64_t j = j0; j < std::min(j0 + kTile, last); ++j)
                                d[dof + i * last + j] = s[so + i + j * ss];
            });
            return;
        }
    }
    for_each_outer(shape, nd - 1, src_strides, dst_strides, [&](int64_t so, int64_t dof) {
        if constexpr (Add)
            for (int64_t j = 0; j < last; ++j) d[dof + j * ds] += s[so + j * ss];
        else if (ss == 1 && ds == 1)
            std::memcpy(d + dof, s + so, static_cast<std::size_t>(last) * sizeof(T));
        else
            for (int64_t j = 0; j < last; ++j) d[dof + j * ds] = s[so + j * ss];
    });
}

}  // namespace

void strided_copy(const Tensor& dst, int64_t dst_offset, const Shape& dst_strides,
                  const Tensor& src, int64_t src_offset, const Shape& src_strides,
                  const Shape& shape, bool accumulate) {
    const int64_t n = shape_numel(shape);
    if (n == 0) return;
    auto run = [&](auto tag, auto add) {
        using T = decltype(tag);
        strided_copy_as<T, decltype(add)::value>(static_cast<T*>(dst.raw_data()) + dst_offset, dst_strides,
                                                 static_cast<const T*>(src.raw_data()) + src_offset, src_strides,
                                                 shape);
    };
    // Moving values works for every dtype, bf16 included (shape ops take it as they take i64);
    // adding (gradients) only for the dtypes ops compute in.
    if (accumulate) dispatch_numeric("strided_copy", src.dtype(), [&](auto tag) { run(tag, std::true_type{}); });
    else dispatch_all(src.dtype(), [&](auto tag) { run(tag, std::false_type{}); });
}

Tensor sum_to(const Tensor& g, const Shape& target) {
    if (g.shape() == target) return g;
    if (is_grad_enabled() && g.requires_grad()) {
        // Creating a graph (a backward under create_graph): the same sum, as recorded ops.
        const int64_t lead = g.dim() - static_cast<int64_t>(target.size());
        std::vector<int64_t> dims;
        for (int64_t d = 0; d < g.dim(); ++d)
            if (d < lead || (target[d - lead] == 1 && g.shape()[d] != 1)) dims.push_back(d);
        return reshape(dims.empty() ? g : sum(g, dims, true), target);
    }
    // Reduce g into a zeroed tensor of the target's shape: every element of g lands on the
    // target element it was broadcast from (target's strides on g's dims, 0 where it repeats).
    Tensor out = Tensor::zeros(target, g.dtype());
    const Shape st = broadcast_strides(g.shape(), target);
    dispatch_floating("sum_to", g.dtype(), [&](auto tag) {
        using T = decltype(tag);
        const T* pg = g.data<T>();
        T* po = out.data<T>();
        for_each_strided<1>(g.shape(), {st}, [&](int64_t i, const auto& off) { po[off[0]] += pg[i]; });
    });
    return out;
}

void check_scalar_dim(const char* op, int64_t dim) {
    TG_CHECK(dim == 0 || dim == -1, ValueError, "{}: dim {} is out of range for a 0-d tensor (0 or -1 expected)",
             op, dim);
}

std::pair<Tensor, Tensor> class_dim_last(const char* op, const Tensor& x, const Tensor& targets, const char* x_name) {
    if (!x.defined() || !targets.defined() || x.dim() < 3) return {x, targets};
    Shape expected = x.shape();
    expected.erase(expected.begin() + 1);
    TG_CHECK(targets.shape() == expected, ShapeError,
             "{}: targets {} do not match {} {} (for (N, C, d1, ...) scores the targets are (N, d1, ...): expected {})",
             op, shape_str(targets.shape()), x_name, shape_str(x.shape()), shape_str(expected));
    std::vector<int64_t> perm{0};
    for (int64_t d = 2; d < x.dim(); ++d) perm.push_back(d);
    perm.push_back(1);
    const int64_t C = x.shape()[1];
    return {reshape(permute(x, perm), {targets.numel(), C}), reshape(targets, {targets.numel()})};
}

}  // namespace tg::detail
