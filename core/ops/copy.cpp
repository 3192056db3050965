// Dtype conversion and copies.
#include <cstring>

#include "core/ops/common.hpp"

namespace tg {

/// y = x converted to dtype.  dx = dy converted back (no gradient flows into i64).
Tensor to(const Tensor& x, Dtype dtype) {
    detail::check_defined("to", x, "input");
    if (x.dtype() == dtype) return x;
    Tensor y = Tensor::empty(x.shape(), dtype);
    y.copy_(x);
    if (!is_floating(dtype)) return y;
    return record("to", y, {x}, [from = x.dtype()](const Tensor& dy, const Tensor&) {
        return Grads{to(dy, from)};
    });
}

/// y = x (a new buffer).  dx = dy
Tensor clone(const Tensor& x) {
    detail::check_defined("clone", x, "input");
    Tensor y = Tensor::empty(x.shape(), x.dtype());
    if (x.nbytes()) std::memcpy(y.raw_data(), x.raw_data(), x.nbytes());
    return record("clone", y, {x}, [](const Tensor& dy, const Tensor&) { return Grads{dy}; });
}

}  // namespace tg
