#pragma once
/// \file
/// Activation checkpointing: trade compute for memory, as torch.utils.checkpoint.
#include <functional>
#include <vector>

#include "tensor.hpp"

namespace tg {

/// What checkpoint() runs: tensors in, tensors out.
using CheckpointFn = std::function<std::vector<Tensor>(const std::vector<Tensor>&)>;

/// Runs fn(inputs) without keeping its intermediates for backward: the tape holds only the
/// inputs (and fn), and backward runs fn again, with grad mode on, to differentiate it. A
/// block's activations then live only while its backward runs, for about one more forward of
/// compute. The gradients are bit-identical to calling fn directly (dropout included: the
/// recomputation replays the random numbers the first run drew, then puts every generator back
/// where it was). Parameters fn uses (a module it calls) get their .grad as usual.
///
///     auto out = tg::checkpoint([block](const std::vector<Tensor>& in) {
///         return std::vector<Tensor>{(*block)(in[0])};
///     }, {x});
///
/// fn is kept until backward and called again there: capture by value what it uses (a module
/// by pointer, which must outlive backward), and give it every tensor it computes from that is
/// not a parameter as an input. Under NoGradGuard it is just fn(inputs).
/// Errors (ValueError, naming checkpoint): no input requires grad (backward would never reach
/// fn, so its parameters would get no gradient); fn returns no tensors, an undefined one or a
/// different number or shapes when run again; an input modified in place before backward; a
/// recomputation whose outputs do not depend on the inputs that require grad; grad() or
/// create_graph through a checkpoint (the recomputation accumulates into parameters' .grad, as
/// PyTorch's reentrant checkpoint does: use backward()).
std::vector<Tensor> checkpoint(const CheckpointFn& fn, const std::vector<Tensor>& inputs);

}  // namespace tg
