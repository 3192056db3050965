#pragma once
// Gradient clipping, as torch.nn.utils.clip_grad_norm_ and clip_grad_value_.
#include <vector>

#include "../core/tensor.hpp"

namespace tg::optim {

/// Scales all gradients together so their global L2 norm is at most max_norm (by
/// max_norm / (norm + 1e-6) when the norm exceeds it) and returns the norm before clipping.
/// Parameters without gradients are skipped. A NaN or Inf norm is returned without scaling.
double clip_grad_norm(const std::vector<Tensor>& params, double max_norm);

/// Clamps every gradient element to [-clip, clip].
void clip_grad_value(const std::vector<Tensor>& params, double clip);

}  // namespace tg::optim
