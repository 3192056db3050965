#pragma once
/// \file
/// Curvature against an optimiser's stability threshold. Gradient descent on a quadratic is
/// stable while the sharpness (the largest Hessian eigenvalue) stays below 2 / lr; Cohen et al.
/// 2021 ("Gradient Descent on Neural Networks Typically Occurs at the Edge of Stability") find
/// full-batch training drives it there. For Adam the quantity is the preconditioned sharpness,
/// the largest eigenvalue of P^-1 H, against (2 + 2 beta1) / ((1 - beta1) lr), 38 / lr at
/// beta1 = 0.9 (Cohen et al. 2022, "Adaptive Gradient Methods at the Edge of Stability").
/// Part of tapegrad::optim.
#include <functional>

#include "../nn/hessian.hpp"
#include "adam.hpp"
#include "sgd.hpp"

namespace tg::optim {

/// The largest eigenvalue of P^-1 H, with H the Hessian of loss() in the optimiser's
/// parameters and P its current diagonal preconditioner (AdamFamily::preconditioner()), taken
/// as it stands: call it after a step. .grad and the optimiser's state are left as they were.
double preconditioned_sharpness(const std::function<Tensor()>& loss, const Adam& optimizer,
                                const nn::HessianOptions& options = {});
/// \overload
double preconditioned_sharpness(const std::function<Tensor()>& loss, const AdamW& optimizer,
                                const nn::HessianOptions& options = {});
/// preconditioned_sharpness with Lanczos's residual and product count (nn::EigenEstimate).
nn::EigenEstimate preconditioned_sharpness_estimate(const std::function<Tensor()>& loss, const Adam& optimizer,
                                                    const nn::HessianOptions& options = {});
/// \overload
nn::EigenEstimate preconditioned_sharpness_estimate(const std::function<Tensor()>& loss, const AdamW& optimizer,
                                                    const nn::HessianOptions& options = {});

/// The sharpness above which the optimiser's next step is unstable on a quadratic, at its
/// current lr: (2 + 2 beta1) / ((1 - beta1) lr) for Adam and AdamW (Cohen et al. 2022, the
/// preconditioned sharpness's threshold; it ignores the bias correction of the first moment,
/// which is near 1 after the first few dozen steps), 2 / lr for SGD and (2 + 2 momentum) / lr
/// with heavy-ball momentum (Cohen et al. 2021). Every group must share lr and beta1 or
/// momentum; SGD with dampening or Nesterov has no threshold here (an error).
double stability_threshold(const Adam& optimizer);
/// \overload
double stability_threshold(const AdamW& optimizer);
/// \overload
double stability_threshold(const SGD& optimizer);

}  // namespace tg::optim
