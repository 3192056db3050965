#pragma once
// Internal helpers shared by the op files: argument checks, elementwise maps, gradient
// reduction for broadcasting, and a strided copy. Nothing here touches the tape.
#include <fmt/format.h>

#include <array>
#include <utility>

#include "core/autograd.hpp"
#include "core/check.hpp"
#include "core/internal/dispatch.hpp"
#include "core/ops.hpp"
#include "core/tensor.hpp"
#include "core/kernels/parallel.hpp"

namespace tg::detail {

/// Throws DtypeError unless t is f32 or f64.
void check_floating(const char* op, const Tensor& t);
/// Throws DtypeError unless a and b share one floating dtype.
void check_same_floating(const char* op, const Tensor& a, const Tensor& b);
/// Throws ValueError naming op when t is undefined.
void check_defined(const char* op, const Tensor& t, const char* what);

/// Sums g over the dims that broadcasting added or stretched, giving a tensor of shape target.
Tensor sum_to(const Tensor& g, const Shape& target);

/// torch lets ops that keep, merge or reduce dims name dim 0 (or -1) of a 0-d tensor; any
/// other dim is a ValueError naming op.
void check_scalar_dim(const char* op, int64_t dim);

/// Class scores x (N, C, d1, ...) with targets (N, d1, ...), as the class losses take them
/// from PyTorch: every position of d1... is one more sample. Checks the shapes against each
/// other (a ShapeError names both), then returns the scores as (N * d1 * ..., C) (C moved
/// last, recorded, so gradients flow back) and the targets flattened. For 1-d and 2-d x it
/// returns them unchanged.
std::pair<Tensor, Tensor> class_dim_last(const char* op, const Tensor& x, const Tensor& targets, const char* x_name);

/// For each batch position of out_batch, the linear index of the matching (broadcast) batch
/// position of in_batch (right-aligned, size-1 dims repeat).
std::vector<int64_t> broadcast_index_map(const Shape& out_batch, const Shape& in_batch);

/// dst[i] = src[offset + sum_k idx_k * src_strides[k]] over all indices of shape, written at
/// dst[dst_offset + sum_k idx_k * dst_strides[k]]; with accumulate, adds instead of writing.
void strided_copy(const Tensor& dst, int64_t dst_offset, const Shape& dst_strides,
                  const Tensor& src, int64_t src_offset, const Shape& src_strides,
                  const Shape& shape, bool accumulate = false);

/// Records an op of one input x whose backward is linear and reads only shapes (a selection,
/// a scatter, the backward of a linear op: its backward is its adjoint, usually another such
/// op), when grad mode is on and x requires grad, as record() would; otherwise returns out
/// without building the closure (so a first-order backward that calls it costs nothing more).
template <class F>
Tensor record_linear(const char* op, Tensor out, const Tensor& x, F adjoint) {
    if (!is_grad_enabled() || !x.requires_grad()) return out;
    return record(op, std::move(out), {x}, BackwardFn(std::move(adjoint)), BackwardReads::shapes,
                  Differentiable::twice);
}

/// y[i] = f(x[i]) for a floating x; f is called with values of the element type.
template <class F>
Tensor map(const char* op, const Tensor& x, F f) {
    Tensor y = Tensor::empty(x.shape(), x.dtype());
    dispatch_floating(op, x.dtype(), [&](auto tag) {
        using T = decltype(tag);
        const T* px = x.data<T>();
        T* py = y.data<T>();
        const int64_t n = x.numel();
#pragma omp parallel for simd if (n >= kernels::kParallelMapElems)
        for (int64_t i = 0; i < n; ++i) py[i] = f(px[i]);
    });
    return y;
}

/// z[i] = f(a[i], b[i]) for two tensors of one shape and dtype.
template <class F>
Tensor map2(const char* op, const Tensor& a, const Tensor& b, F f) {
    Tensor z = Tensor::empty(a.shape(), a.dtype());
    dispatch_floating(op, a.dtype(), [&](auto tag) {
        using T = decltype(tag);
        const T* pa = a.data<T>();
        const T* pb = b.data<T>();
        T* pz = z.data<T>();
        const int64_t n = a.numel();
#pragma omp parallel for simd if (n >= kernels::kParallelMapElems)
        for (int64_t i = 0; i < n; ++i) pz[i] = f(pa[i], pb[i]);
    });
    return z;
}

/// Strides of in (contiguous, right-aligned against out) on out's dims: 0 where in has no such
/// dim or repeats a size-1 dim, so that position idx of out reads in[sum idx_k * stride_k].
inline Shape broadcast_strides(const Shape& out, const Shape& in) {
    const std::size_t nd = out.size(), off = nd - in.size();
    Shape st(nd, 0);
    int64_t s = 1;
    for (std::size_t k = nd; k-- > off;) {
        const int64_t d = in[k - off];
        st[k] = d == 1 ? 0 : s;
        s *= d;
    }
    return st;
}

/// Calls f(i, offsets) for every flat position i of shape in row-major order, where offsets[j]
/// = sum_k idx_k * strides[j][k]. The innermost dim runs as a plain loop.
template <std::size_t N, class F>
void for_each_strided(const Shape& shape, const std::array<Shape, N>& strides, F f) {
    const int64_t n = shape_numel(shape);
    if (n == 0) return;
    if (shape.empty()) {
        std::array<int64_t, N> off{};
        f(int64_t{0}, off);
        return;
    }
    const std::size_t nd = shape.size();
    const int64_t last = shape[nd - 1];
    std::array<int64_t, N> inner{};
    for (std::size_t j = 0; j < N; ++j) inner[j] = strides[j][nd - 1];
    Shape idx(nd, 0);
    std::array<int64_t, N> base{};
    for (int64_t i = 0; i < n; i += last) {
        std::array<int64_t, N> off = base;
        for (int64_t t = 0; t < last; ++t) {
            f(i + t, off);
            for (std::size_t j = 0; j < N; ++j) off[j] += inner[j];
        }
        // Advance the outer dims (all but the last), keeping base in step.
        for (int64_t k = static_cast<int64_t>(nd) - 2; k >= 0; --k) {
            for (std::size_t j = 0; j < N; ++j) base[j] += strides[j][k];
            if (++idx[k] < shape[k]) break;
            for (std::size_t j = 0; j < N; ++j) base[j] -= idx[k] * strides[j][k];
            idx[k] = 0;
        }
    }
}

/// Splits shape around dim into (outer, D, inner) for reductions and softmax.
struct DimSplit {
    int64_t outer = 1, d = 1, inner = 1;
};
DimSplit split_at(const Shape& shape, int64_t dim);

}  // namespace tg::detail
