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
#include <string>
#include <vector>

#include "core/tensor.hpp"

namespace tg::nn {
class Module;
}

namespace tg::dist {

enum class ReduceOp { sum, average, max, min };

/// Initialises MPI for its lifetime. Requests MPI_THREAD_FUNNELED and throws tg::Error if the
/// library cannot provide it. If MPI is already initialised (by the program or another
/// Session) it is left alone and not finalised here. Destroyed while an exception propagates,
/// it aborts every rank (MPI_Abort) instead of finalising, so the others cannot hang waiting
/// in a collective.
class Session {
public:
    explicit Session(int* argc = nullptr, char*** argv = nullptr);
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
void init(int* argc = nullptr, char*** argv = nullptr);
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
    int buckets = 0;       // all-reduce calls made
    int64_t bytes = 0;     // gradient bytes reduced
    double seconds = 0;    // wall time spent packing, reducing and unpacking
};
/// Averages the gradients of m's parameters over the ranks. Gradients are packed into flat
/// buffers of at most bucket_bytes (one dtype per buffer), all buffers are reduced with
/// non-blocking all-reduces started together, and the averages are written back. A parameter
/// whose gradient is undefined on this rank contributes zeros; afterwards every parameter has
/// a gradient, identical on every rank.
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
