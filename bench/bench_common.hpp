#pragma once
// Helpers shared by tapegrad-bench and torch-bench: clocks, medians, peak RSS, allocation
// counters and a memory-bandwidth probe. Both programs measure the same way.
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <type_traits>
#include <vector>

namespace bench {

inline double now_ms() {
    using clock = std::chrono::steady_clock;
    return std::chrono::duration<double, std::milli>(clock::now().time_since_epoch()).count();
}

/// q in [0, 1]; nearest-rank on a sorted copy.
inline double quantile(std::vector<double> v, double q) {
    if (v.empty()) return 0.0;
    std::sort(v.begin(), v.end());
    const auto i = static_cast<std::size_t>(q * static_cast<double>(v.size() - 1) + 0.5);
    return v[std::min(i, v.size() - 1)];
}
inline double median(const std::vector<double>& v) { return quantile(v, 0.5); }

// OpenMP's wait policy as this process's environment sets it (libgomp reads it at start-up).
inline std::string omp_wait_policy() {
    const char* policy = std::getenv("OMP_WAIT_POLICY");
    const char* spin = std::getenv("GOMP_SPINCOUNT");
    if (spin != nullptr) return std::string("GOMP_SPINCOUNT=") + spin + (policy ? std::string(", ") + policy : "");
    return policy != nullptr ? policy : "unset (libgomp's default: spin, then sleep)";
}

/// VmHWM of this process in MB (10^6 bytes), 0 if /proc is unavailable.
double peak_rss_mb();
/// VmRSS (resident now) of this process in MB, 0 if /proc is unavailable.
double rss_mb();

struct AllocCounts {
    int64_t buffers = 0;  // aligned_alloc / posix_memalign calls (tensor buffers, both frameworks)
    int64_t small = 0;    // operator new calls (closures, shared_ptr blocks, vectors, ...)
    int64_t buffers_in_onednn = 0;  // the part of `buffers` that oneDNN's own code asked for
};
AllocCounts alloc_counts();
/// Finds oneDNN's code in this process (when it is loaded), so that the counters can tell the
/// aligned allocations oneDNN itself makes (its gemm:jit kernel packs into a buffer it
/// allocates in every call) from everyone else's. time_steps calls it.
void locate_onednn();

/// Copy bandwidth of this machine (read + write bytes / s, in GB/s) over buffers far larger
/// than the caches, with `threads` OpenMP threads: the ceiling for memory-bound kernels.
double stream_copy_gb_per_s(int threads);

/// Bytes layer_norm forward + backward must move at least (element size `es`): forward reads
/// x and writes y; backward reads dy and x and writes dx (row statistics and the affine
/// parameters are small next to these).
inline double layernorm_bytes(int64_t rows, int64_t cols, int64_t es) {
    return 5.0 * static_cast<double>(rows * cols * es);
}

/// What time_steps measured: the loss of the first untimed step and of the last timed one, each
/// timed step's milliseconds, and the allocation counters just before and after the timed steps.
struct StepTimes {
    double first_loss = 0, last_loss = 0;
    std::vector<double> ms;
    AllocCounts before, after;
};

/// Calls step() `warmup` times untimed, then `steps` times timed. step returns its loss, as a
/// number or as a tensor with item<double>() (read after the clock stops).
template <class Step>
StepTimes time_steps(Step&& step, int64_t warmup, int64_t steps) {
    auto value = [](const auto& loss) -> double {
        if constexpr (std::is_arithmetic_v<std::decay_t<decltype(loss)>>) return static_cast<double>(loss);
        else return loss.template item<double>();
    };
    StepTimes t;
    for (int64_t i = 0; i < warmup; ++i) {
        const auto loss = step();
        if (i == 0) t.first_loss = value(loss);
    }
    t.ms.reserve(static_cast<std::size_t>(std::max<int64_t>(steps, 0)));
    locate_onednn();
    t.before = alloc_counts();
    for (int64_t i = 0; i < steps; ++i) {
        const double t0 = now_ms();
        const auto loss = step();
        t.ms.push_back(now_ms() - t0);
        t.last_loss = value(loss);
    }
    t.after = alloc_counts();
    return t;
}

template <class Model>
int64_t count_params(const Model& m) {
    int64_t n = 0;
    for (const auto& p : m.parameters()) n += p.numel();
    return n;
}

}  // namespace bench
