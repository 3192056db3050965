#pragma once
// DataLoader: batches of a dataset in a sampler's order, made on the caller's thread or by
// background workers that prefetch the next batches while the model computes, as
// torch.utils.data.DataLoader. Part of tapegrad::data.
//
//   data::TensorDataset ds({x, y});
//   data::DataLoader loader(ds, {.batch_size = 32, .shuffle = true, .seed = 1, .workers = 1});
//   for (int epoch = 0; epoch < 3; ++epoch)
//       for (data::Batch& b : loader) train_step(b[0], b[1]);   // each loop is the next epoch
#include <concepts>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>

#include "dataset.hpp"
#include "sampler.hpp"

namespace tg::data {

struct DataLoaderOptions {
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
    /// multiply the compute pool: see README ("Data").
    int workers = 0;
    /// Batches each worker may have ready ahead of the loop (at least 1).
    int prefetch = 2;
    /// Visits the dataset in this sampler's order instead (shuffle must then be false), e.g. a
    /// DistributedSampler.
    std::shared_ptr<const Sampler> sampler;
    /// Builds a batch from examples instead of data::collate (pads, crops, adds masks...).
    std::function<Batch(const std::vector<Example>&, const std::vector<int64_t>&)> collate;
};

class DataLoader {
    struct Epoch;

public:
    DataLoader(std::shared_ptr<const Dataset> dataset, DataLoaderOptions options = {});
    /// Takes (a copy of, or by std::move) any dataset object.
    template <class D>
        requires std::derived_from<std::remove_cvref_t<D>, Dataset>
    DataLoader(D&& dataset, DataLoaderOptions options = {})
        : DataLoader(std::make_shared<std::remove_cvref_t<D>>(std::forward<D>(dataset)), std::move(options)) {}

    class iterator {
    public:
        using value_type = Batch;
        using difference_type = std::ptrdiff_t;
        iterator() = default;
        Batch& operator*() { return batch_; }
        Batch* operator->() { return &batch_; }
        iterator& operator++();
        void operator++(int) { ++*this; }
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
    std::default_sentinel_t end() const { return {}; }

    /// Batches per epoch.
    int64_t size() const;
    /// The epoch the next begin() runs (to resume: the shuffled order depends only on it).
    void set_epoch(int64_t epoch);
    int64_t epoch() const { return next_epoch_; }
    const Dataset& dataset() const { return *dataset_; }
    const DataLoaderOptions& options() const { return options_; }

private:
    std::shared_ptr<const Dataset> dataset_;
    DataLoaderOptions options_;
    std::shared_ptr<const Sampler> sampler_;
    int64_t next_epoch_ = 0;
};

}  // namespace tg::data
