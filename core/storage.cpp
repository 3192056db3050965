// Tensor memory: 64-byte aligned buffers from a size-keyed cache, and the counters behind
// memory_stats().
#include <atomic>
#include <cstdlib>
#include <mutex>
#include <new>
#include <unordered_map>
#include <vector>

#include "core/internal/engine.hpp"
#include "core/internal/profiler.hpp"
#include "core/internal/tensor_impl.hpp"

namespace tg {

namespace {
std::atomic<int64_t> g_live_bytes{0};
std::atomic<int64_t> g_peak_bytes{0};
std::atomic<int64_t> g_live_tensors{0};
constexpr std::size_t kAlign = 64;
}  // namespace

// ---- buffer cache ----
// A training step of a fixed model asks for the same buffer sizes every step, so freed
// buffers are kept, keyed by their rounded size, and handed out again: after the first step
// no tensor buffer comes from the system (no malloc, no fresh pages to fault in and zero).
// The cache is bounded (set_buffer_cache_limit) and can be emptied (empty_buffer_cache).
namespace {

class BufferCache {
public:
    void* acquire(std::size_t bytes) {
        {
            std::lock_guard<std::mutex> lock(mu_);
            auto it = free_.find(bytes);
            if (it != free_.end() && !it->second.empty()) {
                void* p = it->second.back();
                it->second.pop_back();
                cached_ -= bytes;
                return p;
            }
        }
        void* p = std::aligned_alloc(kAlign, bytes);
        if (!p) {
            // Out of memory: give the cached buffers back and try once more.
            empty();
            p = std::aligned_alloc(kAlign, bytes);
            if (!p) throw std::bad_alloc();
        }
        system_allocs_.fetch_add(1, std::memory_order_relaxed);
        return p;
    }
    void release(void* p, std::size_t bytes) {
        {
            std::lock_guard<std::mutex> lock(mu_);
            if (enabled_ && cached_ + bytes <= limit_) {
                free_[bytes].push_back(p);
                cached_ += bytes;
                return;
            }
        }
        std::free(p);
    }
    void empty() {
        std::unordered_map<std::size_t, std::vector<void*>> taken;
        {
            std::lock_guard<std::mutex> lock(mu_);
            taken.swap(free_);
            cached_ = 0;
        }
        for (auto& [bytes, list] : taken)
            for (void* p : list) std::free(p);
    }
    void set_limit(std::size_t bytes) {
        {
            std::lock_guard<std::mutex> lock(mu_);
            limit_ = bytes;
            enabled_ = bytes > 0;
        }
        empty();
    }
    std::size_t cached() {
        std::lock_guard<std::mutex> lock(mu_);
        return cached_;
    }
    int64_t system_allocs() const { return system_allocs_.load(); }

private:
    std::mutex mu_;
    std::unordered_map<std::size_t, std::vector<void*>> free_;
    std::size_t cached_ = 0;
    std::size_t limit_ = default_limit();
    bool enabled_ = limit_ > 0;
    std::atomic<int64_t> system_allocs_{0};

    static std::size_t default_limit() {
        // TG_BUFFER_CACHE_MB=0 turns the cache off (useful under AddressSanitizer).
        if (const char* env = std::getenv("TG_BUFFER_CACHE_MB"); env && *env)
            return static_cast<std::size_t>(std::strtoull(env, nullptr, 10)) << 20;
        return std::size_t{4} << 30;
    }
};

// Never destroyed: storages held by static objects may be freed after main returns.
BufferCache& cache() {
    static BufferCache* c = new BufferCache();
    return *c;
}

std::size_t rounded_bytes(std::size_t n) { return n == 0 ? kAlign : (n + kAlign - 1) / kAlign * kAlign; }

}  // namespace

void set_buffer_cache_limit(std::size_t bytes) { cache().set_limit(bytes); }
void empty_buffer_cache() { cache().empty(); }

Storage::Storage(std::size_t n) : nbytes(n) {
    data = cache().acquire(rounded_bytes(n));
    detail::add_thread_alloc(static_cast<int64_t>(n));
    const int64_t live = g_live_bytes.fetch_add(static_cast<int64_t>(n)) + static_cast<int64_t>(n);
    int64_t peak = g_peak_bytes.load();
    while (live > peak && !g_peak_bytes.compare_exchange_weak(peak, live)) {
    }
}

Storage::~Storage() {
    if (tape_refs.load(std::memory_order_relaxed) > 0) detail::storage_died_held(*this);
    cache().release(data, rounded_bytes(nbytes));
    g_live_bytes.fetch_sub(static_cast<int64_t>(nbytes));
}

TensorImpl::TensorImpl(std::shared_ptr<Storage> s, Shape sh, Dtype dt)
    : storage(std::move(s)), shape(std::move(sh)), numel(shape_numel(shape)), dtype(dt) {
    g_live_tensors.fetch_add(1, std::memory_order_relaxed);
    if (storage.use_count() == 1) detail::note_new_storage(storage);
}

TensorImpl::~TensorImpl() {
    g_live_tensors.fetch_sub(1, std::memory_order_relaxed);
    if (hooks) detail::hooks_removed(static_cast<int64_t>(hooks->fns.size()));
}

namespace detail {
MemoryStats storage_stats() {
    return {g_live_tensors.load(), g_live_bytes.load(), g_peak_bytes.load(), 0,
            static_cast<int64_t>(cache().cached()), cache().system_allocs(), saved_by_tape_bytes()};
}
}  // namespace detail

void reset_peak_memory() { g_peak_bytes.store(g_live_bytes.load()); }

}  // namespace tg
