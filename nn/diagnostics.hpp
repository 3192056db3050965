#pragma once
/// \file
/// Gradient-norm telemetry: how large each parameter's gradient is, and one figure per
/// transformer block, to watch gradient stability during training.
#include <string>
#include <utility>
#include <vector>

#include "gpt.hpp"

namespace tg::nn {

/// L2 norm of each parameter's gradient, by name (0 where no gradient has been computed).
std::vector<std::pair<std::string, double>> grad_norms(const Module& module);
/// L2 norm of the gradients of these tensors together (those without a gradient count 0);
/// clip_grad_norm clips by this figure.
double grad_norm(const std::vector<Tensor>& params);
/// grad_norm of all of a module's parameters.
double global_grad_norm(const Module& module);
/// One figure per transformer block i: the L2 norm of every gradient under "h.i.".
std::vector<double> block_grad_norms(const GPT& model);

}  // namespace tg::nn
