#include "bench/bench_common.hpp"

#include <dlfcn.h>
#include <link.h>
#include <omp.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <new>

namespace {
std::atomic<int64_t> g_buffers{0};
std::atomic<int64_t> g_small{0};
// Aligned allocations whose caller lies in oneDNN's code ([g_onednn_lo, g_onednn_hi), set by
// locate_onednn): oneDNN's own per-call buffers, told apart from the frameworks' tensors.
std::atomic<int64_t> g_buffers_onednn{0};
std::atomic<uintptr_t> g_onednn_lo{0}, g_onednn_hi{0};

void count_buffer(const void* caller) {
    g_buffers.fetch_add(1, std::memory_order_relaxed);
    const auto at = reinterpret_cast<uintptr_t>(caller);
    if (at >= g_onednn_lo.load(std::memory_order_relaxed) && at < g_onednn_hi.load(std::memory_order_relaxed))
        g_buffers_onednn.fetch_add(1, std::memory_order_relaxed);
}
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
    count_buffer(__builtin_return_address(0));
    return real(out, align, n);
}
void* aligned_alloc(std::size_t align, std::size_t n) {
    using Fn = void* (*)(std::size_t, std::size_t);
    static Fn real = reinterpret_cast<Fn>(dlsym(RTLD_NEXT, "aligned_alloc"));
    count_buffer(__builtin_return_address(0));
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

AllocCounts alloc_counts() { return {g_buffers.load(), g_small.load(), g_buffers_onednn.load()}; }

void locate_onednn() {
    if (g_onednn_hi.load() != 0) return;
    dl_iterate_phdr(
        [](dl_phdr_info* info, std::size_t, void*) -> int {
            if (!info->dlpi_name || !std::strstr(info->dlpi_name, "libdnnl")) return 0;
            uintptr_t lo = UINTPTR_MAX, hi = 0;
            for (int i = 0; i < info->dlpi_phnum; ++i) {
                const ElfW(Phdr)& ph = info->dlpi_phdr[i];
                if (ph.p_type != PT_LOAD || !(ph.p_flags & PF_X)) continue;
                lo = std::min<uintptr_t>(lo, info->dlpi_addr + ph.p_vaddr);
                hi = std::max<uintptr_t>(hi, info->dlpi_addr + ph.p_vaddr + ph.p_memsz);
            }
            if (hi == 0) return 0;
            g_onednn_lo.store(lo);
            g_onednn_hi.store(hi);
            return 1;
        },
        nullptr);
}

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
