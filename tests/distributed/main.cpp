// The distributed tests run as one Catch2 session per rank, under mpirun. The job fails if any
// rank's session fails.
#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>
#include <mpi.h>

#include "distributed/dist.hpp"

int main(int argc, char** argv) {
    tg::dist::Session mpi(&argc, &argv);
    const int failed = Catch::Session().run(argc, argv);
    int any = 0;
    MPI_Allreduce(&failed, &any, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
    return any ? 1 : 0;
}
