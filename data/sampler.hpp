#pragma once
/// \file
/// Samplers: the order in which a DataLoader visits a dataset's examples, epoch by epoch, as
/// torch.utils.data's samplers. Part of tapegrad::data.
#include <cstdint>
#include <vector>

#include "../core/random.hpp"

namespace tg::data {

/// The dataset indices of each epoch, in the order they are visited. indices(epoch) must give
/// the same answer every time it is asked for the same epoch (resuming relies on it).
class Sampler {
public:
    virtual ~Sampler() = default;
    /// The indices of epoch `epoch` (0 first), in visiting order.
    virtual std::vector<int64_t> indices(int64_t epoch) const = 0;
    /// How many indices each epoch has.
    virtual int64_t size() const = 0;
};

/// 0, 1, ..., n - 1 every epoch.
class SequentialSampler : public Sampler {
public:
    /// Over a dataset of n examples (ValueError if n is negative).
    explicit SequentialSampler(int64_t n);
    /// 0, 1, ..., n - 1 whatever the epoch (ValueError if it is negative).
    std::vector<int64_t> indices(int64_t epoch) const override;
    /// n.
    int64_t size() const override { return n_; }

private:
    int64_t n_;
};

/// A fresh permutation of 0..n-1 every epoch, drawn from (seed, epoch): the same seed gives the
/// same orders in every program and on every machine. Without a seed, one is drawn from the
/// global generator when the sampler is made (manual_seed makes that reproducible too).
class RandomSampler : public Sampler {
public:
    /// Over a dataset of n examples (ValueError if n is negative), from `seed` or, without one, a
    /// seed drawn from the global generator now.
    explicit RandomSampler(int64_t n, Seed seed = std::nullopt);
    /// permutation(n, seed(), epoch) (ValueError if the epoch is negative).
    std::vector<int64_t> indices(int64_t epoch) const override;
    /// n.
    int64_t size() const override { return n_; }
    /// The seed in use (the one given, or the one drawn): another RandomSampler made with it
    /// visits the same orders.
    uint64_t seed() const { return seed_; }

private:
    int64_t n_;
    uint64_t seed_;
};

/// A random permutation of 0..n-1 from (seed, epoch) by Fisher-Yates; what RandomSampler and
/// ShardedSampler draw.
std::vector<int64_t> permutation(int64_t n, uint64_t seed, int64_t epoch);

/// Options of a DistributedSampler (those of torch.utils.data.DistributedSampler).
struct DistributedSamplerOptions {
    bool shuffle = true;      ///< a fresh permutation every epoch, else 0, 1, ..., n - 1
    uint64_t seed = 0;        ///< must be the same on every rank
    bool drop_last = false;   ///< drop the tail that does not split evenly, instead of repeating
};

/// This rank's share of every epoch, as torch.utils.data.DistributedSampler: the epoch's order
/// (a permutation from (seed, epoch) when shuffling, identical on every rank), padded by
/// repeating its first indices to a multiple of `world` (or cut to one with drop_last), and
/// every world-th index from position `rank`. Each rank sees size() indices per epoch.
class DistributedSampler : public Sampler {
public:
    /// Rank `rank` of `world` ranks over a dataset of n examples. ValueError unless n >= 0 and
    /// 0 <= rank < world.
    DistributedSampler(int64_t n, int64_t rank, int64_t world, const DistributedSamplerOptions& options = {});
    /// This rank's indices of epoch `epoch` (ValueError if it is negative).
    std::vector<int64_t> indices(int64_t epoch) const override;
    /// n / world rounded up, or down with drop_last.
    int64_t size() const override { return per_rank_; }

private:
    int64_t n_, rank_, world_, per_rank_;
    DistributedSamplerOptions options_;
};

/// Step-indexed sharding for training loops that count steps rather than epochs: the examples
/// in a random order redrawn every epoch (from seed and the epoch number, so identical on every
/// rank and on resume), global_batch per step, and rank `rank`'s slice of them. The data-parallel
/// layer's dist::ShardedSampler is this with the MPI session's rank and world.
class ShardedSampler {
public:
    /// ValueError unless 0 <= rank < world, dataset_size >= 1 and global_batch is a positive
    /// multiple of world.
    ShardedSampler(int64_t dataset_size, int64_t global_batch, uint64_t seed, int64_t rank = 0, int64_t world = 1);
    /// The local_batch() dataset indices this rank trains on at `step` (ValueError if it is
    /// negative). Steps run through the shuffled examples without a break, so a step may span
    /// two epochs; not const, as it keeps the current epoch's order.
    std::vector<int64_t> indices(int64_t step);
    /// Examples per step on this rank: global_batch / world.
    int64_t local_batch() const { return global_batch_ / world_; }

private:
    int64_t size_, global_batch_, world_, rank_;
    uint64_t seed_;
    int64_t epoch_ = -1;
    std::vector<int64_t> order_;
};

}  // namespace tg::data
