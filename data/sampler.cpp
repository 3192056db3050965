#include "data/sampler.hpp"

#include <numeric>

#include "core/check.hpp"

namespace tg::data {

std::vector<int64_t> permutation(int64_t n, uint64_t seed, int64_t epoch) {
    std::vector<int64_t> order(static_cast<std::size_t>(n));
    std::iota(order.begin(), order.end(), int64_t{0});
    Generator gen(seed * 0x9E3779B97F4A7C15ULL + static_cast<uint64_t>(epoch));
    for (int64_t i = n - 1; i > 0; --i)
        std::swap(order[static_cast<std::size_t>(i)], order[gen.below(static_cast<uint64_t>(i + 1))]);
    return order;
}

namespace {
void check_epoch(const char* who, int64_t epoch) {
    TG_CHECK(epoch >= 0, ValueError, "{}: negative epoch {}", who, epoch);
}
}  // namespace

SequentialSampler::SequentialSampler(int64_t n) : n_(n) {
    TG_CHECK(n >= 0, ValueError, "SequentialSampler: negative size {}", n);
}

std::vector<int64_t> SequentialSampler::indices(int64_t epoch) const {
    check_epoch("SequentialSampler", epoch);
    std::vector<int64_t> out(static_cast<std::size_t>(n_));
    std::iota(out.begin(), out.end(), int64_t{0});
    return out;
}

RandomSampler::RandomSampler(int64_t n, Seed seed) : n_(n), seed_(resolve_seed(seed)) {
    TG_CHECK(n >= 0, ValueError, "RandomSampler: negative size {}", n);
}

std::vector<int64_t> RandomSampler::indices(int64_t epoch) const {
    check_epoch("RandomSampler", epoch);
    return permutation(n_, seed_, epoch);
}

DistributedSampler::DistributedSampler(int64_t n, int64_t rank, int64_t world, const DistributedSamplerOptions& options)
    : n_(n), rank_(rank), world_(world), options_(options) {
    TG_CHECK(n >= 0, ValueError, "DistributedSampler: negative size {}", n);
    TG_CHECK(world >= 1 && rank >= 0 && rank < world, ValueError,
             "DistributedSampler: rank {} of {} ranks; need 0 <= rank < world", rank, world);
    per_rank_ = options.drop_last ? n / world : (n + world - 1) / world;
}

std::vector<int64_t> DistributedSampler::indices(int64_t epoch) const {
    check_epoch("DistributedSampler", epoch);
    std::vector<int64_t> order;
    if (options_.shuffle) {
        order = permutation(n_, options_.seed, epoch);
    } else {
        order.resize(static_cast<std::size_t>(n_));
        std::iota(order.begin(), order.end(), int64_t{0});
    }
    const auto total = static_cast<std::size_t>(per_rank_ * world_);
    if (order.size() > total) order.resize(total);
    for (std::size_t i = 0; order.size() < total; ++i) order.push_back(order[i % static_cast<std::size_t>(n_)]);
    std::vector<int64_t> out;
    out.reserve(static_cast<std::size_t>(per_rank_));
    for (std::size_t i = static_cast<std::size_t>(rank_); i < total; i += static_cast<std::size_t>(world_))
        out.push_back(order[i]);
    return out;
}

ShardedSampler::ShardedSampler(int64_t dataset_size, int64_t global_batch, uint64_t seed, int64_t rank, int64_t world)
    : size_(dataset_size), global_batch_(global_batch), world_(world), rank_(rank), seed_(seed) {
    TG_CHECK(world >= 1 && rank >= 0 && rank < world, ValueError,
             "ShardedSampler: rank {} of {} ranks; need 0 <= rank < world", rank, world);
    TG_CHECK(dataset_size >= 1, ValueError, "ShardedSampler: empty dataset ({})", dataset_size);
    TG_CHECK(global_batch >= 1 && global_batch % world_ == 0, ValueError,
             "ShardedSampler: a global batch of {} does not split evenly over {} ranks", global_batch, world_);
}

std::vector<int64_t> ShardedSampler::indices(int64_t step) {
    TG_CHECK(step >= 0, ValueError, "ShardedSampler: negative step {}", step);
    const int64_t local = local_batch();
    std::vector<int64_t> out;
    out.reserve(static_cast<std::size_t>(local));
    for (int64_t j = 0; j < local; ++j) {
        const int64_t pos = step * global_batch_ + rank_ * local + j;  // position in the endless stream
        const int64_t epoch = pos / size_;
        if (epoch != epoch_) {
            order_ = permutation(size_, seed_, epoch);
            epoch_ = epoch;
        }
        out.push_back(order_[static_cast<std::size_t>(pos % size_)]);
    }
    return out;
}

}  // namespace tg::data
