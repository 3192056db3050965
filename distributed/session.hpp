#pragma once
/// \file
/// The MPI session: start-up and shut-down, this process's rank, and stopping every rank when
/// one fails. Part of tapegrad::distributed (see distributed/dist.hpp for the whole picture).
#include <functional>
#include <string>

/// Data-parallel training over MPI (the tapegrad::distributed library): the session, collectives,
/// DataParallel and the sharded sampler. Named as torch.distributed is imported, as dist.
namespace tg::dist {

/// Options of a Session (and of init()).
struct SessionOptions {
    /// Keep freed heap memory in the process instead of returning it to the system (glibc's
    /// mmap threshold raised to 32 MiB, trim threshold to 1 GiB). MPI's non-blocking
    /// all-reduce allocates a scratch buffer as large as each bucket and frees it when done;
    /// returned to the system, those pages fault in again on every step, which made gradient
    /// reduction about 8x slower on our 2-core test machine (bench/dist_compare.sh's L model,
    /// 19.5 MB of gradients per step; figures in docs/distributed.md). Process-wide, and applied
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
    /// Initialises MPI (init) with main's argc and argv, which MPI may edit; both may be null.
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

/// Session's start-up without RAII (pair it with finalize()): init is a no-op if MPI is
/// already initialised; finalize is a no-op if it is already finalised.
void init(int* argc = nullptr, char*** argv = nullptr, SessionOptions options = {});
/// Finalises MPI (MPI_Finalize) if it is initialised and not yet finalised.
void finalize();
/// Whether MPI is initialised and not yet finalised.
bool is_initialized();

/// This process's rank in MPI_COMM_WORLD. Without MPI initialised: rank 0 of 1 (world_size()),
/// so single-process code runs unchanged.
int rank();
/// The number of ranks in MPI_COMM_WORLD (1 without MPI initialised).
int world_size();
/// Waits until every rank has called it (MPI_Barrier). Needs MPI initialised (ValueError).
void barrier();

/// Prints "tapegrad rank R: message" to stderr and stops every rank with exit code `code`.
[[noreturn]] void abort(const std::string& message, int code = 1);

/// Runs fn and returns its result. An exception escaping fn on any rank is printed with the
/// rank and stops the whole job (abort), so no rank is left waiting for it.
int run(const std::function<int()>& fn);

}  // namespace tg::dist
