#pragma once
/// \file
/// nn::Module: a named tree of parameters and submodules, in the manner of libtorch's
/// torch::nn::Module. A module registers its parameters and children once, in its constructor;
/// everything else (recursive dotted names, train/eval, dtype conversion, checkpoints, the
/// printed summary) follows from that registration.
#include <fmt/format.h>

#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include "../core/tensor.hpp"

/// The neural-network layer: Module and the layers, blocks and models built on it (the GPT),
/// their initialisers, safetensors checkpoints, and gradient and curvature diagnostics.
namespace tg::nn {

/// A parameter is a floating Tensor registered on a module; registration turns on its
/// requires_grad. Copies of the handle (a member `Tensor weight`) share the same data.
using Parameter = Tensor;

/// Tensors with their dotted names ("h.0.attn.c_attn.weight"), in a module's order.
using NamedTensors = std::vector<std::pair<std::string, Tensor>>;

/// How Module::load matches a file's names to the model's.
struct LoadOptions {
    bool strict = true;  ///< every name of the model in the file, and no other name
};
/// What a non-strict Module::load left out (empty after a strict one), as PyTorch's
/// load_state_dict returns them.
struct LoadResult {
    std::vector<std::string> missing_keys;     ///< the model's names the file lacks (left unchanged)
    std::vector<std::string> unexpected_keys;  ///< the file's names the model lacks (ignored)
};

class Module;

/// Runs before a module's forward with its tensor arguments, in order, and may change them (as
/// a PyTorch forward pre-hook returning new args); the count must stay the same.
using ForwardPreHook = std::function<void(Module& module, std::vector<Tensor>& inputs)>;
/// Runs after a module's forward with the tensor arguments it got and its tensor outputs (a
/// Tensor, or the fields of AttentionOutput and RNNOutput), and may replace outputs (as a
/// PyTorch forward hook returning a new output); the count must stay the same.
using ForwardHook =
    std::function<void(Module& module, const std::vector<Tensor>& inputs, std::vector<Tensor>& outputs)>;

/// The tensors a forward hook sees of a module's output: a Tensor, or what tensors_of() gives
/// for a struct of outputs (found by argument-dependent lookup, as for AttentionOutput).
template <class T>
concept HookableOutput = std::is_same_v<T, Tensor> || std::is_same_v<T, std::vector<Tensor>> ||
                         requires(T& t, const std::vector<Tensor>& v) {
                             { tensors_of(std::as_const(t)) } -> std::same_as<std::vector<Tensor>>;
                             assign_tensors(t, v);
                         };

/// The base of every layer and model: a named tree of parameters, buffers and submodules, as
/// libtorch's torch::nn::Module. A module registers its parameters (register_parameter),
/// buffers (register_buffer) and children (register_module) in its constructor; dotted names,
/// train() and eval(), to(), save() and load(), hooks and the printed summary work from that
/// registration. A model of yours derives from it, registers its members and overrides
/// forward() (or adds a forward with more arguments and a matching operator(), see
/// operator()). Modules can be neither copied nor moved.
///
/// `fmt::print("{}", m)` (or fmt::format) prints a module as summary() does: the tree of
/// modules with their settings, parameter shapes, dtypes and counts.
class Module {
public:
    Module() = default;
    virtual ~Module() = default;
    /// Not copyable or movable: children are referenced by address, so modules stay where they
    /// are built.
    Module(const Module&) = delete;
    Module& operator=(const Module&) = delete;
    Module(Module&&) = delete;
    Module& operator=(Module&&) = delete;

    /// Registers t under name (no dots, unique in this module) and returns the same handle.
    Parameter register_parameter(const std::string& name, Tensor t, bool requires_grad = true);
    /// Replaces the tensor registered under name (same shape) and returns it; used to tie
    /// weights (the GPT's lm_head.weight becomes wte.weight).
    Parameter replace_parameter(const std::string& name, Tensor t);
    /// Registers state that is not a parameter (BatchNorm's running_mean, running_var and
    /// num_batches_tracked) under name, and returns the same handle. Buffers are saved, loaded
    /// and converted by to() (floating and bf16 ones) like parameters, but never require grad and
    /// are never given to an optimizer. Any dtype; an undefined tensor is refused.
    Tensor register_buffer(const std::string& name, Tensor t);
    /// Registers a child owned by this module.
    template <class M>
    std::shared_ptr<M> register_module(const std::string& name, std::shared_ptr<M> child) {
        static_assert(std::is_base_of_v<Module, M>, "register_module takes an nn::Module");
        add_child(name, child.get());
        owned_.push_back(child);
        return child;
    }
    /// Registers a child that is a member of this module (it must live as long as this one).
    template <class M>
    M& register_module(const std::string& name, M& child) {
        static_assert(std::is_base_of_v<Module, M>, "register_module takes an nn::Module");
        add_child(name, &child);
        return child;
    }

