// The affine map of nn::Linear, fused: one GEMM with the weight read transposed in place.
#include "core/kernels/blas.hpp"
#include "core/check.hpp"
#include "core/ops/common.hpp"

namespace tg {

/// y = x W^T + b over x (..., in), W (out, in), b (out) or undefined; rows R = numel(x) / in.
/// dx = dy W,  dW = dy^T x,  db = sum_rows dy
Tensor linear(const Tensor& x, const Tensor& w, const Tensor& b) {
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
    dispatch_floating("linear", x.dtype(), [&](auto tag) {
        using T = decltype(tag);
        T* py = y.data<T>();
        kernels::gemm(false, true, rows, out, in, T(1), x.data<T>(), in, w.data<T>(), in, T(0), py, out);
        if (b.defined()) {
            const T* pb = b.data<T>();
            for (int64_t r = 0; r < rows; ++r)
                for (int64_t o = 0; o < out; ++o) py[r * out + o] += pb[o];
        }
    });
    return record("linear", y, {x, w, b}, [x, w, has_bias = b.defined(), rows, in, out](const Tensor& dy, const Tensor&) {
        Tensor dx = x.requires_grad() ? Tensor::empty(x.shape(), x.dtype()) : Tensor();
        Tensor dw = w.requires_grad() ? Tensor::empty(w.shape(), w.dtype()) : Tensor();
        Tensor db = has_bias ? Tensor::zeros({out}, dy.dtype()) : Tensor();
        dispatch_floating("linear", dy.dtype(), [&](auto tag) {
            using T = decltype(tag);
            const T* g = dy.data<T>();
            if (dx.defined())
                kernels::gemm(false, false, rows, in, out, T(1), g, out, w.data<T>(), in, T(0), dx.data<T>(), in);
            if (dw.defined())
                kernels::gemm(true, false, out, in, rows, T(1), g, out, x.data<T>(), in, T(0), dw.data<T>(), in);
            if (db.defined()) {
                T* pdb = db.data<T>();
                for (int64_t r = 0; r < rows; ++r)
                    for (int64_t o = 0; o < out; ++o) pdb[o] += g[r * out + o];
            }
        });
        return Grads{dx, dw, db};
    });
}

}  // namespace tg
