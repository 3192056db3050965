// sum, mean and max, over everything or over one dim. A dim reduction views x as
// (outer, D, inner) and reduces the middle; f32 sums accumulate in double.
#include <algorithm>
#include <cmath>

#include "core/check.hpp"
#include "core/ops/common.hpp"

namespace tg {

namespace {

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

Tensor reduce_all(const char* op, const Tensor& x, bool mean) {
    detail::check_floating(op, x);
    TG_CHECK(!mean || x.numel() != 0, ValueError, "{}: mean of an empty tensor of shape {}", op,
             shape_str(x.shape()));
    const double scale = mean ? 1.0 / static_cast<double>(x.numel()) : 1.0;
    Tensor y = sum_all_kernel(op, x, scale);
    return record(op, y, {x}, [shape = x.shape(), scale](const Tensor& dy, const Tensor&) {
        Tensor dx = Tensor::empty(shape, dy.dtype());
        dx.fill_(dy.item<double>() * scale);
        return Grads{dx};
    },
                  BackwardReads::shapes);
}

Tensor reduce_dim(const char* op, const Tensor& x, int64_t dim, bool keepdim, bool mean) {
    detail::check_floating(op, x);
    dim = normalize_dim(op, dim, x.dim());
    const int64_t d = x.shape()[dim];
    TG_CHECK(!mean || d != 0, ValueError, "{}: mean over dim {} of size 0 in shape {}", op, dim,
             shape_str(x.shape()));
    const double scale = mean ? 1.0 / static_cast<double>(d) : 1.0;
    Tensor y = sum_dim_kernel(op, x, dim, keepdim, scale);
    return record(op, y, {x}, [shape = x.shape(), dim, scale](const Tensor& dy, const Tensor&) {
        return Grads{expand_dim_kernel(dy, shape, dim, scale)};
    },
                  BackwardReads::shapes);
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
Tensor max(const Tensor& x) {
    detail::check_floating("max", x);
    if (x.numel() == 0) throw ValueError("max: the tensor is empty, shape " + shape_str(x.shape()));
    Tensor y = Tensor::empty({}, x.dtype());
    int64_t arg = 0;
    dispatch_floating("max", x.dtype(), [&](auto tag) {
        using T = decltype(tag);
        const T* px = x.data<T>();
        for (int64_t i = 1; i < x.numel(); ++i)
            if (px[i] > px[arg] || (std::isnan(px[i]) && !std::isnan(px[arg]))) arg = i;
        *y.data<T>() = px[arg];
    });
    return record("max", y, {x}, [shape = x.shape(), arg](const Tensor& dy, const Tensor&) {
        Tensor dx = Tensor::zeros(shape, dy.dtype());
        dispatch_floating("max", dy.dtype(), [&](auto tag) {
            using T = decltype(tag);
            dx.data<T>()[arg] = *dy.data<T>();
        });
        return Grads{dx};
    });
}

/// y[o, i] = max_d x[o, d, i].  dx[o, d*, i] = dy[o, i] at the first argmax d*
Tensor max(const Tensor& x, int64_t dim, bool keepdim) {
    detail::check_floating("max", x);
    dim = normalize_dim("max", dim, x.dim());
    const auto sp = detail::split_at(x.shape(), dim);
    TG_CHECK(sp.d != 0, ValueError, "max: dim {} of shape {} is empty", dim, shape_str(x.shape()));
    Tensor y = Tensor::empty(reduced_shape(x.shape(), dim, keepdim), x.dtype());
    std::vector<int64_t> arg(static_cast<std::size_t>(sp.outer * sp.inner), 0);
    dispatch_floating("max", x.dtype(), [&](auto tag) {
        using T = decltype(tag);
        const T* px = x.data<T>();
        T* py = y.data<T>();
        for (int64_t o = 0; o < sp.outer; ++o)
            for (int64_t i = 0; i < sp.inner; ++i) {
                const T* p = px + o * sp.d * sp.inner + i;
                int64_t best = 0;
                for (int64_t d = 1; d < sp.d; ++d)
                    if (p[d * sp.inner] > p[best * sp.inner] ||
                        (std::isnan(p[d * sp.inner]) && !std::isnan(p[best * sp.inner])))
                        best = d;
                arg[o * sp.inner + i] = best;
                py[o * sp.inner + i] = p[best * sp.inner];
            }
    });
    return record("max", y, {x}, [shape = x.shape(), sp, arg = std::move(arg)](const Tensor& dy, const Tensor&) {
        Tensor dx = Tensor::zeros(shape, dy.dtype());
        dispatch_floating("max", dy.dtype(), [&](auto tag) {
            using T = decltype(tag);
            const T* pg = dy.data<T>();
            T* pd = dx.data<T>();
            for (int64_t o = 0; o < sp.outer; ++o)
                for (int64_t i = 0; i < sp.inner; ++i)
                    pd[(o * sp.d + arg[o * sp.inner + i]) * sp.inner + i] = pg[o * sp.inner + i];
        });
        return Grads{dx};
    });
}

}  // namespace tg
