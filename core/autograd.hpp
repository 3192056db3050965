#pragma once
/// \file
/// The tape: a thread-local list of recorded ops (a Wengert list) walked backwards by
/// backward(). Each entry holds its inputs, a weak reference to its output and the closure
/// that maps the output's gradient to one gradient per input.
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "grad_mode.hpp"
#include "tensor.hpp"

namespace tg {

/// One gradient per input of an op, as a backward returns them (undefined where none flows).
using Grads = std::vector<Tensor>;
/// Receives the output's gradient dy and the output y itself (so closures never need to keep
/// their own output alive); returns one gradient per input, undefined where none flows.
using BackwardFn = std::function<Grads(const Tensor& dy, const Tensor& y)>;

/// Anomaly detection, off by default and per thread (like grad mode). While on, every op's
/// output and every gradient computed by backward() is scanned, and the first NaN or Inf
/// throws AnomalyError naming the op, its input shapes, its entry on the tape and the
/// TapeLabel in force when it was recorded. Off, it costs one thread-local test per op.
bool is_anomaly_enabled();
/// Turns anomaly detection on or off for this thread (torch.autograd.set_detect_anomaly).
void set_detect_anomaly(bool enabled);

/// Turns anomaly detection on for its lifetime (on this thread), then restores the setting.
class AnomalyGuard {
public:
    /// Sets anomaly detection to `enabled` (on by default) until destruction.
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
    /// Makes `label` the label of the ops recorded on this thread until destruction.
    explicit TapeLabel(std::string label);
    ~TapeLabel();
    TapeLabel(const TapeLabel&) = delete;
    TapeLabel& operator=(const TapeLabel&) = delete;

private:
    std::shared_ptr<const std::string> prev_;
};

/// What an op's backward reads. Most backwards read values the forward saved (an input, the
/// output), and backward() refuses to run one whose saved values were modified in place since
/// (it would give a wrong gradient). A backward that needs only shapes (add, reshape, sum,
/// ...) is declared with `shapes`, and its inputs may then be modified in place after the op.
enum class BackwardReads {
    values,  ///< reads saved values: refused after an in-place change to them
    shapes   ///< reads only shapes: the inputs may be modified in place afterwards
};

/// Whether an op's backward can itself be differentiated (create_graph, below).
enum class Differentiable {
    /// It computes its gradients with kernels outside the tape (every op's default, and a
    /// custom op's). Under create_graph its results are still correct gradients, but
    /// differentiating them again throws an error that names the op.
    once,
    /// Under create_graph it runs with grad mode on and computes its gradients with recorded
    /// ops, each of which declares its own, so they can be differentiated again. With
    /// create_graph off it runs in grad mode off, as every backward, and may take a faster path
    /// then (is_grad_enabled() tells which).
    twice
};

/// True when an op with these inputs must be recorded.
bool needs_grad(std::initializer_list<const Tensor*> inputs);

/// Records an op on this thread's tape when grad mode is on and some input requires grad, and
/// returns out marked as produced by op; otherwise returns out untouched. This is how every op
/// in tapegrad is written, and how you write your own (docs/custom_ops.md): compute the output,
/// then hand record() the inputs and a backward that maps dy (shaped like out) to one gradient
/// per input (undefined where none flows). The engine checks each gradient's shape and dtype
/// and accumulates it; a backward never writes into .grad itself. The name may be any string
/// (it is copied); it is what grad_fn_name() and error messages show.
Tensor record(std::string_view op, Tensor out, std::vector<Tensor> inputs, BackwardFn backward,
              BackwardReads reads = BackwardReads::values, Differentiable differentiable = Differentiable::once);

/// How backward() and grad() walk the tape.
struct GradOptions {
    /// Keep the tape entries this pass used (forced on by create_graph, as PyTorch).
    bool retain_graph = false;
    /// Record the backward's own ops, so its results can be differentiated again.
    bool create_graph = false;
    /// grad() only: an input that no gradient reaches gets an undefined Tensor instead of an error.
    bool allow_unused = false;
};

/// d(sum_k <grad_outputs[k], outputs[k]>)/d(inputs[i]) for each input, as torch.autograd.grad.
/// Gradients are returned, never accumulated into .grad (nor into retain_grad() tensors).
/// grad_outputs may be empty when every output holds one element (ones are used); an undefined
/// entry means ones for that output. With create_graph the results carry their own graph and
/// require grad where their inputs do.
std::vector<Tensor> grad(const std::vector<Tensor>& outputs, const std::vector<Tensor>& inputs,
                         const std::vector<Tensor>& grad_outputs = {}, const GradOptions& options = {});

/// H v for a scalar function fn at inputs (torch.autograd.functional.hvp without its first
/// output): the gradient of <grad(fn(inputs)), v>, by a double backward. inputs are not changed;
/// fn receives copies that require grad. v holds one tensor per input, of its shape and dtype.
std::vector<Tensor> hvp(const std::function<Tensor(const std::vector<Tensor>&)>& fn,
                        const std::vector<Tensor>& inputs, const std::vector<Tensor>& v);

/// Entries on this thread's tape (after dropping those whose outputs have died).
int64_t tape_size();

}  // namespace tg
