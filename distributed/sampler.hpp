#pragma once
/// \file
/// Splitting the data over the ranks. Part of tapegrad::distributed (see distributed/dist.hpp).
#include <cstdint>
#include <vector>

#include "../core/tensor.hpp"
#include "../data/sampler.hpp"

namespace tg::dist {

/// This rank's share of a global batch: rows [r n / W, (r + 1) n / W) of dim 0, for rank r of W.
/// n must be a multiple of W (ValueError otherwise): with equal shares, the average of the
/// ranks' mean losses is the global batch's mean loss, and averaging gradients gives its
/// gradient. Without MPI (or with one rank) it returns the batch itself.
Tensor shard(const Tensor& global_batch);

/// data::ShardedSampler (data/sampler.hpp) with this process's rank and world size: which
/// examples each step uses, the examples in a random order that is redrawn every epoch (from
/// seed and the epoch number, so identical on every rank and on resume), global_batch per step,
/// and this rank's slice of them. global_batch must be a multiple of the world size.
class ShardedSampler : public data::ShardedSampler {
public:
    /// data::ShardedSampler(dataset_size, global_batch, seed, rank(), world_size()), with its
    /// checks (ValueError). Without MPI initialised: rank 0 of 1.
    ShardedSampler(int64_t dataset_size, int64_t global_batch, uint64_t seed);
};

}  // namespace tg::dist
