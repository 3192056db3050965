#pragma once
// Internal (not installed): the tape's entries and the engine functions that the tape
// (core/autograd.cpp), gradient hooks (core/hooks.cpp), anomaly reports (core/anomaly.cpp)
// and Tensor's autograd methods (core/tensor_grad.cpp) share.
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/autograd.hpp"
#include "core/internal/tensor_impl.hpp"

namespace tg::detail {

/// One recorded op.
struct Node {
    Node(const char* op_, uint64_t seq_, std::vector<Tensor> inputs_, std::weak_ptr<TensorImpl> output_,
         BackwardFn backward_, std::shared_ptr<const std::string> label_, std::vector<uint64_t> versions_,
         Differentiable differentiable_)
        : op(op_), seq(seq_), inputs(std::move(inputs_)), output(std::move(output_)), backward(std::move(backward_)),
          label(std::move(label_)), versions(std::move(versions_)), differentiable(differentiable_) {}
    // Moving leaves the source with nothing to release.
    Node(Node&& o) noexcept { *this = std::move(o); }
    Node& operator=(Node&& o) noexcept;
    Node(const Node&) = delete;
    Node& operator=(const Node&) = delete;
    ~Node() { release(); }
    /// Lets go of the inputs, the backward function and what they kept (the entry stays, empty).
    void release();

    const char* op = nullptr;  // interned (intern_op_name)
    uint64_t seq = 0;
    std::vector<Tensor> inputs;
    std::weak_ptr<TensorImpl> output;
    BackwardFn backward;
    std::shared_ptr<const std::string> label;  // set only under anomaly detection
    std::vector<uint64_t> versions;            // of each input, then of the output, when recorded
    Differentiable differentiable = Differentiable::once;
    int64_t module_span = -1;  // the profiler's module span it was recorded under, or -1
    // Which of the first 64 inputs count in saved_by_tape_bytes (not parameters), and the
    // buffers the backward function captured (see core/internal/profiler.hpp).
    uint64_t counted = 0;
    std::vector<std::weak_ptr<Storage>> saved;
};

/// A stable copy of name, the same pointer for equal names, alive until the process ends.
const char* intern_op_name(std::string_view name);

void run_backward(const Tensor& root, const Tensor& grad, bool retain_graph);
/// The walk behind backward() and grad(): seeds each root with its gradient (undefined: ones,
/// for a one-element root) and walks the tape. Without `inputs` (backward()) gradients
/// accumulate into leaves' .grad and run their hooks; with them (grad()) nothing is written
/// anywhere and the gradient of each input is returned (undefined when unreached and
/// allow_unused), and only entries that lead to an input run.
std::vector<Tensor> run_engine(const std::vector<Tensor>& roots, const std::vector<Tensor>& grads,
                               const GradOptions& options, const std::vector<Tensor>* inputs, const char* who);
/// Adds g into a leaf's (or retain_grad tensor's) .grad, taking g's buffer when nobody else holds it.
void accumulate_leaf_grad(TensorImpl& t, Tensor g);
/// Lets the next .grad() of a non-leaf warn again (for tests; the warning is once per process).
void reset_non_leaf_grad_warning();
/// Entries on this thread's tape, without pruning.
int64_t raw_tape_size();

/// Runs fn on a new, empty tape of this thread (what it records is gone after), the thread's
/// tape set aside meanwhile, even in the middle of its walk: activation checkpointing
/// recomputes and differentiates a function this way from inside a backward function.
void with_fresh_tape(const std::function<void()>& fn);
/// What this thread's tape is doing: walked by backward() or grad(), creating a graph.
struct WalkState {
    bool walking = false, creating = false, collecting = false;
};
WalkState walk_state();

/// One entry of the graph backward would walk (write_graph's view of the tape).
struct GraphEntry {
    uint64_t seq = 0;
    const char* op = nullptr;
    std::shared_ptr<TensorImpl> output;  // null if it is gone
    std::vector<Tensor> inputs;          // as recorded (undefined ones included)
    int64_t kept_bytes = 0;              // what the tape holds because of it: saved buffers and non-parameter inputs
};
/// The entries reachable from root's, newest first; throws as backward() would for a root
/// built on another thread or whose graph backward already freed.
std::vector<GraphEntry> reachable_entries(const Tensor& root, const char* who);

// ---- gradient hooks (core/hooks.cpp) ----

/// Hooks registered and not yet removed, in the whole process (backward skips its hook
/// bookkeeping while there are none).
int64_t live_hooks();
void hooks_removed(int64_t n);

/// Leaves with post-accumulate-grad hooks that one backward can reach, with the number of
/// tape entries still to walk that take them as input. A leaf's gradient is complete when that
/// count reaches zero; its hooks then run, if it received a gradient at all.
class HookWatch {
public:
    /// Counts the uses in entries [0, start] of nodes (nothing to do while no hook exists).
    HookWatch(const std::vector<Node>& nodes, int64_t start);
    bool empty() const { return watched_.empty(); }
    void got_gradient(const Tensor& leaf);
    /// The entry that used these inputs is done: runs the hooks of leaves now complete.
    void entry_done(const std::vector<Tensor>& inputs);
    /// Runs leaf's hooks registered before this call, oldest first.
    static void run_hooks(const Tensor& leaf);

private:
    struct Watch {
        TensorImpl* t;
        int64_t uses_left;
        bool got;
    };
    Watch* find(const Tensor& in);
    std::vector<Watch> watched_;
};

// ---- anomaly reports (core/anomaly.cpp) ----

/// The innermost TapeLabel of this thread, or null.
const std::shared_ptr<const std::string>& current_label();
/// Index of the first NaN or Inf in t (a floating tensor), or -1.
int64_t first_non_finite(const Tensor& t);
/// "(2, 3) f32, undefined, ..." for an error message.
std::string describe_inputs(const std::vector<Tensor>& inputs);
/// Element i of a floating tensor, as text.
std::string value_str(const Tensor& t, int64_t i);
/// Where an op was recorded: its tape entry and label.
std::string tape_position(uint64_t seq, const std::shared_ptr<const std::string>& label);

}  // namespace tg::detail
