#pragma once
/// \file
/// Gradient clipping, as torch.nn.utils.clip_grad_norm_ and clip_grad_value_. Part of
/// tapegrad::optim.
#include <vector>

#include "../core/tensor.hpp"

namespace tg::optim {

/// Scales all gradients together so their global L2 norm is at most max_norm (by
/// max_norm / (norm + 1e-6) when the norm exceeds it) and returns the norm before clipping.
/// Parameters without gradients are skipped. A NaN or Inf norm is returned without scaling.
/// ValueError if max_norm is negative.
double clip_grad_norm(const std::vector<Tensor>& params, double max_norm);

/// Clamps every gradient element to [-clip, clip], in place; parameters without gradients are
/// skipped. ValueError if clip is negative.
void clip_grad_value(const std::vector<Tensor>& params, double clip);

}  // namespace tg::optim
