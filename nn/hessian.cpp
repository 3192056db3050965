#include "nn/hessian.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <random>
#include <string>

#include "core/autograd.hpp"
#include "core/check.hpp"
#include "core/grad_mode.hpp"
#include "core/internal/dispatch.hpp"
#include "nn/hessian_detail.hpp"

namespace tg::nn {

namespace detail {

// Cyclic Jacobi: rotate away each off-diagonal entry in turn until none is left above
// rounding. Quadratic convergence once the entries are small; a handful of sweeps for the
// tridiagonal matrices Lanczos builds.
SymmetricEigen symmetric_eigen(std::vector<double> a, int64_t m) {
    TG_CHECK(m >= 0 && static_cast<int64_t>(a.size()) == m * m, ShapeError,
             "symmetric_eigen: need m x m = {} entries, got {}", m * m, a.size());
    std::vector<double> v(static_cast<std::size_t>(m * m), 0.0);
    for (int64_t i = 0; i < m; ++i) v[i * m + i] = 1.0;
    auto at = [m](std::vector<double>& x, int64_t r, int64_t c) -> double& { return x[r * m + c]; };
    double norm = 0;
    for (double x : a) norm += x * x;
    for (int sweep = 0; sweep < 100; ++sweep) {
        double off = 0;
        for (int64_t p = 0; p < m; ++p)
            for (int64_t q = p + 1; q < m; ++q) off += at(a, p, q) * at(a, p, q);
        if (off <= 1e-30 * norm || off == 0) break;
        for (int64_t p = 0; p < m; ++p)
            for (int64_t q = p + 1; q < m; ++q) {
                const double apq = at(a, p, q);
                if (apq == 0) continue;
                const double tau = (at(a, q, q) - at(a, p, p)) / (2 * apq);
                const double t = (tau >= 0 ? 1.0 : -1.0) / (std::abs(tau) + std::sqrt(1 + tau * tau));
                const double c = 1 / std::sqrt(1 + t * t), s = t * c;
                for (int64_t r = 0; r < m; ++r) {  // columns p and q of A, then of V
                    const double arp = at(a, r, p), arq = at(a, r, q);
                    at(a, r, p) = c * arp - s * arq;
                    at(a, r, q) = s * arp + c * arq;
                    const double vrp = at(v, r, p), vrq = at(v, r, q);
                    at(v, r, p) = c * vrp - s * vrq;
                    at(v, r, q) = s * vrp + c * vrq;
                }
                for (int64_t r = 0; r < m; ++r) {  // rows p and q of A
                    const double apr = at(a, p, r), aqr = at(a, q, r);
                    at(a, p, r) = c * apr - s * aqr;
                    at(a, q, r) = s * apr + c * aqr;
                }
            }
    }
    std::vector<int64_t> order(static_cast<std::size_t>(m));
    std::iota(order.begin(), order.end(), 0);
    std::sort(order.begin(), order.end(), [&](int64_t x, int64_t y) { return at(a, x, x) > at(a, y, y); });
    SymmetricEigen out;
    out.values.resize(static_cast<std::size_t>(m));
    out.vectors.resize(static_cast<std::size_t>(m * m));
    for (int64_t j = 0; j < m; ++j) {
        out.values[j] = at(a, order[j], order[j]);
        for (int64_t r = 0; r < m; ++r) out.vectors[r * m + j] = at(v, r, order[j]);
    }
    return out;
}

}  // namespace detail

namespace {

double dot(const std::vector<double>& x, const std::vector<double>& y) {
    double s = 0;
    for (std::size_t i = 0; i < x.size(); ++i) s += x[i] * y[i];
    return s;
}

// x -> D H D x on the parameters flattened into one vector (D diagonal, the identity when
// none is given), where H is the Hessian of loss() at the parameters' current values. loss()
// runs once, its gradient is taken with create_graph, and each product is one more backward
// through that gradient's graph (kept with retain_graph until the operator dies).
class HessianOperator {
public:
    HessianOperator(const char* op, const std::function<Tensor()>& loss, const std::vector<Tensor>& params,
                    const std::vector<Tensor>& preconditioner = {})
        : params_(params) {
        TG_CHECK(!params.empty(), ValueError, "{}: no parameters given; pass the tensors to take the Hessian in", op);
        int64_t n = 0;
        for (std::size_t i = 0; i < params.size(); ++i) {
            const Tensor& p = params[i];
            TG_CHECK(p.defined() && is_floating(p.dtype()), DtypeError,
                     "{}: parameter {} must be a defined f32 or f64 tensor, got {}", op, i,
                     p.defined() ? std::string(dtype_name(p.dtype())) : std::string("an undefined tensor"));
            TG_CHECK(p.requires_grad(), ValueError,
                     "{}: parameter {} ({}) does not require grad; pass parameters (requires_grad_())", op, i,
                     shape_str(p.shape()));
            offsets_.push_back(n);
            n += p.numel();
        }
        n_ = n;
        if (!preconditioner.empty()) {
            TG_CHECK(preconditioner.size() == params.size(), ValueError,
                     "{}: {} preconditioner tensors for {} parameters; give one per parameter", op,
                     preconditioner.size(), params.size());
            scale_.resize(static_cast<std::size_t>(n));
            for (std::size_t i = 0; i < params.size(); ++i) {
                const Tensor& d = preconditioner[i];
                TG_CHECK(d.defined() && d.shape() == params[i].shape(), ShapeError,
                         "{}: preconditioner {} must have the shape of parameter {}, {}; got {}", op, i, i,
                         shape_str(params[i].shape()), d.defined() ? shape_str(d.shape()) : "an undefined tensor");
                const std::vector<double> values = d.to_vector<double>();
                for (std::size_t j = 0; j < values.size(); ++j) {
                    TG_CHECK(values[j] > 0 && std::isfinite(values[j]), ValueError,
                             "{}: preconditioner {} holds {} at element {}; its entries must be positive and finite",
                             op, i, values[j], j);
                    scale_[offsets_[i] + j] = 1.0 / std::sqrt(values[j]);
                }
            }
        }
        GradModeGuard on(true);  // the caller may be inside a NoGradGuard
        const Tensor y = loss();
        TG_CHECK(y.defined() && y.numel() == 1 && is_floating(y.dtype()), ValueError,
                 "{}: loss() must return one f32 or f64 element (a scalar loss), got {}", op,
                 y.defined() ? fmt::format("{} {}", shape_str(y.shape()), dtype_name(y.dtype()))
                             : std::string("an undefined tensor"));
        TG_CHECK(y.requires_grad(), ValueError,
                 "{}: loss() does not depend on the parameters (its result does not require grad); compute it "
                 "from them, with grad mode on",
                 op);
        const std::vector<Tensor> g = grad({y}, params, {}, {.create_graph = true, .allow_unused = true});
        for (std::size_t i = 0; i < g.size(); ++i) {
            // A gradient that does not require grad is constant in the parameters: its rows of
            // H are zero, as are those of a parameter loss() does not read.
            if (!g[i].defined() || !g[i].requires_grad()) continue;
            used_.push_back(i);
            grads_.push_back(g[i]);
        }
    }

