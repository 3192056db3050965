// Matrix products through CBLAS, 2-d and batched with broadcast batch dims.
#include "core/kernels/blas.hpp"
#include "core/check.hpp"
#include "core/ops/common.hpp"

namespace tg {

namespace {

struct MatmulShapes {
    Shape batch_a, batch_b, batch;  // batch dims of a, b and of the result
    int64_t m, k, n;
};

MatmulShapes matmul_shapes(const Tensor& a, const Tensor& b) {
    detail::check_same_floating("matmul", a, b);
    const Shape &sa = a.shape(), &sb = b.shape();
    TG_CHECK(sa.size() >= 2 && sb.size() >= 2, ShapeError, "matmul: both operands need at least 2 dims: {} @ {}",
             shape_str(sa), shape_str(sb));
    TG_CHECK(sa.back() == sb[sb.size() - 2], ShapeError, "matmul: inner dimensions differ: {} @ {}", shape_str(sa),
             shape_str(sb));
    MatmulShapes s;
    s.batch_a.assign(sa.begin(), sa.end() - 2);
    s.batch_b.assign(sb.begin(), sb.end() - 2);
    s.batch = broadcast_shapes("matmul", s.batch_a, s.batch_b);
    s.m = sa[sa.size() - 2];
    s.k = sa.back();
    s.n = sb.back();
    return s;
}

// One GEMM per batch position of the result, with operands picked through the broadcast maps.
// mode 0: c = a @ b; mode 1: da += dc @ b^T; mode 2: db += a^T @ dc.
template <class T>
void batched(const MatmulShapes& s, const T* a, const T* b, const T* dc, T* out, int mode) {
    const auto ia = detail::broadcast_index_map(s.batch, s.batch_a);
    const auto ib = detail::broadcast_index_map(s.batch, s.batch_b);
    const int64_t M = s.m, K = s.k, N = s.n;
    for (std::size_t i = 0; i < ia.size(); ++i) {
        const T* A = a + ia[i] * M * K;
        const T* B = b + ib[i] * K * N;
        const T* C = dc ? dc + static_cast<int64_t>(i) * M * N : nullptr;  // no dC in the forward
        if (mode == 0)
            kernels::gemm(false, false, M, N, K, T(1), A, K, B, N, T(0),
                          out + static_cast<int64_t>(i) * M * N, N);
        else if (mode == 1)
            kernels::gemm(false, true, M, K, N, T(1), C, N, B, N, T(1), out + ia[i] * M * K, K);
        else
            kernels::gemm(true, false, K, N, M, T(1), A, K, C, N, T(1), out + ib[i] * K * N, N);
    }
}

}  // namespace

/// C = A @ B over (..., M, K) @ (..., K, N).
/// dA = dC @ B^T, dB = A^T @ dC, each summed over the batch dims its operand was broadcast on.
/// When B is 2-d the batch folds into M: one GEMM forward and one per gradient.
Tensor matmul(const Tensor& a, const Tensor& b) {
    const MatmulShapes s = matmul_shapes(a, b);
    Shape out_shape = s.batch;
    out_shape.push_back(s.m);
    out_shape.push_back(s.n);
    Tensor c = Tensor::empty(out_shape, a.dtype());
    const bool fold = s.batch_b.empty();
    dispatch_floating("matmul", a.dtype(), [&](auto tag) {
        using T = decltype(tag);
        if (fold) {
            const int64_t rows = s.m * shape_numel(s.batch);
            kernels::gemm(false, false, rows, s.n, s.k, T(1), a.data<T>(), s.k, b.data<T>(),
                          s.n, T(0), c.data<T>(), s.n);
        } else {
            batched<T>(s, a.data<T>(), b.data<T>(), nullptr, c.data<T>(), 0);
        }
    });
    return record("matmul", c, {a, b}, [a, b, s, fold](const Tensor& dc, const Tensor&) {
        Tensor da = a.requires_grad() ? Tensor::zeros(a.shape(), a.dtype()) : Tensor();
        Tensor db = b.requires_grad() ? Tensor::zeros(b.shape(), b.dtype()) : Tensor();
        dispatch_floating("matmul", a.dtype(), [&](auto tag) {
            using T = decltype(tag);
            if (fold) {
                const int64_t rows = s.m * shape_numel(s.batch);
                if (da.defined())
                    kernels::gemm(false, true, rows, s.k, s.n, T(1), dc.data<T>(), s.n,
                                  b.data<T>(), s.n, T(0), da.data<T>(), s.k);
                if (db.defined())
                    kernels::gemm(true, false, s.k, s.n, rows, T(1), a.data<T>(), s.k,
                                  dc.data<T>(), s.n, T(0), db.data<T>(), s.n);
            } else {
                if (da.defined()) batched<T>(s, a.data<T>(), b.data<T>(), dc.data<T>(), da.data<T>(), 1);
                if (db.defined()) batched<T>(s, a.data<T>(), b.data<T>(), dc.data<T>(), db.data<T>(), 2);
            }
        });
        return Grads{da, db};
    });
}

}  // namespace tg
