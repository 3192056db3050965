#pragma once
// The basic layers: Linear, Embedding, LayerNorm, Dropout, the activations (GELU, ReLU, SiLU,
// LeakyReLU), Sequential and ModuleList.
#include <initializer_list>
#include <memory>

#include "../core/random.hpp"
#include "module.hpp"

namespace tg::nn {

struct LinearOptions {
    bool bias = true;
    Seed seed;                 // weights and bias ~ U(-1/sqrt(in), 1/sqrt(in)), as PyTorch;
                               // unset: drawn from the global generator (manual_seed)
    Dtype dtype = Dtype::f32;
};

/// y = x W^T + b with W (out, in) as in PyTorch's nn.Linear; x is (..., in).
class Linear : public Module {
public:
    Linear(int64_t in_features, int64_t out_features, LinearOptions options = {});
    Tensor forward(const Tensor& x) override;
    std::string type_name() const override { return "Linear"; }
    std::string extra_repr() const override;

    Parameter weight;  // (out, in)
    Parameter bias;    // (out), undefined without bias
    int64_t in_features, out_features;
};

struct EmbeddingOptions {
    Seed seed;  // weight ~ N(0, 1), as PyTorch; unset: drawn from the global generator
    Dtype dtype = Dtype::f32;
};

/// Rows of a (num_embeddings, dim) table picked by i64 ids of any shape.
class Embedding : public Module {
public:
    Embedding(int64_t num_embeddings, int64_t dim, EmbeddingOptions options = {});
    Tensor forward(const Tensor& ids) override;
    std::string type_name() const override { return "Embedding"; }
    std::string extra_repr() const override;

    Parameter weight;  // (num_embeddings, dim)
};

/// Normalises the last dim to zero mean and unit variance, then scales and shifts:
/// (x - mean) / sqrt(var + eps) * weight + bias, through the fused layer_norm op.
class LayerNorm : public Module {
public:
    explicit LayerNorm(int64_t dim, double eps = 1e-5, Dtype dtype = Dtype::f32);
    Tensor forward(const Tensor& x) override;
    std::string type_name() const override { return "LayerNorm"; }
    std::string extra_repr() const override;

    Parameter weight;  // (dim), ones
    Parameter bias;    // (dim), zeros
    double eps;
};

/// Zeroes elements with probability p while training (survivors scaled by 1/(1-p)); the
/// identity in eval mode. Its masks come from its own generator, seeded at construction (from
/// the global generator unless a seed is given).
class Dropout : public Module {
public:
    explicit Dropout(double p = 0.5, Seed seed = std::nullopt);
    Tensor forward(const Tensor& x) override;
    std::string type_name() const override { return "Dropout"; }
    std::string extra_repr() const override;

    double p;

private:
    Generator gen_;
};

/// GELU: GPT-2's tanh approximation by default; GELU("none") is the exact erf form (PyTorch's
/// nn.GELU() default, nn.GELU(approximate="tanh") being GPT-2's).
class GELU : public Module {
public:
    GELU() = default;
    /// approximate: "tanh" or "none" (ValueError otherwise).
    explicit GELU(std::string approximate);
    Tensor forward(const Tensor& x) override;
    std::string type_name() const override { return "GELU"; }
    std::string extra_repr() const override;

    std::string approximate = "tanh";
};

/// max(x, 0).
class ReLU : public Module {
public:
    Tensor forward(const Tensor& x) override;
    std::string type_name() const override { return "ReLU"; }
};

/// x * sigmoid(x) (also called swish), LLaMA's MLP activation.
class SiLU : public Module {
public:
    Tensor forward(const Tensor& x) override;
    std::string type_name() const override { return "SiLU"; }
};

/// x for x > 0, negative_slope * x otherwise.
class LeakyReLU : public Module {
public:
    explicit LeakyReLU(double negative_slope = 0.01);
    Tensor forward(const Tensor& x) override;
    std::string type_name() const override { return "LeakyReLU"; }
    std::string extra_repr() const override;

    double negative_slope;
};

/// Applies its modules in order; children are named "0", "1", ...
class Sequential : public Module {
public:
    Sequential() = default;
    Sequential(std::initializer_list<std::shared_ptr<Module>> modules);
    Sequential& push_back(std::shared_ptr<Module> module);
    Tensor forward(const Tensor& x) override;
    std::size_t size() const { return children().size(); }
    std::string type_name() const override { return "Sequential"; }
};

/// Runs modules one after another on input in `segments` pieces of consecutive modules, every
/// piece but the last through tg::checkpoint (PyTorch's checkpoint_sequential): the tape keeps
/// only each checkpointed piece's input, and backward runs the piece again. The modules must
/// outlive backward. segments must be in [1, modules.size()].
Tensor checkpoint_sequential(const std::vector<Module*>& modules, int64_t segments, const Tensor& input);
Tensor checkpoint_sequential(Sequential& modules, int64_t segments, const Tensor& input);

/// A list of modules named "0", "1", ... with no forward of its own (GPT's blocks "h").
class ModuleList : public Module {
public:
    template <class M>
    std::shared_ptr<M> push_back(std::shared_ptr<M> module) {
        return register_module(std::to_string(children().size()), std::move(module));
    }
    std::size_t size() const { return children().size(); }
    std::string type_name() const override { return "ModuleList"; }
};

}  // namespace tg::nn