    /// All parameters, depth first in registration order; a tensor shared by two modules (tied
    /// weights) is listed once, under its first name.
    std::vector<Tensor> parameters() const;
    /// parameters() with their dotted names ("h.0.attn.c_attn.weight"), a shared tensor once,
    /// under its first name.
    NamedTensors named_parameters() const;
    /// Every name a parameter is registered under, shared tensors under each of their names.
    NamedTensors named_parameters_with_aliases() const;
    /// All buffers, depth first in registration order (a shared tensor once).
    std::vector<Tensor> buffers() const;
    /// buffers() with their dotted names ("bn.running_mean").
    NamedTensors named_buffers() const;
    /// What save() writes and load() expects: each module's parameters then its buffers, depth
    /// first, with dotted names (PyTorch's state_dict order); shared tensors under every name.
    NamedTensors state_dict() const;
    /// This module ("") and every descendant, with dotted names.
    std::vector<std::pair<std::string, Module*>> named_modules();
    /// \overload
    /// The same list, read-only.
    std::vector<std::pair<std::string, const Module*>> named_modules() const;
    /// The direct children, in registration order, under the names they were registered with.
    const std::vector<std::pair<std::string, Module*>>& children() const { return children_; }

    /// Drops every parameter's gradient (PyTorch's zero_grad(set_to_none=True)).
    void zero_grad();
    /// Sets training mode here and in every descendant.
    void train(bool on = true);
    /// Sets evaluation mode here and in every descendant: train(false).
    void eval() { train(false); }
    /// Whether this module is in training mode (the default until train(false) or eval()).
    bool is_training() const { return training_; }
    /// The number of parameter elements, a shared tensor counted once.
    int64_t num_parameters() const;
    /// Converts every parameter and every floating or bf16 buffer in place (all handles see the
    /// new dtype); gradients are dropped. Integer buffers (num_batches_tracked) keep their dtype.
    /// f32 or f64 only: bf16 is refused (DtypeError), parameters are trained in f32.
    void to(Dtype dtype);

    /// Writes the parameters and buffers to a safetensors file (temporary file + rename).
    void save(const std::string& path) const;
    /// Reads a safetensors file written by save() or by another tool with the same names
    /// (a PyTorch state_dict saved with safetensors.torch.save_file loads as is).
    /// Every name, shape, dtype and byte range is checked first; on any error the module is
    /// unchanged. F32, F64 and BF16 data convert to a floating tensor's dtype (a bf16
    /// checkpoint loads into f32 parameters, as PyTorch's load_state_dict copies); integer
    /// buffers load from I64.
    /// With {.strict = false}, names the file lacks leave those tensors as they are and names
    /// the model lacks are skipped, as PyTorch's load_state_dict(strict=False); both lists are
    /// returned. A shape or dtype that does not fit is an error either way. The error lists
    /// every problem, one per line.
    LoadResult load(const std::string& path, const LoadOptions& options = {});

    /// The single-input forward of layers that have one (Linear, LayerNorm, GELU, ...). Modules
    /// without one throw ValueError; Sequential chains these.
    virtual Tensor forward(const Tensor& x);
    /// m(x) runs m.forward(x) through call(), as PyTorch's m(x): with the forward hooks, the
    /// profiler's module span and, under anomaly detection, the module's path as tape label.
    /// Calling forward() directly skips them (as in PyTorch). The library's modules whose forward
    /// takes more arguments (TransformerBlock, MultiheadAttention, ResidualBlock, ...) have a
    /// matching operator() too. A module of yours with such a forward adds its own, and keeps
    /// this one visible with `using Module::operator();`:
    ///     Tensor operator()(const Tensor& x, const Tensor& y) { return call(this, x, y); }
    Tensor operator()(const Tensor& x) { return call(this, x); }

    /// Registers a hook run before every call's forward (PyTorch's register_forward_pre_hook):
    /// hooks run in registration order, those registered with prepend first. The handle
    /// removes it.
    HookHandle register_forward_pre_hook(ForwardPreHook hook, bool prepend = false);
    /// Registers a hook run after every call's forward (PyTorch's register_forward_hook), in
    /// the same order. An exception from a hook leaves the call (the module stays usable).
    HookHandle register_forward_hook(ForwardHook hook, bool prepend = false);

    /// The name this module was first registered under in a parent ("attn"), or "" for a root.
    const std::string& name() const { return name_; }
    /// The module it was first registered in, or null for a root.
    Module* parent() const { return parent_; }
    /// Its dotted path from the root ("h.3.attn"), as named_modules() names it; "" for a root.
    std::string path() const;

