// A job in which rank 1 throws while rank 0 waits in a collective: dist::run must stop both,
// print rank 1's message and leave a non-zero exit code (tests/distributed/CMakeLists.txt checks all three).
#include <tapegrad.hpp>

#include "distributed/dist.hpp"

int main(int argc, char** argv) {
    tg::dist::Session mpi(&argc, &argv);
    return tg::dist::run([] {
        if (tg::dist::rank() == 1) throw tg::ValueError("deliberate failure on rank 1");
        tg::dist::barrier();  // rank 0 would wait here for ever without the abort
        return 0;
    });
}
