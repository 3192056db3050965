#include "core/tensor.hpp"

#include <fmt/format.h>

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <new>
#include <unordered_map>
#include <vector>

#include "core/autograd.hpp"
#include "core/dispatch.hpp"
#include "core/ops.hpp"
#include "core/random.hpp"

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
    const int64_t live = g_live_bytes.fetch_add(static_cast<int64_t>(n)) + static_cast<int64_t>(n);
    int64_t peak = g_peak_bytes.load();
    while (live > peak && !g_peak_bytes.compare_exchange_weak(peak, live)) {
    }
}

Storage::~Storage() {
    cache().release(data, rounded_bytes(nbytes));
    g_live_bytes.fetch_sub(static_cast<int64_t>(nbytes));
}

TensorImpl::TensorImpl(std::shared_ptr<Storage> s, Shape sh, Dtype dt)
    : storage(std::move(s)), shape(std::move(sh)), numel(shape_numel(shape)), dtype(dt) {
    g_live_tensors.fetch_add(1, std::memory_order_relaxed);
}

TensorImpl::~TensorImpl() {
    g_live_tensors.fetch_sub(1, std::memory_order_relaxed);
    if (hooks) detail::g_live_hooks.fetch_sub(static_cast<int64_t>(hooks->fns.size()), std::memory_order_relaxed);
}

MemoryStats memory_stats() {
    const int64_t entries = tape_size();  // prunes first, so dead graphs are not counted
    return {g_live_tensors.load(), g_live_bytes.load(), g_peak_bytes.load(), entries,
            static_cast<int64_t>(cache().cached()), cache().system_allocs()};
}

namespace detail {
template <class To>
void convert_elements(const void* src, Dtype from, To* dst, int64_t n) {
    dispatch_all(from, [&](auto tag) {
        using From = decltype(tag);
        const From* s = static_cast<const From*>(src);
        for (int64_t i = 0; i < n; ++i) dst[i] = static_cast<To>(s[i]);
    });
}
template void convert_elements<float>(const void*, Dtype, float*, int64_t);
template void convert_elements<double>(const void*, Dtype, double*, int64_t);
template void convert_elements<int64_t>(const void*, Dtype, int64_t*, int64_t);
}  // namespace detail

// ---- factories ----

Tensor Tensor::empty(const Shape& shape, Dtype dtype) {
    const int64_t n = shape_numel(shape);
    auto storage = std::make_shared<Storage>(static_cast<std::size_t>(n) * dtype_size(dtype));
    return Tensor(std::make_shared<TensorImpl>(std::move(storage), shape, dtype));
}

Tensor Tensor::zeros(const Shape& shape, Dtype dtype) {
    Tensor t = empty(shape, dtype);
    std::memset(t.raw_data(), 0, t.nbytes());
    return t;
}

Tensor Tensor::ones(const Shape& shape, Dtype dtype) { return full(shape, 1.0, dtype); }

Tensor Tensor::full(const Shape& shape, double value, Dtype dtype) {
    Tensor t = empty(shape, dtype);
    t.fill_(value);
    return t;
}

Tensor Tensor::scalar(double value, Dtype dtype) { return full({}, value, dtype); }

Tensor Tensor::arange(double start, double end, double step, Dtype dtype) {
    if (step == 0.0 || !std::isfinite(start) || !std::isfinite(end) || !std::isfinite(step))
        throw ValueError(
            fmt::format("arange: bad range start={} end={} step={}", start, end, step));
    const double span = (end - start) / step;
    const int64_t n = span > 0 ? static_cast<int64_t>(std::ceil(span)) : 0;
    Tensor t = empty({n}, dtype);
    dispatch_all(dtype, [&](auto tag) {
        using T = decltype(tag);
        T* p = t.data<T>();
        for (int64_t i = 0; i < n; ++i) p[i] = static_cast<T>(start + static_cast<double>(i) * step);
    });
    return t;
}

Tensor Tensor::arange(int64_t n, Dtype dtype) {
    return arange(0.0, static_cast<double>(n), 1.0, dtype);
}

Tensor Tensor::randn(const Shape& shape, Dtype dtype, uint64_t seed) {
    Generator gen(seed);
    return randn(shape, dtype, gen);
}

