// Losses: mse_loss, nll_loss, binary_cross_entropy_with_logits and cross_entropy with
// ignore_index and label smoothing. Each returns the mean as a 0-d tensor; sums accumulate in
// double. (The two-argument cross_entropy of the GPT path lives in softmax.cpp; the one here
// shares its row kernel and gives the same values when nothing is ignored or smoothed.)
#include <cmath>
#include <limits>

#include "core/check.hpp"
#include "core/kernels/simd.hpp"
#include "core/kernels/softmax.hpp"
#include "core/ops/common.hpp"
#include "core/internal/profiler.hpp"

namespace tg {

namespace {

void check_same_shape(const char* op, const Tensor& a, const Tensor& b, const char* a_name, const char* b_name) {
    detail::check_defined(op, a, a_name);
    detail::check_defined(op, b, b_name);
    detail::check_same_floating(op, a, b);
    TG_CHECK(a.shape() == b.shape(), ShapeError,
             "{}: {} {} and {} {} must have the same shape (tapegrad does not broadcast losses; expand or reshape "
             "one of them first)",
             op, a_name, shape_str(a.shape()), b_name, shape_str(b.shape()));
}

// Rows of class scores with one i64 target each: x (N, C) with targets (N), or x (C) with a
// 0-d target (one sample, N = 1).
struct ClassRows {
    int64_t N, C;
};

ClassRows check_class_rows(const char* op, const Tensor& x, const Tensor& targets, const char* x_name) {
    detail::check_floating(op, x);
    detail::check_defined(op, targets, "targets");
    TG_CHECK(targets.dtype() == Dtype::i64, DtypeError, "{}: targets must be i64 class indices, got {}", op,
             dtype_name(targets.dtype()));
    TG_CHECK(x.dim() == 1 || x.dim() == 2, ShapeError, "{}: {} must be (N, C), (C) or (N, C, d1, ...), got {}", op,
             x_name, shape_str(x.shape()));
    const bool batched = x.dim() == 2;
    TG_CHECK(batched ? targets.dim() == 1 && targets.shape()[0] == x.shape()[0] : targets.dim() == 0, ShapeError,
             "{}: targets {} do not match {} {} (expected {})", op, shape_str(targets.shape()), x_name,
             shape_str(x.shape()), batched ? fmt::format("({},)", x.shape()[0]) : std::string("a 0-d tensor"));
    return batched ? ClassRows{x.shape()[0], x.shape()[1]} : ClassRows{1, x.shape()[0]};
}

void check_target_range(const char* op, int64_t target, int64_t n, int64_t C) {
    TG_CHECK(target >= 0 && target < C, ValueError, "{}: target {} at position {} is out of range for {} classes",
             op, target, n, C);
}

// sigmoid(z) without overflow for any z.
template <class T>
T stable_sigmoid(T z) {
    if (z >= T(0)) return T(1) / (T(1) + std::exp(-z));
    const T e = std::exp(z);
    return e / (T(1) + e);
}

}  // namespace

/// L = sum (a - b)^2 / n over the n elements of input a and target b.
/// da = 2 (a - b) dL / n,  db = -da
Tensor mse_loss(const Tensor& input, const Tensor& target) {
    const detail::OpScope scope("mse_loss");
    check_same_shape("mse_loss", input, target, "input", "target");
    const int64_t n = input.numel();
    Tensor loss = Tensor::empty({}, input.dtype());
    dispatch_floating("mse_loss", input.dtype(), [&](auto tag) {
        using T = decltype(tag);
        const T *a = input.data<T>(), *b = target.data<T>();
        double acc = 0;
#pragma omp parallel for schedule(static) reduction(+ : acc) if (n >= kernels::kParallelMapElems)
        for (int64_t i = 0; i < n; ++i) {
            const double d = static_cast<double>(a[i]) - static_cast<double>(b[i]);
            acc += d * d;
        }
        *loss.data<T>() = static_cast<T>(acc / static_cast<double>(n));  // 0/0 = nan when empty, as torch
    });
    return record("mse_loss", loss, {input, target}, [input, target, n](const Tensor& dl, const Tensor&) {
        if (is_grad_enabled()) {  // creating a graph: the same gradients as recorded ops
            const Tensor da = mul(sub(input, target), mul(dl, 2.0 / static_cast<double>(n)));
            return Grads{input.requires_grad() ? da : Tensor(), target.requires_grad() ? neg(da) : Tensor()};
        }
        Tensor da, db;
        dispatch_floating("mse_loss", dl.dtype(), [&](auto tag) {
            using T = decltype(tag);
            const T s = T(2) * *dl.data<T>() / static_cast<T>(n);
            da = detail::map2("mse_loss", input, target, [s](T a, T b) { return s * (a - b); });
            if (target.requires_grad()) db = detail::map("mse_loss", da, [](T g) { return -g; });
        });
        return Grads{input.requires_grad() ? da : Tensor(), db};
    }, BackwardReads::values, Differentiable::twice);
}

/// L = -sum_n x[n, t_n] / N for log-probabilities x (N, C) and targets t (N).
/// dx[n, c] = -dL / N where c == t_n, else 0
Tensor nll_loss(const Tensor& log_probs_in, const Tensor& targets_in) {
    const detail::OpScope scope("nll_loss");
    // Named tensors rather than a structured binding: the backward lambda captures them
    // (clang before 16 cannot capture a binding).
    const std::pair<Tensor, Tensor> flat = detail::class_dim_last("nll_loss", log_probs_in, targets_in, "log_probs");
    const Tensor log_probs = flat.first, targets = flat.second;
    const ClassRows rows = check_class_rows("nll_loss", log_probs, targets, "log_probs");
    const int64_t N = rows.N, C = rows.C;
    const int64_t* t = targets.data<int64_t>();
    for (int64_t n = 0; n < N; ++n) check_target_range("nll_loss", t[n], n, C);
    Tensor loss = Tensor::empty({}, log_probs.dtype());
    dispatch_floating("nll_loss", log_probs.dtype(), [&](auto tag) {
        using T = decltype(tag);
        const T* x = log_probs.data<T>();
        double acc = 0;
        for (int64_t n = 0; n < N; ++n) acc -= static_cast<double>(x[n * C + t[n]]);
        *loss.data<T>() = static_cast<T>(acc / static_cast<double>(N));  // nan for an empty batch, as torch
    });
    return record("nll_loss", loss, {log_probs, targets},
                  [shape = log_probs.shape(), targets, N, C](const Tensor& dl, const Tensor&) {
                      // dx is dL times a constant; creating a graph, that product is recorded.
                      const bool creating = is_grad_enabled();
                      Tensor dx = Tensor::zeros(shape, dl.dtype());
                      dispatch_floating("nll_loss", dl.dtype(), [&](auto tag) {
                          using T = decltype(tag);
                          const T g = -(creating ? T(1) : *dl.data<T>()) / static_cast<T>(N);
                          const int64_t* t = targets.data<int64_t>();
                          T* d = dx.data<T>();
                          for (int64_t n = 0; n < N; ++n) d[n * C + t[n]] = g;
                      });
                      return Grads{creating ? mul(dx, dl) : dx, Tensor()};
                  }, BackwardReads::values, Differentiable::twice);
}

/// L = sum (max(z, 0) - z t + log1p(exp(-|z|))) / n over logits z and targets t: the log-loss
/// of sigmoid(z), written so that exp never overflows.
/// dz = (sigmoid(z) - t) dL / n,  dt = -z dL / n
Tensor binary_cross_entropy_with_logits(const Tensor& logits, const Tensor& targets) {
    const detail::OpScope scope("binary_cross_entropy_with_logits");
    constexpr const char* op = "binary_cross_entropy_with_logits";
    check_same_shape(op, logits, targets, "logits", "targets");
    const int64_t n = logits.numel();
    Tensor loss = Tensor::empty({}, logits.dtype());
    dispatch_floating(op, logits.dtype(), [&](auto tag) {
        using T = decltype(tag);
        const T *z = logits.data<T>(), *t = targets.data<T>();
        double acc = 0;
#pragma omp parallel for schedule(static) reduction(+ : acc) if (n >= kernels::kParallelMapElems)
        for (int64_t i = 0; i < n; ++i) {
            const double zi = z[i], ti = t[i];
            acc += std::max(zi, 0.0) - zi * ti + std::log1p(std::exp(-std::abs(zi)));
        }
        *loss.data<T>() = static_cast<T>(acc / static_cast<double>(n));  // nan when empty, as torch
    });
    return record(op, loss, {logits, targets}, [logits, targets, n](const Tensor& dl, const Tensor&) {
        if (is_grad_enabled()) {  // creating a graph: the same gradients as recorded ops
            const Tensor s = mul(dl, 1.0 / static_cast<double>(n));
            return Grads{logits.requires_grad() ? mul(sub(sigmoid(logits), targets), s) : Tensor(),
                         targets.requires_grad() ? mul(neg(logits), s) : Tensor()};
        }
        Tensor dz, dt;
        dispatch_floating("binary_cross_entropy_with_logits", dl.dtype(), [&](auto tag) {
            using T = decltype(tag);
            const T s = *dl.data<T>() / static_cast<T>(n);
            if (logits.requires_grad())
                dz = detail::map2("binary_cross_entropy_with_logits", logits, targets,
                                  [s](T z, T t) { return (stable_sigmoid(z) - t) * s; });
            if (targets.requires_grad())
                dt = detail::map("binary_cross_entropy_with_logits", logits, [s](T z) { return -z * s; });
        });
        return Grads{dz, dt};
    }, BackwardReads::values, Differentiable::twice);
}

/// For logits x (N, C), targets t (N), smoothing e and the K rows whose target is not
/// ignore_index, with lse_n = logsumexp(x[n, :]) and -log p[n, c] = lse_n - x[n, c]:
///   L = 1/K sum_n [(1 - e) (lse_n - x[n, t_n]) + e/C sum_c (lse_n - x[n, c])]
///     = 1/K sum_n [lse_n - (1 - e) x[n, t_n] - e/C sum_c x[n, c]]   (nan when K = 0, as torch).
/// d lse_n / d x[n, c] = p[n, c], so
///   dx[n, c] = dL / K * (p[n, c] - (1 - e) [c == t_n] - e/C) on counted rows, 0 on ignored ones.
Tensor cross_entropy(const Tensor& logits_in, const Tensor& targets_in, int64_t ignore_index,
                     double label_smoothing) {
    const detail::OpScope scope("cross_entropy");
    const std::pair<Tensor, Tensor> flat = detail::class_dim_last("cross_entropy", logits_in, targets_in, "logits");
    const Tensor logits = flat.first, targets = flat.second;
    const ClassRows rows = check_class_rows("cross_entropy", logits, targets, "logits");
    const int64_t N = rows.N, C = rows.C;
    TG_CHECK(label_smoothing >= 0.0 && label_smoothing <= 1.0, ValueError,
             "cross_entropy: label_smoothing must be in [0, 1], got {}", label_smoothing);
    const int64_t* t = targets.data<int64_t>();
    int64_t K = 0;
    for (int64_t n = 0; n < N; ++n) {
        if (t[n] == ignore_index) continue;
        check_target_range("cross_entropy", t[n], n, C);
        ++K;
    }
    // As the two-argument cross_entropy: probabilities kept for backward (counted rows only),
    // logsumexp = m + log s from the row kernel's max and sum. Without smoothing the row term
    // is the same expression, so both give the same value.
    Tensor probs = Tensor::empty({N, C}, logits.dtype());
    Tensor loss = Tensor::empty({}, logits.dtype());
    const double e = label_smoothing;
    dispatch_floating("cross_entropy", logits.dtype(), [&](auto tag) {
        using T = decltype(tag);
        const T* x = logits.data<T>();
        T* pp = probs.data<T>();
        double acc = 0;
#pragma omp parallel for schedule(static) reduction(+ : acc) if (N * C >= kernels::kParallelElems)
        for (int64_t n = 0; n < N; ++n) {
            if (t[n] == ignore_index) continue;
            const T* row = x + n * C;
            const auto [m, s] = kernels::softmax_row(row, pp + n * C, C);
            const double lse = static_cast<double>(m) + std::log(static_cast<double>(s));
            if (e == 0.0) {
                acc += lse - static_cast<double>(row[t[n]]);
            } else {
                double row_sum = 0;
                for (int64_t c = 0; c < C; ++c) row_sum += static_cast<double>(row[c]);
                acc += (1 - e) * (lse - static_cast<double>(row[t[n]])) + e / static_cast<double>(C) *
                                                                              (static_cast<double>(C) * lse - row_sum);
            }
        }
        *loss.data<T>() = static_cast<T>(acc / static_cast<double>(K));
    });
    return record("cross_entropy", loss, {logits, targets},
                  [logits, probs, targets, ignore_index, e, N, C, K](const Tensor& dl, const Tensor&) {
                      if (is_grad_enabled() && K == 0) return Grads{Tensor::zeros(logits.shape(), dl.dtype()), Tensor()};
                      if (is_grad_enabled()) {
                          // Creating a graph: dx = dL / K * (counted * softmax(x) - target), where
                          // counted masks the rows not ignored and target holds (1 - e) [c == t_n]
                          // + e / C on them; both are constants.
                          Tensor counted = Tensor::zeros(logits.shape(), logits.dtype());
                          Tensor target = Tensor::zeros(logits.shape(), logits.dtype());
                          dispatch_floating("cross_entropy", logits.dtype(), [&](auto tag) {
                              using T = decltype(tag);
                              const int64_t* t = targets.data<int64_t>();
                              T *pc = counted.data<T>(), *pt = target.data<T>();
                              for (int64_t n = 0; n < N; ++n) {
                                  if (t[n] == ignore_index) continue;
                                  for (int64_t c = 0; c < C; ++c) {
                                      pc[n * C + c] = T(1);
                                      pt[n * C + c] = static_cast<T>(e / static_cast<double>(C));
                                  }
                                  pt[n * C + t[n]] += static_cast<T>(1 - e);
                              }
                          });
                          // Ignored rows are zeroed before the softmax too, so that one holding
                          // infinities or NaN (padding) stays out of the graph, as the kernel skips it.
                          const Tensor ignored = eq(counted, 0.0);
                          return Grads{mul(sub(mul(softmax(masked_fill(logits, ignored, 0.0), -1), counted), target),
                                           mul(dl, 1.0 / static_cast<double>(K))),
                                       Tensor()};
                      }
                      Tensor dx = Tensor::zeros(logits.shape(), dl.dtype());
                      dispatch_floating("cross_entropy", dl.dtype(), [&](auto tag) {
                          using T = decltype(tag);
                          const T scale = *dl.data<T>() / static_cast<T>(K);
                          const T uniform = static_cast<T>(e / static_cast<double>(C)) * scale;
                          const T hit = static_cast<T>(1 - e) * scale;
                          const T* p = probs.data<T>();
                          const int64_t* t = targets.data<int64_t>();
                          T* d = dx.data<T>();
                          for (int64_t n = 0; n < N; ++n) {
                              if (t[n] == ignore_index) continue;
                              for (int64_t c = 0; c < C; ++c) d[n * C + c] = p[n * C + c] * scale;
                              if (e != 0.0)
                                  for (int64_t c = 0; c < C; ++c) d[n * C + c] -= uniform;
                              d[n * C + t[n]] -= hit;
                          }
                      });
                      return Grads{dx, Tensor()};
                  }, BackwardReads::values, Differentiable::twice);
}

}  // namespace tg
