#pragma once
// When a loop runs on OpenMP's threads, and how its work is handed out.
#include <cstdint>

namespace tg::kernels {

/// Brings the calling thread's OpenMP (and OpenBLAS) team size up to date with the thread policy
/// (core/threads.hpp): a coarse clock read, and every 20 ms a look at the last sample of how
/// busy the machine is. Every op calls it as it records itself (record()), so a change reaches
/// the parallel regions of the ops that follow.
void refresh_team();
/// The thread policy's rule (core/threads.cpp), a pure function for its tests.
int cores_taken(double others, int taken, int allowed);

// Below this many elements a loop runs on one thread: on the small models, forking a second
// thread for less cost more than it saved (bench/README.md has the measurement).
inline constexpr int64_t kParallelElems = int64_t{1} << 17;
// The same for loops that do a few nanoseconds of work per element (elementwise maps,
// conversions). A parallel region is worth it only when the work dwarfs the chance that the
// second thread waits for a core another process holds: on a busy core that wait is a
// scheduler time slice (milliseconds), against 0.1 ms of work for 2^18 elements
// (bench/contention.sh times whole steps with a busy core).
inline constexpr int64_t kParallelMapElems = int64_t{1} << 20;
// Rows per hand-out in parallel row loops (layer norm, softmax): rows are independent, so they
// go out dynamically, and a thread on a free core takes more of them than one sharing its core
// with another process. Each row's result does not depend on which thread computes it.
inline constexpr int64_t kRowChunk = 16;

}  // namespace tg::kernels
