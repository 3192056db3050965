#pragma once
// One setting for both thread pools tapegrad uses: OpenBLAS's (matrix products) and OpenMP's
// (elementwise and row loops). Keeping them equal and at most the core count avoids
// oversubscribing small machines.
namespace tg {

/// Sets the threads of both pools (n >= 1).
void set_num_threads(int n);
/// The current OpenMP thread count.
int num_threads();

}  // namespace tg
