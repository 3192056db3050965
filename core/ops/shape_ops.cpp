// reshape and view, transpose/permute, slice, narrow, select and unbind, cat and stack,
// split/chunk, squeeze/unsqueeze/flatten, expand and repeat, tril/triu. The views (reshape,
// view, squeeze, unsqueeze, flatten) share storage (tensors are always contiguous); the others
// copy through detail::strided_copy, and their backward is the same copy run the other way
// (expand's sums the broadcast copies back).
#include <algorithm>
#include <numeric>

#include "core/check.hpp"
#include "core/internal/tensor_impl.hpp"
#include "core/ops/common.hpp"
#include "core/internal/profiler.hpp"

namespace tg {

namespace {

Shape infer_shape(const char* op, const Tensor& x, const Shape& shape) {
    Shape out = shape;
    int64_t known = 1, infer = -1;
    for (std::size_t i = 0; i < out.size(); ++i) {
        if (out[i] == -1) {
            TG_CHECK(infer < 0, ShapeError, "{}: only one dim may be -1, got {}", op, shape_str(shape));
            infer = static_cast<int64_t>(i);
        } else if (out[i] < 0) {
            throw ShapeError(fmt::format("{}: bad target shape {}", op, shape_str(shape)));
        } else {
            known *= out[i];
        }
    }
    if (infer >= 0) {
        TG_CHECK(known != 0 && x.numel() % known == 0, ShapeError, "{}: cannot view {} ({} elements) as {}", op,
                 shape_str(x.shape()), x.numel(), shape_str(shape));
        out[infer] = x.numel() / known;
    }
    TG_CHECK(shape_numel(out) == x.numel(), ShapeError, "{}: cannot view {} ({} elements) as {}", op,
             shape_str(x.shape()), x.numel(), shape_str(shape));
    return out;
}

/// y = x viewed with shape, recorded as op (reshape and the views built on it: squeeze,
/// unsqueeze, flatten).  dx = dy viewed with x's shape
Tensor view_as_shape(const char* op, const Tensor& x, const Shape& shape) {
    Tensor y = detail::alias(x, shape);
    return record(op, y, {x}, [xs = x.shape()](const Tensor& dy, const Tensor&) {
        if (is_grad_enabled()) return Grads{reshape(dy, xs)};  // creating a graph
        return Grads{detail::alias(dy, xs)};
    }, BackwardReads::shapes, Differentiable::twice);
}

}  // namespace

/// y = x viewed with a new shape (same storage).  dx = dy viewed with x's shape
Tensor reshape(const Tensor& x, const Shape& shape) {
    const detail::OpScope scope("reshape");
    detail::check_defined("reshape", x, "input");
    return view_as_shape("reshape", x, infer_shape("reshape", x, shape));
}

/// reshape under PyTorch's other name: tensors are always contiguous here, so a view of any
/// shape with as many elements exists and shares storage.
Tensor view(const Tensor& x, const Shape& shape) {
    const detail::OpScope scope("view");
    detail::check_defined("view", x, "input");
    return view_as_shape("view", x, infer_shape("view", x, shape));
}

/// y[idx] = x[idx permuted by dims].  dx = permute(dy, inverse(dims))
Tensor permute(const Tensor& x, const std::vector<int64_t>& dims) {
    const detail::OpScope scope("permute");
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
    }, BackwardReads::shapes, Differentiable::twice);
}

/// Swaps two dims; a permute.
Tensor transpose(const Tensor& x, int64_t dim0, int64_t dim1) {
    const detail::OpScope scope("transpose");
    detail::check_defined("transpose", x, "input");
    const int64_t nd = x.dim();
    dim0 = normalize_dim("transpose", dim0, nd);
    dim1 = normalize_dim("transpose", dim1, nd);
    std::vector<int64_t> p(nd);
    std::iota(p.begin(), p.end(), 0);
    std::swap(p[dim0], p[dim1]);
    return permute(x, p);
}