Tensor Tensor::randn(const Shape& shape, Dtype dtype, Generator& gen) {
    Tensor t = empty(shape, dtype);
    dispatch_floating("randn", dtype, [&](auto tag) {
        using T = decltype(tag);
        T* p = t.data<T>();
        for (int64_t i = 0; i < t.numel(); ++i) p[i] = static_cast<T>(gen.normal());
    });
    return t;
}

Tensor Tensor::rand(const Shape& shape, Dtype dtype, uint64_t seed) {
    Generator gen(seed);
    return rand(shape, dtype, gen);
}

Tensor Tensor::rand(const Shape& shape, Dtype dtype, Generator& gen) {
    Tensor t = empty(shape, dtype);
    dispatch_floating("rand", dtype, [&](auto tag) {
        using T = decltype(tag);
        T* p = t.data<T>();
        for (int64_t i = 0; i < t.numel(); ++i) p[i] = static_cast<T>(gen.uniform());
    });
    return t;
}

Tensor Tensor::randint(int64_t low, int64_t high, const Shape& shape, Generator& gen) {
    if (high <= low)
        throw ValueError(fmt::format("randint: empty range [{}, {})", low, high));
    Tensor t = empty(shape, Dtype::i64);
    int64_t* p = t.data<int64_t>();
    const auto n = static_cast<uint64_t>(high - low);
    for (int64_t i = 0; i < t.numel(); ++i) p[i] = low + static_cast<int64_t>(gen.below(n));
    return t;
}

namespace {
template <class T>
Tensor from_values(const T* values, std::size_t count, const Shape& shape) {
    const int64_t n = shape_numel(shape);
    if (n != static_cast<int64_t>(count))
        throw ShapeError(fmt::format("tensor: {} values do not fill shape {} ({} elements)",
                                     count, shape_str(shape), n));
    Tensor t = Tensor::empty(shape, dtype_of<T>());
    if (count) std::memcpy(t.raw_data(), values, count * sizeof(T));
    return t;
}
}  // namespace

Tensor tensor(std::initializer_list<float> v, const Shape& s) { return from_values(v.begin(), v.size(), s); }
Tensor tensor(std::initializer_list<double> v, const Shape& s) { return from_values(v.begin(), v.size(), s); }
Tensor tensor(const std::vector<float>& v, const Shape& s) { return from_values(v.data(), v.size(), s); }
Tensor tensor(const std::vector<double>& v, const Shape& s) { return from_values(v.data(), v.size(), s); }
Tensor tensor(const std::vector<int64_t>& v, const Shape& s) { return from_values(v.data(), v.size(), s); }
Tensor tensor(std::initializer_list<float> v) { return tensor(v, {static_cast<int64_t>(v.size())}); }
Tensor tensor(std::initializer_list<double> v) { return tensor(v, {static_cast<int64_t>(v.size())}); }
Tensor tensor(const std::vector<float>& v) { return tensor(v, {static_cast<int64_t>(v.size())}); }
Tensor tensor(const std::vector<double>& v) { return tensor(v, {static_cast<int64_t>(v.size())}); }
Tensor tensor(const std::vector<int64_t>& v) { return tensor(v, {static_cast<int64_t>(v.size())}); }

Tensor zeros_like(const Tensor& t) { return Tensor::zeros(t.shape(), t.dtype()); }
Tensor ones_like(const Tensor& t) { return Tensor::ones(t.shape(), t.dtype()); }

// ---- accessors ----

int64_t Tensor::size(int64_t d) const { return shape()[normalize_dim("size", d, dim())]; }

void Tensor::check_dtype(Dtype want, const char* what) const {
    if (dtype() != want)
        throw DtypeError(fmt::format("{}: tensor has dtype {}, accessed as {}", what,
                                     dtype_name(dtype()), dtype_name(want)));
}

Tensor Tensor::detach() const {
    const TensorImpl& me = checked();
    return Tensor(std::make_shared<TensorImpl>(me.storage, me.shape, me.dtype));
}

// ---- autograd ----

Tensor& Tensor::requires_grad_(bool on) {
    TensorImpl& me = const_cast<TensorImpl&>(checked());
    if (on && !is_floating(me.dtype))
        throw DtypeError(fmt::format("requires_grad_: only f32 and f64 tensors can require "
                                     "grad, this one is {}", dtype_name(me.dtype)));
    if (!on && me.grad_fn)
        throw ValueError(fmt::format("requires_grad_: cannot turn off grad on a tensor made by "
                                     "'{}'; use detach()", me.grad_fn));
    me.requires_grad = on;
    return *this;
}

