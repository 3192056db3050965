// Post-accumulate-grad hooks: registering and removing them, and running each leaf's hooks in
// the middle of backward() as soon as its gradient is complete.
#include <fmt/format.h>

#include <algorithm>
#include <atomic>

#include "core/check.hpp"
#include "core/internal/engine.hpp"

namespace tg {

namespace {
std::atomic<int64_t> g_live_hooks{0};
std::atomic<uint64_t> g_next_hook_id{1};

bool hooked(const Tensor& in) {
    if (!in.defined()) return false;
    const TensorImpl& t = *in.impl();
    return !t.grad_fn && t.requires_grad && t.hooks && !t.hooks->fns.empty();
}
}  // namespace

namespace detail {

int64_t live_hooks() { return g_live_hooks.load(std::memory_order_relaxed); }
void hooks_removed(int64_t n) { g_live_hooks.fetch_sub(n, std::memory_order_relaxed); }

HookWatch::HookWatch(const std::vector<Node>& nodes, int64_t start) {
    if (live_hooks() == 0) return;
    for (int64_t i = start; i >= 0; --i)
        for (const Tensor& in : nodes[static_cast<std::size_t>(i)].inputs)
            if (hooked(in)) watched_.push_back({in.impl().get(), 0, false});
    if (watched_.empty()) return;
    std::sort(watched_.begin(), watched_.end(), [](const Watch& a, const Watch& b) { return a.t < b.t; });
    std::vector<Watch> merged;  // one entry per leaf, counting its uses
    for (const Watch& w : watched_) {
        if (merged.empty() || merged.back().t != w.t) merged.push_back(w);
        ++merged.back().uses_left;
    }
    watched_ = std::move(merged);
}

void HookWatch::got_gradient(const Tensor& leaf) {
    if (Watch* w = find(leaf)) w->got = true;
}

void HookWatch::entry_done(const std::vector<Tensor>& inputs) {
    for (const Tensor& in : inputs) {
        Watch* w = find(in);
        if (w && --w->uses_left == 0 && w->got) run_hooks(in);
    }
}

// A hook may remove hooks (its own included) or add some while it runs, so each step looks up
// the next id afresh; the ids grow with registration, so the list stays sorted by id.
void HookWatch::run_hooks(const Tensor& leaf) {
    GradHooks* h = leaf.impl()->hooks.get();
    if (!h || h->fns.empty()) return;
    const uint64_t last = h->fns.back().first;
    uint64_t done = 0;
    for (;;) {
        auto it = std::find_if(h->fns.begin(), h->fns.end(), [&](const auto& f) { return f.first > done; });
        if (it == h->fns.end() || it->first > last) return;
        done = it->first;
        const auto fn = it->second;  // a copy: the hook may remove itself
        fn(leaf);
    }
}

HookWatch::Watch* HookWatch::find(const Tensor& in) {
    if (watched_.empty() || !hooked(in)) return nullptr;
    auto it = std::lower_bound(watched_.begin(), watched_.end(), in.impl().get(),
                               [](const Watch& w, const TensorImpl* t) { return w.t < t; });
    return it != watched_.end() && it->t == in.impl().get() ? &*it : nullptr;
}

}  // namespace detail

HookHandle Tensor::register_post_accumulate_grad_hook(std::function<void(const Tensor&)> fn) {
    TensorImpl& me = checked();
    TG_CHECK(!me.grad_fn, ValueError,
             "register_post_accumulate_grad_hook: the tensor is the result of '{}'; hooks can only be registered on "
             "leaves (parameters, inputs)",
             me.grad_fn);
    TG_CHECK(me.requires_grad, ValueError,
             "register_post_accumulate_grad_hook: the tensor does not require grad, so no backward() reaches it; "
             "call requires_grad_() first");
    TG_CHECK(fn, ValueError, "register_post_accumulate_grad_hook: the hook is empty");
    if (!me.hooks) me.hooks = std::make_unique<GradHooks>();
    const uint64_t id = g_next_hook_id.fetch_add(1, std::memory_order_relaxed);
    me.hooks->fns.emplace_back(id, std::move(fn));
    g_live_hooks.fetch_add(1, std::memory_order_relaxed);
    return HookHandle([t = std::weak_ptr<TensorImpl>(impl_), id] {
        if (auto impl = t.lock(); impl && impl->hooks)
            detail::hooks_removed(std::erase_if(impl->hooks->fns, [&](const auto& f) { return f.first == id; }));
    });
}

void HookHandle::remove() {
    if (!remover_) return;
    const std::function<void()> fn = std::move(remover_);
    remover_ = nullptr;
    fn();
}

}  // namespace tg
