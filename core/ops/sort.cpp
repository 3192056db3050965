// Sorting along a dim: argsort, sort and topk. Each line along dim (x viewed as (outer, D,
// inner)) is ordered by a stable sort of its positions, NaN counting as the largest value, as
// in torch; values are gathered at the positions, so their gradient is gather's.
#include <algorithm>
#include <cmath>
#include <numeric>
#include <type_traits>
#include <vector>

#include "core/check.hpp"
#include "core/ops/common.hpp"
#include "core/internal/profiler.hpp"

namespace tg {

namespace {

// For every line along dim, the positions of its first k elements in order (ascending, or
// descending), as an i64 tensor of x's shape with dim of size k. Ties keep their order.
Tensor ordered_positions(const char* op, const Tensor& x, int64_t dim, int64_t k, bool descending) {
    const auto sp = detail::split_at(x.shape(), dim);
    Shape shape = x.shape();
    shape[dim] = k;
    Tensor out = Tensor::empty(shape, Dtype::i64);
    int64_t* po = out.data<int64_t>();
    dispatch_numeric(op, x.dtype(), [&](auto tag) {
        using T = decltype(tag);
        const T* px = x.data<T>();
        std::vector<int64_t> pos(static_cast<std::size_t>(sp.d));
        for (int64_t o = 0; o < sp.outer; ++o)
            for (int64_t i = 0; i < sp.inner; ++i) {
                const T* line = px + o * sp.d * sp.inner + i;
                auto at = [&](int64_t d) { return line[d * sp.inner]; };
                // a before b in ascending order; a NaN is larger than every number.
                auto less = [&](int64_t a, int64_t b) {
                    if constexpr (std::is_floating_point_v<T>)
                        if (std::isnan(at(a)) || std::isnan(at(b))) return !std::isnan(at(a)) && std::isnan(at(b));
                    return at(a) < at(b);
                };
                std::iota(pos.begin(), pos.end(), int64_t{0});
                if (descending)
                    std::stable_sort(pos.begin(), pos.end(), [&](int64_t a, int64_t b) { return less(b, a); });
                else
                    std::stable_sort(pos.begin(), pos.end(), less);
                for (int64_t j = 0; j < k; ++j) po[(o * k + j) * sp.inner + i] = pos[static_cast<std::size_t>(j)];
            }
    });
    return out;
}

int64_t sort_dim(const char* op, const Tensor& x, int64_t dim) {
    detail::check_defined(op, x, "input");
    if (x.dtype() == Dtype::bf16) throw_bf16_storage(op);
    TG_CHECK(x.dtype() != Dtype::b8, DtypeError,
             "{}: expected f32, f64 or i64, got b8 (convert first, as x.to(Dtype::i64))", op);
    TG_CHECK(x.dim() > 0, ValueError, "{}: cannot sort a 0-d tensor (it has no dim)", op);
    return normalize_dim(op, dim, x.dim());
}

}  // namespace

/// The positions that sort x along dim (i64), ties in their original order (a stable sort).
Tensor argsort(const Tensor& x, int64_t dim, bool descending) {
    const detail::OpScope scope("argsort");
    dim = sort_dim("argsort", x, dim);
    return ordered_positions("argsort", x, dim, x.shape()[dim], descending);
}

/// values = gather(x, dim, indices), indices = argsort(x, dim, descending).
/// d values flows back through gather: dx[indices] = d values
ValuesIndices sort(const Tensor& x, int64_t dim, bool descending) {
    dim = sort_dim("sort", x, dim);
    Tensor indices = ordered_positions("sort", x, dim, x.shape()[dim], descending);
    return {gather(x, dim, indices), indices};
}

/// The k largest (or smallest) elements along dim, in order (largest first, or smallest
/// first), with their positions; ties keep their order. d values flows back through gather.
ValuesIndices topk(const Tensor& x, int64_t k, int64_t dim, bool largest) {
    dim = sort_dim("topk", x, dim);
    const int64_t size = x.shape()[dim];
    TG_CHECK(k >= 0 && k <= size, ValueError, "topk: k {} is out of range for dim {} of size {} in shape {} (0 to {})",
             k, dim, size, shape_str(x.shape()), size);
    Tensor indices = ordered_positions("topk", x, dim, k, largest);
    return {gather(x, dim, indices), indices};
}

}  // namespace tg
