#pragma once
/// \file
/// Data-parallel training: gradients averaged over the ranks, reduced while backward runs.
/// Part of tapegrad::distributed (see distributed/dist.hpp).
#include <cstddef>
#include <cstdint>
#include <memory>
#include <thread>
#include <vector>

#include "../core/autograd.hpp"
#include "../core/tensor.hpp"

namespace tg::nn {
class Module;
}

namespace tg::dist {

/// Figures of one gradient reduction, as DataParallel::synchronize() and all_reduce_gradients()
/// return them.
struct ReduceStats {
    int buckets = 0;          ///< all-reduce calls made
    int overlapped = 0;       ///< of which started during backward (DataParallel with overlap)
    int64_t bytes = 0;        ///< gradient bytes reduced
    double seconds = 0;       ///< wall time packing, reducing and unpacking, in hooks and after
    double wait_seconds = 0;  ///< the part spent waiting for reductions to finish
};

/// Options of a DataParallel (bucket_bytes plays the part of torch's DistributedDataParallel
/// bucket_cap_mb).
struct DataParallelOptions {
    /// Gradients travel in flat buffers of at most this many bytes (one dtype per buffer). Smaller
    /// buckets start reducing sooner during backward; each costs one all-reduce call.
    std::size_t bucket_bytes = std::size_t{1} << 20;
    /// Start reducing each bucket during backward, as soon as its gradients are complete.
    /// Off: everything is reduced in synchronize(), after backward.
    bool overlap = true;
    /// Copy root's parameters to every rank on construction, so all ranks start identical.
    bool broadcast_parameters = true;
    /// The rank whose parameters are broadcast.
    int root = 0;
};

/// Keeps a module's gradients averaged over the ranks, reducing them while backward runs, as
/// torch.nn.parallel.DistributedDataParallel.
///
/// \code
///   tg::dist::DataParallel ddp(model);   // broadcasts rank 0's weights, plans the buckets
///   for (...) {
///       opt.zero_grad();
///       model.loss(tg::dist::shard(x), tg::dist::shard(y)).backward();
///       ddp.synchronize();               // every .grad is now the average over ranks
///       opt.step();
///   }
/// \endcode
///
/// Parameters are grouped into buckets in reverse order of m.parameters(), roughly the order
/// backward completes their gradients. A post-accumulate-grad hook on each parameter copies its
/// finished gradient into its bucket; a full bucket starts a non-blocking all-reduce at once
/// (buckets start in the same order on every rank, as MPI requires), and later hooks let MPI
/// progress. synchronize() starts the buckets still waiting (parameters with no gradient in
/// this pass count as zeros; with overlap off, that is every bucket), waits for all of them and
/// writes the averages back. A parameter no rank has a gradient for keeps an undefined
/// gradient, as in one process. The reductions run on a communicator of the DataParallel's own,
/// so other collectives between backward() and synchronize() do not interfere.
///
/// Call synchronize() after every backward() through the model, on every rank: a second
/// backward() before it is refused. A backward() that runs on some ranks only (a diagnostic
/// on rank 0) must run under no_sync(), or its buckets wait for partners that never come. For
/// gradient accumulation, run all micro-batches but the last under no_sync(). The module's
/// parameter list must not change while a DataParallel watches it. backward() and
/// synchronize() must run on the thread that created the DataParallel, which must be the one
/// that initialised MPI (MPI_THREAD_FUNNELED; checked against the DataParallel's thread).
class DataParallel {
public:
    /// Watches m's parameters: checks that every rank has the same parameter list (shapes,
    /// dtypes and requires_grad; ShapeError otherwise), broadcasts root's values if asked, plans
    /// the buckets and, with overlap, hooks every parameter that requires grad (frozen ones are
    /// left out). A collective: every rank must make it. Needs MPI initialised (ValueError),
    /// bucket_bytes > 0 (ValueError) and f32 or f64 trainable parameters (DtypeError).
    explicit DataParallel(nn::Module& m, DataParallelOptions options = {});
    ~DataParallel();
    DataParallel(const DataParallel&) = delete;
    DataParallel& operator=(const DataParallel&) = delete;

    /// Finishes this pass's reduction (see above) and returns its figures. With overlap on,
    /// calling it again before the next backward() changes nothing and returns the same
    /// figures; with overlap off (no hooks tell it about backward passes) every call reduces.
    ReduceStats synchronize();

    /// While alive, backward() only accumulates gradients locally; the next pass without it
    /// reduces the accumulated sums.
    class NoSync {
    public:
        /// Suspends reduction on `dp` until destroyed (guards nest).
        explicit NoSync(DataParallel& dp) : dp_(&dp) { ++dp_->no_sync_; }
        ~NoSync() { --dp_->no_sync_; }
        NoSync(const NoSync&) = delete;
        NoSync& operator=(const NoSync&) = delete;

    private:
        DataParallel* dp_;
    };
    /// A NoSync guard on this DataParallel, as DistributedDataParallel.no_sync():
    /// `{ auto guard = ddp.no_sync(); loss.backward(); }`.
    [[nodiscard]] NoSync no_sync() { return NoSync(*this); }

    /// Buckets and parameters per bucket, in reduction order.
    std::vector<std::size_t> bucket_sizes() const;
    /// Buckets whose reduction has started in the current pass (reset by synchronize()).
    std::size_t buckets_started() const { return next_start_; }

private:
    struct Bucket;
    struct Comm;
    void on_gradient(std::size_t param);
    void pack(std::size_t param);
    void start_ready_buckets(bool flush);
    void finish_pass();
    void progress();
    void check_thread(const char* fn) const;

    DataParallelOptions options_;
    std::vector<Tensor> params_;
    std::vector<Bucket> buckets_;
    std::vector<std::size_t> bucket_of_;  // per parameter
    std::vector<std::size_t> slot_of_;    // per parameter, its place among its bucket's members
    std::vector<int64_t> offset_of_;      // per parameter, in elements within its bucket
    std::vector<char> packed_;            // per parameter, in this pass
    std::vector<HookHandle> hooks_;
    std::size_t next_start_ = 0;          // first bucket not started in this pass
    bool in_pass_ = false;                // some gradient was packed since the last synchronize
    bool synced_ = false;                 // the last pass is complete and nothing new arrived
    int no_sync_ = 0;
    std::thread::id owner_;               // MPI is called from this thread only
    std::unique_ptr<Comm> comm_;          // an MPI_Comm of its own (distributed/data_parallel.cpp)
    ReduceStats stats_;
};

/// Averages the gradients of m's parameters over the ranks, after backward: the gradients are
/// packed into flat buffers of at most bucket_bytes (one dtype per buffer), all buffers are
/// reduced with non-blocking all-reduces started together, and the averages are written back.
/// A parameter whose gradient is undefined on this rank contributes zeros; afterwards every
/// parameter some rank had a gradient for has one, identical on every rank (the others, and
/// frozen parameters, are left alone). DataParallel does the same work overlapped with backward.
ReduceStats all_reduce_gradients(nn::Module& m, std::size_t bucket_bytes = std::size_t{4} << 20);

}  // namespace tg::dist
