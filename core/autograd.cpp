// The tape: recording ops (record) and walking them backwards (run_backward).
#include "core/autograd.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <mutex>
#include <string_view>
#include <unordered_map>
#include <unordered_set>

#include "core/check.hpp"
#include "core/internal/engine.hpp"
#include "core/kernels/parallel.hpp"

namespace tg {

using detail::Node;

namespace {

// Before a node's backward: an input or output changed in place since the op ran makes the
// saved values stale, and the gradient would be silently wrong (PyTorch raises here too).
void check_versions(const Node& node, const TensorImpl& out) {
    if (node.versions.empty()) return;
    for (std::size_t j = 0; j <= node.inputs.size(); ++j) {
        const bool is_out = j == node.inputs.size();
        const TensorImpl* t = is_out ? &out : (node.inputs[j].defined() ? node.inputs[j].impl().get() : nullptr);
        if (!t || t->storage->version == node.versions[j]) continue;
        throw ValueError(fmt::format(
            "backward: {} of '{}' ({} {}) was modified in place after '{}' recorded it (version {}, now {}), "
            "so its gradient would be wrong; modify a clone() instead, or do the in-place update after "
            "backward()",
            is_out ? std::string("the output") : fmt::format("input {}", j), node.op, shape_str(t->shape),
            dtype_name(t->dtype), node.op, node.versions[j], t->storage->version));
    }
}

// Entries whose output has died can never receive a gradient; dropping them releases their
// inputs. The tape is pruned when it doubles past its size after the last pruning, so memory
// follows liveness at amortised O(1) per recorded op.
std::atomic<uint64_t> g_next_tape_id{1};

struct Tape {
    std::vector<Node> nodes;
    uint64_t id = g_next_tape_id.fetch_add(1, std::memory_order_relaxed);  // unique per thread
    uint64_t next_seq = 1;
    std::size_t prune_at = 1024;
    // True while backward() walks this tape. Gradient hooks run in the middle of the walk, so
    // until it ends the entries must stay where they are: no pruning, no recording (hooks
    // run with grad mode off), no nested backward().
    bool walking = false;
    // While walking: the op whose backward function runs (nullptr while hooks run).
    const char* backward_of = nullptr;

    void prune() {
        if (walking) return;  // backward holds references into nodes (see run_backward)
        // Walking newest to oldest, releasing a node's inputs can kill older outputs, which the
        // same pass then sees.
        for (auto it = nodes.rbegin(); it != nodes.rend(); ++it) {
            if (it->output.expired()) {
                it->inputs.clear();
                it->backward = nullptr;
            }
        }
        std::erase_if(nodes, [](const Node& n) { return n.output.expired(); });
        prune_at = std::max<std::size_t>(1024, 2 * nodes.size());
    }