namespace {

Tensor put_strided(const char* op, const Tensor& y, const Shape& x_shape, int64_t offset, const Shape& strides);

Tensor strided_values(const Tensor& x, const Shape& out_shape, int64_t offset, const Shape& src_strides) {
    Tensor y = Tensor::empty(out_shape, x.dtype());
    detail::strided_copy(y, 0, contiguous_strides(out_shape), x, offset, src_strides, out_shape);
    return y;
}

/// y = the elements of x at offset + sum_k i_k src_strides[k] for every position i of out_shape,
/// recorded as op (slice, narrow, select, unbind, split, chunk).
/// dx = put_strided(dy): zeros with dy written back to those positions
// take_strided's backward, for an input of shape xs.
auto put_back(const char* op, const Shape& xs, int64_t offset, const Shape& src_strides) {
    return [op, xs, src_strides, offset](const Tensor& dy, const Tensor&) {
        return Grads{put_strided(op, dy, xs, offset, src_strides)};
    };
}

Tensor take_strided(const char* op, const Tensor& x, const Shape& out_shape, int64_t offset, const Shape& src_strides) {
    return record(op, strided_values(x, out_shape, offset, src_strides), {x}, put_back(op, x.shape(), offset, src_strides),
                  BackwardReads::shapes, Differentiable::twice);
}

// take_strided inside a backward (cat's, stack's, put_strided's): recorded only when a graph is
// being created, so a first-order backward builds no closure.
Tensor take_strided_linear(const char* op, const Tensor& x, const Shape& out_shape, int64_t offset,
                           const Shape& src_strides) {
    Tensor y = strided_values(x, out_shape, offset, src_strides);
    if (!is_grad_enabled() || !x.requires_grad()) return y;
    return detail::record_linear(op, std::move(y), x, put_back(op, x.shape(), offset, src_strides));
}

/// The adjoint of take_strided: a tensor of x_shape, zero but for y written at the positions
/// take_strided reads. Both are linear, so each one's backward is the other (recorded, when a
/// graph is being created, so the pair can be differentiated any number of times).
Tensor put_strided(const char* op, const Tensor& y, const Shape& x_shape, int64_t offset, const Shape& strides) {
    Tensor x = Tensor::zeros(x_shape, y.dtype());
    detail::strided_copy(x, offset, strides, y, 0, contiguous_strides(y.shape()), y.shape());
    return detail::record_linear(op, x, y, [op, ys = y.shape(), offset, strides](const Tensor& dx, const Tensor&) {
        return Grads{take_strided_linear(op, dx, ys, offset, strides)};
    });
}

// slice's body for a checked dim and step, recorded as op (slice, split, chunk).
Tensor slice_checked(const char* op, const Tensor& x, int64_t dim, int64_t start, int64_t end, int64_t step) {
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
    return take_strided(op, x, out_shape, offset, xstr);
}

// The slab of x at a checked index along a checked dim, without that dim (select, unbind).
Tensor select_checked(const char* op, const Tensor& x, int64_t dim, int64_t index) {
    Shape out_shape = x.shape();
    Shape xstr = contiguous_strides(x.shape());
    const int64_t offset = index * xstr[dim];
    out_shape.erase(out_shape.begin() + dim);
    xstr.erase(xstr.begin() + dim);
    return take_strided(op, x, out_shape, offset, xstr);
}

// The pieces [0, size), [size, 2 size), ... of x along a checked dim; torch gives one (empty)
// piece for an empty dim.
std::vector<Tensor> split_checked(const char* op, const Tensor& x, int64_t split_size, int64_t dim) {
    const int64_t n = x.shape()[dim];
    std::vector<Tensor> pieces;
    for (int64_t start = 0; start < n || pieces.empty(); start += split_size)
        pieces.push_back(slice_checked(op, x, dim, start, std::min(start + split_size, n), 1));
    return pieces;
}

}  // namespace

/// y = x[..., start:end:step, ...] along dim.  dx = zeros with dy scattered back into place
Tensor slice(const Tensor& x, int64_t dim, int64_t start, int64_t end, int64_t step) {
    const detail::OpScope scope("slice");
    detail::check_defined("slice", x, "input");
    dim = normalize_dim("slice", dim, x.dim());
    TG_CHECK(step >= 1, ValueError, "slice: step must be at least 1, got {}", step);
    return slice_checked("slice", x, dim, start, end, step);
}

/// y = x[..., index, ...]: the slab at index along dim, without that dim (index may be
/// negative, counting from the end).  dx = zeros with dy placed at index
Tensor select(const Tensor& x, int64_t dim, int64_t index) {
    const detail::OpScope scope("select");
    detail::check_defined("select", x, "input");
    TG_CHECK(x.dim() > 0, ValueError, "select: cannot select from a 0-d tensor (it has no dim to index); use item()");
    dim = normalize_dim("select", dim, x.dim());
    const int64_t size = x.shape()[dim];
    TG_CHECK(index >= -size && index < size, ValueError,
             "select: index {} is out of range for dim {} of size {} in shape {} (valid: {} to {})", index, dim, size,
             shape_str(x.shape()), -size, size - 1);
    return select_checked("select", x, dim, index < 0 ? index + size : index);
}

