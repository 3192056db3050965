// Autocast's per-thread state: on or off, the guard depth, and the cache of weights' bf16
// copies (keyed by the weight's TensorImpl, checked against its version; held weakly, so a
// freed weight's address cannot be mistaken for a new one's).
#include "core/autocast.hpp"

#include <fmt/format.h>

#include <map>
#include <memory>

#include "core/check.hpp"
#include "core/error.hpp"
#include "core/grad_mode.hpp"
#include "core/internal/autocast.hpp"
#include "core/internal/tensor_impl.hpp"
#include "core/kernels/bf16.hpp"

namespace tg {

namespace {

struct CachedCopy {
    std::weak_ptr<TensorImpl> source;
    uint64_t version = 0;
    Tensor copy;
};

struct State {
    bool enabled = false;
    int depth = 0;
    std::map<const TensorImpl*, CachedCopy> cache;
};

State& state() {
    static thread_local State s;
    return s;
}

}  // namespace

Autocast::Autocast(Dtype dtype, bool enabled) : prev_enabled_(state().enabled), prev_depth_(state().depth) {
    if (dtype != Dtype::bf16)
        throw DtypeError(fmt::format("Autocast: products can be cast to bf16 only, not {}", dtype_name(dtype)));
    state().enabled = enabled;
    ++state().depth;
}

Autocast::~Autocast() {
    State& s = state();
    s.enabled = prev_enabled_;
    s.depth = prev_depth_;
    if (s.depth == 0) s.cache.clear();
}

bool is_autocast_enabled() { return state().enabled; }

std::string autocast_info() { return kernels::bf16_description(); }

namespace detail {

kernels::Bf16Route product_route(Dtype dtype, int64_t m, int64_t n, int64_t k) {
    if (dtype != Dtype::f32 || !state().enabled) return kernels::Bf16Route::float32;
    return kernels::bf16_route(m, n, k);
}

namespace {
Tensor cast(const Tensor& x) {
    Tensor y = Tensor::empty(x.shape(), Dtype::bf16);
    kernels::to_bf16(x.data<float>(), reinterpret_cast<uint16_t*>(y.data<bfloat16>()), x.numel());
    return y;
}
}  // namespace

Tensor bf16_copy(const Tensor& x) {
    TG_CHECK(x.dtype() == Dtype::f32, DtypeError, "autocast: only f32 tensors are cast to bf16, got {}",
             dtype_name(x.dtype()));
    State& s = state();
    const bool weight = s.depth > 0 && x.requires_grad() && x.is_leaf();
    if (!weight) return cast(x);
    const std::shared_ptr<TensorImpl>& impl = x.impl();
    auto it = s.cache.find(impl.get());
    if (it != s.cache.end() && it->second.source.lock() == impl && it->second.version == x.version())
        return it->second.copy;
    Tensor copy = cast(x);
    // A new weight: first drop the copies of weights freed since, or a guard held around many
    // short-lived models (a search, checkpoint after checkpoint) would keep all their copies.
    if (it == s.cache.end())
        std::erase_if(s.cache, [](const auto& entry) { return entry.second.source.expired(); });
    s.cache[impl.get()] = CachedCopy{impl, x.version(), copy};
    return copy;
}

Tensor bf16_copy_for(kernels::Bf16Route route, const Tensor& x) {
    return route == kernels::Bf16Route::float32 ? Tensor() : bf16_copy(x);
}

const uint16_t* bf16_bits(const Tensor& t) { return reinterpret_cast<const uint16_t*>(t.data<bfloat16>()); }

}  // namespace detail

}  // namespace tg
