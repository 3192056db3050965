#include "distributed/sampler.hpp"

#include <fmt/format.h>

#include "core/check.hpp"
#include "core/ops.hpp"
#include "distributed/session.hpp"

namespace tg::dist {

Tensor shard(const Tensor& global_batch) {
    TG_CHECK(global_batch.defined(), ValueError, "dist::shard: the batch is undefined");
    const int w = world_size(), r = rank();
    if (w == 1) return global_batch;
    TG_CHECK(global_batch.dim() >= 1, ShapeError, "dist::shard: a 0-d tensor has no batch dim");
    const int64_t n = global_batch.shape()[0];
    TG_CHECK(n % w == 0, ValueError, "dist::shard: a global batch of {} does not split evenly over {} ranks", n, w);
    return slice(global_batch, 0, r * (n / w), (r + 1) * (n / w));
}

ShardedSampler::ShardedSampler(int64_t dataset_size, int64_t global_batch, uint64_t seed)
    : data::ShardedSampler(dataset_size, global_batch, seed, rank(), world_size()) {}

}  // namespace tg::dist
