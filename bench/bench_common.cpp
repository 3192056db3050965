#include "bench/bench_common.hpp"

#include <dlfcn.h>
#include <omp.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <new>

namespace {
std::atomic<int64_t> g_buffers{0};
std::atomic<int64_t> g_small{0};
}  // namespace

// Counting wrappers. operator new is replaceable by the program; the two aligned allocators
// are interposed (the executable's definition wins over libc's) and forward to libc's.
void* operator new(std::size_t n) {
    g_small.fetch_add(1, std::memory_order_relaxed);
    if (void* p = std::malloc(n == 0 ? 1 : n)) return p;
    throw std::bad_alloc();
}
void* operator new[](std::size_t n) { return operator new(n); }
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }

extern "C" {
int posix_memalign(void** out, std::size_t align, std::size_t n) {
    using Fn = int (*)(void**, std::size_t, std::size_t);
    static Fn real = reinterpret_cast<Fn>(dlsym(RTLD_NEXT, "posix_memalign"));
    g_buffers.fetch_add(1, std::memory_order_relaxed);
    return real(out, align, n);
}
void* aligned_alloc(std::size_t align, std::size_t n) {
    using Fn = void* (*)(std::size_t, std::size_t);
    static Fn real = reinterpret_cast<Fn>(dlsym(RTLD_NEXT, "aligned_alloc"));
    g_buffers.fetch_add(1, std::memory_order_relaxed);
    return real(align, n);
}
}

namespace bench {

namespace {
// A "Name:   123 kB" field of /proc/self/status in MB (10^6 bytes), 0 if unavailable.
double status_mb(const char* field) {
    std::FILE* f = std::fopen("/proc/self/status", "r");
    if (!f) return 0.0;
    char line[256];
    double kb = 0.0;
    const std::size_t len = std::strlen(field);
    while (std::fgets(line, sizeof line, f))
        if (std::strncmp(line, field, len) == 0) kb = std::atof(line + len);
    std::fclose(f);
    return kb * 1024.0 / 1e6;
}
}  // namespace

double peak_rss_mb() { return status_mb("VmHWM:"); }
double rss_mb() { return status_mb("VmRSS:"); }

AllocCounts alloc_counts() { return {g_buffers.load(), g_small.load()}; }

double stream_copy_gb_per_s(int threads) {
    const std::size_t n = std::size_t{1} << 25;  // 32 Mi floats = 128 MiB per buffer
    std::vector<float> a(n, 1.0f), b(n, 0.0f);
    std::vector<double> gbs;
    for (int rep = 0; rep < 7; ++rep) {
        const double t0 = now_ms();
#pragma omp parallel for num_threads(threads) schedule(static)
        for (std::int64_t i = 0; i < static_cast<std::int64_t>(n); ++i) b[i] = a[i];
        const double ms = now_ms() - t0;
        if (rep > 0) gbs.push_back(2.0 * n * sizeof(float) / (ms / 1e3) / 1e9);
        std::swap(a, b);
    }
    return quantile(gbs, 1.0);
}

}  // namespace bench
