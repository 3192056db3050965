// Primitives are cached per thread, keyed by everything a matmul primitive is built from:
// shape, leading dimensions, transposes, input dtype, alpha, beta (a sum post-op) and the
// OpenMP thread count (oneDNN fixes a primitive's threads when it is made). Per thread,
// because Debian's oneDNN 2.6 is built without DNNL_ENABLE_CONCURRENT_EXEC: a primitive owns
// one scratchpad, so it must never run on two threads at once, and conv2d runs its per-image
// products from every thread of a parallel region. Each cache is bounded (least recently used
// out first): every new shape, a growing sequence or a short last batch, holds JIT code and a
// scratchpad. oneDNN's OpenMP runtime shares tapegrad's OpenMP pool, and inside a parallel
// region it runs on the calling thread.
//
// A call allocates nothing: each cached primitive keeps its three memory objects (made without
// a buffer), and a call only points them at its operands (set_data_handle) and executes through
// the C API with the arguments on the stack. Making dnnl::memory objects per call cost six
// aligned allocations (each object and its storage), and the C++ execute() builds a map and a
// vector of its arguments.
#include "core/kernels/onednn.hpp"

#ifdef TG_HAVE_ONEDNN

#include <oneapi/dnnl/dnnl.hpp>

#include <list>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <tuple>

#include <fmt/format.h>

#include "core/error.hpp"
#include "core/kernels/blas.hpp"
#include "core/threads.hpp"

