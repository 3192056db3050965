#pragma once
// Collectives on whole tensors over MPI_COMM_WORLD, with the shapes checked across ranks.
// Part of tapegrad::distributed (see distributed/dist.hpp).
#include "../core/tensor.hpp"

namespace tg::nn {
class Module;
}

namespace tg::dist {

enum class ReduceOp { sum, average, max, min };

/// Overwrites t on every rank with root's values. t must be f32, f64 or i64 with the same
/// shape and dtype on every rank (checked: a mismatch is a tg::Error on the ranks that differ,
/// and on root).
void broadcast(const Tensor& t, int root = 0);
/// Replaces t on every rank with the elementwise reduction over ranks. f32 and f64 (sum,
/// average, max, min); i64 (sum, max, min).
void all_reduce(const Tensor& t, ReduceOp op = ReduceOp::sum);

/// Broadcasts every parameter and buffer (BatchNorm's running statistics) of m from root
/// (once per tied tensor), so that all ranks start from the same state. Buffers are not kept in
/// step afterwards: each rank updates its running statistics from its own slice of the batch,
/// and rank 0's are the ones a checkpoint keeps.
void broadcast_parameters(nn::Module& m, int root = 0);

}  // namespace tg::dist
