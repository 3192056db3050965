#pragma once
// Data-parallel training over MPI (the tapegrad::dist library, built when CMake finds MPI;
// TG_WITH_MPI=OFF leaves it out). Every rank holds the whole model, takes its own slice of each
// global batch, and averages the gradients with all_reduce_gradients before the optimizer
// step, so the ranks stay identical and together compute the step one process would compute on
// the whole batch.
//
//   int main(int argc, char** argv) {
//       tg::dist::Session mpi(&argc, &argv);         // MPI_Init_thread ... MPI_Finalize
//       return tg::dist::run([&] {                   // an exception on any rank stops all ranks
//           nn::GPT model(cfg);
//           tg::dist::broadcast_parameters(model);   // start from rank 0's weights
//           ...  loss.backward();
//           tg::dist::all_reduce_gradients(model);   // average over ranks
//           opt.step();
//           return 0;
//       });
//   }
//
// MPI is called only from the thread that created the Session (MPI_THREAD_FUNNELED); OpenMP
// and OpenBLAS threads inside a rank are unaffected.
#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "core/autograd.hpp"
#include "core/tensor.hpp"

namespace tg::nn {
class Module;
}

namespace tg::dist {

enum class ReduceOp { sum, average, max, min };

struct SessionOptions {
    /// Keep freed heap memory in the process instead of returning it to the system (glibc's
    /// mmap threshold raised to 32 MiB, trim threshold to 1 GiB). MPI's non-blocking
    /// all-reduce allocates a scratch buffer as large as each bucket and frees it when done;
    /// returned to the system, those pages fault in again on every step, which made gradient
    /// reduction about 8x slower on our 2-core test machine (bench/dist_compare.sh's L model,
    /// 19.5 MB of gradients per step; figures in README). Process-wide, and applied
    /// only by the Session that initialises MPI. Off: malloc's defaults are left alone.
    bool keep_freed_memory = true;
};

/// Initialises MPI for its lifetime. Requests MPI_THREAD_FUNNELED and throws tg::Error if the
/// library cannot provide it. If MPI is already initialised (by the program or another
/// Session) it is left alone and not finalised here. Destroyed while an exception propagates,
/// it aborts every rank (MPI_Abort) instead of finalising, so the others cannot hang waiting
/// in a collective.
class Session {
public:
    explicit Session(int* argc = nullptr, char*** argv = nullptr, SessionOptions options = {});
    ~Session();
    Session(const Session&) = delete;
    Session& operator=(const Session&) = delete;

private:
    bool owns_ = false;
};

/// Whether this process was started by an MPI launcher (mpirun/mpiexec of OpenMPI, MPICH or a
/// PMIx launcher), judged from the environment the launcher sets. Programs that also run on
/// their own can create a Session only then, and skip MPI start-up otherwise.
bool launched_by_mpirun();

/// The same, without RAII: init is a no-op if MPI is already initialised; finalize is a no-op
/// if it is already finalised.
void init(int* argc = nullptr, char*** argv = nullptr, SessionOptions options = {});
void finalize();
bool is_initialized();

/// This process's rank in MPI_COMM_WORLD and the number of ranks. Without MPI initialised:
/// rank 0 of 1, so single-process code runs unchanged.
int rank();
int world_size();
void barrier();

/// Overwrites t on every rank with root's values. t must be f32, f64 or i64 with the same
/// shape and dtype on every rank (checked: a mismatch is a tg::Error on the ranks that differ,
/// and on root).
void broadcast(const Tensor& t, int root = 0);
/// Replaces t on every rank with the elementwise reduction over ranks. f32 and f64 (sum,
/// average, max, min); i64 (sum, max, min).
void all_reduce(const Tensor& t, ReduceOp op = ReduceOp::sum);

/// Broadcasts every parameter of m from root (once per tied tensor).
void broadcast_parameters(nn::Module& m, int root = 0);

struct ReduceStats {
    int buckets = 0;          // all-reduce calls made
    int overlapped = 0;       // of which started during backward (DataParallel with overlap)
    int64_t bytes = 0;        // gradient bytes reduced
    double seconds = 0;       // wall time spent packing, reducing and unpacking, in hooks and after
    double wait_seconds = 0;  // the part spent waiting for reductions to finish
};

struct DataParallelOptions {
    /// Gradients travel in flat buffers of at most this many bytes (one dtype per buffer). Smaller
    /// buckets start reducing sooner during backward; each costs one all-reduce call.
    std::size_t bucket_bytes = std::size_t{1} << 20;
    /// Start reducing each bucket during backward, as soon as its gradients are complete.
    /// Off: everything is reduced in synchronize(), after backward.
    bool overlap = true;
    /// Copy root's parameters to every rank on construction, so all ranks start identical.
    bool broadcast_parameters = true;
    int root = 0;
};

/// Keeps a module's gradients averaged over the ranks, reducing them while backward runs.
///
///   tg::dist::DataParallel ddp(model);   // broadcasts rank 0's weights, plans the buckets
///   for (...) {
///       opt.zero_grad();
///       model.loss(tg::dist::shard(x), tg::dist::shard(y)).backward();
///       ddp.synchronize();               // every .grad is now the average over ranks
///       opt.step();
///   }
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
        explicit NoSync(DataParallel& dp) : dp_(&dp) { ++dp_->no_sync_; }
        ~NoSync() { --dp_->no_sync_; }
        NoSync(const NoSync&) = delete;
        NoSync& operator=(const NoSync&) = delete;

