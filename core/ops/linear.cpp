// The affine map of nn::Linear, fused: one GEMM with the weight read transposed in place.
#include "core/check.hpp"
#include "core/internal/autocast.hpp"
#include "core/kernels/blas.hpp"
#include "core/ops/common.hpp"
#include "core/internal/profiler.hpp"

namespace tg {

/// y = x W^T + b over x (..., in), W (out, in), b (out) or undefined; rows R = numel(x) / in.
/// dx = dy W,  dW = dy^T x,  db = sum_rows dy
/// Under Autocast (float32 operands, a bf16 route for the shape) the three products take bf16
/// copies of x, W and dy and accumulate in float32.
Tensor linear(const Tensor& x, const Tensor& w, const Tensor& b) {
    const detail::OpScope scope("linear");
    detail::check_same_floating("linear", x, w);
    if (b.defined()) detail::check_same_floating("linear", x, b);
    TG_CHECK(x.dim() >= 1 && w.dim() == 2 && x.shape().back() == w.shape()[1] &&
             (!b.defined() || (b.dim() == 1 && b.shape()[0] == w.shape()[0])), ShapeError,
             "linear: x {} does not fit weight {} (out, in) and bias {}", shape_str(x.shape()), shape_str(w.shape()),
             b.defined() ? shape_str(b.shape()) : "none");
    const int64_t in = w.shape()[1], out = w.shape()[0];
    const int64_t rows = in ? x.numel() / in : shape_numel(Shape(x.shape().begin(), x.shape().end() - 1));
    Shape ys = x.shape();
    ys.back() = out;
    Tensor y = Tensor::empty(ys, x.dtype());
    const kernels::Bf16Route route = detail::product_route(x.dtype(), rows, out, in);
    const Tensor xh = detail::bf16_copy_for(route, x), wh = detail::bf16_copy_for(route, w);
    dispatch_floating("linear", x.dtype(), [&](auto tag) {
        using T = decltype(tag);
        T* py = y.data<T>();
        detail::ProductOperands<T>(route, x, xh, w, wh).gemm(false, true, rows, out, in, 0, in, 0, in, T(0), py, out);
        if (b.defined()) {
            const T* pb = b.data<T>();
            for (int64_t r = 0; r < rows; ++r)
                for (int64_t o = 0; o < out; ++o) py[r * out + o] += pb[o];
        }
    });
    return record("linear", y, {x, w, b}, [x, w, xh, wh, route, has_bias = b.defined(), rows, in, out](const Tensor& dy,
                                                                                                  const Tensor&) {
        if (is_grad_enabled()) {  // creating a graph: dx = dy W, dW = dy^T x, db = the rows' sum, as ops
            const Tensor dy2 = reshape(dy, {rows, out});
            return Grads{x.requires_grad() ? matmul(dy, w) : Tensor(),
                         w.requires_grad() ? matmul(transpose(dy2, 0, 1), reshape(x, {rows, in})) : Tensor(),
                         has_bias ? sum(dy2, 0) : Tensor()};
        }
        Tensor dx = x.requires_grad() ? Tensor::empty(x.shape(), x.dtype()) : Tensor();
        Tensor dw = w.requires_grad() ? Tensor::empty(w.shape(), w.dtype()) : Tensor();
        Tensor db = has_bias ? Tensor::zeros({out}, dy.dtype()) : Tensor();
        const Tensor gh = detail::bf16_copy_for(route, dy);
        dispatch_floating("linear", dy.dtype(), [&](auto tag) {
            using T = decltype(tag);
            if (dx.defined())
                detail::ProductOperands<T>(route, dy, gh, w, wh)
                    .gemm(false, false, rows, in, out, 0, out, 0, in, T(0), dx.data<T>(), in);
            if (dw.defined())
                detail::ProductOperands<T>(route, dy, gh, x, xh)
                    .gemm(true, false, out, in, rows, 0, out, 0, in, T(0), dw.data<T>(), in);
            if (db.defined()) {
                const T* g = dy.data<T>();
                T* pdb = db.data<T>();
                for (int64_t r = 0; r < rows; ++r)
                    for (int64_t o = 0; o < out; ++o) pdb[o] += g[r * out + o];
            }
        });
        return Grads{dx, dw, db};
    }, BackwardReads::values, Differentiable::twice);
}

}  // namespace tg
