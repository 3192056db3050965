#pragma once
/// \file
/// The optimizer base: parameter groups, per-parameter state, validated steps, and saving and
/// loading the state so training resumes bit for bit. Part of tapegrad::optim.
#include <array>
#include <string>
#include <vector>

#include "../core/tensor.hpp"
#include "../nn/module.hpp"

/// The optimizer layer: SGD, Adam and AdamW with torch.optim's update rules, learning-rate
/// schedules, gradient clipping, resumable state, and the stability thresholds of the curvature study.
namespace tg::optim {

struct AdamWOptions;  // optim/adam.hpp

/// Parameters that share options. names (optional, one per parameter) are used in errors.
template <class Options>
struct ParamGroup {
    std::vector<Tensor> params;           ///< The parameters.
    Options options;                      ///< Their options (lr, weight_decay, ...).
    std::vector<std::string> names = {};  ///< Empty, or one name per parameter.
};

/// The base of every optimizer, as torch.optim.Optimizer: parameters in groups with options
/// of their own, per-parameter state (step count and buffers), step(), zero_grad(), and the
/// state saved and loaded. A subclass adds its groups in its constructor and implements
/// update().
class Optimizer {
public:
    virtual ~Optimizer() = default;

    /// One update of every parameter that has a gradient (others are skipped). Gradients are
    /// checked first (shape and dtype; NaN/Inf when the group's check_finite is set), so a bad
    /// gradient throws before any parameter changes.
    void step();
    /// Drops every parameter's gradient (PyTorch's zero_grad(set_to_none=True)).
    void zero_grad();

    /// The learning rate of a group.
    virtual double lr(std::size_t group = 0) const = 0;
    /// Sets the learning rate of every group (what schedules do).
    virtual void set_lr(double lr) = 0;
    /// The optimizer's name ("SGD", "Adam", "AdamW"), used in errors and saved with the state.
    virtual std::string name() const = 0;

    /// Writes the optimizer state (step counts and moment buffers) to a safetensors file,
    /// atomically; load() checks it fits these parameters before changing anything.
    void save(const std::string& path) const;
    /// Reads a state save() wrote. It must come from an optimizer of the same name with the same
    /// groups, parameter counts, shapes and dtypes; otherwise an IOError saying what differs,
    /// and the optimizer is unchanged. The learning rates and other options are not saved.
    void load(const std::string& path);

    /// The number of parameter groups.
    std::size_t num_groups() const { return groups_.size(); }
    /// The parameters of a group (std::out_of_range past the last group).
    const std::vector<Tensor>& params(std::size_t group) const { return groups_.at(group).params; }
    /// Steps taken by the first parameter that has been updated (0 before any).
    int64_t steps_taken() const;

protected:
    /// The state of one parameter. Buffers stay undefined until an optimizer uses them;
    /// step() converts them to the parameter's dtype if that has changed (Module::to).
    struct State {
        int64_t step = 0;  ///< Updates made, counting the one update() is making.
        /// Adam's first moment (the moving average of the gradient). The buffers have PyTorch's
        /// names.
        Tensor exp_avg, exp_avg_sq, max_exp_avg_sq, momentum;
        /** \var exp_avg_sq
            Adam's second moment (the moving average of the squared gradient). */
        /** \var max_exp_avg_sq
            Adam's largest second moment so far (amsgrad only). */
        /** \var momentum
            SGD's momentum buffer. */
        /// The buffers in the order of kBufferNames (for saving and loading).
        std::array<Tensor*, 4> buffers() { return {&exp_avg, &exp_avg_sq, &max_exp_avg_sq, &momentum}; }
        /// \overload
        std::array<const Tensor*, 4> buffers() const { return {&exp_avg, &exp_avg_sq, &max_exp_avg_sq, &momentum}; }
    };
    /// The names the buffers are saved under, in the order of State::buffers().
    static constexpr std::array<const char*, 4> kBufferNames = {"exp_avg", "exp_avg_sq", "max_exp_avg_sq", "momentum"};
    /// Adds a group; checks the parameters (floating leaves that require grad, no repeats).
    void add_group(const std::vector<Tensor>& params, std::vector<std::string> names);
    /// Called at the end of a constructor: an optimizer with no parameter at all is an error (as
    /// in PyTorch), usually a module that forgot register_parameter or register_module.
    void require_parameters() const;
    /// Whether step() checks a group's gradients for NaN and Inf (its option check_finite).
    virtual bool check_finite(std::size_t group) const = 0;
    /// The state of parameter i of a group (read-only).
    const State& state(std::size_t group, std::size_t i) const { return groups_.at(group).state.at(i); }
    /// How errors name parameter i of a group: its name in quotes, or "parameter i of group g".
    std::string param_label(std::size_t group, std::size_t i) const;
    /// Updates one parameter in place from its gradient.
    virtual void update(std::size_t group, Tensor& param, const Tensor& grad, State& state) = 0;

private:
    struct Group {
        std::vector<Tensor> params;
        std::vector<std::string> names;
        std::vector<State> state;
    };
    std::vector<Group> groups_;
};

/// nanoGPT's split: parameters with 2 or more dims (weights, embeddings) get weight decay,
/// the others (biases, LayerNorm weights) do not. Both groups carry names. The options are
/// AdamW's unless said otherwise: weight_decay_groups(model, {.lr = 1e-2}) works as it reads, and
/// weight_decay_groups(model, optim::SGDOptions{...}) gives SGD groups.
template <class Options = AdamWOptions>
std::vector<ParamGroup<Options>> weight_decay_groups(const nn::Module& module, Options options) {
    ParamGroup<Options> decay{{}, options, {}}, no_decay{{}, options, {}};
    no_decay.options.weight_decay = 0.0;
    for (const auto& [name, p] : module.named_parameters()) {
        ParamGroup<Options>& g = p.dim() >= 2 ? decay : no_decay;
        g.params.push_back(p);
        g.names.push_back(name);
    }
    return {decay, no_decay};
}

/// The parameters of a module with their names, as one group.
template <class Options>
std::vector<ParamGroup<Options>> named_group(const nn::Module& module, Options options) {
    ParamGroup<Options> g{{}, options, {}};
    for (const auto& [name, p] : module.named_parameters()) {
        g.params.push_back(p);
        g.names.push_back(name);
    }
    return {g};
}

}  // namespace tg::optim