    private:
        DataParallel* dp_;
    };
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
    std::unique_ptr<Comm> comm_;          // an MPI_Comm of its own (core/dist.cpp)
    ReduceStats stats_;
};

/// Averages the gradients of m's parameters over the ranks, after backward: the gradients are
/// packed into flat buffers of at most bucket_bytes (one dtype per buffer), all buffers are
/// reduced with non-blocking all-reduces started together, and the averages are written back.
/// A parameter whose gradient is undefined on this rank contributes zeros; afterwards every
/// parameter some rank had a gradient for has one, identical on every rank (the others, and
/// frozen parameters, are left alone). DataParallel does the same work overlapped with backward.
ReduceStats all_reduce_gradients(nn::Module& m, std::size_t bucket_bytes = std::size_t{4} << 20);

/// This rank's share of a global batch: rows [r n / W, (r + 1) n / W) of dim 0, for rank r of W.
/// n must be a multiple of W (ValueError otherwise): with equal shares, the average of the
/// ranks' mean losses is the global batch's mean loss, and averaging gradients gives its
/// gradient. Without MPI (or with one rank) it returns the batch itself.
Tensor shard(const Tensor& global_batch);

/// Which examples of a dataset of `dataset_size` each step uses: the examples in a random
/// order that is redrawn every epoch (from seed and the epoch number, so identical on every
/// rank and on resume), global_batch per step, and this rank's slice of them. global_batch
/// must be a multiple of the world size.
class ShardedSampler {
public:
    ShardedSampler(int64_t dataset_size, int64_t global_batch, uint64_t seed);
    /// The local_batch() dataset indices this rank trains on at `step`.
    std::vector<int64_t> indices(int64_t step);
    int64_t local_batch() const { return global_batch_ / world_; }

private:
    int64_t size_, global_batch_, world_, rank_;
    uint64_t seed_;
    int64_t epoch_ = -1;
    std::vector<int64_t> order_;
};

/// Prints "tapegrad rank R: message" to stderr and stops every rank with exit code `code`.
[[noreturn]] void abort(const std::string& message, int code = 1);

/// Runs fn and returns its result. An exception escaping fn on any rank is printed with the
/// rank and stops the whole job (abort), so no rank is left waiting for it.
int run(const std::function<int()>& fn);

}  // namespace tg::dist