    // Index of the entry with this sequence number, or -1.
    int64_t find(uint64_t seq) const {
        auto it = std::lower_bound(nodes.begin(), nodes.end(), seq,
                                   [](const Node& n, uint64_t s) { return n.seq < s; });
        return it != nodes.end() && it->seq == seq ? it - nodes.begin() : -1;
    }
};

thread_local Tape t_tape;
thread_local bool t_grad_enabled = true;

// Adds g into the in-flight gradient of a non-leaf. A buffer still shared with another tensor
// (add's backward hands the same dy to both inputs) is copied before it is written.
void accumulate_pending(TensorImpl& t, Tensor g) {
    if (!t.pending) {
        t.pending = g.impl();
        return;
    }
    if (t.pending.use_count() > 1 || t.pending->storage.use_count() > 1)
        t.pending = detail::copy_values(Tensor(t.pending)).impl();
    Tensor(t.pending).add_(g);
}

}  // namespace

bool is_grad_enabled() { return t_grad_enabled; }
void set_grad_enabled(bool enabled) { t_grad_enabled = enabled; }

NoGradGuard::NoGradGuard() : prev_(t_grad_enabled) { t_grad_enabled = false; }
NoGradGuard::~NoGradGuard() { t_grad_enabled = prev_; }

bool needs_grad(std::initializer_list<const Tensor*> inputs) {
    if (!t_grad_enabled) return false;
    for (const Tensor* t : inputs)
        if (t->defined() && t->requires_grad()) return true;
    return false;
}

Tensor record(std::string_view op, Tensor out, std::vector<Tensor> inputs, BackwardFn backward,
              BackwardReads reads) {
    kernels::refresh_team();
    bool any = false;  // recorded only in grad mode, when some input requires grad
    for (std::size_t i = 0; t_grad_enabled && !any && i < inputs.size(); ++i)
        any = inputs[i].defined() && inputs[i].requires_grad();
    const bool anomaly = is_anomaly_enabled();
    if (anomaly) {
        if (const int64_t i = detail::first_non_finite(out); i >= 0) {
            throw AnomalyError(fmt::format(
                "anomaly: '{}' produced {} at flat index {} of its output {} {}; inputs: {}; {}", op,
                detail::value_str(out, i), i, shape_str(out.shape()), dtype_name(out.dtype()),
                detail::describe_inputs(inputs), detail::tape_position(any ? t_tape.next_seq : 0, detail::current_label())));
        }
    }
    if (!any) {
        if (!t_grad_enabled && out.defined()) {
            for (const Tensor& t : inputs) {
                if (t.defined() && (t.requires_grad() || t.impl()->made_in_no_grad)) {
                    // Not when the op handed back an input that requires grad itself.
                    if (!out.impl()->requires_grad) out.impl()->made_in_no_grad = true;
                    break;
                }
            }
        }
        return out;
    }
    Tape& tape = t_tape;
    if (tape.walking) {
        if (tape.backward_of != nullptr)
            throw ValueError(fmt::format(
                "{}: recorded while the backward of '{}' runs, with grad mode turned back on; backward functions "
                "run with grad mode off and compute their gradients without recording (gradients of gradients "
                "are not supported yet), so leave grad mode off in them",
                op, tape.backward_of));
        throw ValueError(fmt::format(
            "{}: recorded from inside a gradient hook while backward() walks the tape; hooks run with grad mode "
            "off, leave it off there",
            op));
    }
    if (tape.nodes.size() >= tape.prune_at) tape.prune();
    TensorImpl& o = *out.impl();
    o.requires_grad = true;
    o.grad_fn = detail::intern_op_name(op);
    o.node_seq = tape.next_seq++;
    o.tape_id = tape.id;
    std::vector<uint64_t> versions;
    if (reads == BackwardReads::values) {
        versions.reserve(inputs.size() + 1);
        for (const Tensor& t : inputs) versions.push_back(t.defined() ? t.version() : 0);
        versions.push_back(o.storage->version);
    }
    tape.nodes.push_back(Node{o.grad_fn, o.node_seq, std::move(inputs), out.impl(), std::move(backward),
                              anomaly ? detail::current_label() : nullptr, std::move(versions)});
    return out;
}

int64_t tape_size() {
    t_tape.prune();
    return static_cast<int64_t>(t_tape.nodes.size());
}

MemoryStats memory_stats() {
    const int64_t entries = tape_size();  // prunes first, so dead graphs are not counted
    MemoryStats s = detail::storage_stats();
    s.tape_entries = entries;
    return s;
}

namespace detail {

// Names live in one set for the whole process (a handful of distinct ones in practice); each
// thread keeps its own index into it, so after the first use of a name, interning it is one
// hash lookup without a lock.
const char* intern_op_name(std::string_view name) {
    thread_local std::unordered_map<std::string_view, const char*> seen;  // keys view the set's strings
    if (auto it = seen.find(name); it != seen.end()) return it->second;
    static std::mutex mu;
    static auto* names = new std::unordered_set<std::string>();  // never freed: tensors may outlive main
    const char* p;
    {
        std::lock_guard<std::mutex> lock(mu);
        p = names->emplace(name).first->c_str();
    }
    seen.emplace(std::string_view(p, name.size()), p);
    return p;
}
int64_t raw_tape_size() { return static_cast<int64_t>(t_tape.nodes.size()); }

void accumulate_leaf_grad(TensorImpl& t, Tensor g) {
    if (!t.grad) {
        // The engine owns the buffer it keeps: a gradient whose handle or storage is still shared
        // (add hands one dy to both inputs, reshape shares storage) is copied.
        const bool shared = g.impl().use_count() > 1 || g.impl()->storage.use_count() > 1;
        t.grad = (shared ? copy_values(g) : g).impl();
        return;
    }
    Tensor(t.grad).add_(g);
}

void run_backward(const Tensor& root, const Tensor& grad_in, bool retain_graph) {
    if (!root.requires_grad()) {
        if (root.impl()->made_in_no_grad)
            throw ValueError(fmt::format(
                "backward: this {} tensor was computed with grad mode off (inside a NoGradGuard), so no graph "
                "was recorded for it, although its inputs require grad{}; compute it with grad mode on (outside "
                "the guard's scope)",
                shape_str(root.shape()), t_grad_enabled ? "" : " (grad mode is still off here)"));
        if (!t_grad_enabled)
            throw ValueError(
                "backward: the tensor does not require grad, and grad mode is off (inside a NoGradGuard), so "
                "nothing is recorded here; compute the graph with grad mode on (outside the guard's scope)");
        throw ValueError(
            "backward: the tensor does not require grad (no input of its graph has "
            "requires_grad set)");
    }
    Tensor grad = grad_in;
    if (!grad.defined()) {
        TG_CHECK(root.numel() == 1, ValueError,
                 "backward: without an explicit gradient the tensor must hold one element, got shape {}",
                 shape_str(root.shape()));
        grad = Tensor::ones(root.shape(), root.dtype());
    } else if (grad.shape() != root.shape() || grad.dtype() != root.dtype()) {
        throw ShapeError(fmt::format("backward: gradient {} {} does not match tensor {} {}",
                                     shape_str(grad.shape()), dtype_name(grad.dtype()),
                                     shape_str(root.shape()), dtype_name(root.dtype())));
    }
    TG_CHECK(!t_tape.walking, ValueError,
             "backward: called from inside a gradient hook while another backward() walks the tape");
    TensorImpl& r = *root.impl();
    if (!r.grad_fn) {
        accumulate_leaf_grad(r, copy_values(grad));
        NoGradGuard no_grad;
        HookWatch::run_hooks(root);
        return;
    }
    Tape& tape = t_tape;
    // Sequence numbers are per tape: another thread's entry with the same number is not ours.
    TG_CHECK(r.tape_id == tape.id, ValueError,
             "backward: this '{}' result was built on another thread; each thread records on its own tape, so call "
             "backward() on the thread that built the graph",
             r.grad_fn);
    const int64_t start = r.graph_freed ? -1 : tape.find(r.node_seq);
    TG_CHECK(start >= 0, ValueError,
             "backward: the graph of this '{}' result was already freed by an earlier backward(); pass "
             "retain_graph=true to backward twice",
             r.grad_fn);

    const bool anomaly = is_anomaly_enabled();
    if (anomaly) {
        if (const int64_t k = first_non_finite(grad); k >= 0)
            throw AnomalyError(fmt::format("anomaly: backward was given a gradient with {} at flat index {}",
                                           value_str(grad, k), k));
    }
    NoGradGuard no_grad;
    r.pending = grad.impl();
    std::vector<int64_t> used;
    HookWatch hooks(tape.nodes, start);
    struct Walking {  // set for the walk, cleared however it ends
        Tape& t;
        explicit Walking(Tape& tape) : t(tape) { t.walking = true; }
        ~Walking() {
            t.walking = false;
            t.backward_of = nullptr;
        }
    } walking(tape);
    try {
        for (int64_t i = start; i >= 0; --i) {
            Node& node = tape.nodes[i];
            std::shared_ptr<TensorImpl> out = node.output.lock();
            if (!out || !out->pending) {
                if (!hooks.empty()) hooks.entry_done(node.inputs);
                continue;
            }
            check_versions(node, *out);
            Tensor dy(std::move(out->pending));
            out->pending.reset();
            if (out->retains_grad) accumulate_leaf_grad(*out, dy);
            tape.backward_of = node.op;
            Grads g = node.backward(dy, Tensor(out));
            tape.backward_of = nullptr;
            TG_CHECK(g.size() == node.inputs.size(), ValueError, "backward of '{}': returned {} gradients for {} inputs",
                     node.op, g.size(), node.inputs.size());
            for (std::size_t j = 0; j < g.size(); ++j) {
                const Tensor& in = node.inputs[j];
                if (!in.defined() || !in.requires_grad() || !g[j].defined()) continue;
                TG_CHECK(g[j].shape() == in.shape() && g[j].dtype() == in.dtype(), ShapeError,
                         "backward of '{}': the gradient for input {} is {} {}, but the input is {} {}; each "
                         "gradient must have its input's shape and dtype",
                         node.op, j, shape_str(g[j].shape()), dtype_name(g[j].dtype()), shape_str(in.shape()),
                         dtype_name(in.dtype()));
                if (anomaly) {
                    if (const int64_t k = first_non_finite(g[j]); k >= 0)
                        throw AnomalyError(fmt::format(
                            "anomaly: backward of '{}' produced {} at flat index {} of the gradient for "
                            "input {} {} {}; inputs: {}; {}",
                            node.op, value_str(g[j], k), k, j, shape_str(in.shape()), dtype_name(in.dtype()),
                            describe_inputs(node.inputs), tape_position(node.seq, node.label)));
                }
                TensorImpl& ti = *in.impl();
                if (!ti.grad_fn) {
                    accumulate_leaf_grad(ti, std::move(g[j]));
                    if (!hooks.empty()) hooks.got_gradient(in);
                } else {
                    TG_CHECK(!ti.graph_freed, ValueError,
                             "backward: the graph of a '{}' result used by '{}' was already freed by an earlier "
                             "backward(); pass retain_graph=true to backward twice",
                             ti.grad_fn, node.op);
                    accumulate_pending(ti, std::move(g[j]));
                }
            }
            used.push_back(i);
            if (!hooks.empty()) hooks.entry_done(node.inputs);
        }
    } catch (...) {
        for (int64_t i = start; i >= 0; --i)
            if (auto out = tape.nodes[i].output.lock()) out->pending.reset();
        throw;
    }
    if (retain_graph) return;
    for (int64_t i : used) {
        Node& node = tape.nodes[i];
        if (auto out = node.output.lock()) out->graph_freed = true;
        node.inputs.clear();
        node.backward = nullptr;
        node.output.reset();
    }
    std::erase_if(tape.nodes, [](const Node& n) { return n.output.expired(); });
}

}  // namespace detail
}  // namespace tg
