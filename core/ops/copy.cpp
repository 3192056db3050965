// Dtype conversion and copies.
#include "core/internal/tensor_impl.hpp"
#include "core/ops/common.hpp"
#include "core/internal/profiler.hpp"

namespace tg {

/// y = x converted to dtype.  dx = dy converted back (no gradient flows into i64 or bf16).
/// bf16 tensors carry no gradient, so converting into bf16 refuses what would need one, and a
/// conversion out of bf16 starts without history.
Tensor to(const Tensor& x, Dtype dtype) {
    const detail::OpScope scope("to");
    detail::check_defined("to", x, "input");
    if (x.dtype() == dtype) return x;
    TG_CHECK(dtype != Dtype::bf16 || !x.requires_grad() || !is_grad_enabled(), DtypeError,
             "to: this {} {} tensor requires grad, and bf16 tensors cannot carry gradients; convert it under "
             "NoGradGuard or convert x.detach()",
             shape_str(x.shape()), dtype_name(x.dtype()));
    Tensor y = Tensor::empty(x.shape(), dtype);
    y.copy_(x);
    if (!is_floating(dtype) || !is_floating(x.dtype())) return y;
    return record("to", y, {x}, [from = x.dtype()](const Tensor& dy, const Tensor&) { return Grads{to(dy, from)}; },
                  BackwardReads::shapes, Differentiable::twice);
}

/// y = x (a new buffer).  dx = dy
Tensor clone(const Tensor& x) {
    const detail::OpScope scope("clone");
    detail::check_defined("clone", x, "input");
    return record("clone", detail::copy_values(x), {x}, [](const Tensor& dy, const Tensor&) { return Grads{dy}; },
                  BackwardReads::shapes, Differentiable::twice);
}

// The Tensor methods are these ops (so tensor.cpp, the storage, knows no op).
Tensor Tensor::to(Dtype dtype) const { return tg::to(*this, dtype); }
Tensor Tensor::clone() const { return tg::clone(*this); }

}  // namespace tg