    /// The type shown in the printed summary and in errors ("Linear"). By default the C++ class
    /// name without its namespaces (a module `struct Net : nn::Module` prints as "Net"), as
    /// PyTorch prints a module's class.
    virtual std::string type_name() const;
    /// The settings the printed summary shows after type_name() ("in=64, out=256"); "" by
    /// default. Layers with settings override it, as PyTorch's extra_repr.
    virtual std::string extra_repr() const { return ""; }
    /// The tree of modules with parameter shapes and counts (what fmt::print("{}", m) shows).
    std::string summary() const;

protected:
    /// The one place a module's call goes through (every operator() of the library's modules):
    /// the forward pre-hooks (which may replace the tensor arguments), a profiler span named by
    /// the module's path, the path as TapeLabel under anomaly detection, self->forward(args...)
    /// and the forward hooks (which may replace its tensor outputs). Arguments that are not
    /// Tensors (masks options, a sublayer function) pass through untouched. With no hooks, no
    /// profiler and no anomaly detection, it is self->forward(args...) after one test.
    template <class M, class... Args>
    static auto call(M* self, const Args&... args) -> decltype(self->forward(args...)) {
        if (!static_cast<const Module*>(self)->gate_active()) return self->forward(args...);
        return gated_call(self, args...);
    }

private:
    struct Hooks;
    /// Opens the spans and label of one call and runs its hooks (nn/module.cpp).
    class CallScope {
    public:
        explicit CallScope(Module& m);
        ~CallScope();
        CallScope(const CallScope&) = delete;
        CallScope& operator=(const CallScope&) = delete;
        /// Runs the forward pre-hooks.
        void before(std::vector<Tensor>& inputs);
        /// Runs the forward hooks; false if there are none.
        bool after(const std::vector<Tensor>& inputs, std::vector<Tensor>& outputs);

    private:
        Module& m_;
        int64_t span_ = -1;
        std::shared_ptr<void> label_;  // the TapeLabel in force during the call, if any
    };

    template <class... A>
    static constexpr std::array<int, sizeof...(A)> tensor_slots() {
        std::array<int, sizeof...(A)> slot{};
        int k = 0;
        std::size_t i = 0;
        ((slot[i++] = std::is_same_v<A, Tensor> ? k++ : -1), ...);
        return slot;
    }
    template <std::size_t I, class... A>
    static const auto& pick(const std::vector<Tensor>& inputs, const std::tuple<const A&...>& args) {
        constexpr auto slots = tensor_slots<A...>();
        if constexpr (slots[I] >= 0) return inputs[static_cast<std::size_t>(slots[I])];
        else return std::get<I>(args);
    }
    template <class M, class... Args>
    static auto gated_call(M* self, const Args&... args) -> decltype(self->forward(args...)) {
        std::vector<Tensor> inputs;
        inputs.reserve(sizeof...(Args));
        (
            [&] {
                if constexpr (std::is_same_v<Args, Tensor>) inputs.push_back(args);
            }(),
            ...);
        Module& me = const_cast<Module&>(static_cast<const Module&>(*self));
        CallScope scope(me);
        scope.before(inputs);
        const std::tuple<const Args&...> packed(args...);
        auto out = [&]<std::size_t... I>(std::index_sequence<I...>) {
            return self->forward(pick<I, Args...>(inputs, packed)...);
        }(std::index_sequence_for<Args...>{});
        using Out = decltype(out);
        if constexpr (std::is_same_v<Out, Tensor>) {
            std::vector<Tensor> outs{out};
            if (scope.after(inputs, outs)) out = outs[0];
        } else if constexpr (std::is_same_v<Out, std::vector<Tensor>>) {
            scope.after(inputs, out);
        } else if constexpr (HookableOutput<Out>) {
            std::vector<Tensor> outs = tensors_of(std::as_const(out));
            if (scope.after(inputs, outs)) assign_tensors(out, outs);
        } else {
            std::vector<Tensor> none;  // an output type the hooks cannot see
            scope.after(inputs, none);
        }
        return out;
    }
    bool gate_active() const;

    void add_child(const std::string& name, Module* child);
    void check_new_name(const std::string& name) const;

    NamedTensors params_;
    NamedTensors buffers_;
    std::vector<std::pair<std::string, Module*>> children_;
    std::vector<std::shared_ptr<Module>> owned_;
    bool training_ = true;
    Module* parent_ = nullptr;
    std::string name_;
    std::shared_ptr<Hooks> hooks_;  // the forward hooks, if any were ever registered
    // The interned path and profiler name, and the tree version they were made at.
    mutable const char* path_cache_ = nullptr;
    mutable const char* span_name_ = nullptr;
    mutable uint64_t path_version_ = 0;
};

}  // namespace tg::nn

/// \cond
// Formats any module as its summary(): fmt::print("{}", model).
template <class M>
struct fmt::formatter<M, char, std::enable_if_t<std::is_base_of_v<tg::nn::Module, M>>>
    : fmt::formatter<std::string_view> {
    template <class Ctx>
    auto format(const M& m, Ctx& ctx) const {
        return fmt::formatter<std::string_view>::format(m.summary(), ctx);
    }
};
/// \endcond