    int64_t size() const { return n_; }
    int64_t products() const { return products_; }

    std::vector<double> apply(std::vector<double> x) {
        ++products_;
        if (!scale_.empty())
            for (int64_t j = 0; j < n_; ++j) x[j] *= scale_[j];
        std::vector<double> out(static_cast<std::size_t>(n_), 0.0);
        if (grads_.empty()) return out;
        std::vector<Tensor> v;
        for (std::size_t i : used_) v.push_back(from_flat(x, i));
        const std::vector<Tensor> hv = grad(grads_, params_, v, {.retain_graph = true, .allow_unused = true});
        for (std::size_t i = 0; i < hv.size(); ++i) {
            if (!hv[i].defined()) continue;
            const std::vector<double> values = hv[i].to_vector<double>();
            std::copy(values.begin(), values.end(), out.begin() + offsets_[i]);
        }
        if (!scale_.empty())
            for (int64_t j = 0; j < n_; ++j) out[j] *= scale_[j];
        return out;
    }

private:
    Tensor from_flat(const std::vector<double>& x, std::size_t i) const {
        const Tensor& p = params_[i];
        Tensor t = Tensor::empty(p.shape(), p.dtype());
        dispatch_floating("hessian", p.dtype(), [&](auto tag) {
            using T = decltype(tag);
            T* d = t.data<T>();
            for (int64_t j = 0; j < p.numel(); ++j) d[j] = static_cast<T>(x[offsets_[i] + j]);
        });
        return t;
    }

