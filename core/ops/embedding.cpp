// Row lookup in an embedding table.
#include <cstring>

#include "core/check.hpp"
#include "core/ops/common.hpp"
#include "core/internal/profiler.hpp"

namespace tg {

namespace {
// embedding's backward: rows of dy added into a zero (V, C) table at their ids. It is linear in
// dy and its own backward is the lookup again, so the pair differentiates any number of times.
Tensor embedding_adjoint(const Tensor& dy, const Tensor& ids, int64_t V, int64_t C) {
    Tensor dw = Tensor::zeros({V, C}, dy.dtype());
    dispatch_floating("embedding", dy.dtype(), [&](auto tag) {
        using T = decltype(tag);
        const int64_t* p = ids.data<int64_t>();
        const T* g = dy.data<T>();
        T* d = dw.data<T>();
        for (int64_t n = 0; n < ids.numel(); ++n)
            for (int64_t c = 0; c < C; ++c) d[p[n] * C + c] += g[n * C + c];
    });
    return detail::record_linear("embedding", dw, dy, [ids](const Tensor& ddw, const Tensor&) { return Grads{embedding(ddw, ids)}; });
}
}  // namespace

/// y[n, :] = W[ids[n], :] for W (V, C).  dW[v, :] = sum over n with ids[n] == v of dy[n, :]
Tensor embedding(const Tensor& weight, const Tensor& ids) {
    const detail::OpScope scope("embedding");
    detail::check_defined("embedding", weight, "weight");
    if (needs_grad({&weight})) detail::check_floating("embedding", weight);  // a lookup moves any dtype
    detail::check_defined("embedding", ids, "ids");
    TG_CHECK(weight.dim() == 2, ShapeError, "embedding: weight must be 2-d (V, C), got {}",
             shape_str(weight.shape()));
    TG_CHECK(ids.dtype() == Dtype::i64, DtypeError, "embedding: ids must be i64, got {}", dtype_name(ids.dtype()));
    const int64_t V = weight.shape()[0], C = weight.shape()[1], N = ids.numel();
    const int64_t* pid = ids.data<int64_t>();
    for (int64_t n = 0; n < N; ++n)
        TG_CHECK(pid[n] >= 0 && pid[n] < V, ValueError,
                 "embedding: id {} at position {} is out of range for a table of {} rows", pid[n], n, V);
    Shape out_shape = ids.shape();
    out_shape.push_back(C);
    Tensor y = Tensor::empty(out_shape, weight.dtype());
    const std::size_t row_bytes = static_cast<std::size_t>(C) * dtype_size(weight.dtype());
    const auto* w = static_cast<const char*>(weight.raw_data());
    auto* out = static_cast<char*>(y.raw_data());
    for (int64_t n = 0; n < N; ++n) std::memcpy(out + n * row_bytes, w + pid[n] * row_bytes, row_bytes);
    return record("embedding", y, {weight, ids}, [ids, V, C](const Tensor& dy, const Tensor&) {
        return Grads{embedding_adjoint(dy, ids, V, C), Tensor()};
    }, BackwardReads::values, Differentiable::twice);
}

}  // namespace tg