namespace tg::kernels::onednn {

namespace {

using dt = dnnl::memory::data_type;

struct Key {
    bool ta, tb;
    int64_t m, n, k, lda, ldb, ldc;
    float alpha, beta;
    dt type;
    int threads;
    bool operator<(const Key& o) const {
        return std::tie(ta, tb, m, n, k, lda, ldb, ldc, alpha, beta, type, threads) <
               std::tie(o.ta, o.tb, o.m, o.n, o.k, o.lda, o.ldb, o.ldc, o.alpha, o.beta, o.type, o.threads);
    }
};

// Shared by all threads: the engine, and the names of the kernels chosen so far (for
// description()), under the mutex.
struct Engine {
    std::unique_ptr<dnnl::engine> cpu;
    std::string error;
    std::mutex mutex;
    std::set<std::string> f32_impls, bf16_impls;
};

// A primitive and the memory objects its calls point at their operands.
struct Product {
    dnnl::matmul matmul;
    dnnl::memory a, b, c;
};

// One thread's primitives, least recently used last.
struct Cache {
    using Entry = std::pair<Key, std::unique_ptr<Product>>;
    std::list<Entry> entries;
    std::map<Key, std::list<Entry>::iterator> index;
};
Cache& thread_cache() {
    static thread_local Cache c;
    return c;
}

Engine& engine() {
    static Engine e;
    static std::once_flag once;
    std::call_once(once, [] {
        // TG_MAX_CPU_ISA holds oneDNN to the same ceiling as tapegrad's own choices.
        static constexpr dnnl_cpu_isa_t kIsa[] = {dnnl_cpu_isa_all, dnnl_cpu_isa_avx2, dnnl_cpu_isa_avx512_core,
                                                  dnnl_cpu_isa_avx512_core_bf16};
        if (const CpuIsaCap cap = cpu_isa_cap(); cap != CpuIsaCap::none &&
                                                 dnnl_set_max_cpu_isa(kIsa[static_cast<int>(cap)]) != dnnl_success)
            fmt::print(stderr, "tapegrad: oneDNN refused TG_MAX_CPU_ISA={} (it had chosen its kernels already)\n",
                       cpu_isa_cap_name(cap));
        try {
            e.cpu = std::make_unique<dnnl::engine>(dnnl::engine::kind::cpu, 0);
        } catch (const dnnl::error& err) {
            e.error = err.what();
        }
    });
    return e;
}

// A (m x k) stored row-major with leading dimension ld, or transposed (stored k x m).
dnnl::memory::desc matrix(dt type, int64_t rows, int64_t cols, int64_t ld, bool transposed) {
    return dnnl::memory::desc({rows, cols}, type, transposed ? dnnl::memory::dims{1, ld} : dnnl::memory::dims{ld, 1});
}

Product& product(Engine& e, const Key& key) {
    Cache& cache = thread_cache();
    if (auto it = cache.index.find(key); it != cache.index.end()) {
        cache.entries.splice(cache.entries.begin(), cache.entries, it->second);
        return *it->second->second;
    }
    const auto a = matrix(key.type, key.m, key.k, key.lda, key.ta);
    const auto b = matrix(key.type, key.k, key.n, key.ldb, key.tb);
    const auto c = matrix(dt::f32, key.m, key.n, key.ldc, false);
    dnnl::primitive_attr attr;
    if (key.alpha != 1.0f) attr.set_output_scales(0, {key.alpha});
    if (key.beta != 0.0f) {
        dnnl::post_ops ops;
        ops.append_sum(key.beta);
        attr.set_post_ops(ops);
    }
    std::unique_ptr<Product> p;
    try {
        const dnnl::matmul::primitive_desc pd(dnnl::matmul::desc(a, b, c), attr, *e.cpu);
        p = std::make_unique<Product>(Product{dnnl::matmul(pd), dnnl::memory(a, *e.cpu, DNNL_MEMORY_NONE),
                                              dnnl::memory(b, *e.cpu, DNNL_MEMORY_NONE),
                                              dnnl::memory(c, *e.cpu, DNNL_MEMORY_NONE)});
        std::lock_guard<std::mutex> lock(e.mutex);
        (key.type == dt::f32 ? e.f32_impls : e.bf16_impls).insert(pd.impl_info_str());
    } catch (const dnnl::error& err) {
        throw Error(fmt::format("gemm (oneDNN): no {} matmul for ({}, {}) x ({}, {}): {}",
                                key.type == dt::f32 ? "f32" : "bf16", key.m, key.k, key.k, key.n, err.what()));
    }
    if (static_cast<int64_t>(cache.entries.size()) >= kCacheCapacity) {
        cache.index.erase(cache.entries.back().first);
        cache.entries.pop_back();
    }
    cache.entries.emplace_front(key, std::move(p));
    cache.index.emplace(key, cache.entries.begin());
    return *cache.entries.front().second;
}

void check(dnnl_status_t status, const char* what, const Key& key) {
    if (status != dnnl_success)
        throw Error(fmt::format("gemm (oneDNN): {} failed for ({}, {}) x ({}, {}) (dnnl status {})", what, key.m,
                                key.k, key.k, key.n, static_cast<int>(status)));
}

void run(dt type, bool ta, bool tb, int64_t m, int64_t n, int64_t k, float alpha, const void* a, int64_t lda,
         const void* b, int64_t ldb, float beta, float* c, int64_t ldc) {
    Engine& e = engine();
    if (!e.cpu) throw Error("gemm (oneDNN): the CPU engine is unavailable: " + e.error);
    const Key key{ta, tb, m, n, k, lda, ldb, ldc, alpha, beta, type, active_threads()};
    Product& p = product(e, key);
    check(dnnl_memory_set_data_handle_v2(p.a.get(), const_cast<void*>(a), nullptr), "pointing at A", key);
    check(dnnl_memory_set_data_handle_v2(p.b.get(), const_cast<void*>(b), nullptr), "pointing at B", key);
    check(dnnl_memory_set_data_handle_v2(p.c.get(), c, nullptr), "pointing at C", key);
    static thread_local dnnl::stream stream(*e.cpu);
    const dnnl_exec_arg_t args[] = {{DNNL_ARG_SRC, p.a.get()}, {DNNL_ARG_WEIGHTS, p.b.get()}, {DNNL_ARG_DST, p.c.get()}};
    check(dnnl_primitive_execute(p.matmul.get(), stream.get(), 3, args), "execute", key);
    check(dnnl_stream_wait(stream.get()), "waiting for the stream", key);
}

}  // namespace

bool available() { return engine().cpu != nullptr; }

void gemm(bool ta, bool tb, int64_t m, int64_t n, int64_t k, float alpha, const float* a, int64_t lda,
          const float* b, int64_t ldb, float beta, float* c, int64_t ldc) {
    run(dt::f32, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

void gemm_bf16(bool ta, bool tb, int64_t m, int64_t n, int64_t k, float alpha, const uint16_t* a, int64_t lda,
               const uint16_t* b, int64_t ldb, float beta, float* c, int64_t ldc) {
    run(dt::bf16, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

std::string description() {
    Engine& e = engine();
    const dnnl_version_t* v = dnnl_version();
    if (!e.cpu) return fmt::format("oneDNN {}.{}.{} unavailable: {}", v->major, v->minor, v->patch, e.error);
    std::lock_guard<std::mutex> lock(e.mutex);
    auto names = [](const std::set<std::string>& s) {
        std::string out;
        for (const std::string& n : s) out += (out.empty() ? "" : ", ") + n;
        return out.empty() ? std::string("none yet") : out;
    };
    return fmt::format("oneDNN {}.{}.{} (f32 kernels: {}; bf16 kernels: {})", v->major, v->minor, v->patch,
                       names(e.f32_impls), names(e.bf16_impls));
}

int64_t cached_primitives() { return static_cast<int64_t>(thread_cache().entries.size()); }

}  // namespace tg::kernels::onednn

#else  // built without oneDNN

#include "core/error.hpp"
#include "core/threads.hpp"

namespace tg::kernels::onednn {

namespace {
[[noreturn]] void missing() {
    throw Error("gemm (oneDNN): this tapegrad was built without oneDNN (install Debian's libdnnl-dev and reconfigure)");
}
}  // namespace

bool available() { return false; }
void gemm(bool, bool, int64_t, int64_t, int64_t, float, const float*, int64_t, const float*, int64_t, float, float*,
          int64_t) {
    missing();
}
void gemm_bf16(bool, bool, int64_t, int64_t, int64_t, float, const uint16_t*, int64_t, const uint16_t*, int64_t, float,
               float*, int64_t) {
    missing();
}
std::string description() { return "oneDNN: not built (libdnnl-dev was not found when tapegrad was configured)"; }
int64_t cached_primitives() { return 0; }

}  // namespace tg::kernels::onednn

#endif