    std::vector<Tensor> params_;
    std::vector<int64_t> offsets_;
    int64_t n_ = 0;
    std::vector<double> scale_;  // D's diagonal; empty for the identity
    std::vector<std::size_t> used_;
    std::vector<Tensor> grads_;
    int64_t products_ = 0;
};

void check_options(const char* op, const HessianOptions& o) {
    TG_CHECK(o.iterations >= 1 && o.tol >= 0 && std::isfinite(o.tol), ValueError,
             "{}: need iterations >= 1 and a finite tol >= 0, got iterations {}, tol {}", op, o.iterations, o.tol);
}

// Removes from w its components along the basis (twice: one pass of Gram-Schmidt loses
// orthogonality when w has mostly cancelled).
void orthogonalise(std::vector<double>& w, const std::vector<std::vector<double>>& basis) {
    for (int pass = 0; pass < 2; ++pass)
        for (const auto& q : basis) {
            const double c = dot(w, q);
            for (std::size_t j = 0; j < w.size(); ++j) w[j] -= c * q[j];
        }
}

// Lanczos with full reorthogonalisation: builds an orthonormal basis Q of the Krylov space of
// a random start, and T = Q^T A Q (tridiagonal). T's top eigenvalues (Ritz values) approach
// A's; the residual of Ritz pair i is |beta_m s_{m,i}| (s_{m,i} the last entry of its
// eigenvector of T), which bounds its distance from an eigenvalue of A. When the Krylov space
// closes (beta ~ 0) it is an invariant subspace whose Ritz values are exact, but A may hold
// larger ones outside it (a repeated eigenvalue, a start with no component along the top
// eigenvector): it restarts from a fresh random vector orthogonal to Q, and stops on closure
// only when no products are left.
EigenEstimate lanczos(const char* op, HessianOperator& a, int k, const HessianOptions& options) {
    const int64_t n = a.size();
    TG_CHECK(k <= n, ValueError, "{}: k = {} eigenvalues asked for, but there are only {} parameters", op, k, n);
    const int64_t max_steps = std::min<int64_t>(options.iterations, n);
    std::mt19937_64 gen(options.seed);
    std::normal_distribution<double> normal;
    auto random_unit = [&](const std::vector<std::vector<double>>& basis) {
        for (int attempt = 0; attempt < 4; ++attempt) {
            std::vector<double> x(static_cast<std::size_t>(n));
            for (double& e : x) e = normal(gen);
            orthogonalise(x, basis);
            const double r = std::sqrt(dot(x, x));
            if (r > 1e-8) {
                for (double& e : x) e /= r;
                return x;
            }
        }
        throw ValueError(fmt::format("{}: found no direction orthogonal to {} Lanczos vectors in {} dimensions", op,
                                     basis.size(), n));
    };

    std::vector<std::vector<double>> q{random_unit({})};
    std::vector<double> alpha, beta;  // beta[j] couples q[j] and q[j + 1]
    double scale = 0;                 // the largest |Ritz value| so far
    auto ritz = [&](int64_t m) {  // the eigenpairs of T, largest first
        std::vector<double> t(static_cast<std::size_t>(m * m), 0.0);
        for (int64_t i = 0; i < m; ++i) {
            t[i * m + i] = alpha[i];
            if (i + 1 < m) t[i * m + i + 1] = t[(i + 1) * m + i] = beta[i];
        }
        return detail::symmetric_eigen(std::move(t), m);
    };
    for (int64_t m = 1;; ++m) {
        std::vector<double> w = a.apply(q.back());
        const double al = dot(w, q.back());
        alpha.push_back(al);
        for (std::size_t j = 0; j < w.size(); ++j) {
            w[j] -= al * q.back()[j];
            if (m > 1) w[j] -= beta.back() * q[q.size() - 2][j];
        }
        orthogonalise(w, q);
        for (double x : w)
            TG_CHECK(std::isfinite(x), ValueError,
                     "{}: a Hessian-vector product holds NaN or Inf; the loss or its derivatives are not finite at "
                     "these parameters",
                     op);
        const double b = std::sqrt(dot(w, w));
        const bool last = m == max_steps;  // >= k, as k <= min(iterations, n)
        const bool closed = b <= 1e-10 * std::max(scale, std::abs(al));
        // Each check is O(m^3): every step while T is small, every 8th after. A closed space
        // is not an answer while products are left (above).
        if (m >= k && !(closed && !last) && (m <= 64 || m % 8 == 0 || last)) {
            const detail::SymmetricEigen e = ritz(m);
            scale = std::max(std::abs(e.values.front()), std::abs(e.values.back()));
            EigenEstimate out{{}, {}, static_cast<int>(a.products()), true};
            for (int i = 0; i < k; ++i) {
                out.values.push_back(e.values[i]);
                out.residuals.push_back(closed ? 0.0 : b * std::abs(e.vectors[(m - 1) * m + i]));
                out.converged = out.converged &&
                                out.residuals.back() <= options.tol * std::max(scale, std::numeric_limits<double>::min());
            }
            if (out.converged || last) return out;
        }
        beta.push_back(closed ? 0.0 : b);
        if (closed) {
            q.push_back(random_unit(q));  // m < max_steps <= n here, so a fresh direction exists
        } else {
            for (double& x : w) x /= b;
            q.push_back(std::move(w));
        }
    }
}

// Checks what can be checked before loss() runs.
void check_request(const char* op, int k, const HessianOptions& o) {
    check_options(op, o);
    TG_CHECK(k >= 1 && k <= o.iterations, ValueError,
             "{}: k = {} eigenvalues asked for with iterations = {}; need 1 <= k <= iterations", op, k, o.iterations);
}

}  // namespace

EigenEstimate hessian_eigen_estimate(const std::function<Tensor()>& loss, const std::vector<Tensor>& params, int k,
                                     const HessianOptions& options) {
    const char* op = "hessian_eigenvalues";
    check_request(op, k, options);
    HessianOperator a(op, loss, params);
    return lanczos(op, a, k, options);
}

std::vector<double> hessian_eigenvalues(const std::function<Tensor()>& loss, const std::vector<Tensor>& params, int k,
                                        const HessianOptions& options) {
    return hessian_eigen_estimate(loss, params, k, options).values;
}

EigenEstimate preconditioned_hessian_eigen_estimate(const std::function<Tensor()>& loss,
                                                    const std::vector<Tensor>& params,
                                                    const std::vector<Tensor>& preconditioner, int k,
                                                    const HessianOptions& options) {
    const char* op = "preconditioned_hessian_eigenvalues";
    check_request(op, k, options);
    TG_CHECK(!preconditioner.empty(), ValueError, "{}: no preconditioner given; use hessian_eigenvalues for H itself",
             op);
    HessianOperator a(op, loss, params, preconditioner);
    return lanczos(op, a, k, options);
}

std::vector<double> preconditioned_hessian_eigenvalues(const std::function<Tensor()>& loss,
                                                       const std::vector<Tensor>& params,
                                                       const std::vector<Tensor>& preconditioner, int k,
                                                       const HessianOptions& options) {
    return preconditioned_hessian_eigen_estimate(loss, params, preconditioner, k, options).values;
}

TraceEstimate hessian_trace_estimate(const std::function<Tensor()>& loss, const std::vector<Tensor>& params,
                                     int samples, const HessianOptions& options) {
    const char* op = "hessian_trace";
    TG_CHECK(samples >= 1, ValueError, "{}: samples = {}; need at least one probe", op, samples);
    HessianOperator a(op, loss, params);
    std::mt19937_64 gen(options.seed);
    std::vector<double> z(static_cast<std::size_t>(a.size()));
    double mean = 0, m2 = 0;  // Welford's running mean and sum of squared deviations
    for (int s = 1; s <= samples; ++s) {
        for (std::size_t j = 0; j < z.size(); ++j) z[j] = (gen() >> 63) ? 1.0 : -1.0;
        const double x = dot(z, a.apply(z));
        TG_CHECK(std::isfinite(x), ValueError,
                 "{}: a Hessian-vector product holds NaN or Inf; the loss or its derivatives are not finite at these "
                 "parameters",
                 op);
        const double d = x - mean;
        mean += d / s;
        m2 += d * (x - mean);
    }
    const double sd = samples > 1 ? std::sqrt(m2 / (samples - 1)) : 0.0;
    return {mean, sd / std::sqrt(static_cast<double>(samples)), samples};
}

double hessian_trace(const std::function<Tensor()>& loss, const std::vector<Tensor>& params, int samples,
                     const HessianOptions& options) {
    return hessian_trace_estimate(loss, params, samples, options).trace;
}

std::vector<double> block_sharpness(const std::function<Tensor()>& loss, const GPT& model,
                                    const HessianOptions& options) {
    check_request("block_sharpness", 1, options);
    std::vector<double> out;
    for (std::size_t i = 0; i < model.num_blocks(); ++i) {
        const std::string op = fmt::format("block_sharpness (block {})", i);
        HessianOperator a(op.c_str(), loss, model.h[i]->parameters());
        out.push_back(lanczos(op.c_str(), a, 1, options).values.front());
    }
    return out;
}

}  // namespace tg::nn
