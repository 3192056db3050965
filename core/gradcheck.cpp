#include "core/gradcheck.hpp"

#include <fmt/format.h>

#include <cmath>

#include "core/autograd.hpp"
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
Tensor scalar_loss(const GradcheckFn& fn, const std::vector<Tensor>& xs, Tensor& r, uint64_t seed) {
    Tensor y = fn(xs);
    if (!y.defined()) throw ValueError("gradcheck: the function returned an undefined tensor");
    if (y.dtype() != Dtype::f64)
        throw DtypeError(fmt::format("gradcheck: the function must return f64 for f64 inputs, got {}",
                                     dtype_name(y.dtype())));
    if (!r.defined()) r = Tensor::randn(y.shape(), Dtype::f64, seed);
    if (r.shape() != y.shape())
        throw ShapeError("gradcheck: the function's output shape changed between calls");
    return sum(mul(y, r));
}

}  // namespace

GradcheckResult gradcheck(const GradcheckFn& fn, const std::vector<Tensor>& inputs,
                          const GradcheckOptions& opt) {
    if (!(opt.eps > 0)) throw ValueError(fmt::format("gradcheck: eps must be positive, got {}", opt.eps));
    bool any_requires = false;
    for (const Tensor& t : inputs) any_requires = any_requires || (t.defined() && t.requires_grad());
    std::vector<Tensor> xs;
    std::vector<bool> wrt;
    for (const Tensor& t : inputs) {
        if (!t.defined()) throw ValueError("gradcheck: an input is an undefined tensor");
        const bool diff = is_floating(t.dtype()) && (any_requires ? t.requires_grad() : true);
        Tensor x = is_floating(t.dtype()) ? t.detach().to(Dtype::f64).clone() : t;
        if (diff) x.requires_grad_(true);
        xs.push_back(x);
        wrt.push_back(diff);
    }

    Tensor r;
    scalar_loss(fn, xs, r, opt.seed).backward();

    // The reported element is the worst relative error among elements whose gradient is larger
    // than atol, or the worst absolute error when there is none.
    struct Worst {
        double key = -1;
        int64_t input = -1, element = -1;
        double analytic = 0, numeric = 0;
    } by_rel, by_abs;
    GradcheckResult res;
    for (std::size_t i = 0; i < xs.size(); ++i) {
        if (!wrt[i]) continue;
        Tensor analytic = xs[i].grad();
        double* px = xs[i].data<double>();
        NoGradGuard ng;
        for (int64_t e = 0; e < xs[i].numel(); ++e) {
            const double saved = px[e];
            px[e] = saved + opt.eps;
            const double up = scalar_loss(fn, xs, r, opt.seed).item<double>();
            px[e] = saved - opt.eps;
            const double down = scalar_loss(fn, xs, r, opt.seed).item<double>();
            px[e] = saved;
            const double numeric = (up - down) / (2 * opt.eps);
            const double a = analytic.defined() ? analytic.data<double>()[e] : 0.0;
            double err = std::abs(a - numeric);
            if (std::isnan(err)) err = INFINITY;
            const double scale = std::max(std::abs(a), std::abs(numeric));
            ++res.checked;
            if (!(err <= opt.atol + opt.rtol * std::abs(numeric))) res.ok = false;
            const Worst here{0, static_cast<int64_t>(i), e, a, numeric};
            if (err > by_abs.key) {
                by_abs = here;
                by_abs.key = err;
            }
            if (scale > opt.atol && err / scale > by_rel.key) {
                by_rel = here;
                by_rel.key = err / scale;
            }
        }
    }
    res.max_abs_error = std::max(by_abs.key, 0.0);
    res.max_rel_error = std::max(by_rel.key, 0.0);
    const Worst& w = by_rel.input >= 0 ? by_rel : by_abs;
    res.input = w.input;
    res.element = w.element;
    res.analytic = w.analytic;
    res.numeric = w.numeric;
    return res;
}

GradcheckResult gradcheck(const GradcheckFn& fn, const std::vector<Tensor>& inputs, double eps,
                          double atol, double rtol) {
    return gradcheck(fn, inputs, GradcheckOptions{.eps = eps, .atol = atol, .rtol = rtol});
}

}  // namespace tg
