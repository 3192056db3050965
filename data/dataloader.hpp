#pragma once
/// \file
/// DataLoader: batches of a dataset in a sampler's order, made on the caller's thread or by
/// background workers that prefetch the next batches while the model computes, as
/// torch.utils.data.DataLoader. Part of tapegrad::data.
///
/// \code
///   data::TensorDataset ds({x, y});
///   data::DataLoader loader(ds, {.batch_size = 32, .shuffle = true, .seed = 1, .workers = 1});
///   for (int epoch = 0; epoch < 3; ++epoch)
///       for (data::Batch& b : loader) train_step(b[0], b[1]);   // each loop is the next epoch
/// \endcode
#include <concepts>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>

#include "dataset.hpp"
#include "sampler.hpp"

namespace tg::data {

/// Options of a DataLoader (those of torch.utils.data.DataLoader, with `workers` for
/// num_workers and `prefetch` for prefetch_factor). The constructor checks them.
struct DataLoaderOptions {
    /// Examples per batch (at least 1).
    int64_t batch_size = 1;
    /// Visit the examples in a fresh random order every epoch (a RandomSampler from `seed`).
    bool shuffle = false;
    /// Drop the last batch of an epoch when it has fewer than batch_size examples.
    bool drop_last = false;
    /// The shuffling seed; without one it is drawn from the global generator (manual_seed)
    /// when the loader is made.
    Seed seed = std::nullopt;
    /// Background threads making batches (0: each batch is made on the caller's thread when
    /// the loop asks for it). Each worker runs tapegrad's ops with one thread, so workers never
    /// multiply the compute pool: see docs/data.md.
    int workers = 0;
    /// Batches each worker may have ready ahead of the loop (at least 1).
    int prefetch = 2;
    /// Visits the dataset in this sampler's order instead (shuffle must then be false), e.g. a
    /// DistributedSampler.
    std::shared_ptr<const Sampler> sampler;
    /// Builds a batch from examples instead of data::collate (pads, crops, adds masks...).
    std::function<Batch(const std::vector<Example>&, const std::vector<int64_t>&)> collate;
};

/// Iterates over a dataset in batches, one epoch per range-for loop over it.
/// Batches are made in grad mode off; an error making one (in get(), get_batch() or collate)
/// is thrown where the loop takes that batch, prefixed with the batch and the epoch.
class DataLoader {
    struct Epoch;

public:
    /// Reads `dataset`, sharing its ownership. ValueError on a null dataset, on
    /// batch_size < 1, workers < 0 or prefetch < 1, and on shuffle together with a sampler.
    DataLoader(std::shared_ptr<const Dataset> dataset, DataLoaderOptions options = {});
    /// Takes (a copy of, or by std::move) any dataset object.
    template <class D>
        requires std::derived_from<std::remove_cvref_t<D>, Dataset>
    DataLoader(D&& dataset, DataLoaderOptions options = {})
        : DataLoader(std::make_shared<std::remove_cvref_t<D>>(std::forward<D>(dataset)), std::move(options)) {}

    /// An input iterator over one epoch's batches; it holds the epoch (and its workers) alive.
    class iterator {
    public:
        using value_type = Batch;                ///< What the iterator yields.
        using difference_type = std::ptrdiff_t;  ///< As input iterators need one.
        /// An iterator at the end (what begin() returns for an epoch without batches).
        iterator() = default;
        /// The current batch (the loop may move from it).
        Batch& operator*() { return batch_; }
        /// \overload
        Batch* operator->() { return &batch_; }
        /// Takes the next batch, waiting for a worker to finish it if needed; past the last
        /// one the iterator is at the end and the epoch's workers are joined.
        iterator& operator++();
        /// \overload
        void operator++(int) { ++*this; }
        /// Whether the epoch is over (or stopped by an error).
        bool operator==(std::default_sentinel_t) const { return !epoch_; }

    private:
        friend class DataLoader;
        explicit iterator(std::shared_ptr<Epoch> epoch);
        std::shared_ptr<Epoch> epoch_;
        Batch batch_;
    };

    /// Starts the next epoch (0 first, or the one set_epoch chose) and, with workers, starts
    /// them on its first batches. Ending the loop early stops and joins the workers.
    iterator begin();
    /// The end of every epoch.
    std::default_sentinel_t end() const { return {}; }

    /// Batches per epoch.
    int64_t size() const;
    /// The epoch the next begin() runs (to resume: the shuffled order depends only on it).
    /// ValueError if it is negative.
    void set_epoch(int64_t epoch);
    /// The epoch the next begin() runs.
    int64_t epoch() const { return next_epoch_; }
    /// The dataset read.
    const Dataset& dataset() const { return *dataset_; }
    /// The options the loader was made with.
    const DataLoaderOptions& options() const { return options_; }

private:
    std::shared_ptr<const Dataset> dataset_;
    DataLoaderOptions options_;
    std::shared_ptr<const Sampler> sampler_;
    int64_t next_epoch_ = 0;
};

}  // namespace tg::data
