#include "core/gradcheck.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "core/autograd.hpp"
#include "core/check.hpp"
#include "core/ops.hpp"

namespace tg {

std::string GradcheckResult::message() const {
    return fmt::format("gradcheck {}: {} elements, max abs error {:.3e}, max rel error {:.3e} "
                       "(input {}, element {}: analytic {:.10g}, numeric {:.10g})",
                       ok ? "passed" : "FAILED", checked, max_abs_error, max_rel_error, input,
                       element, analytic, numeric);
}

namespace {

// L = sum(r * y) with y the output of fn; r is fixed for the whole check.
Tensor scalar_loss(const std::function<Tensor()>& fn, Tensor& r, uint64_t seed) {
    Tensor y = fn();
    TG_CHECK(y.defined(), ValueError, "gradcheck: the function returned an undefined tensor");
    TG_CHECK(y.dtype() == Dtype::f64, DtypeError, "gradcheck: the function must return f64 for f64 inputs, got {}",
             dtype_name(y.dtype()));
    if (!r.defined()) r = Tensor::randn(y.shape(), Dtype::f64, seed);
    TG_CHECK(r.shape() == y.shape(), ShapeError, "gradcheck: the function's output shape changed between calls");
    return sum(mul(y, r));
}

}  // namespace

GradcheckResult gradcheck_tensors(const std::function<Tensor()>& fn, const std::vector<Tensor>& wrt,
                                  const GradcheckOptions& opt) {
    TG_CHECK(opt.eps > 0, ValueError, "gradcheck: eps must be positive, got {}", opt.eps);
    std::vector<Tensor> saved_grads;
    for (const Tensor& t : wrt) {
        TG_CHECK(t.defined(), ValueError, "gradcheck: an input is an undefined tensor");
        TG_CHECK(t.dtype() == Dtype::f64 && t.is_leaf() && t.requires_grad(), DtypeError,
                 "gradcheck: tensors to differentiate must be f64 leaves that require grad, got {} {}{}{}",
                 shape_str(t.shape()), dtype_name(t.dtype()), t.is_leaf() ? "" : " made by " + t.grad_fn_name(),
                 t.dtype() == Dtype::f32 ? "; convert a module's parameters with module.to(Dtype::f64) first (finite "
                                           "differences need float64)"
                                         : "");
        saved_grads.push_back(t.grad());
        Tensor(t).set_grad(Tensor());
    }

    Tensor r;
    scalar_loss(fn, r, opt.seed).backward();

    // An element's relative error is its error over the largest gradient magnitude of its
    // tensor: finite differences carry an absolute noise of about machine epsilon * |L| / eps,
    // so dividing by the element's own (possibly tiny) gradient would measure that noise.
    GradcheckResult res;
    double worst_rel = -1;
    for (std::size_t i = 0; i < wrt.size(); ++i) {
        Tensor analytic = wrt[i].grad();
        double* px = wrt[i].data<double>();
        const int64_t n = wrt[i].numel();
        std::vector<double> a(static_cast<std::size_t>(n), 0.0), num(static_cast<std::size_t>(n));
        {
            // In the caller's grad mode: a function may take gradients itself (a gradient
            // penalty, gradgradcheck's inner gradient), and entries of results that die are dropped.
            for (int64_t e = 0; e < n; ++e) {
                const double saved = px[e];
                px[e] = saved + opt.eps;
                const double up = scalar_loss(fn, r, opt.seed).item<double>();
                px[e] = saved - opt.eps;
                const double down = scalar_loss(fn, r, opt.seed).item<double>();
                px[e] = saved;
                num[e] = (up - down) / (2 * opt.eps);
                if (analytic.defined()) a[e] = analytic.data<double>()[e];
            }
        }
        double scale = 0;
        for (int64_t e = 0; e < n; ++e) scale = std::max({scale, std::abs(a[e]), std::abs(num[e])});
        for (int64_t e = 0; e < n; ++e) {
            double err = std::abs(a[e] - num[e]);
            if (std::isnan(err)) err = INFINITY;
            // A tensor whose gradients are all below atol (truly zero, say) has no scale to be
            // relative to; the absolute test alone judges it.
            const double rel = scale > opt.atol ? err / scale : 0.0;
            ++res.checked;
            if (!(err <= opt.atol + opt.rtol * std::abs(num[e]))) res.ok = false;
            res.max_abs_error = std::max(res.max_abs_error, err);
            if (rel > worst_rel) {
                worst_rel = rel;
                res.max_rel_error = rel;
                res.input = static_cast<int64_t>(i);
                res.element = e;
                res.analytic = a[e];
                res.numeric = num[e];
            }
        }
    }
    for (std::size_t i = 0; i < wrt.size(); ++i) Tensor(wrt[i]).set_grad(saved_grads[i]);
    return res;
}

GradcheckResult gradcheck(const GradcheckFn& fn, const std::vector<Tensor>& inputs,
                          const GradcheckOptions& opt) {
    bool any_requires = false;
    for (const Tensor& t : inputs) any_requires = any_requires || (t.defined() && t.requires_grad());
    std::vector<Tensor> xs, wrt;
    std::vector<int64_t> index;  // input position of each tensor in wrt
    for (const Tensor& t : inputs) {
        TG_CHECK(t.defined(), ValueError, "gradcheck: an input is an undefined tensor");
        const bool diff = is_floating(t.dtype()) && (any_requires ? t.requires_grad() : true);
        Tensor x = is_floating(t.dtype()) ? t.detach().to(Dtype::f64).clone() : t;
        if (diff) {
            x.requires_grad_(true);
            wrt.push_back(x);
            index.push_back(static_cast<int64_t>(xs.size()));
        }
        xs.push_back(x);
    }
    GradcheckResult res = gradcheck_tensors([&] { return fn(xs); }, wrt, opt);
    if (res.input >= 0) res.input = index[static_cast<std::size_t>(res.input)];
    return res;
}

/// S(x) = sum_i <r2_i, d<r1, fn(x)>/dx_i>, with the inner gradient taken by a backward that
/// records itself (create_graph), checked by gradcheck: its analytic gradient is then a second
/// derivative (a double backward), its numeric one central differences of first derivatives.
GradcheckResult gradgradcheck(const GradcheckFn& fn, const std::vector<Tensor>& inputs, const GradcheckOptions& opt) {
    auto second = [&](const std::vector<Tensor>& xs) {
        const GradModeGuard on(true);  // the inner gradient needs grad mode, whatever the caller's
        const Tensor y = fn(xs);
        TG_CHECK(y.defined() && is_floating(y.dtype()), ValueError, "gradgradcheck: fn must return a floating tensor");
        // gradcheck's copies of the inputs it differentiates are the ones that require grad.
        std::vector<Tensor> wrt;
        for (const Tensor& x : xs)
            if (x.requires_grad()) wrt.push_back(x);
        const Tensor l = y.numel() == 1 ? sum(y) : sum(mul(y, Tensor::randn(y.shape(), Dtype::f64, opt.seed + 1).to(y.dtype())));
        Tensor s;
        if (l.requires_grad()) {
            const std::vector<Tensor> g = grad({l}, wrt, {}, {.create_graph = true, .allow_unused = true});
            for (std::size_t i = 0; i < g.size(); ++i) {
                if (!g[i].defined()) continue;
                const Tensor r2 = Tensor::randn(g[i].shape(), Dtype::f64, opt.seed + 2 + i).to(g[i].dtype());
                const Tensor term = sum(mul(g[i], r2));
                s = s.defined() ? add(s, term) : term;
            }
        }
        // Where every first derivative is constant, S does not depend on x: give it a zero
        // gradient explicitly, so the check still compares (zero against zero).
        for (const Tensor& w : wrt) {
            const Tensor zero = mul(sum(w), 0.0);
            s = s.defined() ? add(s, zero) : zero;
        }
        return s;
    };
    return gradcheck(second, inputs, opt);
}

GradcheckResult gradcheck(const GradcheckFn& fn, const std::vector<Tensor>& inputs, double eps,
                          double atol, double rtol) {
    return gradcheck(fn, inputs, GradcheckOptions{.eps = eps, .atol = atol, .rtol = rtol});
}

}  // namespace tg
