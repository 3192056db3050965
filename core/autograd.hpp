#pragma once
// The tape: a thread-local list of recorded ops (a Wengert list) walked backwards by
// backward(). Each entry holds its inputs, a weak reference to its output and the closure
// that maps the output's gradient to one gradient per input.
#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/tensor.hpp"

namespace tg {

using Grads = std::vector<Tensor>;
/// Receives the output's gradient dy and the output y itself (so closures never need to keep
/// their own output alive); returns one gradient per input, undefined where none flows.
using BackwardFn = std::function<Grads(const Tensor& dy, const Tensor& y)>;

bool is_grad_enabled();
void set_grad_enabled(bool enabled);

/// While alive, ops on this thread run forward only and record nothing.
class NoGradGuard {
public:
    NoGradGuard();
    ~NoGradGuard();
    NoGradGuard(const NoGradGuard&) = delete;
    NoGradGuard& operator=(const NoGradGuard&) = delete;

private:
    bool prev_;
};

/// Anomaly detection, off by default and per thread (like grad mode). While on, every op's
/// output and every gradient computed by backward() is scanned, and the first NaN or Inf
/// throws AnomalyError naming the op, its input shapes, its entry on the tape and the
/// TapeLabel in force when it was recorded. Off, it costs one thread-local test per op.
bool is_anomaly_enabled();
void set_detect_anomaly(bool enabled);

/// Turns anomaly detection on for its lifetime (on this thread), then restores the setting.
class AnomalyGuard {
public:
    explicit AnomalyGuard(bool enabled = true);
    ~AnomalyGuard();
    AnomalyGuard(const AnomalyGuard&) = delete;
    AnomalyGuard& operator=(const AnomalyGuard&) = delete;

private:
    bool prev_;
};

/// Names the ops recorded on this thread while it is alive (innermost label wins), so that an
/// anomaly report can say where in the model the op came from, e.g. TapeLabel l("block 3").
class TapeLabel {
public:
    explicit TapeLabel(std::string label);
    ~TapeLabel();
    TapeLabel(const TapeLabel&) = delete;
    TapeLabel& operator=(const TapeLabel&) = delete;

private:
    std::shared_ptr<const std::string> prev_;
};

/// True when an op with these inputs must be recorded.
bool needs_grad(std::initializer_list<const Tensor*> inputs);

/// Records op on this thread's tape when grad mode is on and some input requires grad;
/// returns out (marked as produced by op). Otherwise returns out untouched.
Tensor record(const char* op, Tensor out, std::vector<Tensor> inputs, BackwardFn backward);

/// Entries on this thread's tape (after dropping those whose outputs have died).
int64_t tape_size();

/// The hooks of one leaf (see Tensor::register_post_accumulate_grad_hook), keyed by id.
struct GradHooks {
    std::vector<std::pair<uint64_t, std::function<void(const Tensor&)>>> fns;
};

namespace detail {
/// Hooks registered and not yet removed, in the whole process (backward skips its hook
/// bookkeeping while there are none).
extern std::atomic<int64_t> g_live_hooks;
void run_backward(const Tensor& root, const Tensor& grad, bool retain_graph);
void accumulate_leaf_grad(TensorImpl& t, Tensor g);
int64_t raw_tape_size();
}  // namespace detail

}  // namespace tg
