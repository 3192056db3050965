// Matrix products through the matrix engines (bf16 under Autocast), 2-d and batched with
// broadcast batch dims; 1-d operands as PyTorch treats them.
#include "core/check.hpp"
#include "core/internal/autocast.hpp"
#include "core/kernels/blas.hpp"
#include "core/ops/common.hpp"
#include "core/internal/profiler.hpp"

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
// mode 0: c = a @ b (ops = a, b); mode 1: da += dc @ b^T (ops = dc, b); mode 2: db += a^T @ dc
// (ops = a, dc).
template <class T>
void batched(const MatmulShapes& s, const detail::ProductOperands<T>& ops, T* out, int mode) {
    const auto ia = detail::broadcast_index_map(s.batch, s.batch_a);
    const auto ib = detail::broadcast_index_map(s.batch, s.batch_b);
    const int64_t M = s.m, K = s.k, N = s.n;
    for (std::size_t i = 0; i < ia.size(); ++i) {
        const int64_t c = static_cast<int64_t>(i);
        if (mode == 0) ops.gemm(false, false, M, N, K, ia[i] * M * K, K, ib[i] * K * N, N, T(0), out + c * M * N, N);
        else if (mode == 1) ops.gemm(false, true, M, K, N, c * M * N, N, ib[i] * K * N, N, T(1), out + ia[i] * M * K, K);
        else ops.gemm(true, false, K, N, M, ia[i] * M * K, K, c * M * N, N, T(1), out + ib[i] * K * N, N);
    }
}

}  // namespace

namespace {

/// C = A @ B over (..., M, K) @ (..., K, N).
/// dA = dC @ B^T, dB = A^T @ dC, each summed over the batch dims its operand was broadcast on.
/// When B is 2-d the batch folds into M: one GEMM forward and one per gradient. Under Autocast
/// (float32 operands, a bf16 route for the shape) the products take bf16 copies.
Tensor matmul_nd(const Tensor& a, const Tensor& b) {
    const MatmulShapes s = matmul_shapes(a, b);
    Shape out_shape = s.batch;
    out_shape.push_back(s.m);
    out_shape.push_back(s.n);
    Tensor c = Tensor::empty(out_shape, a.dtype());
    const bool fold = s.batch_b.empty();
    const int64_t rows = fold ? s.m * shape_numel(s.batch) : s.m;
    const kernels::Bf16Route route = detail::product_route(a.dtype(), rows, s.n, s.k);
    const Tensor ah = detail::bf16_copy_for(route, a), bh = detail::bf16_copy_for(route, b);
    dispatch_floating("matmul", a.dtype(), [&](auto tag) {
        using T = decltype(tag);
        const detail::ProductOperands<T> ops(route, a, ah, b, bh);
        if (fold) ops.gemm(false, false, rows, s.n, s.k, 0, s.k, 0, s.n, T(0), c.data<T>(), s.n);
        else batched<T>(s, ops, c.data<T>(), 0);
    });
    return record("matmul", c, {a, b}, [a, b, ah, bh, s, fold, rows, route](const Tensor& dc, const Tensor&) {
        if (is_grad_enabled()) {  // creating a graph: dA = dC B^T, dB = A^T dC, summed over broadcast batches
            return Grads{a.requires_grad() ? detail::sum_to(matmul_nd(dc, transpose(b, -1, -2)), a.shape()) : Tensor(),
                         b.requires_grad() ? detail::sum_to(matmul_nd(transpose(a, -1, -2), dc), b.shape()) : Tensor()};
        }
        Tensor da = a.requires_grad() ? Tensor::zeros(a.shape(), a.dtype()) : Tensor();
        Tensor db = b.requires_grad() ? Tensor::zeros(b.shape(), b.dtype()) : Tensor();
        const Tensor dch = detail::bf16_copy_for(route, dc);
        dispatch_floating("matmul", a.dtype(), [&](auto tag) {
            using T = decltype(tag);
            const detail::ProductOperands<T> dc_b(route, dc, dch, b, bh), a_dc(route, a, ah, dc, dch);
            if (fold) {
                if (da.defined()) dc_b.gemm(false, true, rows, s.k, s.n, 0, s.n, 0, s.n, T(0), da.data<T>(), s.k);
                if (db.defined()) a_dc.gemm(true, false, s.k, s.n, rows, 0, s.k, 0, s.n, T(0), db.data<T>(), s.n);
            } else {
                if (da.defined()) batched<T>(s, dc_b, da.data<T>(), 1);
                if (db.defined()) batched<T>(s, a_dc, db.data<T>(), 2);
            }
        });
        return Grads{da, db};
    }, BackwardReads::values, Differentiable::twice);
}

}  // namespace

/// As matmul_nd, with PyTorch's rule for 1-d operands: a (K) is a row (1, K) and b (K) a
/// column (K, 1), and the dim added for them is removed from the result, so (K) @ (K) is the
/// 0-d dot product, (K) @ (..., K, N) is (..., N) and (..., M, K) @ (K) is (..., M). The
/// unsqueeze and squeeze are recorded, so gradients take the operands' own shapes.
Tensor matmul(const Tensor& a, const Tensor& b) {
    const detail::OpScope scope("matmul");
    detail::check_same_floating("matmul", a, b);
    const Shape &sa = a.shape(), &sb = b.shape();
    TG_CHECK(!sa.empty() && !sb.empty(), ShapeError,
             "matmul: both operands need at least 1 dim, got {} @ {} (for a 0-d operand use mul)", shape_str(sa),
             shape_str(sb));
    if (sa.size() >= 2 && sb.size() >= 2) return matmul_nd(a, b);
    const int64_t kb = sb.size() == 1 ? sb[0] : sb[sb.size() - 2];
    TG_CHECK(sa.back() == kb, ShapeError, "matmul: inner dimensions differ: {} @ {} ({} against {})", shape_str(sa),
             shape_str(sb), sa.back(), kb);
    const Tensor a2 = sa.size() == 1 ? unsqueeze(a, 0) : a;
    const Tensor b2 = sb.size() == 1 ? unsqueeze(b, 1) : b;
    Tensor c = matmul_nd(a2, b2);
    if (sb.size() == 1) c = squeeze(c, -1);                   // b's column dim, always last
    if (sa.size() == 1) c = squeeze(c, sb.size() == 1 ? -1 : -2);  // a's row dim, before b's columns
    return c;
}

}  // namespace tg