std::string Tensor::grad_fn_name() const {
    const TensorImpl& me = checked();
    return me.grad_fn ? me.grad_fn : "";
}

Tensor Tensor::grad() const { return Tensor(checked().grad); }

void Tensor::set_grad(const Tensor& g) {
    TensorImpl& me = const_cast<TensorImpl&>(checked());
    if (g.defined() && (g.shape() != me.shape || g.dtype() != me.dtype))
        throw ShapeError(fmt::format("set_grad: gradient {} {} does not match tensor {} {}",
                                     shape_str(g.shape()), dtype_name(g.dtype()),
                                     shape_str(me.shape), dtype_name(me.dtype)));
    me.grad = g.impl();
}

Tensor& Tensor::retain_grad() {
    const_cast<TensorImpl&>(checked()).retains_grad = true;
    return *this;
}

void Tensor::backward(bool retain_graph) const { detail::run_backward(*this, Tensor(), retain_graph); }

void Tensor::backward(const Tensor& grad, bool retain_graph) const {
    detail::run_backward(*this, grad, retain_graph);
}

// ---- in-place writes ----

// A leaf that requires grad is a parameter or an input the user differentiates with respect
// to; changing it in place while grad mode is on would silently detach what was recorded.
void Tensor::check_inplace(const char* op) const {
    const TensorImpl& t = checked();
    if (t.requires_grad && !t.grad_fn && is_grad_enabled())
        throw ValueError(fmt::format("{}: a leaf tensor that requires grad ({} {}) cannot be modified in place "
                                     "while grad mode is on; do it inside NoGradGuard (as optimizers do)",
                                     op, shape_str(t.shape), dtype_name(t.dtype)));
}

Tensor& Tensor::zero_() {
    check_inplace("zero_");
    std::memset(raw_data(), 0, nbytes());
    ++impl_->version;
    return *this;
}

Tensor& Tensor::fill_(double value) {
    check_inplace("fill_");
    dispatch_all(dtype(), [&](auto tag) {
        using T = decltype(tag);
        T* p = static_cast<T*>(raw_data());
        const T v = static_cast<T>(value);
        for (int64_t i = 0; i < numel(); ++i) p[i] = v;
    });
    ++impl_->version;
    return *this;
}

Tensor& Tensor::add_(const Tensor& other, double alpha) {
    check_inplace("add_");
    if (other.shape() != shape() || other.dtype() != dtype())
        throw ShapeError(fmt::format("add_: {} {} += {} {}: shapes and dtypes must match",
                                     shape_str(shape()), dtype_name(dtype()),
                                     shape_str(other.shape()), dtype_name(other.dtype())));
    dispatch_all(dtype(), [&](auto tag) {
        using T = decltype(tag);
        T* p = static_cast<T*>(raw_data());
        const T* q = static_cast<const T*>(other.raw_data());
        const T a = static_cast<T>(alpha);
        const int64_t n = numel();
        if (alpha == 1.0)
            for (int64_t i = 0; i < n; ++i) p[i] += q[i];
        else
            for (int64_t i = 0; i < n; ++i) p[i] += a * q[i];
    });
    ++impl_->version;
    return *this;
}

Tensor& Tensor::mul_(double factor) {
    check_inplace("mul_");
    dispatch_all(dtype(), [&](auto tag) {
        using T = decltype(tag);
        T* p = static_cast<T*>(raw_data());
        const T f = static_cast<T>(factor);
        for (int64_t i = 0; i < numel(); ++i) p[i] *= f;
    });
    ++impl_->version;
    return *this;
}

Tensor& Tensor::copy_(const Tensor& other) {
    check_inplace("copy_");
    if (other.shape() != shape())
        throw ShapeError(fmt::format("copy_: source shape {} differs from destination {}",
                                     shape_str(other.shape()), shape_str(shape())));
    dispatch_all(dtype(), [&](auto tag) {
        using T = decltype(tag);
        detail::convert_elements<T>(other.raw_data(), other.dtype(), static_cast<T*>(raw_data()),
                                    numel());
    });
    ++impl_->version;
    return *this;
}

Tensor Tensor::to(Dtype dtype) const { return tg::to(*this, dtype); }
Tensor Tensor::clone() const { return tg::clone(*this); }

}  // namespace tg
