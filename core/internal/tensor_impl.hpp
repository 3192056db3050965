#pragma once
// Internal (not installed): what a Tensor handle points at. Users see values, shapes, dtypes
// and gradients through Tensor; the autograd bookkeeping below belongs to the engine.
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <utility>
#include <vector>

#include "core/tensor.hpp"

namespace tg {

/// Raw bytes, 64-byte aligned, taken from the buffer cache (core/storage.cpp); counted by
/// memory_stats().
struct Storage {
    explicit Storage(std::size_t nbytes);
    ~Storage();
    Storage(const Storage&) = delete;
    Storage& operator=(const Storage&) = delete;
    void* data = nullptr;
    std::size_t nbytes = 0;
    // Bumped by every in-place write, through any tensor that shares this storage (detach(),
    // reshape and the other views alias it), so a write through an alias is seen too.
    uint64_t version = 0;
    // Live tape entries that keep this buffer for backward (as an input or a saved value); its
    // bytes count in memory_stats().saved_by_tape_bytes while this is above zero.
    std::atomic<int32_t> tape_refs{0};
};

/// The post-accumulate-grad hooks of one leaf (see Tensor::register_post_accumulate_grad_hook),
/// keyed by id in registration order.
struct GradHooks {
    std::vector<std::pair<uint64_t, std::function<void(const Tensor&)>>> fns;
};

struct TensorImpl {
    TensorImpl(std::shared_ptr<Storage> s, Shape sh, Dtype dt);
    ~TensorImpl();
    std::shared_ptr<Storage> storage;
    Shape shape;
    int64_t numel = 0;
    Dtype dtype = Dtype::f32;
    bool requires_grad = false;
    bool retains_grad = false;
    bool graph_freed = false;        // its tape entry was released by backward()
    // Made from inputs that require grad while grad mode was off: no graph, and backward() says why.
    bool made_in_no_grad = false;
    const char* grad_fn = nullptr;   // the op that made it (an interned name); nullptr for leaves
    uint64_t node_seq = 0;           // its entry on this thread's tape (0: none)
    uint64_t tape_id = 0;            // the tape (thread) that recorded it
    std::shared_ptr<TensorImpl> grad;     // accumulated gradient (leaves, retain_grad)
    std::shared_ptr<TensorImpl> pending;  // gradient in flight during backward()
    std::unique_ptr<GradHooks> hooks;  // null unless a hook was ever registered
};

namespace detail {
/// A new tensor sharing x's storage under another shape of the same element count (reshape).
Tensor alias(const Tensor& x, const Shape& shape);
/// A copy of x's values in a new buffer; nothing is recorded.
Tensor copy_values(const Tensor& x);
/// Live tensors, live and peak bytes, cached bytes and system allocations (core/storage.cpp).
MemoryStats storage_stats();
}  // namespace detail

}  // namespace tg