/// y = x[..., start:start+length, ...] along dim; unlike slice, the range must lie inside the
/// dim (start may be negative, counting from the end).  dx = zeros with dy placed back
Tensor narrow(const Tensor& x, int64_t dim, int64_t start, int64_t length) {
    const detail::OpScope scope("narrow");
    detail::check_defined("narrow", x, "input");
    TG_CHECK(x.dim() > 0, ValueError, "narrow: cannot narrow a 0-d tensor (it has no dim)");
    dim = normalize_dim("narrow", dim, x.dim());
    const int64_t size = x.shape()[dim];
    TG_CHECK(start >= -size && start <= size, ValueError,
             "narrow: start {} is out of range for dim {} of size {} in shape {} (valid: {} to {})", start, dim, size,
             shape_str(x.shape()), -size, size);
    if (start < 0) start += size;
    TG_CHECK(length >= 0 && start + length <= size, ValueError,
             "narrow: start {} and length {} exceed dim {} of size {} in shape {} (length must be 0 to {})", start,
             length, dim, size, shape_str(x.shape()), size - start);
    return slice_checked("narrow", x, dim, start, start + length, 1);
}

/// The slabs of x along dim, each without that dim: select(x, dim, i) for every i.
std::vector<Tensor> unbind(const Tensor& x, int64_t dim) {
    const detail::OpScope scope("unbind");
    detail::check_defined("unbind", x, "input");
    TG_CHECK(x.dim() > 0, ValueError, "unbind: cannot unbind a 0-d tensor (it has no dim)");
    dim = normalize_dim("unbind", dim, x.dim());
    std::vector<Tensor> out;
    out.reserve(static_cast<std::size_t>(x.shape()[dim]));
    for (int64_t i = 0; i < x.shape()[dim]; ++i) out.push_back(select_checked("unbind", x, dim, i));
    return out;
}

/// y = the xs joined along dim.  dx_j = the matching slab of dy
Tensor cat(const std::vector<Tensor>& xs, int64_t dim) {
    const detail::OpScope scope("cat");
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
        for (std::size_t j = 0; j < shapes.size(); ++j) g.push_back(take_strided_linear("cat", dy, shapes[j], offsets[j], ystr));
        return g;
    },
                  BackwardReads::shapes, Differentiable::twice);
}

/// y[..., j, ...] = xs[j] with j at position dim of y.  dx_j = the slab of dy at j along dim
Tensor stack(const std::vector<Tensor>& xs, int64_t dim) {
    const detail::OpScope scope("stack");
    TG_CHECK(!xs.empty(), ValueError, "stack: no tensors given");
    for (const Tensor& t : xs) detail::check_defined("stack", t, "an input");
    const Shape& first = xs[0].shape();
    dim = normalize_dim("stack", dim, static_cast<int64_t>(first.size()) + 1);
    for (std::size_t j = 1; j < xs.size(); ++j) {
        TG_CHECK(xs[j].dtype() == xs[0].dtype(), DtypeError,
                 "stack: input {} is {}, input 0 is {} (all inputs must share one dtype)", j,
                 dtype_name(xs[j].dtype()), dtype_name(xs[0].dtype()));
        TG_CHECK(xs[j].shape() == first, ShapeError,
                 "stack: input {} is {}, input 0 is {} (all inputs must have one shape)", j,
                 shape_str(xs[j].shape()), shape_str(first));
    }
    Shape out_shape = first;
    out_shape.insert(out_shape.begin() + dim, static_cast<int64_t>(xs.size()));
    // Each input is y's slab at j: y's strides without the stacked dim, offset j * stride(dim).
    const Shape ystr = contiguous_strides(out_shape);
    Shape slab_str = ystr;
    slab_str.erase(slab_str.begin() + dim);
    const int64_t step = ystr[dim];
    Tensor y = Tensor::empty(out_shape, xs[0].dtype());
    const Shape xstr = contiguous_strides(first);
    for (std::size_t j = 0; j < xs.size(); ++j)
        detail::strided_copy(y, static_cast<int64_t>(j) * step, slab_str, xs[j], 0, xstr, first);
    return record("stack", y, xs, [first, slab_str, step, n = xs.size()](const Tensor& dy, const Tensor&) {
        Grads g;
        for (std::size_t j = 0; j < n; ++j)
            g.push_back(take_strided_linear("stack", dy, first, static_cast<int64_t>(j) * step, slab_str));
        return g;
    },
                  BackwardReads::shapes, Differentiable::twice);
}

/// Slices of split_size along dim (the last one smaller); each is a slice, with slice's backward.
std::vector<Tensor> split(const Tensor& x, int64_t split_size, int64_t dim) {
    const detail::OpScope scope("split");
    detail::check_defined("split", x, "input");
    dim = normalize_dim("split", dim, x.dim());
    TG_CHECK(split_size >= 1, ValueError, "split: split_size must be at least 1, got {}", split_size);
    return split_checked("split", x, split_size, dim);
}

