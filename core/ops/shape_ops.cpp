// reshape, transpose/permute, slice and cat. reshape shares storage (tensors are always
// contiguous); the others copy through detail::strided_copy, and their backward is the same
// copy run the other way.
#include <numeric>

#include "core/check.hpp"
#include "core/internal/tensor_impl.hpp"
#include "core/ops/common.hpp"

namespace tg {

namespace {

Shape infer_shape(const Tensor& x, const Shape& shape) {
    Shape out = shape;
    int64_t known = 1, infer = -1;
    for (std::size_t i = 0; i < out.size(); ++i) {
        if (out[i] == -1) {
            TG_CHECK(infer < 0, ShapeError, "reshape: only one dim may be -1, got {}", shape_str(shape));
            infer = static_cast<int64_t>(i);
        } else if (out[i] < 0) {
            throw ShapeError(fmt::format("reshape: bad target shape {}", shape_str(shape)));
        } else {
            known *= out[i];
        }
    }
    if (infer >= 0) {
        TG_CHECK(known != 0 && x.numel() % known == 0, ShapeError, "reshape: cannot view {} ({} elements) as {}",
                 shape_str(x.shape()), x.numel(), shape_str(shape));
        out[infer] = x.numel() / known;
    }
    TG_CHECK(shape_numel(out) == x.numel(), ShapeError, "reshape: cannot view {} ({} elements) as {}",
             shape_str(x.shape()), x.numel(), shape_str(shape));
    return out;
}

}  // namespace

/// y = x viewed with a new shape (same storage).  dx = dy viewed with x's shape
Tensor reshape(const Tensor& x, const Shape& shape) {
    detail::check_defined("reshape", x, "input");
    Tensor y = detail::alias(x, infer_shape(x, shape));
    return record("reshape", y, {x}, [xs = x.shape()](const Tensor& dy, const Tensor&) {
        return Grads{detail::alias(dy, xs)};
    },
                  BackwardReads::shapes);
}

/// y[idx] = x[idx permuted by dims].  dx = permute(dy, inverse(dims))
Tensor permute(const Tensor& x, const std::vector<int64_t>& dims) {
    detail::check_defined("permute", x, "input");
    const int64_t nd = x.dim();
    TG_CHECK(static_cast<int64_t>(dims.size()) == nd, ShapeError,
             "permute: {} dims given for a tensor of shape {}", dims.size(), shape_str(x.shape()));
    std::vector<int64_t> p(dims.size()), inverse(dims.size(), -1);
    for (int64_t i = 0; i < nd; ++i) {
        p[i] = normalize_dim("permute", dims[i], nd);
        TG_CHECK(inverse[p[i]] < 0, ValueError, "permute: dim {} appears twice in ({})", p[i], fmt::join(dims, ", "));
        inverse[p[i]] = i;
    }
    const Shape xstr = contiguous_strides(x.shape());
    Shape out_shape(nd), src_strides(nd);
    for (int64_t i = 0; i < nd; ++i) {
        out_shape[i] = x.shape()[p[i]];
        src_strides[i] = xstr[p[i]];
    }
    Tensor y = Tensor::empty(out_shape, x.dtype());
    detail::strided_copy(y, 0, contiguous_strides(out_shape), x, 0, src_strides, out_shape);
    return record("permute", y, {x}, [inverse](const Tensor& dy, const Tensor&) {
        return Grads{permute(dy, inverse)};
    },
                  BackwardReads::shapes);
}

/// Swaps two dims; a permute.
Tensor transpose(const Tensor& x, int64_t dim0, int64_t dim1) {
    detail::check_defined("transpose", x, "input");
    const int64_t nd = x.dim();
    dim0 = normalize_dim("transpose", dim0, nd);
    dim1 = normalize_dim("transpose", dim1, nd);
    std::vector<int64_t> p(nd);
    std::iota(p.begin(), p.end(), 0);
    std::swap(p[dim0], p[dim1]);
    return permute(x, p);
}

/// y = x[..., start:end:step, ...] along dim.  dx = zeros with dy scattered back into place
Tensor slice(const Tensor& x, int64_t dim, int64_t start, int64_t end, int64_t step) {
    detail::check_defined("slice", x, "input");
    dim = normalize_dim("slice", dim, x.dim());
    TG_CHECK(step >= 1, ValueError, "slice: step must be at least 1, got {}", step);
    const int64_t size = x.shape()[dim];
    auto clamp = [size](int64_t v) { return std::clamp(v < 0 ? v + size : v, int64_t{0}, size); };
    start = clamp(start);
    end = clamp(end);
    const int64_t count = end > start ? (end - start + step - 1) / step : 0;
    Shape out_shape = x.shape();
    out_shape[dim] = count;
    Shape xstr = contiguous_strides(x.shape());
    const int64_t offset = start * xstr[dim];
    xstr[dim] *= step;
    Tensor y = Tensor::empty(out_shape, x.dtype());
    detail::strided_copy(y, 0, contiguous_strides(out_shape), x, offset, xstr, out_shape);
    return record("slice", y, {x}, [xs = x.shape(), xstr, offset](const Tensor& dy, const Tensor&) {
        Tensor dx = Tensor::zeros(xs, dy.dtype());
        detail::strided_copy(dx, offset, xstr, dy, 0, contiguous_strides(dy.shape()), dy.shape());
        return Grads{dx};
    },
                  BackwardReads::shapes);
}

/// y = the xs joined along dim.  dx_j = the matching slab of dy
Tensor cat(const std::vector<Tensor>& xs, int64_t dim) {
    TG_CHECK(!xs.empty(), ValueError, "cat: no tensors given");
    for (const Tensor& t : xs) detail::check_defined("cat", t, "an input");
    const Shape& first = xs[0].shape();
    dim = normalize_dim("cat", dim, static_cast<int64_t>(first.size()));
    Shape out_shape = first;
    out_shape[dim] = 0;
    for (std::size_t j = 0; j < xs.size(); ++j) {
        const Shape& s = xs[j].shape();
        TG_CHECK(xs[j].dtype() == xs[0].dtype(), DtypeError,
                 "cat: input {} is {}, input 0 is {} (all inputs must share one dtype)", j, dtype_name(xs[j].dtype()),
                 dtype_name(xs[0].dtype()));
        bool ok = s.size() == first.size();
        for (std::size_t k = 0; ok && k < s.size(); ++k) ok = static_cast<int64_t>(k) == dim || s[k] == first[k];
        TG_CHECK(ok, ShapeError, "cat: input {} is {}, input 0 is {} (all dims but {} must match)", j, shape_str(s),
                 shape_str(first), dim);
        out_shape[dim] += s[dim];
    }
    Tensor y = Tensor::empty(out_shape, xs[0].dtype());
    const Shape ystr = contiguous_strides(out_shape);
    std::vector<int64_t> offsets;
    int64_t at = 0;
    for (const Tensor& t : xs) {
        offsets.push_back(at * ystr[dim]);
        detail::strided_copy(y, at * ystr[dim], ystr, t, 0, contiguous_strides(t.shape()), t.shape());
        at += t.shape()[dim];
    }
    std::vector<Shape> shapes;
    for (const Tensor& t : xs) shapes.push_back(t.shape());
    return record("cat", y, xs, [shapes, offsets, ystr](const Tensor& dy, const Tensor&) {
        Grads g;
        for (std::size_t j = 0; j < shapes.size(); ++j) {
            Tensor dx = Tensor::empty(shapes[j], dy.dtype());
            detail::strided_copy(dx, 0, contiguous_strides(shapes[j]), dy, offsets[j], ystr, shapes[j]);
            g.push_back(dx);
        }
        return g;
    },
                  BackwardReads::shapes);
}

}  // namespace tg
