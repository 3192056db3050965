// The affine map of nn::Linear, fused: one GEMM with the weight read transposed in place.
#include "core/check.hpp"
#include "core/internal/autocast.hpp"
#include "core/kernels/blas.hpp"
#include "core/ops/common.hpp"

namespace tg {

/// y = x W^T + b over x (..., in), W (out, in), b (out) or undefined; rows R = numel(x) / in.
/// dx = dy W,  dW = dy^T x,  db = sum_rows dy
/// Under Autocast (float32 operands, a bf16 route for the shape) the three products take bf16
/// copies of x, W and dy and accumulate in float32.
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
    const kernels::Bf16Route route =
        x.dtype() == Dtype::f32 ? detail::product_route(rows, out, in) : kernels::Bf16Route::float32;
    const bool half = route != kernels::Bf16Route::float32;
    const Tensor xh = half ? detail::bf16_copy(x) : Tensor(), wh = half ? detail::bf16_copy(w) : Tensor();
    dispatch_floating("linear", x.dtype(), [&](auto tag) {
        using T = decltype(tag);
        T* py = y.data<T>();
        if constexpr (std::is_same_v<T, float>) {
            if (half)
                kernels::gemm_bf16(route, false, true, rows, out, in, 1.0f, detail::bf16_bits(xh), in,
                                   detail::bf16_bits(wh), in, 0.0f, py, out);
        }
        if (!half) kernels::gemm(false, true, rows, out, in, T(1), x.data<T>(), in, w.data<T>(), in, T(0), py, out);
        if (b.defined()) {
            const T* pb = b.data<T>();
            for (int64_t r = 0; r < rows; ++r)
                for (int64_t o = 0; o < out; ++o) py[r * out + o] += pb[o];
        }
    });
    return record("linear", y, {x, w, b}, [x, w, xh, wh, route, has_bias = b.defined(), rows, in, out](const Tensor& dy,
                                                                                                  const Tensor&) {
        Tensor dx = x.requires_grad() ? Tensor::empty(x.shape(), x.dtype()) : Tensor();
        Tensor dw = w.requires_grad() ? Tensor::empty(w.shape(), w.dtype()) : Tensor();
        Tensor db = has_bias ? Tensor::zeros({out}, dy.dtype()) : Tensor();
        dispatch_floating("linear", dy.dtype(), [&](auto tag) {
            using T = decltype(tag);
            const T* g = dy.data<T>();
            if constexpr (std::is_same_v<T, float>) {
                if (route != kernels::Bf16Route::float32) {
                    const Tensor gh = detail::bf16_copy(dy);
                    if (dx.defined())
                        kernels::gemm_bf16(route, false, false, rows, in, out, 1.0f, detail::bf16_bits(gh), out,
                                           detail::bf16_bits(wh), in, 0.0f, dx.data<T>(), in);
                    if (dw.defined())
                        kernels::gemm_bf16(route, true, false, out, in, rows, 1.0f, detail::bf16_bits(gh), out,
                                           detail::bf16_bits(xh), in, 0.0f, dw.data<T>(), in);
                }
            }
            if (route == kernels::Bf16Route::float32) {
                if (dx.defined())
                    kernels::gemm(false, false, rows, in, out, T(1), g, out, w.data<T>(), in, T(0), dx.data<T>(), in);
                if (dw.defined())
                    kernels::gemm(true, false, out, in, rows, T(1), g, out, x.data<T>(), in, T(0), dw.data<T>(), in);
            }
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
