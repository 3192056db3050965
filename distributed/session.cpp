#include "distributed/session.hpp"

#include <fmt/format.h>
#include <mpi.h>

#ifdef __GLIBC__
#include <malloc.h>
#endif

#include <cstdio>
#include <cstdlib>
#include <exception>

#include "core/error.hpp"
#include "distributed/mpi_internal.hpp"

namespace tg::dist {

using detail::check;
using detail::mpi_up;
using detail::require_mpi;

void init(int* argc, char*** argv, SessionOptions options) {
    int already = 0;
    MPI_Initialized(&already);
    if (already) return;
#ifdef __GLIBC__
    if (options.keep_freed_memory) {
        mallopt(M_MMAP_THRESHOLD, 32 << 20);
        mallopt(M_TRIM_THRESHOLD, 1 << 30);
    }
#else
    (void)options;
#endif
    int provided = 0;
    check(MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided), "init");
    if (provided < MPI_THREAD_FUNNELED) {
        MPI_Finalize();
        throw Error(fmt::format("dist::init: the MPI library provides thread level {}, tapegrad needs "
                                "MPI_THREAD_FUNNELED ({})", provided, MPI_THREAD_FUNNELED));
    }
    // Errors come back as codes (turned into tg::Error) rather than killing the job silently.
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
}

void finalize() {
    if (mpi_up()) MPI_Finalize();
}

bool is_initialized() { return mpi_up(); }

bool launched_by_mpirun() {
    for (const char* var : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK", "MPI_LOCALNRANKS"})
        if (const char* v = std::getenv(var); v && *v) return true;
    return false;
}

Session::Session(int* argc, char*** argv, SessionOptions options) {
    owns_ = !mpi_up();
    init(argc, argv, options);
}

Session::~Session() {
    if (std::uncaught_exceptions() > 0 && mpi_up()) {
        std::fprintf(stderr, "tapegrad rank %d: an exception is leaving the MPI session; stopping every rank\n", rank());
        MPI_Abort(MPI_COMM_WORLD, 1);
    }
    if (owns_) finalize();
}

int rank() {
    if (!mpi_up()) return 0;
    int r = 0;
    MPI_Comm_rank(MPI_COMM_WORLD, &r);
    return r;
}

int world_size() {
    if (!mpi_up()) return 1;
    int n = 1;
    MPI_Comm_size(MPI_COMM_WORLD, &n);
    return n;
}

void barrier() {
    require_mpi("barrier");
    check(MPI_Barrier(MPI_COMM_WORLD), "barrier");
}

void abort(const std::string& message, int code) {
    std::fprintf(stderr, "tapegrad rank %d: %s\n", rank(), message.c_str());
    std::fflush(stderr);
    if (mpi_up()) MPI_Abort(MPI_COMM_WORLD, code);
    std::exit(code);
}

int run(const std::function<int()>& fn) {
    try {
        return fn();
    } catch (const std::exception& e) {
        abort(e.what());
    } catch (...) {
        abort("unknown exception");
    }
}

}  // namespace tg::dist
