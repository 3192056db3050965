// sum, mean, max and min over everything or over one dim; var, argmax and logsumexp over one
// dim; sum, mean, var, amax and amin over several dims. A dim reduction views x as
// (outer, D, inner) and reduces the middle; f32 sums accumulate in double. A reduction over
// several dims moves them last, views x as (K, R) and reduces the rows.
#include <algorithm>
#include <cmath>
#include <limits>
#include <type_traits>

#include "core/check.hpp"
#include "core/ops/common.hpp"
#include "core/internal/profiler.hpp"

namespace tg {

namespace {

// A reduction's gradient (or output) with the reduced dim put back as size 1 when the op
// dropped it (keepdim false), so that it broadcasts against the input of the given rank.
Tensor with_dim(const Tensor& t, int64_t rank, int64_t dim) { return t.dim() == rank ? t : unsqueeze(t, dim); }

Shape reduced_shape(const Shape& s, int64_t dim, bool keepdim) {
    Shape out = s;
    if (keepdim) out[dim] = 1;
    else out.erase(out.begin() + dim);
    return out;
}

// out[o, i] = scale * sum_d x[o, d, i]
Tensor sum_dim_kernel(const char* op, const Tensor& x, int64_t dim, bool keepdim, double scale) {
    const auto sp = detail::split_at(x.shape(), dim);
    Tensor out = Tensor::empty(reduced_shape(x.shape(), dim, keepdim), x.dtype());
    dispatch_floating(op, x.dtype(), [&](auto tag) {
        using T = decltype(tag);
        const T* px = x.data<T>();
        T* po = out.data<T>();
        if (sp.inner == 1) {  // rows: one sum each
            for (int64_t o = 0; o < sp.outer; ++o) {
                const T* row = px + o * sp.d;
                double acc = 0;  // in order, as every other sum here (the same bits as before)
                for (int64_t d = 0; d < sp.d; ++d) acc += static_cast<double>(row[d]);
                po[o] = static_cast<T>(acc * scale);
            }
            return;
        }
        std::vector<double> acc(static_cast<std::size_t>(sp.inner));
        for (int64_t o = 0; o < sp.outer; ++o) {
            std::fill(acc.begin(), acc.end(), 0.0);
            for (int64_t d = 0; d < sp.d; ++d) {
                const T* row = px + (o * sp.d + d) * sp.inner;
                for (int64_t i = 0; i < sp.inner; ++i) acc[i] += row[i];
            }
            for (int64_t i = 0; i < sp.inner; ++i) po[o * sp.inner + i] = static_cast<T>(acc[i] * scale);
        }
    });
    return out;
}

// dx[o, d, i] = scale * dy[o, i]
Tensor expand_dim_kernel(const Tensor& dy, const Shape& x_shape, int64_t dim, double scale) {
    const auto sp = detail::split_at(x_shape, dim);
    Tensor dx = Tensor::empty(x_shape, dy.dtype());
    dispatch_floating("sum", dy.dtype(), [&](auto tag) {
        using T = decltype(tag);
        const T* pg = dy.data<T>();
        T* pd = dx.data<T>();
        const T s = static_cast<T>(scale);
        for (int64_t o = 0; o < sp.outer; ++o)
            for (int64_t d = 0; d < sp.d; ++d)
                for (int64_t i = 0; i < sp.inner; ++i)
                    pd[(o * sp.d + d) * sp.inner + i] = s * pg[o * sp.inner + i];
    });
    return dx;
}

Tensor sum_all_kernel(const char* op, const Tensor& x, double scale) {
    Tensor out = Tensor::empty({}, x.dtype());
    dispatch_floating(op, x.dtype(), [&](auto tag) {
        using T = decltype(tag);
        const T* px = x.data<T>();
        double acc = 0;
        for (int64_t i = 0; i < x.numel(); ++i) acc += px[i];
        *out.data<T>() = static_cast<T>(acc * scale);
    });
    return out;
}

// Sums of i64 and b8 tensors, as PyTorch gives them: an i64 total (for b8, the count of true
// elements), over everything (dim < 0 with whole) or along dim. Not differentiable.
bool integer_sum_dtype(const Tensor& x) { return x.defined() && (x.dtype() == Dtype::i64 || x.dtype() == Dtype::b8); }

Tensor integer_sum(const Tensor& x, int64_t dim, bool keepdim, bool whole) {
    const auto sp = whole ? detail::DimSplit{1, x.numel(), 1} : detail::split_at(x.shape(), dim);
    Tensor out = Tensor::empty(whole ? Shape{} : reduced_shape(x.shape(), dim, keepdim), Dtype::i64);
    int64_t* po = out.data<int64_t>();
    auto run = [&](const auto* px) {
        for (int64_t o = 0; o < sp.outer; ++o)
            for (int64_t i = 0; i < sp.inner; ++i) {
                int64_t acc = 0;
                for (int64_t d = 0; d < sp.d; ++d) acc += static_cast<int64_t>(px[(o * sp.d + d) * sp.inner + i]);
                po[o * sp.inner + i] = acc;
            }
    };
    if (x.dtype() == Dtype::b8) run(x.data<bool>());
    else run(x.data<int64_t>());
    return out;
}

void refuse_integer_mean(const char* op, const Tensor& x) {
    TG_CHECK(!integer_sum_dtype(x), DtypeError,
             "{}: the mean of {} values is not an {} value; convert first, as x.to(Dtype::f32).mean() (sum counts "
             "them as i64)",
             op, dtype_name(x.dtype()), dtype_name(x.dtype()));
}

Tensor reduce_all(const char* op, const Tensor& x, bool mean) {
    const detail::OpScope scope(op);
    if (mean) refuse_integer_mean(op, x);
    else if (integer_sum_dtype(x)) return integer_sum(x, 0, false, true);
    detail::check_floating(op, x);
    TG_CHECK(!mean || x.numel() != 0, ValueError, "{}: mean of an empty tensor of shape {}", op,
             shape_str(x.shape()));
    const double scale = mean ? 1.0 / static_cast<double>(x.numel()) : 1.0;
    Tensor y = sum_all_kernel(op, x, scale);
    return record(op, y, {x}, [shape = x.shape(), scale](const Tensor& dy, const Tensor&) {
        if (is_grad_enabled()) return Grads{expand(scale == 1.0 ? dy : mul(dy, scale), shape)};  // creating a graph
        Tensor dx = Tensor::empty(shape, dy.dtype());
        dx.fill_(dy.item<double>() * scale);
        return Grads{dx};
    },
                  BackwardReads::shapes, Differentiable::twice);
}

Tensor reduce_dim(const char* op, const Tensor& x, int64_t dim, bool keepdim, bool mean) {
    const detail::OpScope scope(op);
    if (mean) refuse_integer_mean(op, x);
    else if (integer_sum_dtype(x)) return integer_sum(x, normalize_dim(op, dim, x.dim()), keepdim, false);
    detail::check_floating(op, x);
    dim = normalize_dim(op, dim, x.dim());
    const int64_t d = x.shape()[dim];
    TG_CHECK(!mean || d != 0, ValueError, "{}: mean over dim {} of size 0 in shape {}", op, dim,
             shape_str(x.shape()));
    const double scale = mean ? 1.0 / static_cast<double>(d) : 1.0;
    Tensor y = sum_dim_kernel(op, x, dim, keepdim, scale);
    return record(op, y, {x}, [shape = x.shape(), dim, scale](const Tensor& dy, const Tensor&) {
        if (is_grad_enabled()) {  // creating a graph: the same broadcast, as recorded ops
            const Tensor kept = with_dim(dy, static_cast<int64_t>(shape.size()), dim);
            return Grads{expand(scale == 1.0 ? kept : mul(kept, scale), shape)};
        }
        return Grads{expand_dim_kernel(dy, shape, dim, scale)};
    },
                  BackwardReads::shapes, Differentiable::twice);
}

// True when a should replace the best value b so far: strictly larger (largest) or smaller,
// or a NaN replacing a number (NaN propagates, as in torch). Ties keep the first position.
template <class T>
bool beats(T a, T b, bool largest) {
    if constexpr (std::is_floating_point_v<T>)
        if (std::isnan(a) || std::isnan(b)) return std::isnan(a) && !std::isnan(b);
    return largest ? a > b : a < b;
}

// The value at the first position of the largest (or smallest) element; the gradient goes there.
//   y = x[k*].  dx = dy at k*, 0 elsewhere
Tensor extreme_all(const char* op, const Tensor& x, bool largest) {
    const detail::OpScope scope(op);
    detail::check_floating(op, x);
    TG_CHECK(x.numel() != 0, ValueError, "{}: the tensor is empty, shape {}", op, shape_str(x.shape()));
    Tensor y = Tensor::empty({}, x.dtype());
    int64_t arg = 0;
    dispatch_floating(op, x.dtype(), [&](auto tag) {
        using T = decltype(tag);
        const T* px = x.data<T>();
        for (int64_t i = 1; i < x.numel(); ++i)
            if (beats(px[i], px[arg], largest)) arg = i;
        *y.data<T>() = px[arg];
    });
    return record(op, y, {x}, [op, shape = x.shape(), arg](const Tensor& dy, const Tensor&) {
        // Creating a graph: dy times a constant one-hot (the selection does not move).
        const bool creating = is_grad_enabled();
        Tensor dx = Tensor::zeros(shape, dy.dtype());
        dispatch_floating(op, dy.dtype(), [&](auto tag) {
            using T = decltype(tag);
            dx.data<T>()[arg] = creating ? T(1) : *dy.data<T>();
        });
        return Grads{creating ? mul(dx, dy) : dx};
    }, BackwardReads::shapes, Differentiable::twice);
}

// For each (o, i), the first d holding the largest (or smallest) x[o, d, i]; f32, f64 or i64.
std::vector<int64_t> arg_extreme(const char* op, const Tensor& x, const detail::DimSplit& sp, bool largest) {
    std::vector<int64_t> arg(static_cast<std::size_t>(sp.outer * sp.inner), 0);
    dispatch_numeric(op, x.dtype(), [&](auto tag) {
        using T = decltype(tag);
        const T* px = x.data<T>();
        for (int64_t o = 0; o < sp.outer; ++o)
            for (int64_t i = 0; i < sp.inner; ++i) {
                const T* p = px + o * sp.d * sp.inner + i;
                int64_t best = 0;
                for (int64_t d = 1; d < sp.d; ++d)
                    if (beats(p[d * sp.inner], p[best * sp.inner], largest)) best = d;
                arg[o * sp.inner + i] = best;
            }
    });
    return arg;
}

//   y[o, i] = x[o, d*, i] with d* the first extreme position.  dx[o, d*, i] = dy[o, i], 0 elsewhere
Tensor extreme_dim(const char* op, const Tensor& x, int64_t dim, bool keepdim, bool largest) {
    const detail::OpScope scope(op);
    detail::check_floating(op, x);
    dim = normalize_dim(op, dim, x.dim());
    const auto sp = detail::split_at(x.shape(), dim);
    TG_CHECK(sp.d != 0, ValueError, "{}: dim {} of shape {} is empty", op, dim, shape_str(x.shape()));
    std::vector<int64_t> arg = arg_extreme(op, x, sp, largest);
    Tensor y = Tensor::empty(reduced_shape(x.shape(), dim, keepdim), x.dtype());
    dispatch_floating(op, x.dtype(), [&](auto tag) {
        using T = decltype(tag);
        const T* px = x.data<T>();
        T* py = y.data<T>();
        for (int64_t o = 0; o < sp.outer; ++o)
            for (int64_t i = 0; i < sp.inner; ++i)
                py[o * sp.inner + i] = px[(o * sp.d + arg[o * sp.inner + i]) * sp.inner + i];
    });
    return record(op, y, {x}, [op, shape = x.shape(), sp, dim, arg = std::move(arg)](const Tensor& dy, const Tensor&) {
        // Creating a graph: dy (broadcast over dim) times a constant mask of the selected positions.
        const bool creating = is_grad_enabled();
        Tensor dx = Tensor::zeros(shape, dy.dtype());
        dispatch_floating(op, dy.dtype(), [&](auto tag) {
            using T = decltype(tag);
            const T* pg = dy.data<T>();
            T* pd = dx.data<T>();
            for (int64_t o = 0; o < sp.outer; ++o)
                for (int64_t i = 0; i < sp.inner; ++i)
                    pd[(o * sp.d + arg[o * sp.inner + i]) * sp.inner + i] = creating ? T(1) : pg[o * sp.inner + i];
        });
        if (creating) return Grads{mul(dx, with_dim(dy, static_cast<int64_t>(shape.size()), dim))};
        return Grads{dx};
    }, BackwardReads::shapes, Differentiable::twice);
}

// amax / amin of each row of a contiguous (K, R) x; NaN propagates. torch splits the gradient
// evenly between the elements equal to the result (the first of them gets it all in max(dim)).
//   y[k] = max_r x[k, r].  dx[k, r] = dy[k] / n_k where x[k, r] == y[k] (n_k of them), else 0
Tensor extreme_rows(const char* op, const Tensor& x, bool largest) {
    const int64_t K = x.shape()[0], R = x.shape()[1];
    Tensor y = Tensor::empty({K}, x.dtype());
    dispatch_floating(op, x.dtype(), [&](auto tag) {
        using T = decltype(tag);
        const T* px = x.data<T>();
        T* py = y.data<T>();
        for (int64_t k = 0; k < K; ++k) {
            T best = px[k * R];
            for (int64_t r = 1; r < R; ++r)
                if (beats(px[k * R + r], best, largest)) best = px[k * R + r];
            py[k] = best;
        }
    });
    return record(op, y, {x}, [op, x, K, R](const Tensor& dy, const Tensor& out) {
        // Creating a graph: dy times the constant weights 1 / n_k of the hits.
        const bool creating = is_grad_enabled();
        Tensor dx = Tensor::zeros(x.shape(), dy.dtype());
        const Tensor ones = creating ? Tensor::ones({K}, dy.dtype()) : Tensor();
        dispatch_floating(op, dy.dtype(), [&](auto tag) {
            using T = decltype(tag);
            const T *px = x.data<T>(), *py = out.data<T>(), *pg = creating ? ones.data<T>() : dy.data<T>();
            T* pd = dx.data<T>();
            auto hit = [](T a, T b) { return a == b || (std::isnan(a) && std::isnan(b)); };
            for (int64_t k = 0; k < K; ++k) {
                int64_t n = 0;
                for (int64_t r = 0; r < R; ++r) n += hit(px[k * R + r], py[k]);
                const T g = pg[k] / static_cast<T>(n);
                for (int64_t r = 0; r < R; ++r)
                    if (hit(px[k * R + r], py[k])) pd[k * R + r] = g;
            }
        });
        return Grads{creating ? mul(dx, unsqueeze(dy, 1)) : dx};
    }, BackwardReads::values, Differentiable::twice);
}

// A reduction over several dims, as torch's dim lists: each dim normalized (negative counts
// from the end) and named once; an empty list means every dim. A 0-d x takes dim 0 or -1.
// rows(x2, R) reduces each row of the (K, R) view of x with the dims moved last; the result
// takes x's shape without those dims (or with size 1 there, keepdim).
template <class Rows>
Tensor over_dims(const char* op, const Tensor& x, const std::vector<int64_t>& dims, bool keepdim, Rows rows) {
    detail::check_defined(op, x, "input");
    const int64_t nd = x.dim();
    std::vector<bool> reduced(static_cast<std::size_t>(nd), dims.empty());
    for (int64_t d : dims) {
        if (nd == 0) {
            detail::check_scalar_dim(op, d);
            continue;
        }
        const int64_t n = normalize_dim(op, d, nd);
        TG_CHECK(!reduced[n], ValueError, "{}: dim {} appears more than once in the dims {}", op, n, shape_str(dims));
        reduced[n] = true;
    }
    std::vector<int64_t> perm;
    Shape out_shape;
    int64_t K = 1, R = 1;
    for (int64_t d = 0; d < nd; ++d)
        if (!reduced[d]) {
            perm.push_back(d);
            out_shape.push_back(x.shape()[d]);
            K *= x.shape()[d];
        }
    for (int64_t d = 0; d < nd; ++d)
        if (reduced[d]) {
            perm.push_back(d);
            R *= x.shape()[d];
        }
    if (keepdim) {
        out_shape = x.shape();
        for (int64_t d = 0; d < nd; ++d)
            if (reduced[d]) out_shape[d] = 1;
    }
    bool identity = true;
    for (int64_t d = 0; d < nd; ++d) identity = identity && perm[d] == d;
    const Tensor moved = identity ? x : permute(x, perm);
    return reshape(rows(reshape(moved, {K, R}), R), out_shape);
}

}  // namespace

/// y = sum over dims (every dim for an empty list).  dx = dy broadcast back over them
Tensor sum(const Tensor& x, const std::vector<int64_t>& dims, bool keepdim) {
    const detail::OpScope scope("sum");
    return over_dims("sum", x, dims, keepdim, [](const Tensor& x2, int64_t) { return sum(x2, 1); });
}

/// y = sum over dims / R, R the number of elements each result averages.  dx = dy / R
Tensor mean(const Tensor& x, const std::vector<int64_t>& dims, bool keepdim) {
    const detail::OpScope scope("mean");
    if (x.defined()) refuse_integer_mean("mean", x);
    return over_dims("mean", x, dims, keepdim, [&](const Tensor& x2, int64_t R) {
        TG_CHECK(R != 0, ValueError, "mean: mean over dims {} of shape {}, which hold no elements", shape_str(dims),
                 shape_str(x.shape()));
        return mean(x2, 1);
    });
}

/// var over the R elements of dims together (two passes, as var(x, dim)).
Tensor var(const Tensor& x, const std::vector<int64_t>& dims, bool unbiased, bool keepdim) {
    const detail::OpScope scope("var");
    if (x.defined()) detail::check_floating("var", x);
    return over_dims("var", x, dims, keepdim, [unbiased](const Tensor& x2, int64_t) { return var(x2, 1, unbiased); });
}

namespace {
Tensor extreme_over(const char* op, const Tensor& x, const std::vector<int64_t>& dims, bool keepdim, bool largest) {
    const detail::OpScope scope(op);
    if (x.defined()) detail::check_floating(op, x);
    return over_dims(op, x, dims, keepdim, [&](const Tensor& x2, int64_t R) {
        TG_CHECK(R != 0, ValueError, "{}: dims {} of shape {} hold no elements", op, shape_str(dims),
                 shape_str(x.shape()));
        return extreme_rows(op, x2, largest);
    });
}
}  // namespace

/// y = the largest element over dims; NaN propagates.  dx = dy split evenly between the
/// elements equal to y (torch's amax; max(x, dim) gives it all to the first)
Tensor amax(const Tensor& x, const std::vector<int64_t>& dims, bool keepdim) {
    const detail::OpScope scope("amax");
    return extreme_over("amax", x, dims, keepdim, true);
}
Tensor amax(const Tensor& x, int64_t dim, bool keepdim) { return extreme_over("amax", x, {dim}, keepdim, true); }
/// amax's smallest-element twin.
Tensor amin(const Tensor& x, const std::vector<int64_t>& dims, bool keepdim) {
    const detail::OpScope scope("amin");
    return extreme_over("amin", x, dims, keepdim, false);
}
Tensor amin(const Tensor& x, int64_t dim, bool keepdim) { return extreme_over("amin", x, {dim}, keepdim, false); }

/// The p-norm over dims (every dim by default): (sum |x|^p)^(1/p) for a finite p > 0, and
/// max |x| for p = inf. With s = sign(x):
///   dx = dy s |x|^(p-1) / y^(p-1)   (p = 2: dy x / y; p = 1: dy s)
///   dx = dy s / n where |x| == y (n of them), else 0   (p = inf, as amax)
/// A zero norm gets a zero gradient (the subgradient torch takes), not 0/0.
Tensor norm(const Tensor& x, double p, const std::vector<int64_t>& dims, bool keepdim) {
    const detail::OpScope scope("norm");
    detail::check_floating("norm", x);
    TG_CHECK(p > 0 && !std::isnan(p), ValueError,
             "norm: p must be positive (1, 2, a larger number, or infinity), got {}", p);
    if (std::isinf(p)) return extreme_over("norm", abs(x), dims, keepdim, true);
    return over_dims("norm", x, dims, keepdim, [p](const Tensor& x2, int64_t) {
        const int64_t K = x2.shape()[0], R = x2.shape()[1];
        Tensor y = Tensor::empty({K}, x2.dtype());
        dispatch_floating("norm", x2.dtype(), [&](auto tag) {
            using T = decltype(tag);
            const T* px = x2.data<T>();
            T* py = y.data<T>();
            for (int64_t k = 0; k < K; ++k) {
                double acc = 0;
                for (int64_t r = 0; r < R; ++r) {
                    const double a = std::abs(static_cast<double>(px[k * R + r]));
                    acc += p == 2 ? a * a : p == 1 ? a : std::pow(a, p);
                }
                py[k] = static_cast<T>(p == 2 ? std::sqrt(acc) : p == 1 ? acc : std::pow(acc, 1 / p));
            }
        });
        return record("norm", y, {x2}, [x2, p, K, R](const Tensor& dy, const Tensor& out) {
            if (is_grad_enabled()) {  // creating a graph: the formula above from ops
                const Tensor sign = detail::map("norm", x2.detach(), [](auto v) {
                    using T = decltype(v);
                    return v > 0 ? T(1) : v < 0 ? T(-1) : T(0);
                });
                const Tensor g = unsqueeze(dy, 1);
                if (p == 1) return Grads{mul(g, sign)};
                // A zero norm (all of its row zero) divides by 1 instead, giving the zero gradient.
                const Tensor y1 = unsqueeze(out, 1);
                const Tensor safe = where(eq(y1.detach(), 0.0), Tensor::ones({}, y1.dtype()), y1);
                if (p == 2) return Grads{mul(g, div(x2, safe))};
                // Zero entries take 1 before the power (for p < 1 it would be inf, and sign * inf
                // NaN); sign is 0 there, so their gradient is 0, as the kernel gives.
                const Tensor ratio = where(eq(x2.detach(), 0.0), Tensor::ones({}, x2.dtype()), div(abs(x2), safe));
                return Grads{mul(g, mul(sign, pow(ratio, p - 1)))};
            }
            Tensor dx = Tensor::empty(x2.shape(), dy.dtype());
            dispatch_floating("norm", dy.dtype(), [&](auto tag) {
                using T = decltype(tag);
                const T *px = x2.data<T>(), *py = out.data<T>(), *pg = dy.data<T>();
                T* pd = dx.data<T>();
                for (int64_t k = 0; k < K; ++k)
                    for (int64_t r = 0; r < R; ++r) {
                        const T v = px[k * R + r];
                        const T s = v > 0 ? T(1) : v < 0 ? T(-1) : T(0);
                        if (p == 1) pd[k * R + r] = pg[k] * s;
                        else if (py[k] == T(0)) pd[k * R + r] = T(0);
                        else if (p == 2) pd[k * R + r] = pg[k] * v / py[k];
                        else
                            pd[k * R + r] = pg[k] * s * std::pow(std::abs(v) / py[k], static_cast<T>(p - 1));
                    }
            });
            return Grads{dx};
        }, BackwardReads::values, Differentiable::twice);
    });
}

namespace {
Tensor cumsum_scan(const Tensor& src, const detail::DimSplit& sp, bool reverse);
Tensor cumsum_adjoint(const Tensor& dy, const detail::DimSplit& sp, bool reverse);
}  // namespace

/// y[..., j, ...] = sum_{i <= j} x[..., i, ...] along dim (inclusive), f32 and f64
/// accumulating in double; i64 too (an i64 result, not differentiable).
/// dx[..., i, ...] = sum_{j >= i} dy[..., j, ...]: the same scan run from the end
Tensor cumsum(const Tensor& x, int64_t dim) {
    const detail::OpScope scope("cumsum");
    detail::check_defined("cumsum", x, "input");
    if (x.dim() == 0) {
        detail::check_scalar_dim("cumsum", dim);
        return x.dtype() == Dtype::i64 ? clone(x) : mul(x, 1.0);
    }
    TG_CHECK(x.dtype() == Dtype::i64 || x.dtype() == Dtype::f32 || x.dtype() == Dtype::f64, DtypeError,
             "cumsum: expected f32, f64 or i64, got {}{}", dtype_name(x.dtype()),
             x.dtype() == Dtype::b8 ? " (count with x.to(Dtype::i64).cumsum(dim))" : "");
    dim = normalize_dim("cumsum", dim, x.dim());
    const auto sp = detail::split_at(x.shape(), dim);
    Tensor y = cumsum_scan(x, sp, false);
    if (x.dtype() == Dtype::i64) return y;
    return record("cumsum", y, {x}, [sp](const Tensor& dy, const Tensor&) { return Grads{cumsum_adjoint(dy, sp, true)}; },
                  BackwardReads::shapes, Differentiable::twice);
}

namespace {
// One scan along the middle dim of (outer, D, inner), forwards or backwards.
Tensor cumsum_scan(const Tensor& src, const detail::DimSplit& sp, bool reverse) {
    Tensor out = Tensor::empty(src.shape(), src.dtype());
    dispatch_numeric("cumsum", src.dtype(), [&](auto tag) {
        using T = decltype(tag);
        using Acc = std::conditional_t<std::is_floating_point_v<T>, double, int64_t>;
        const T* ps = src.data<T>();
        T* po = out.data<T>();
        std::vector<Acc> acc(static_cast<std::size_t>(sp.inner));
        for (int64_t o = 0; o < sp.outer; ++o) {
            std::fill(acc.begin(), acc.end(), Acc(0));
            for (int64_t step = 0; step < sp.d; ++step) {
                const int64_t d = reverse ? sp.d - 1 - step : step;
                const int64_t base = (o * sp.d + d) * sp.inner;
                for (int64_t i = 0; i < sp.inner; ++i) {
                    acc[i] += static_cast<Acc>(ps[base + i]);
                    po[base + i] = static_cast<T>(acc[i]);
                }
            }
        }
    });
    return out;
}

// cumsum's backward (the reverse scan) and, recorded when a graph is being created, the
// adjoint of that: the scans are linear and each one's adjoint runs the other way.
Tensor cumsum_adjoint(const Tensor& dy, const detail::DimSplit& sp, bool reverse) {
    return detail::record_linear("cumsum", cumsum_scan(dy, sp, reverse), dy, [sp, reverse](const Tensor& g, const Tensor&) {
        return Grads{cumsum_adjoint(g, sp, !reverse)};
    });
}
}  // namespace

/// y = sum_i x_i.  dx_i = dy
Tensor sum(const Tensor& x) { return reduce_all("sum", x, false); }
/// y[o, i] = sum_d x[o, d, i].  dx[o, d, i] = dy[o, i]
Tensor sum(const Tensor& x, int64_t dim, bool keepdim) { return reduce_dim("sum", x, dim, keepdim, false); }
/// y = sum_i x_i / n.  dx_i = dy / n
Tensor mean(const Tensor& x) { return reduce_all("mean", x, true); }
/// y[o, i] = sum_d x[o, d, i] / D.  dx[o, d, i] = dy[o, i] / D
Tensor mean(const Tensor& x, int64_t dim, bool keepdim) { return reduce_dim("mean", x, dim, keepdim, true); }

/// y = max_i x_i.  dx = dy at the first argmax, 0 elsewhere
Tensor max(const Tensor& x) { return extreme_all("max", x, true); }
/// y[o, i] = max_d x[o, d, i].  dx[o, d*, i] = dy[o, i] at the first argmax d*
Tensor max(const Tensor& x, int64_t dim, bool keepdim) { return extreme_dim("max", x, dim, keepdim, true); }
/// y = min_i x_i.  dx = dy at the first argmin, 0 elsewhere
Tensor min(const Tensor& x) { return extreme_all("min", x, false); }
/// y[o, i] = min_d x[o, d, i].  dx[o, d*, i] = dy[o, i] at the first argmin d*
Tensor min(const Tensor& x, int64_t dim, bool keepdim) { return extreme_dim("min", x, dim, keepdim, false); }

/// y[o, i] = the first d with x[o, d, i] largest (a NaN counts as largest, as torch), i64; f32,
/// f64 and i64 inputs. Not differentiable: nothing is recorded.
Tensor argmax(const Tensor& x, int64_t dim, bool keepdim) {
    const detail::OpScope scope("argmax");
    detail::check_defined("argmax", x, "input");
    dim = normalize_dim("argmax", dim, x.dim());
    const auto sp = detail::split_at(x.shape(), dim);
    TG_CHECK(sp.d != 0, ValueError, "argmax: dim {} of shape {} is empty", dim, shape_str(x.shape()));
    const std::vector<int64_t> arg = arg_extreme("argmax", x, sp, true);
    Tensor y = Tensor::empty(reduced_shape(x.shape(), dim, keepdim), Dtype::i64);
    std::copy(arg.begin(), arg.end(), y.data<int64_t>());
    return y;
}

/// With m = mean_d x[o, d, i] and N = D - 1 (unbiased) or D:  y[o, i] = sum_d (x[o, d, i] - m)^2 / N.
/// dx[o, d, i] = dy[o, i] * 2 (x[o, d, i] - m) / N   (the path through m carries
/// -2/(N D) sum_d (x - m) = 0). N <= 0 (one element, unbiased; or an empty dim) gives NaN, as
/// torch: the value 0/0 and the gradient (2/0) * 0.
Tensor var(const Tensor& x, int64_t dim, bool unbiased, bool keepdim) {
    const detail::OpScope scope("var");
    detail::check_floating("var", x);
    dim = normalize_dim("var", dim, x.dim());
    const auto sp = detail::split_at(x.shape(), dim);
    const double n = static_cast<double>(sp.d) - (unbiased ? 1.0 : 0.0);
    Tensor y = Tensor::empty(reduced_shape(x.shape(), dim, keepdim), x.dtype());
    Tensor mean = Tensor::empty({sp.outer * sp.inner}, x.dtype());
    dispatch_floating("var", x.dtype(), [&](auto tag) {
        using T = decltype(tag);
        const T* px = x.data<T>();
        T *py = y.data<T>(), *pm = mean.data<T>();
        for (int64_t o = 0; o < sp.outer; ++o)
            for (int64_t i = 0; i < sp.inner; ++i) {
                const T* p = px + o * sp.d * sp.inner + i;
                double m = 0, ss = 0;  // two passes: no cancellation for values far from 0
                for (int64_t d = 0; d < sp.d; ++d) m += p[d * sp.inner];
                m /= static_cast<double>(sp.d);
                for (int64_t d = 0; d < sp.d; ++d) ss += (p[d * sp.inner] - m) * (p[d * sp.inner] - m);
                pm[o * sp.inner + i] = static_cast<T>(m);
                py[o * sp.inner + i] =
                    static_cast<T>(n > 0 ? ss / n : std::numeric_limits<double>::quiet_NaN());
            }
    });
    return record("var", y, {x}, [x, mean, sp, n, dim](const Tensor& dy, const Tensor&) {
        if (is_grad_enabled() && x.numel() == 0) return Grads{Tensor::zeros(x.shape(), dy.dtype())};
        if (is_grad_enabled()) {  // creating a graph: the mean recomputed as a recorded op
            return Grads{mul(with_dim(dy, x.dim(), dim), mul(sub(x, tg::mean(x, dim, true)), 2.0 / n))};
        }
        Tensor dx = Tensor::empty(x.shape(), dy.dtype());
        dispatch_floating("var", dy.dtype(), [&](auto tag) {
            using T = decltype(tag);
            const T *px = x.data<T>(), *pm = mean.data<T>(), *pg = dy.data<T>();
            T* pd = dx.data<T>();
            const T scale = static_cast<T>(2.0 / n);
            for (int64_t o = 0; o < sp.outer; ++o)
                for (int64_t d = 0; d < sp.d; ++d)
                    for (int64_t i = 0; i < sp.inner; ++i) {
                        const int64_t k = (o * sp.d + d) * sp.inner + i;
                        pd[k] = pg[o * sp.inner + i] * scale * (px[k] - pm[o * sp.inner + i]);
                    }
        });
        return Grads{dx};
    }, BackwardReads::values, Differentiable::twice);
}

/// With m = max_d x[o, d, i] (taken as 0 when infinite, as torch, so an all -inf row gives -inf
/// and a +inf gives +inf rather than NaN):  y[o, i] = m + log sum_d exp(x[o, d, i] - m).
/// dx[o, d, i] = dy[o, i] * exp(x[o, d, i] - y[o, i]) = dy * softmax(x)[o, d, i]. An all -inf row
/// gets NaN gradients (-inf - -inf), as in torch; an empty dim gives y = -inf.
Tensor logsumexp(const Tensor& x, int64_t dim, bool keepdim) {
    const detail::OpScope scope("logsumexp");
    detail::check_floating("logsumexp", x);
    dim = normalize_dim("logsumexp", dim, x.dim());
    const auto sp = detail::split_at(x.shape(), dim);
    Tensor y = Tensor::empty(reduced_shape(x.shape(), dim, keepdim), x.dtype());
    dispatch_floating("logsumexp", x.dtype(), [&](auto tag) {
        using T = decltype(tag);
        const T* px = x.data<T>();
        T* py = y.data<T>();
        for (int64_t o = 0; o < sp.outer; ++o)
            for (int64_t i = 0; i < sp.inner; ++i) {
                const T* p = px + o * sp.d * sp.inner + i;
                T m = -std::numeric_limits<T>::infinity();
                for (int64_t d = 0; d < sp.d; ++d) m = std::max(m, p[d * sp.inner]);
                if (std::isinf(m)) m = 0;
                double s = 0;
                for (int64_t d = 0; d < sp.d; ++d) s += std::exp(static_cast<double>(p[d * sp.inner] - m));
                py[o * sp.inner + i] = static_cast<T>(std::log(s) + static_cast<double>(m));
            }
    });
    return record("logsumexp", y, {x}, [x, sp, dim](const Tensor& dy, const Tensor& out) {
        if (is_grad_enabled()) {  // creating a graph: dy * exp(x - y), y the recorded output
            return Grads{mul(with_dim(dy, x.dim(), dim), exp(sub(x, with_dim(out, x.dim(), dim))))};
        }
        Tensor dx = Tensor::empty(x.shape(), dy.dtype());
        dispatch_floating("logsumexp", dy.dtype(), [&](auto tag) {
            using T = decltype(tag);
            const T *px = x.data<T>(), *py = out.data<T>(), *pg = dy.data<T>();
            T* pd = dx.data<T>();
            for (int64_t o = 0; o < sp.outer; ++o)
                for (int64_t d = 0; d < sp.d; ++d)
                    for (int64_t i = 0; i < sp.inner; ++i) {
                        const int64_t k = (o * sp.d + d) * sp.inner + i;
                        pd[k] = pg[o * sp.inner + i] * std::exp(px[k] - py[o * sp.inner + i]);
                    }
        });
        return Grads{dx};
    }, BackwardReads::values, Differentiable::twice);
}

}  // namespace tg