/// split with split_size = ceil(D / chunks), so maybe fewer than chunks pieces (torch.chunk);
/// an empty dim gives chunks empty pieces, as torch.
std::vector<Tensor> chunk(const Tensor& x, int64_t chunks, int64_t dim) {
    const detail::OpScope scope("chunk");
    detail::check_defined("chunk", x, "input");
    dim = normalize_dim("chunk", dim, x.dim());
    TG_CHECK(chunks >= 1, ValueError, "chunk: chunks must be at least 1, got {}", chunks);
    const int64_t n = x.shape()[dim];
    if (n == 0) {
        std::vector<Tensor> pieces;
        for (int64_t c = 0; c < chunks; ++c) pieces.push_back(slice_checked("chunk", x, dim, 0, 0, 1));
        return pieces;
    }
    return split_checked("chunk", x, (n - 1) / chunks + 1, dim);  // ceil, without overflow
}

/// x without dim when that dim has size 1, else x's shape unchanged (a 0-d x takes dim 0 or -1,
/// as torch); a view.  dx = dy viewed with x's shape
Tensor squeeze(const Tensor& x, int64_t dim) {
    const detail::OpScope scope("squeeze");
    detail::check_defined("squeeze", x, "input");
    if (x.dim() == 0) {
        detail::check_scalar_dim("squeeze", dim);
        return view_as_shape("squeeze", x, {});
    }
    Shape shape = x.shape();
    dim = normalize_dim("squeeze", dim, x.dim());
    if (shape[dim] == 1) shape.erase(shape.begin() + dim);
    return view_as_shape("squeeze", x, shape);
}

/// x with a size-1 dim inserted at dim, in [-(rank+1), rank]; a view.  dx = dy viewed with x's shape
Tensor unsqueeze(const Tensor& x, int64_t dim) {
    const detail::OpScope scope("unsqueeze");
    detail::check_defined("unsqueeze", x, "input");
    Shape shape = x.shape();
    dim = normalize_dim("unsqueeze", dim, x.dim() + 1);
    shape.insert(shape.begin() + dim, 1);
    return view_as_shape("unsqueeze", x, shape);
}

/// x with dims start_dim..end_dim merged into one (a 0-d x gives (1,), as torch); a view.
/// dx = dy viewed with x's shape
Tensor flatten(const Tensor& x, int64_t start_dim, int64_t end_dim) {
    const detail::OpScope scope("flatten");
    detail::check_defined("flatten", x, "input");
    if (x.dim() == 0) {
        detail::check_scalar_dim("flatten", start_dim);
        detail::check_scalar_dim("flatten", end_dim);
        return view_as_shape("flatten", x, {1});
    }
    const int64_t s = normalize_dim("flatten", start_dim, x.dim());
    const int64_t e = normalize_dim("flatten", end_dim, x.dim());
    TG_CHECK(s <= e, ValueError, "flatten: start_dim {} comes after end_dim {} for shape {}", start_dim, end_dim,
             shape_str(x.shape()));
    const Shape& xs = x.shape();
    Shape shape(xs.begin(), xs.begin() + s);
    shape.push_back(shape_numel(Shape(xs.begin() + s, xs.begin() + e + 1)));
    shape.insert(shape.end(), xs.begin() + e + 1, xs.end());
    return view_as_shape("flatten", x, shape);
}

/// y = x broadcast to shape (size-1 dims repeat, new leading dims; -1 keeps a size), copied.
/// dx = dy summed over the repeated and the new dims (sum_to)
Tensor expand(const Tensor& x, const Shape& shape) {
    const detail::OpScope scope("expand");
    detail::check_defined("expand", x, "input");
    const Shape& xs = x.shape();
    const int64_t nd = static_cast<int64_t>(shape.size()), lead = nd - x.dim();
    TG_CHECK(lead >= 0, ShapeError, "expand: target shape {} has fewer dims than the input {}", shape_str(shape),
             shape_str(xs));
    Shape out(nd), src_str(nd, 0);
    const Shape xstr = contiguous_strides(xs);
    for (int64_t k = 0; k < nd; ++k) {
        if (k < lead) {
            TG_CHECK(shape[k] >= 0, ShapeError, "expand: size {} is not allowed for the new leading dim {} of {}",
                     shape[k], k, shape_str(shape));
            out[k] = shape[k];
            continue;
        }
        const int64_t have = xs[k - lead];
        TG_CHECK(shape[k] >= -1, ShapeError, "expand: bad size {} at dim {} of {}", shape[k], k, shape_str(shape));
        out[k] = shape[k] == -1 ? have : shape[k];
        TG_CHECK(out[k] == have || have == 1, ShapeError,
                 "expand: cannot expand {} to {}: dim {} has size {} (only size-1 dims can grow)", shape_str(xs),
                 shape_str(shape), k, have);
        src_str[k] = out[k] == have ? xstr[k - lead] : 0;
    }
    Tensor y = Tensor::empty(out, x.dtype());
    detail::strided_copy(y, 0, contiguous_strides(out), x, 0, src_str, out);
    return record("expand", y, {x}, [xs](const Tensor& dy, const Tensor&) {
        return Grads{detail::sum_to(dy, xs)};
    }, BackwardReads::shapes, Differentiable::twice);
}

