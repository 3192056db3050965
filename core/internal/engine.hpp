#pragma once
// Internal (not installed): the tape's entries and the engine functions that the tape
// (core/autograd.cpp), gradient hooks (core/hooks.cpp), anomaly reports (core/anomaly.cpp)
// and Tensor's autograd methods (core/tensor_grad.cpp) share.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/autograd.hpp"
#include "core/internal/tensor_impl.hpp"

namespace tg::detail {

/// One recorded op.
struct Node {
    const char* op;  // interned (intern_op_name)
    uint64_t seq;
    std::vector<Tensor> inputs;
    std::weak_ptr<TensorImpl> output;
    BackwardFn backward;
    std::shared_ptr<const std::string> label;  // set only under anomaly detection
    std::vector<uint64_t> versions;            // of each input, then of the output, when recorded
    Differentiable differentiable = Differentiable::once;
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
