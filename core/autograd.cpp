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
#include "core/internal/profiler.hpp"
#include "core/ops.hpp"
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
    // While walking with create_graph: backwards record their ops (appended after the walk's
    // entries, which the walk reaches by index only).
    bool creating = false;
    // While walking for grad(): gradients are returned, nothing is accumulated into leaves.
    bool collecting = false;

    void prune() {
        if (walking) return;  // backward holds references into nodes (see run_backward)
        // Walking newest to oldest, releasing a node's inputs can kill older outputs, which the
        // same pass then sees.
        for (auto it = nodes.rbegin(); it != nodes.rend(); ++it) {
            if (it->output.expired()) it->release();
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

}  // namespace

bool is_grad_enabled() { return t_grad_enabled; }
void set_grad_enabled(bool enabled) { t_grad_enabled = enabled; }

NoGradGuard::NoGradGuard() : prev_(t_grad_enabled) { t_grad_enabled = false; }
NoGradGuard::~NoGradGuard() { t_grad_enabled = prev_; }

GradModeGuard::GradModeGuard(bool enabled) : prev_(t_grad_enabled) { t_grad_enabled = enabled; }
GradModeGuard::~GradModeGuard() { t_grad_enabled = prev_; }

bool needs_grad(std::initializer_list<const Tensor*> inputs) {
    if (!t_grad_enabled) return false;
    for (const Tensor* t : inputs)
        if (t->defined() && t->requires_grad()) return true;
    return false;
}

Tensor record(std::string_view op, Tensor out, std::vector<Tensor> inputs, BackwardFn backward,
              BackwardReads reads, Differentiable differentiable) {
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
    if (tape.walking && !tape.creating) {
        if (tape.backward_of != nullptr)
            throw ValueError(fmt::format(
                "{}: recorded while the backward of '{}' runs, with grad mode turned back on; backward functions "
                "run with grad mode off and compute their gradients without recording, so leave grad mode off "
                "in them (to differentiate gradients, pass create_graph to backward() or grad())",
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
    Node& node = tape.nodes.emplace_back(o.grad_fn, o.node_seq, std::move(inputs), out.impl(), std::move(backward),
                                         anomaly ? detail::current_label() : nullptr, std::move(versions),
                                         differentiable);
    // What the tape now keeps alive: the inputs, parameters aside (the model holds those).
    int64_t held = 0;
    for (std::size_t i = 0; i < node.inputs.size() && i < 64; ++i) {
        const Tensor& in = node.inputs[i];
        if (!in.defined() || (!in.impl()->grad_fn && in.impl()->requires_grad)) continue;
        held += detail::hold_storage(*in.impl()->storage);
        node.counted |= uint64_t{1} << i;
    }
    detail::OpFrame* frame = detail::t_op_frame;
    if (frame && frame->track) {
        if (frame->node_seq == 0) frame->first_seq = o.node_seq;
        frame->node_seq = o.node_seq;
        if (frame->n_outputs < static_cast<int>(frame->outputs.size()))
            frame->outputs[static_cast<std::size_t>(frame->n_outputs++)] = o.storage.get();
        else
            frame->many_outputs = true;
    }
    if (detail::t_profiler) {
        node.module_span = detail::current_module_span();
        detail::profile_recorded(node.op, held, frame != nullptr);
    }
    return out;
}

std::vector<Tensor> grad(const std::vector<Tensor>& outputs, const std::vector<Tensor>& inputs,
                         const std::vector<Tensor>& grad_outputs, const GradOptions& options) {
    TG_CHECK(!outputs.empty(), ValueError, "grad: no outputs given");
    TG_CHECK(grad_outputs.empty() || grad_outputs.size() == outputs.size(), ValueError,
             "grad: {} grad_outputs for {} outputs; give one per output, or none for outputs of one element",
             grad_outputs.size(), outputs.size());
    return detail::run_engine(outputs, grad_outputs, options, &inputs, "grad");
}

std::vector<Tensor> hvp(const std::function<Tensor(const std::vector<Tensor>&)>& fn,
                        const std::vector<Tensor>& inputs, const std::vector<Tensor>& v) {
    TG_CHECK(v.size() == inputs.size(), ValueError, "hvp: {} vectors v for {} inputs; give one per input", v.size(),
             inputs.size());
    std::vector<Tensor> xs;
    for (std::size_t i = 0; i < inputs.size(); ++i) {
        TG_CHECK(inputs[i].defined() && is_floating(inputs[i].dtype()), DtypeError,
                 "hvp: input {} must be a defined f32 or f64 tensor", i);
        TG_CHECK(v[i].defined() && v[i].shape() == inputs[i].shape() && v[i].dtype() == inputs[i].dtype(), ShapeError,
                 "hvp: v[{}] must match input {} ({} {}), got {}", i, i, shape_str(inputs[i].shape()),
                 dtype_name(inputs[i].dtype()),
                 v[i].defined() ? fmt::format("{} {}", shape_str(v[i].shape()), dtype_name(v[i].dtype()))
                                : std::string("an undefined tensor"));
        xs.push_back(inputs[i].detach().clone().requires_grad_());
    }
    const Tensor y = fn(xs);
    TG_CHECK(y.defined() && y.numel() == 1, ValueError, "hvp: fn must return one element (a scalar loss), got {}",
             y.defined() ? shape_str(y.shape()) : std::string("an undefined tensor"));
    std::vector<Tensor> out(xs.size());
    if (y.requires_grad()) {
        const std::vector<Tensor> g = grad({y}, xs, {}, {.create_graph = true, .allow_unused = true});
        Tensor dot;  // <grad fn, v>
        for (std::size_t i = 0; i < g.size(); ++i) {
            if (!g[i].defined()) continue;
            const Tensor term = sum(mul(g[i], v[i].detach()));
            dot = dot.defined() ? add(dot, term) : term;
        }
        if (dot.defined() && dot.requires_grad()) out = grad({dot}, xs, {}, {.allow_unused = true});
    }
    for (std::size_t i = 0; i < out.size(); ++i)
        out[i] = out[i].defined() ? out[i].detach() : Tensor::zeros(xs[i].shape(), xs[i].dtype());
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

Node& Node::operator=(Node&& o) noexcept {
    if (this == &o) return *this;
    release();
    op = o.op;
    seq = o.seq;
    inputs = std::move(o.inputs);
    output = std::move(o.output);
    backward = std::move(o.backward);
    label = std::move(o.label);
    versions = std::move(o.versions);
    differentiable = o.differentiable;
    module_span = o.module_span;
    counted = o.counted;
    saved = std::move(o.saved);
    o.inputs.clear();
    o.saved.clear();
    o.counted = 0;
    return *this;
}

void Node::release() {
    for (std::size_t i = 0; i < inputs.size() && i < 64; ++i)
        if (counted & (uint64_t{1} << i)) drop_storage(*inputs[i].impl()->storage);
    for (const std::weak_ptr<Storage>& w : saved)
        if (auto st = w.lock()) drop_storage(*st);
    counted = 0;
    saved.clear();
    inputs.clear();
    backward = nullptr;
}

void with_fresh_tape(const std::function<void()>& fn) {
    // The walk that called us holds `t_tape` by reference and reaches its entries by index
    // only: swapping the contents away and back leaves it as it was.
    struct Swap {
        Tape held;
        Swap() { std::swap(held, t_tape); }
        ~Swap() { std::swap(held, t_tape); }
    } swap;
    fn();
}

WalkState walk_state() { return {t_tape.walking, t_tape.creating, t_tape.collecting}; }

std::vector<GraphEntry> reachable_entries(const Tensor& root, const char* who) {
    const Tape& tape = t_tape;
    std::vector<GraphEntry> out;
    const TensorImpl& r = *root.impl();
    if (!r.grad_fn) return out;
    TG_CHECK(r.tape_id == tape.id, ValueError,
             "{}: this '{}' result was built on another thread; call it on the thread that built the graph", who,
             r.grad_fn);
    const int64_t at = r.graph_freed ? -1 : tape.find(r.node_seq);
    TG_CHECK(at >= 0, ValueError,
             "{}: the graph of this '{}' result was already freed by backward(); draw it before backward(), or "
             "pass retain_graph=true",
             who, r.grad_fn);
    std::vector<char> reached(static_cast<std::size_t>(at + 1), 0);
    reached[static_cast<std::size_t>(at)] = 1;
    for (int64_t i = at; i >= 0; --i) {
        if (!reached[static_cast<std::size_t>(i)]) continue;
        const Node& node = tape.nodes[static_cast<std::size_t>(i)];
        GraphEntry e{node.seq, node.op, node.output.lock(), node.inputs, 0};
        for (std::size_t k = 0; k < node.inputs.size() && k < 64; ++k)
            if (node.counted & (uint64_t{1} << k)) e.kept_bytes += static_cast<int64_t>(node.inputs[k].impl()->storage->nbytes);
        for (const auto& w : node.saved)
            if (auto st = w.lock()) e.kept_bytes += static_cast<int64_t>(st->nbytes);
        for (const Tensor& in : node.inputs) {
            if (!in.defined() || !in.impl()->grad_fn || in.impl()->tape_id != tape.id) continue;
            const int64_t j = tape.find(in.impl()->node_seq);
            if (j >= 0 && j < i) reached[static_cast<std::size_t>(j)] = 1;
        }
        out.push_back(std::move(e));
    }
    return out;
}

int64_t attach_saved(uint64_t seq, const OpFrame& frame) {
    Tape& tape = t_tape;
    const int64_t at = tape.find(seq);
    if (at < 0) return 0;
    const int64_t first = frame.many_outputs ? std::max<int64_t>(0, tape.find(frame.first_seq)) : at;
    auto is_output = [&](const Storage* st) {
        for (int k = 0; k < frame.n_outputs; ++k)
            if (frame.outputs[static_cast<std::size_t>(k)] == st) return true;
        if (!frame.many_outputs) return false;
        for (int64_t j = first; j <= at; ++j)
            if (auto o = tape.nodes[static_cast<std::size_t>(j)].output.lock(); o && o->storage.get() == st) return true;
        return false;
    };
    Node& node = tape.nodes[static_cast<std::size_t>(at)];
    int64_t held = 0;
    auto take = [&](const std::weak_ptr<Storage>& w) {
        auto st = w.lock();
        if (!st || is_output(st.get())) return;
        held += hold_storage(*st);
        node.saved.push_back(st);
    };
    for (int k = 0; k < frame.n_born; ++k) take(frame.born[static_cast<std::size_t>(k)]);
    for (const auto& w : frame.more) take(w);
    return held;
}

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

namespace {

// Why `root` cannot start a backward pass (it does not require grad), for `who`'s message.
[[noreturn]] void refuse_root(const Tensor& root, const char* who) {
    if (root.impl()->made_in_no_grad)
        throw ValueError(fmt::format(
            "{}: this {} tensor was computed with grad mode off (inside a NoGradGuard), so no graph "
            "was recorded for it, although its inputs require grad{}; compute it with grad mode on (outside "
            "the guard's scope)",
            who, shape_str(root.shape()), t_grad_enabled ? "" : " (grad mode is still off here)"));
    if (!t_grad_enabled)
        throw ValueError(fmt::format(
            "{}: the tensor does not require grad, and grad mode is off (inside a NoGradGuard), so "
            "nothing is recorded here; compute the graph with grad mode on (outside the guard's scope)",
            who));
    throw ValueError(fmt::format(
        "{}: the tensor does not require grad (no input of its graph has requires_grad set)", who));
}

// The seed gradient of a root: `given` checked against it, or ones for a one-element root.
Tensor seed_gradient(const Tensor& root, const Tensor& given, const char* who) {
    if (!given.defined()) {
        TG_CHECK(root.numel() == 1, ValueError,
                 "{}: without an explicit gradient the tensor must hold one element, got shape {}", who,
                 shape_str(root.shape()));
        return Tensor::ones(root.shape(), root.dtype());
    }
    if (given.shape() != root.shape() || given.dtype() != root.dtype())
        throw ShapeError(fmt::format("{}: gradient {} {} does not match tensor {} {}", who, shape_str(given.shape()),
                                     dtype_name(given.dtype()), shape_str(root.shape()), dtype_name(root.dtype())));
    return given;
}

// acc + g, in place when the buffer is the engine's alone; out of place (a recorded add) while
// creating a graph, so the sum keeps the graph of both.
Tensor sum_gradients(std::shared_ptr<TensorImpl>& acc, Tensor g, bool create_graph) {
    if (!acc) return g;
    if (create_graph) return add(Tensor(acc), g);
    if (acc.use_count() > 1 || acc->storage.use_count() > 1) acc = detail::copy_values(Tensor(acc)).impl();
    Tensor(acc).add_(g);
    return Tensor(acc);
}

// accumulate_leaf_grad while creating a graph: .grad keeps the graph, as a recorded sum, or a
// recorded copy (the gradient may be shared with another input's or a retained one's).
void keep_grad_graph(TensorImpl& t, const Tensor& g) { t.grad = (t.grad ? add(Tensor(t.grad), g) : mul(g, 1.0)).impl(); }

// The gradients a backward that is not differentiable produced under create_graph, each marked
// by an entry whose backward refuses, naming the op: a second differentiation through them
// would otherwise silently miss this op's second derivative.
Grads mark_once_differentiable(const char* op, Grads g, const Tensor& dy, const std::vector<Tensor>& inputs) {
    std::vector<Tensor> sources{dy};
    sources.insert(sources.end(), inputs.begin(), inputs.end());
    for (Tensor& t : g) {
        if (!t.defined()) continue;
        t = record(fmt::format("{}_backward", op), t, sources, [op](const Tensor&, const Tensor&) -> Grads {
            throw ValueError(fmt::format(
                "backward: the gradient of '{}' was computed by a backward that cannot be differentiated "
                "(it runs kernels outside the tape), so it has no second derivative here. Built-in ops list "
                "which support gradients of gradients in README (\"Gradients of gradients\"); for your own op, "
                "record it with Differentiable::twice and compute its gradients with ops "
                "(docs/custom_ops.md)",
                op));
        });
    }
    return g;
}

}  // namespace

void run_backward(const Tensor& root, const Tensor& grad_in, bool retain_graph) {
    run_engine({root}, {grad_in}, GradOptions{.retain_graph = retain_graph}, nullptr, "backward");
}

std::vector<Tensor> run_engine(const std::vector<Tensor>& roots, const std::vector<Tensor>& grads,
                               const GradOptions& options, const std::vector<Tensor>* inputs, const char* who) {
    const bool create_graph = options.create_graph;
    const bool retain_graph = options.retain_graph || create_graph;
    const bool collect = inputs != nullptr;  // grad(): return gradients, write nothing
    if (t_tape.walking) {
        if (!t_tape.creating)
            throw ValueError(fmt::format("{}: called from inside a gradient hook while another backward() walks the tape", who));
        throw ValueError(fmt::format(
            "{}: called from inside a backward function while create_graph walks the tape; compute the gradient "
            "of a gradient after the first pass returns",
            who));
    }
    Tape& tape = t_tape;
    const bool anomaly = is_anomaly_enabled();

    // What grad() returns, by the inputs' identity.
    std::vector<Tensor> results(collect ? inputs->size() : 0);
    std::unordered_map<const TensorImpl*, std::size_t> target;
    if (collect) {
        for (std::size_t i = 0; i < inputs->size(); ++i) {
            const Tensor& in = (*inputs)[i];
            TG_CHECK(in.defined(), ValueError, "{}: input {} is an undefined tensor", who, i);
            TG_CHECK(in.requires_grad(), ValueError,
                     "{}: input {} ({} {}) does not require grad, so no gradient can be taken with respect to it; "
                     "call requires_grad_() on it before computing the outputs",
                     who, i, shape_str(in.shape()), dtype_name(in.dtype()));
            target.emplace(in.impl().get(), i);
        }
    }
    auto deliver = [&](TensorImpl& t, Tensor g) {  // g reached a target input
        const std::size_t k = target.at(&t);
        std::shared_ptr<TensorImpl> acc = results[k].defined() ? results[k].impl() : nullptr;
        if (!acc && !create_graph && (g.impl().use_count() > 1 || g.impl()->storage.use_count() > 1))
            g = copy_values(g);
        results[k] = sum_gradients(acc, std::move(g), create_graph);
    };
    auto is_target = [&](const TensorImpl& t) { return collect && target.count(&t) > 0; };

    // Seed the roots; the walk starts at the newest entry among them.
    int64_t start = -1;
    std::vector<Tensor> seeds(roots.size());
    for (std::size_t k = 0; k < roots.size(); ++k) {
        const Tensor& root = roots[k];
        TG_CHECK(root.defined(), ValueError, "{}: output {} is an undefined tensor", who, k);
        if (!root.requires_grad()) refuse_root(root, who);
        const Tensor& g = seeds[k] = seed_gradient(root, k < grads.size() ? grads[k] : Tensor(), who);
        if (anomaly) {
            if (const int64_t e = first_non_finite(g); e >= 0)
                throw AnomalyError(fmt::format("anomaly: {} was given a gradient with {} at flat index {}", who,
                                               value_str(g, e), e));
        }
        TensorImpl& r = *root.impl();
        if (!r.grad_fn) continue;  // a leaf: its gradient is the seed itself
        // Sequence numbers are per tape: another thread's entry with the same number is not ours.
        TG_CHECK(r.tape_id == tape.id, ValueError,
                 "{}: this '{}' result was built on another thread; each thread records on its own tape, so call "
                 "{}() on the thread that built the graph",
                 who, r.grad_fn, who);
        const int64_t at = r.graph_freed ? -1 : tape.find(r.node_seq);
        TG_CHECK(at >= 0, ValueError,
                 "{}: the graph of this '{}' result was already freed by an earlier backward(); pass "
                 "retain_graph=true to backward twice",
                 who, r.grad_fn);
        start = std::max(start, at);
    }
    // Entries that lead to an input (grad() runs only those), found oldest first.
    std::vector<char> needed;
    if (collect && start >= 0) {
        needed.assign(static_cast<std::size_t>(start + 1), 0);
        std::unordered_set<const TensorImpl*> leads;  // outputs of needed entries
        for (int64_t i = 0; i <= start; ++i) {
            const Node& node = tape.nodes[i];
            bool n = false;
            for (const Tensor& in : node.inputs)
                n = n || (in.defined() && (target.count(in.impl().get()) || leads.count(in.impl().get())));
            if (!n) continue;
            needed[i] = 1;
            if (auto out = node.output.lock()) leads.insert(out.get());
        }
    }

    // Grad mode during the walk: off, or on while creating a graph (backwards then record).
    const GradModeGuard mode(create_graph);
    struct Span {  // a profiler span, closed however the walk ends
        int64_t h = -1;
        ~Span() {
            if (h >= 0) end_backward_span(h);
        }
    } whole;
    if (t_profiler) whole.h = begin_backward_span(nullptr, -1);
    for (std::size_t k = 0; k < roots.size(); ++k) {
        TensorImpl& r = *roots[k].impl();
        if (r.grad_fn) {
            r.pending = sum_gradients(r.pending, seeds[k], create_graph).impl();
        } else if (collect) {
            if (is_target(r)) deliver(r, seeds[k]);
        } else {
            NoGradGuard hooks_off;
            accumulate_leaf_grad(r, copy_values(seeds[k]));
            HookWatch::run_hooks(roots[k]);
        }
    }
    if (start >= 0) {
        std::vector<int64_t> used;
        HookWatch hooks(tape.nodes, collect ? -1 : start);
        struct Walking {  // set for the walk, cleared however it ends
            Tape& t;
            Walking(Tape& tape, bool creating, bool collecting) : t(tape) {
                t.walking = true;
                t.creating = creating;
                t.collecting = collecting;
            }
            ~Walking() {
                t.walking = false;
                t.creating = false;
                t.collecting = false;
                t.backward_of = nullptr;
            }
        } walking(tape, create_graph, collect);
        try {
            for (int64_t i = start; i >= 0; --i) {
                // While creating a graph the backwards append entries, which can move the vector:
                // nothing below holds a reference into it across a backward.
                std::shared_ptr<TensorImpl> out = tape.nodes[i].output.lock();
                if (!out || !out->pending) {
                    if (!hooks.empty()) hooks.entry_done(tape.nodes[i].inputs);
                    continue;
                }
                check_versions(tape.nodes[i], *out);
                Tensor dy(std::move(out->pending));
                out->pending.reset();
                if (collect) {
                    if (is_target(*out)) deliver(*out, dy);
                    if (!needed[i]) continue;
                } else if (out->retains_grad) {
                    if (create_graph) keep_grad_graph(*out, dy);
                    else accumulate_leaf_grad(*out, dy);
                }
                const char* op = tape.nodes[i].op;
                tape.backward_of = op;
                Grads g;
                Span span;
                if (t_profiler) span.h = begin_backward_span(op, tape.nodes[i].module_span);
                if (!create_graph) {
                    g = tape.nodes[i].backward(dy, Tensor(out));
                } else {
                    const BackwardFn fn = tape.nodes[i].backward;
                    const std::vector<Tensor> node_inputs = tape.nodes[i].inputs;
                    if (tape.nodes[i].differentiable == Differentiable::twice) {
                        g = fn(dy, Tensor(out));
                    } else {
                        {
                            NoGradGuard kernels_only;
                            g = fn(dy, Tensor(out));
                        }
                        g = mark_once_differentiable(op, std::move(g), dy, node_inputs);
                    }
                }
                tape.backward_of = nullptr;
                if (span.h >= 0) {
                    end_backward_span(span.h);
                    span.h = -1;
                }
                Node& node = tape.nodes[i];
                TG_CHECK(g.size() == node.inputs.size(), ValueError,
                         "backward of '{}': returned {} gradients for {} inputs", node.op, g.size(),
                         node.inputs.size());
                for (std::size_t j = 0; j < g.size(); ++j) {
                    // A copy while creating a graph: the sums below record, which can move the tape.
                    Tensor kept;
                    const Tensor& in = create_graph ? (kept = tape.nodes[i].inputs[j]) : tape.nodes[i].inputs[j];
                    if (!in.defined() || !in.requires_grad() || !g[j].defined()) continue;
                    TG_CHECK(g[j].shape() == in.shape() && g[j].dtype() == in.dtype(), ShapeError,
                             "backward of '{}': the gradient for input {} is {} {}, but the input is {} {}; each "
                             "gradient must have its input's shape and dtype",
                             op, j, shape_str(g[j].shape()), dtype_name(g[j].dtype()), shape_str(in.shape()),
                             dtype_name(in.dtype()));
                    if (anomaly) {
                        if (const int64_t k = first_non_finite(g[j]); k >= 0)
                            throw AnomalyError(fmt::format(
                                "anomaly: backward of '{}' produced {} at flat index {} of the gradient for "
                                "input {} {} {}; inputs: {}; {}",
                                op, value_str(g[j], k), k, j, shape_str(in.shape()), dtype_name(in.dtype()),
                                describe_inputs(tape.nodes[i].inputs),
                                tape_position(tape.nodes[i].seq, tape.nodes[i].label)));
                    }
                    TensorImpl& ti = *in.impl();
                    if (!ti.grad_fn) {
                        if (collect) {
                            if (is_target(ti)) deliver(ti, std::move(g[j]));
                        } else {
                            if (create_graph) keep_grad_graph(ti, g[j]);
                            else accumulate_leaf_grad(ti, std::move(g[j]));
                            if (!hooks.empty()) {
                                NoGradGuard hooks_off;
                                hooks.got_gradient(in);
                            }
                        }
                    } else {
                        TG_CHECK(!ti.graph_freed, ValueError,
                                 "{}: the graph of a '{}' result used by '{}' was already freed by an earlier "
                                 "backward(); pass retain_graph=true to backward twice",
                                 who, ti.grad_fn, op);
                        ti.pending = sum_gradients(ti.pending, std::move(g[j]), create_graph).impl();
                    }
                }
                used.push_back(i);
                if (!hooks.empty()) {
                    NoGradGuard hooks_off;
                    hooks.entry_done(tape.nodes[i].inputs);
                }
            }
        } catch (...) {
            for (int64_t i = start; i >= 0; --i)
                if (auto out = tape.nodes[i].output.lock()) out->pending.reset();
            throw;
        }
        if (!retain_graph) {
            for (int64_t i : used) {
                Node& node = tape.nodes[i];
                if (auto out = node.output.lock()) out->graph_freed = true;
                node.release();
                node.output.reset();
            }
            std::erase_if(tape.nodes, [](const Node& n) { return n.output.expired(); });
        }
    }
    if (!collect) return {};
    for (std::size_t i = 0; i < results.size(); ++i)
        TG_CHECK(results[i].defined() || options.allow_unused, ValueError,
                 "{}: input {} ({} {}) is not reached by the outputs' graph, so it has no gradient; pass "
                 "allow_unused = true to get an undefined tensor for it instead",
                 who, i, shape_str((*inputs)[i].shape()), dtype_name((*inputs)[i].dtype()));
    return results;
}

}  // namespace detail
}  // namespace tg