/// x tiled reps[k] times along dim k, as torch's repeat: reps may have more dims than x (x
/// gains leading size-1 dims), never fewer. x is viewed as (1, s0, 1, s1, ...), expanded to
/// (r0, s0, r1, s1, ...) and merged to (r0 s0, r1 s1, ...), so dx sums the copies back.
Tensor repeat(const Tensor& x, const Shape& reps) {
    const detail::OpScope scope("repeat");
    detail::check_defined("repeat", x, "input");
    const int64_t nd = static_cast<int64_t>(reps.size()), lead = nd - x.dim();
    TG_CHECK(lead >= 0, ShapeError,
             "repeat: {} repeats for a tensor of shape {} with {} dims (give at least one per dim)", nd,
             shape_str(x.shape()), x.dim());
    Shape spread, tiled, out;
    for (int64_t k = 0; k < nd; ++k) {
        TG_CHECK(reps[k] >= 0, ValueError, "repeat: repeats must not be negative, got {} at dim {} of {}", reps[k], k,
                 shape_str(reps));
        const int64_t s = k < lead ? 1 : x.shape()[k - lead];
        spread.insert(spread.end(), {1, s});
        tiled.insert(tiled.end(), {reps[k], s});
        out.push_back(reps[k] * s);
    }
    return reshape(expand(reshape(x, spread), tiled), out);
}

namespace {
// Keeps x[..., i, j] where j - i <= diagonal (lower) or >= diagonal (upper), zeros elsewhere;
// any dtype. The same mask applied to dy is the gradient.
Tensor triangle(const Tensor& x, int64_t diagonal, bool lower) {
    const int64_t R = x.shape()[x.dim() - 2], C = x.shape()[x.dim() - 1];
    const int64_t mats = R * C == 0 ? 0 : x.numel() / (R * C);
    Tensor y = Tensor::empty(x.shape(), x.dtype());
    dispatch_all(x.dtype(), [&](auto tag) {
        using T = decltype(tag);
        const T* px = x.data<T>();
        T* py = y.data<T>();
        for (int64_t m = 0; m < mats; ++m)
            for (int64_t i = 0; i < R; ++i)
                for (int64_t j = 0; j < C; ++j) {
                    const int64_t k = (m * R + i) * C + j;
                    const bool keep = lower ? j - i <= diagonal : j - i >= diagonal;
                    py[k] = keep ? px[k] : static_cast<T>(0.0f);
                }
    });
    return y;
}

// The mask is linear and its own adjoint: the backward is the same op on dy (recorded when a
// graph is being created).
Tensor triangle_op(const char* op, const Tensor& x, int64_t diagonal, bool lower) {
    const detail::OpScope scope(op);
    detail::check_defined(op, x, "input");
    TG_CHECK(x.dim() >= 2, ShapeError, "{}: expected a matrix or a batch of them (at least 2 dims), got shape {}", op,
             shape_str(x.shape()));
    Tensor y = triangle(x, diagonal, lower);
    return record(op, y, {x}, [op, diagonal, lower](const Tensor& dy, const Tensor&) {
        return Grads{triangle_op(op, dy, diagonal, lower)};
    }, BackwardReads::shapes, Differentiable::twice);
}
}  // namespace

/// y = x on and below the diagonal-th diagonal of the last two dims (0 the main one, > 0
/// above it, < 0 below), 0 elsewhere.  dx = tril(dy, diagonal)
Tensor tril(const Tensor& x, int64_t diagonal) { return triangle_op("tril", x, diagonal, true); }
/// y = x on and above the diagonal-th diagonal, 0 elsewhere.  dx = triu(dy, diagonal)
Tensor triu(const Tensor& x, int64_t diagonal) { return triangle_op("triu", x, diagonal, false); }

}  // namespace tg
