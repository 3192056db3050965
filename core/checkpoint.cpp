// Activation checkpointing: one tape entry in place of a function's graph; its backward runs
// the function again on a fresh tape and differentiates that.
#include "core/checkpoint.hpp"

#include <fmt/format.h>

#include <memory>

#include "core/autocast.hpp"
#include "core/autograd.hpp"
#include "core/check.hpp"
#include "core/format.hpp"
#include "core/grad_mode.hpp"
#include "core/internal/engine.hpp"
#include "core/internal/profiler.hpp"
#include "core/internal/rng_log.hpp"
#include "core/ops.hpp"

namespace tg {

namespace {

// Logs the generators fn draws from while alive (an enclosing log is set aside).
class LogScope {
public:
    explicit LogScope(detail::RngLog* log) : prev_(detail::t_rng_log) { detail::t_rng_log = log; }
    ~LogScope() { detail::t_rng_log = prev_; }
    LogScope(const LogScope&) = delete;
    LogScope& operator=(const LogScope&) = delete;

private:
    detail::RngLog* prev_;
};

// Puts the logged generators back to their states before the first run, and on leaving
// restores the states they have now: the recomputation draws the same numbers and the random
// stream after backward is as if it never ran.
class Replay {
public:
    explicit Replay(const detail::RngLog& log) {
        for (const auto& [g, before] : log.before) {
            now_.emplace_back(g, *g);
            detail::set_generator_state(*g, before);
        }
    }
    ~Replay() {
        for (const auto& [g, state] : now_) detail::set_generator_state(*g, state);
    }
    Replay(const Replay&) = delete;
    Replay& operator=(const Replay&) = delete;

private:
    std::vector<std::pair<Generator*, Generator>> now_;
};

void check_outputs(const std::vector<Tensor>& outs, const char* when) {
    TG_CHECK(!outs.empty(), ValueError, "checkpoint: the function returned no tensors {}", when);
    for (std::size_t i = 0; i < outs.size(); ++i)
        TG_CHECK(outs[i].defined(), ValueError, "checkpoint: output {} of the function is undefined {}", i, when);
}

// What the backward needs: the function, its inputs, the random states and the outputs' layout.
struct Saved {
    CheckpointFn fn;
    std::vector<Tensor> inputs;
    detail::RngLog rng;
    bool autocast = false;
    std::vector<Shape> shapes;
    std::vector<Dtype> dtypes;
};

Grads recompute(const Saved& s, const std::vector<Tensor>& dys) {
    const detail::WalkState walk = detail::walk_state();
    TG_CHECK(!walk.collecting, ValueError,
             "checkpoint: grad() cannot differentiate through a checkpoint, whose recomputation accumulates into "
             "the parameters' .grad (as PyTorch's reentrant checkpoint); use backward(), or call the function "
             "without checkpoint");
    TG_CHECK(!walk.creating, ValueError,
             "checkpoint: create_graph (a double backward) through a checkpoint is not supported; call the function "
             "without checkpoint");
    Grads result(s.inputs.size());
    detail::with_fresh_tape([&] {
        const GradModeGuard on(true);
        const Autocast autocast(Dtype::bf16, s.autocast);
        std::vector<Tensor> det;
        det.reserve(s.inputs.size());
        for (const Tensor& in : s.inputs) {
            Tensor d = in.detach();
            if (in.requires_grad()) d.requires_grad_();
            det.push_back(std::move(d));
        }
        std::vector<Tensor> again;
        {
            const Replay replay(s.rng);
            const LogScope no_log(nullptr);
            again = s.fn(det);
        }
        check_outputs(again, "when run again in backward");
        TG_CHECK(again.size() == s.shapes.size(), ValueError,
                 "checkpoint: the function returned {} tensors when run again in backward, {} the first time; it "
                 "must compute the same thing each time",
                 again.size(), s.shapes.size());
        std::vector<Tensor> roots, grads;
        for (std::size_t i = 0; i < again.size(); ++i) {
            TG_CHECK(again[i].shape() == s.shapes[i] && again[i].dtype() == s.dtypes[i], ValueError,
                     "checkpoint: output {} is {} {} when run again in backward, {} {} the first time; the function "
                     "must compute the same thing each time",
                     i, shape_str(again[i].shape()), dtype_name(again[i].dtype()), shape_str(s.shapes[i]),
                     dtype_name(s.dtypes[i]));
            if (!again[i].requires_grad() || !dys[i].defined()) continue;
            roots.push_back(again[i]);
            grads.push_back(dys[i]);
        }
        bool reached = false;
        if (!roots.empty()) {
            detail::run_engine(roots, grads, GradOptions{}, nullptr, "checkpoint");
            for (std::size_t k = 0; k < det.size(); ++k) {
                if (!s.inputs[k].requires_grad()) continue;
                result[k] = det[k].grad();
                reached = reached || result[k].defined();
            }
        }
        TG_CHECK(reached, ValueError,
                 "checkpoint: the function's outputs do not depend on its inputs that require grad, so no gradient "
                 "flows back through it; pass it the tensors it computes from");
    });
    return result;
}

}  // namespace

std::vector<Tensor> checkpoint(const CheckpointFn& fn, const std::vector<Tensor>& inputs) {
    const detail::OpScope scope("checkpoint");
    TG_CHECK(static_cast<bool>(fn), ValueError, "checkpoint: the function is empty");
    for (std::size_t k = 0; k < inputs.size(); ++k)
        TG_CHECK(inputs[k].defined(), ValueError, "checkpoint: input {} is undefined", k);
    if (!is_grad_enabled()) return fn(inputs);  // nothing is recorded, so nothing to save
    bool any = false;
    for (const Tensor& in : inputs) any = any || in.requires_grad();
    TG_CHECK(any, ValueError,
             "checkpoint: none of its {} input(s) requires grad, so backward() would never reach the function and "
             "the parameters it uses would get no gradient; pass it a tensor that requires grad (a block's input), "
             "or call it directly",
             inputs.size());

    auto saved = std::make_shared<Saved>();
    saved->fn = fn;
    saved->inputs = inputs;
    saved->autocast = is_autocast_enabled();
    std::vector<Tensor> outs;
    {
        const NoGradGuard no_grad;
        const LogScope log(&saved->rng);
        outs = fn(inputs);
        check_outputs(outs, "");
        // An output that is (a view of) an input gets its own buffer, so that recording it does
        // not turn the input into a result.
        for (Tensor& o : outs)
            for (const Tensor& in : inputs)
                if (o.impl()->storage == in.impl()->storage) {
                    o = o.clone();
                    break;
                }
    }
    for (const Tensor& o : outs) {
        saved->shapes.push_back(o.shape());
        saved->dtypes.push_back(o.dtype());
        TG_CHECK(is_floating(o.dtype()), DtypeError,
                 "checkpoint: output {} {} is not floating; a checkpointed function returns what backward "
                 "differentiates",
                 shape_str(o.shape()), dtype_name(o.dtype()));
    }
    if (outs.size() == 1) {
        return {record("checkpoint", outs[0], inputs, [saved](const Tensor& dy, const Tensor&) {
            return recompute(*saved, {dy});
        }, BackwardReads::values, Differentiable::once)};
    }
    // Several outputs: one entry for all of them, flattened one after another, and a view of
    // it for each (their gradients meet in the entry's).
    std::vector<Tensor> flat;
    std::vector<int64_t> sizes;
    for (std::size_t i = 0; i < outs.size(); ++i) {
        TG_CHECK(outs[i].dtype() == outs[0].dtype(), DtypeError,
                 "checkpoint: outputs 0 and {} have dtypes {} and {}; several outputs must share one dtype", i,
                 dtype_name(outs[0].dtype()), dtype_name(outs[i].dtype()));
        flat.push_back(reshape(outs[i], {outs[i].numel()}));
        sizes.push_back(outs[i].numel());
    }
    Tensor packed;
    {
        const NoGradGuard no_grad;
        packed = cat(flat, 0);
    }
    packed = record("checkpoint", packed, inputs, [saved, sizes](const Tensor& dy, const Tensor&) {
        std::vector<Tensor> dys;
        int64_t at = 0;
        for (std::size_t i = 0; i < sizes.size(); ++i) {
            dys.push_back(reshape(narrow(dy, 0, at, sizes[i]), saved->shapes[i]));
            at += sizes[i];
        }
        return recompute(*saved, dys);
    }, BackwardReads::values, Differentiable::once);
    std::vector<Tensor> result;
    int64_t at = 0;
    for (std::size_t i = 0; i < outs.size(); ++i) {
        result.push_back(reshape(narrow(packed, 0, at, sizes[i]), saved->shapes[i]));
        at += sizes[i];
    }
    return result;
}

}  // namespace tg
