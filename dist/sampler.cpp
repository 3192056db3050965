#include "dist/sampler.hpp"

#include <fmt/format.h>

#include "core/check.hpp"
#include "core/ops.hpp"
#include "core/random.hpp"
#include "dist/session.hpp"

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
    : size_(dataset_size), global_batch_(global_batch), world_(world_size()), rank_(rank()), seed_(seed) {
    TG_CHECK(dataset_size >= 1, ValueError, "dist::ShardedSampler: empty dataset ({})", dataset_size);
    TG_CHECK(global_batch >= 1 && global_batch % world_ == 0, ValueError,
             "dist::ShardedSampler: a global batch of {} does not split evenly over {} ranks", global_batch, world_);
}

std::vector<int64_t> ShardedSampler::indices(int64_t step) {
    TG_CHECK(step >= 0, ValueError, "dist::ShardedSampler: negative step {}", step);
    const int64_t local = local_batch();
    std::vector<int64_t> out;
    out.reserve(static_cast<std::size_t>(local));
    for (int64_t j = 0; j < local; ++j) {
        const int64_t pos = step * global_batch_ + rank_ * local + j;  // position in the endless stream
        const int64_t epoch = pos / size_;
        if (epoch != epoch_) {  // Fisher-Yates from (seed, epoch)
            order_.resize(static_cast<std::size_t>(size_));
            for (int64_t i = 0; i < size_; ++i) order_[static_cast<std::size_t>(i)] = i;
            Generator gen(seed_ * 0x9E3779B97F4A7C15ULL + static_cast<uint64_t>(epoch));
            for (int64_t i = size_ - 1; i > 0; --i)
                std::swap(order_[static_cast<std::size_t>(i)], order_[gen.below(static_cast<uint64_t>(i + 1))]);
            epoch_ = epoch;
        }
        out.push_back(order_[static_cast<std::size_t>(pos % size_)]);
    }
    return out;
}

}  // namespace tg::dist
