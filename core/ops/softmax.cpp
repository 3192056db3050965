// softmax, log_softmax and the fused cross-entropy, over the row kernels of
// core/kernels/softmax.hpp (rows are shifted by their max before exp, so no input magnitude
// overflows).
#include <cmath>

#include "core/check.hpp"
#include "core/kernels/simd.hpp"
#include "core/kernels/softmax.hpp"
#include "core/ops/common.hpp"
#include "core/internal/profiler.hpp"

namespace tg {

namespace {

// Visits every softmax row of x (viewed as (outer, D, inner), the row running over D with
// stride inner) and calls f(offset, stride, D).
template <class F>
void for_each_row(const detail::DimSplit& sp, F f) {
    for (int64_t o = 0; o < sp.outer; ++o)
        for (int64_t i = 0; i < sp.inner; ++i) f(o * sp.d * sp.inner + i, sp.inner, sp.d);
}

// y = softmax (log_space false) or log_softmax (true) of x along the split's middle dim.
Tensor softmax_forward(const char* op, const Tensor& x, const detail::DimSplit& sp, bool log_space) {
    Tensor y = Tensor::empty(x.shape(), x.dtype());
    dispatch_floating(op, x.dtype(), [&](auto tag) {
        using T = decltype(tag);
        const T* px = x.data<T>();
        T* py = y.data<T>();
        if (sp.inner == 1) {  // contiguous rows: the vector path
            const int64_t D = sp.d;
#pragma omp parallel for schedule(dynamic, kernels::kRowChunk) if (sp.outer * D >= kernels::kParallelElems)
            for (int64_t o = 0; o < sp.outer; ++o) {
                if (log_space) kernels::log_softmax_row(px + o * D, py + o * D, D);
                else kernels::softmax_row(px + o * D, py + o * D, D);
            }
            return;
        }
        for_each_row(sp, [&](int64_t off, int64_t st, int64_t D) {
            if (log_space) kernels::log_softmax_row_strided(px + off, py + off, D, st);
            else kernels::softmax_row_strided(px + off, py + off, D, st);
        });
    });
    return y;
}

}  // namespace

/// y = exp(x - max) / sum exp(x - max) along dim.  dx = y * (dy - sum(dy * y))
Tensor softmax(const Tensor& x, int64_t dim) {
    const detail::OpScope scope("softmax");
    detail::check_floating("softmax", x);
    dim = normalize_dim("softmax", dim, x.dim());
    const auto sp = detail::split_at(x.shape(), dim);
    Tensor y = softmax_forward("softmax", x, sp, false);
    return record("softmax", y, {x}, [sp, dim](const Tensor& dy, const Tensor& out) {
        if (is_grad_enabled()) return Grads{mul(out, sub(dy, sum(mul(dy, out), dim, true)))};  // creating a graph
        Tensor dx = Tensor::empty(dy.shape(), dy.dtype());
        dispatch_floating("softmax", dy.dtype(), [&](auto tag) {
            using T = decltype(tag);
            const T *g = dy.data<T>(), *p = out.data<T>();
            T* d = dx.data<T>();
            for_each_row(sp, [&](int64_t off, int64_t st, int64_t D) {
                T dot = 0;
                for (int64_t k = 0; k < D; ++k) dot += g[off + k * st] * p[off + k * st];
                for (int64_t k = 0; k < D; ++k) d[off + k * st] = p[off + k * st] * (g[off + k * st] - dot);
            });
        });
        return Grads{dx};
    }, BackwardReads::values, Differentiable::twice);
}

/// y = x - max - log sum exp(x - max) along dim.  dx = dy - exp(y) * sum(dy)
Tensor log_softmax(const Tensor& x, int64_t dim) {
    const detail::OpScope scope("log_softmax");
    detail::check_floating("log_softmax", x);
    dim = normalize_dim("log_softmax", dim, x.dim());
    const auto sp = detail::split_at(x.shape(), dim);
    Tensor y = softmax_forward("log_softmax", x, sp, true);
    return record("log_softmax", y, {x}, [sp, dim](const Tensor& dy, const Tensor& out) {
        if (is_grad_enabled()) return Grads{sub(dy, mul(exp(out), sum(dy, dim, true)))};  // creating a graph
        Tensor dx = Tensor::empty(dy.shape(), dy.dtype());
        dispatch_floating("log_softmax", dy.dtype(), [&](auto tag) {
            using T = decltype(tag);
            const T *g = dy.data<T>(), *ly = out.data<T>();
            T* d = dx.data<T>();
            for_each_row(sp, [&](int64_t off, int64_t st, int64_t D) {
                T s = 0;
                for (int64_t k = 0; k < D; ++k) s += g[off + k * st];
                for (int64_t k = 0; k < D; ++k) d[off + k * st] = g[off + k * st] - std::exp(ly[off + k * st]) * s;
            });
        });
        return Grads{dx};
    }, BackwardReads::values, Differentiable::twice);
}

/// L = 1/N sum_n (logsumexp(x[n, :]) - x[n, t_n]) for logits x (N, V), targets t (N).
/// dx[n, v] = dL * (softmax(x[n])[v] - [v == t_n]) / N
Tensor cross_entropy(const Tensor& logits_in, const Tensor& targets_in) {
    const detail::OpScope scope("cross_entropy");
    detail::check_floating("cross_entropy", logits_in);
    const std::pair<Tensor, Tensor> flat = detail::class_dim_last("cross_entropy", logits_in, targets_in, "logits");
    const Tensor logits = flat.first, targets = flat.second;
    detail::check_defined("cross_entropy", targets, "targets");
    TG_CHECK(logits.dim() == 2, ShapeError, "cross_entropy: logits must be (N, V) or (N, V, d1, ...), got {}",
             shape_str(logits.shape()));
    TG_CHECK(targets.dtype() == Dtype::i64, DtypeError, "cross_entropy: targets must be i64, got {}",
             dtype_name(targets.dtype()));
    const int64_t N = logits.shape()[0], V = logits.shape()[1];
    TG_CHECK(targets.dim() == 1 && targets.shape()[0] == N, ShapeError,
             "cross_entropy: targets {} do not match logits {} (expected ({},))", shape_str(targets.shape()),
             shape_str(logits.shape()), N);
    if (N == 0) throw ValueError("cross_entropy: empty batch, logits " + shape_str(logits.shape()));
    const int64_t* t = targets.data<int64_t>();
    for (int64_t n = 0; n < N; ++n)
        TG_CHECK(t[n] >= 0 && t[n] < V, ValueError,
                 "cross_entropy: target {} at position {} is out of range for {} classes", t[n], n, V);
    // The probabilities are kept for backward: (N, V), the size of the logits. The loss comes
    // from the same row max and sum: logsumexp = m + log s.
    Tensor probs = Tensor::empty(logits.shape(), logits.dtype());
    Tensor loss = Tensor::empty({}, logits.dtype());
    dispatch_floating("cross_entropy", logits.dtype(), [&](auto tag) {
        using T = decltype(tag);
        const T* x = logits.data<T>();
        T* pp = probs.data<T>();
        double acc = 0;
#pragma omp parallel for schedule(static) reduction(+ : acc) if (N * V >= kernels::kParallelElems)
        for (int64_t n = 0; n < N; ++n) {
            const T* row = x + n * V;
            T* p = pp + n * V;
            const auto [m, s] = kernels::softmax_row(row, p, V);
            acc += static_cast<double>(m) + std::log(static_cast<double>(s)) - static_cast<double>(row[t[n]]);
        }
        *loss.data<T>() = static_cast<T>(acc / static_cast<double>(N));
    });
    return record("cross_entropy", loss, {logits, targets},
                  [logits, probs, targets, N, V](const Tensor& dl, const Tensor&) {
                      if (is_grad_enabled()) {  // creating a graph: softmax recomputed as a recorded op
                          const Tensor hot = to(one_hot(targets, V), logits.dtype());
                          return Grads{mul(sub(softmax(logits, 1), hot), mul(dl, 1.0 / static_cast<double>(N))), Tensor()};
                      }
                      Tensor dx = Tensor::empty(probs.shape(), probs.dtype());
                      dispatch_floating("cross_entropy", dl.dtype(), [&](auto tag) {
                          using T = decltype(tag);
                          const T scale = *dl.data<T>() / static_cast<T>(N);
                          const T* p = probs.data<T>();
                          const int64_t* t = targets.data<int64_t>();
                          T* d = dx.data<T>();
                          for (int64_t n = 0; n < N; ++n) {
                              for (int64_t v = 0; v < V; ++v) d[n * V + v] = p[n * V + v] * scale;
                              d[n * V + t[n]] -= scale;
                          }
                      });
                      return Grads{dx, Tensor()};
                  }, BackwardReads::values, Differentiable::twice);
}

}  // namespace tg
