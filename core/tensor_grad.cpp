// Tensor's autograd methods: requires_grad, gradients, backward and hooks' entry points.
#include <fmt/format.h>

#include <atomic>
#include <cstdio>

#include "core/check.hpp"
#include "core/internal/engine.hpp"
#include "core/internal/tensor_impl.hpp"
#include "core/tensor.hpp"

namespace tg {

Tensor& Tensor::requires_grad_(bool on) {
    TensorImpl& me = checked();
    TG_CHECK(!on || me.dtype != Dtype::bf16, DtypeError,
             "requires_grad_: bf16 is a storage dtype and cannot require grad; convert with .to(Dtype::f32) first "
             "(training keeps f32 weights)");
    TG_CHECK(!on || is_floating(me.dtype), DtypeError,
             "requires_grad_: only f32 and f64 tensors can require grad, this one is {}", dtype_name(me.dtype));
    TG_CHECK(on || !me.grad_fn, ValueError,
             "requires_grad_: cannot turn off grad on a tensor made by '{}'; use detach()", me.grad_fn);
    me.requires_grad = on;
    return *this;
}

std::string Tensor::grad_fn_name() const {
    const TensorImpl& me = checked();
    return me.grad_fn ? me.grad_fn : "";
}

namespace {
std::atomic<bool> g_warned_non_leaf_grad{false};
}  // namespace

namespace detail {
void reset_non_leaf_grad_warning() { g_warned_non_leaf_grad.store(false); }
}  // namespace detail

Tensor Tensor::grad() const {
    const TensorImpl& me = checked();
    // As PyTorch: reading the gradient of a non-leaf gives an undefined tensor (backward keeps
    // gradients only for leaves), which then fails far away in another op; say so, once.
    if (me.grad_fn != nullptr && !me.retains_grad && !me.grad && !g_warned_non_leaf_grad.exchange(true)) {
        fmt::print(stderr,
                   "tapegrad: warning: .grad() of a non-leaf tensor (made by '{}', shape {}) is undefined: backward() "
                   "keeps the gradients of leaves only. Call retain_grad() on it before backward() to keep its "
                   "gradient, or read .grad() of the leaf (a parameter or an input with requires_grad set). "
                   "This warning is printed once.\n",
                   me.grad_fn, shape_str(me.shape));
    }
    return Tensor(me.grad);
}

void Tensor::set_grad(const Tensor& g) {
    TensorImpl& me = checked();
    TG_CHECK(!g.defined() || (g.shape() == me.shape && g.dtype() == me.dtype), ShapeError,
             "set_grad: gradient {} {} does not match tensor {} {}", shape_str(g.shape()), dtype_name(g.dtype()),
             shape_str(me.shape), dtype_name(me.dtype));
    me.grad = g.impl();
}

Tensor& Tensor::retain_grad() {
    checked().retains_grad = true;
    return *this;
}

void Tensor::backward(bool retain_graph) const { detail::run_backward(*this, Tensor(), retain_graph); }

void Tensor::backward(const Tensor& grad, const GradOptions& options) const {
    detail::run_engine({*this}, {grad}, options, nullptr, "backward");
}

void Tensor::backward(const Tensor& grad, bool retain_graph) const {
    detail::run_backward(*this, grad, retain_graph);
}

}  // namespace tg
