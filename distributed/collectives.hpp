#pragma once
/// \file
/// Collectives on whole tensors over MPI_COMM_WORLD, with the shapes checked across ranks.
/// Part of tapegrad::distributed (see distributed/dist.hpp). Each needs MPI initialised (a
/// Session; ValueError otherwise) and must be called on every rank, in the same order.
#include "../core/tensor.hpp"

namespace tg::nn {
class Module;
}

namespace tg::dist {

/// How all_reduce combines the ranks' values, as torch.distributed.ReduceOp.
enum class ReduceOp {
    sum,      ///< The sum over ranks.
    average,  ///< The sum divided by the world size (floating dtypes only).
    max,      ///< The largest value.
    min       ///< The smallest value.
};

/// Overwrites t on every rank with root's values (ValueError if root is not a rank). t must be
/// f32, f64, i64 or b8 (bf16 is a DtypeError) with the same shape and dtype on every rank
/// (checked: a mismatch is a ShapeError on every rank, each naming its own shape and dtype).
void broadcast(const Tensor& t, int root = 0);
/// Replaces t on every rank with the elementwise reduction over ranks. f32 and f64 (sum,
/// average, max, min); i64 (sum, max, min); anything else is a DtypeError. Shapes and dtypes
/// are checked across ranks as in broadcast.
void all_reduce(const Tensor& t, ReduceOp op = ReduceOp::sum);

/// Broadcasts every parameter and buffer (BatchNorm's running statistics) of m from root
/// (once per tied tensor), so that all ranks start from the same state. Buffers are not kept in
/// step afterwards: each rank updates its running statistics from its own slice of the batch,
/// and rank 0's are the ones a checkpoint keeps.
void broadcast_parameters(nn::Module& m, int root = 0);

}  // namespace tg::dist
