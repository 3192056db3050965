#pragma once
/// \file
/// Curvature diagnostics, as PyHessian measures them: the largest eigenvalues of the loss's
/// Hessian (by Lanczos on Hessian-vector products), its trace (Hutchinson), the same for a
/// diagonally preconditioned Hessian (what Adam sees), and one figure per transformer block, the
/// curvature counterpart of block_grad_norms. None of them forms the Hessian; each Hessian-vector
/// product is one double backward (tg::grad with create_graph), so a measurement costs about as
/// many training steps as it takes products (docs/training.md, "Loss curvature").
#include <cstdint>
#include <functional>
#include <vector>

#include "gpt.hpp"

namespace tg::nn {

/// The options of the curvature measurements (iterations and tol are Lanczos's only).
struct HessianOptions {
    int iterations = 100;  ///< the most Hessian-vector products one measurement takes (>= 1)
    double tol = 1e-4;     ///< stop when each wanted Ritz value's residual is below tol x the largest
    uint64_t seed = 0;     ///< the random start vector (Lanczos) or the probes (Hutchinson)
};

/// The k algebraically largest eigenvalues (most positive first) of the Hessian of loss() with
/// respect to params, by Lanczos with full reorthogonalisation on Hessian-vector products.
/// (Plain power iteration would find the eigenvalue of largest magnitude, which can be
/// negative.) loss() is evaluated once; params must be f32 or f64 tensors that require grad and
/// that loss() reads. Their .grad is left as it was. The arithmetic of Lanczos is in double;
/// the products in the parameters' dtype. It stops when each wanted value's residual is below
/// tol x the largest |Ritz value|, or after options.iterations products, whichever comes first:
/// hessian_eigen_estimate says which and by how much. A Krylov space that closes early (an
/// invariant subspace: few distinct eigenvalues, or a repeated one) is not taken as the answer
/// while products are left: it restarts orthogonally to it, so repeats are found. A repeat among
/// the top k of a space that does not close is, as with any single-vector Lanczos, reported
/// once, followed by the next distinct value. Memory: min(iterations, n) vectors of n doubles
/// (n the number of parameter elements), besides the graph of loss()'s gradient.
std::vector<double> hessian_eigenvalues(const std::function<Tensor()>& loss, const std::vector<Tensor>& params,
                                        int k = 1, const HessianOptions& options = {});

/// What Lanczos found, with how far it can be trusted: residuals[i] bounds the distance from
/// values[i] to an eigenvalue of the Hessian (|beta_m s_mi|, exact arithmetic); converged is
/// true when every residual reached tol x the largest |Ritz value| before the products ran out.
struct EigenEstimate {
    std::vector<double> values;     ///< most positive first
    std::vector<double> residuals;  ///< one per value
    int products = 0;               ///< Hessian-vector products taken
    bool converged = false;         ///< every residual reached the tolerance
};
/// hessian_eigenvalues with the residuals and the products it took.
EigenEstimate hessian_eigen_estimate(const std::function<Tensor()>& loss, const std::vector<Tensor>& params,
                                     int k = 1, const HessianOptions& options = {});

/// Hutchinson's estimate of the Hessian's trace, the mean of z^T H z over `samples` Rademacher
/// probes z (entries +1 or -1, from options.seed; iterations and tol are not used).
double hessian_trace(const std::function<Tensor()>& loss, const std::vector<Tensor>& params, int samples = 100,
                     const HessianOptions& options = {});

/// Hutchinson's estimate with its standard error (the sample standard deviation of z^T H z over
/// sqrt(samples); 0 for one sample).
struct TraceEstimate {
    double trace = 0;           ///< the mean of z^T H z
    double standard_error = 0;  ///< its standard error (0 for one sample)
    int samples = 0;            ///< the probes taken
};
/// hessian_trace with its standard error; samples must be at least 1 (ValueError).
TraceEstimate hessian_trace_estimate(const std::function<Tensor()>& loss, const std::vector<Tensor>& params,
                                     int samples = 100, const HessianOptions& options = {});

/// The k largest eigenvalues of P^-1 H for a diagonal preconditioner P, given as one tensor of
/// positive entries per parameter (its shape). They are computed as those of the symmetric
/// P^-1/2 H P^-1/2, which has the same spectrum. optim::preconditioned_sharpness builds P from
/// an Adam or AdamW optimiser's state.
std::vector<double> preconditioned_hessian_eigenvalues(const std::function<Tensor()>& loss,
                                                       const std::vector<Tensor>& params,
                                                       const std::vector<Tensor>& preconditioner, int k = 1,
                                                       const HessianOptions& options = {});
/// preconditioned_hessian_eigenvalues with the residuals (of P^-1/2 H P^-1/2) and the products.
EigenEstimate preconditioned_hessian_eigen_estimate(const std::function<Tensor()>& loss,
                                                    const std::vector<Tensor>& params,
                                                    const std::vector<Tensor>& preconditioner, int k = 1,
                                                    const HessianOptions& options = {});

/// One figure per transformer block i: the largest eigenvalue of the Hessian restricted to the
/// parameters under "h.i." (model.h[i]'s, the others held fixed). loss() is evaluated once per
/// block.
std::vector<double> block_sharpness(const std::function<Tensor()>& loss, const GPT& model,
                                    const HessianOptions& options = {});

}  // namespace tg::nn
