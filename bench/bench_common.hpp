#pragma once
// Helpers shared by tapegrad-bench and torch-bench: clocks, medians, peak RSS, allocation
// counters and a memory-bandwidth probe. Both programs measure the same way.
#include <algorithm>
#include <chrono>
#include <cstdint>
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

/// VmHWM of this process in MB (10^6 bytes), 0 if /proc is unavailable.
double peak_rss_mb();
/// VmRSS (resident now) of this process in MB, 0 if /proc is unavailable.
double rss_mb();

struct AllocCounts {
    int64_t buffers = 0;  // aligned_alloc / posix_memalign calls (tensor buffers, both frameworks)
    int64_t small = 0;    // operator new calls (closures, shared_ptr blocks, vectors, ...)
};
AllocCounts alloc_counts();

/// Copy bandwidth of this machine (read + write bytes / s, in GB/s) over buffers far larger
/// than the caches, with `threads` OpenMP threads: the ceiling for memory-bound kernels.
double stream_copy_gb_per_s(int threads);

/// Bytes layer_norm forward + backward must move at least (element size `es`): forward reads
/// x and writes y; backward reads dy and x and writes dx (row statistics and the affine
/// parameters are small next to these).
inline double layernorm_bytes(int64_t rows, int64_t cols, int64_t es) {
    return 5.0 * static_cast<double>(rows * cols * es);
}

template <class Model>
int64_t count_params(const Model& m) {
    int64_t n = 0;
    for (const auto& p : m.parameters()) n += p.numel();
    return n;
}

}  // namespace bench
