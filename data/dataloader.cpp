#include "data/dataloader.hpp"

#include <fmt/format.h>

#include <condition_variable>
#include <exception>
#include <map>
#include <mutex>
#include <thread>
#include <variant>

#include "core/check.hpp"
#include "core/grad_mode.hpp"
#include "core/threads.hpp"
#include "data/internal/rethrow.hpp"

namespace tg::data {

// One pass over the sampler's order. With workers, they claim batches in order, at most
// workers * prefetch ahead of the batch the loop takes next, and park each finished batch (or
// the exception that stopped it) in `ready` until the loop takes it, so batches arrive in order
// whatever worker finishes first. The destructor stops and joins them.
struct DataLoader::Epoch {
    using Result = std::variant<Batch, std::exception_ptr>;

    std::shared_ptr<const Dataset> dataset;
    DataLoaderOptions options;
    int64_t epoch = 0;
    std::vector<int64_t> order;
    int64_t batches = 0;
    int64_t next_out = 0;

    std::mutex mu;
    std::condition_variable ready_cv, space_cv;
    int64_t next_claim = 0;
    std::map<int64_t, Result> ready;
    bool stop = false;
    std::vector<std::thread> threads;

    ~Epoch() {
        {
            std::lock_guard<std::mutex> lock(mu);
            stop = true;
        }
        space_cv.notify_all();
        for (std::thread& t : threads) t.join();
    }

    // Batch b, on whichever thread calls it; errors name the epoch, the batch and the dataset.
    Batch make(int64_t b) const {
        const int64_t bs = options.batch_size;
        const auto begin = static_cast<std::size_t>(b * bs);
        const auto end = std::min(order.size(), begin + static_cast<std::size_t>(bs));
        std::vector<int64_t> indices(order.begin() + static_cast<std::ptrdiff_t>(begin),
                                     order.begin() + static_cast<std::ptrdiff_t>(end));
        for (int64_t i : indices)
            TG_CHECK(i >= 0 && i < dataset->size(), ValueError,
                     "DataLoader: the sampler gave index {} in batch {} of epoch {}, but {} has {} examples", i, b,
                     epoch, dataset->name(), dataset->size());
        try {
            if (!options.collate) return dataset->get_batch(indices);
            std::vector<Example> examples;
            examples.reserve(indices.size());
            for (int64_t i : indices) {
                try {
                    examples.push_back(dataset->get(i));
                } catch (...) {
                    detail::rethrow_with_context(fmt::format("{}: example {}: ", dataset->name(), i));
                }
            }
            return options.collate(examples, indices);
        } catch (...) {
            detail::rethrow_with_context(fmt::format("DataLoader: batch {} of epoch {}: ", b, epoch));
        }
    }

    void work() {
        set_num_threads(1);  // workers never multiply the compute pool
        NoGradGuard no_grad;
        const int64_t window = int64_t{options.workers} * options.prefetch;
        for (;;) {
            int64_t b = 0;
            {
                std::unique_lock<std::mutex> lock(mu);
                space_cv.wait(lock, [&] { return stop || next_claim >= batches || next_claim < next_out + window; });
                if (stop || next_claim >= batches) return;
                b = next_claim++;
            }
            Result result;
            try {
                result = make(b);
            } catch (...) {
                result = std::current_exception();
            }
            {
                std::lock_guard<std::mutex> lock(mu);
                ready.emplace(b, std::move(result));
            }
            ready_cv.notify_all();
        }
    }

    void start() {
        for (int w = 0; w < options.workers; ++w) threads.emplace_back([this] { work(); });
    }

    Batch next() {
        const int64_t b = next_out;
        if (threads.empty()) {
            ++next_out;
            NoGradGuard no_grad;
            return make(b);
        }
        Result result;
        {
            std::unique_lock<std::mutex> lock(mu);
            ready_cv.wait(lock, [&] { return ready.count(b) > 0; });
            auto node = ready.extract(b);
            result = std::move(node.mapped());
            ++next_out;
        }
        space_cv.notify_all();
        if (auto* error = std::get_if<std::exception_ptr>(&result)) std::rethrow_exception(*error);
        return std::move(std::get<Batch>(result));
    }
};

DataLoader::DataLoader(std::shared_ptr<const Dataset> dataset, DataLoaderOptions options)
    : dataset_(std::move(dataset)), options_(std::move(options)) {
    TG_CHECK(dataset_ != nullptr, ValueError, "DataLoader: the dataset is null");
    const std::string name = dataset_->name();
    TG_CHECK(options_.batch_size >= 1, ValueError, "DataLoader({}): batch_size must be >= 1, got {}", name,
             options_.batch_size);
    TG_CHECK(options_.workers >= 0, ValueError, "DataLoader({}): workers must be >= 0, got {}", name,
             options_.workers);
    TG_CHECK(options_.prefetch >= 1, ValueError, "DataLoader({}): prefetch must be >= 1, got {}", name,
             options_.prefetch);
    TG_CHECK(!(options_.sampler && options_.shuffle), ValueError,
             "DataLoader({}): shuffle = true and a sampler both choose the order; shuffle in the sampler instead "
             "(RandomSampler, or DistributedSampler's shuffle option)",
             name);
    if (options_.sampler)
        sampler_ = options_.sampler;
    else if (options_.shuffle)
        sampler_ = std::make_shared<RandomSampler>(dataset_->size(), options_.seed);
    else
        sampler_ = std::make_shared<SequentialSampler>(dataset_->size());
}

int64_t DataLoader::size() const {
    const int64_t n = sampler_->size(), bs = options_.batch_size;
    return options_.drop_last ? n / bs : (n + bs - 1) / bs;
}

void DataLoader::set_epoch(int64_t epoch) {
    TG_CHECK(epoch >= 0, ValueError, "DataLoader::set_epoch: negative epoch {}", epoch);
    next_epoch_ = epoch;
}

DataLoader::iterator DataLoader::begin() {
    auto epoch = std::make_shared<Epoch>();
    epoch->dataset = dataset_;
    epoch->options = options_;
    epoch->epoch = next_epoch_++;
    epoch->order = sampler_->indices(epoch->epoch);
    const auto n = static_cast<int64_t>(epoch->order.size()), bs = options_.batch_size;
    epoch->batches = options_.drop_last ? n / bs : (n + bs - 1) / bs;
    epoch->order.resize(static_cast<std::size_t>(std::min(n, epoch->batches * bs)));
    if (epoch->batches == 0) return iterator();
    epoch->start();
    return iterator(std::move(epoch));
}

DataLoader::iterator::iterator(std::shared_ptr<Epoch> epoch) : epoch_(std::move(epoch)) { ++*this; }

DataLoader::iterator& DataLoader::iterator::operator++() {
    if (!epoch_) return *this;
    if (epoch_->next_out >= epoch_->batches) {
        epoch_.reset();
        batch_ = {};
        return *this;
    }
    try {
        batch_ = epoch_->next();
    } catch (...) {
        epoch_.reset();  // stops the workers before the error reaches the loop
        throw;
    }
    return *this;
}

}  // namespace tg::data
